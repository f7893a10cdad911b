/* Leveled logging to stderr for daemons and debugging.
 * The level comes from T9KFS_LOG (error, warn, info, debug; default warn)
 * and is checked before any formatting, so disabled levels cost a compare. */
#ifndef T9K_LOG_H
#define T9K_LOG_H

enum t9k_log_level { T9K_LOG_ERROR, T9K_LOG_WARN, T9K_LOG_INFO, T9K_LOG_DEBUG };

extern int t9k_log_threshold;

void t9k_log_init(void);
void t9k_log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define t9k_log(level, ...)                            \
	do {                                           \
		if ((level) <= t9k_log_threshold)      \
			t9k_log_emit(level, __VA_ARGS__); \
	} while (0)

#endif
