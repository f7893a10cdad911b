/* One line per event on stderr: time, level, pid, message. A single
 * fprintf keeps lines from different threads whole. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int t9k_log_threshold = T9K_LOG_WARN;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void t9k_log_init(void)
{
	const char *env = getenv("T9KFS_LOG");

	if (!env)
		return;
	for (int i = 0; i < 4; i++)
		if (!strcmp(env, level_names[i]))
			t9k_log_threshold = i;
}

void t9k_log_emit(int level, const char *fmt, ...)
{
	char msg[1024], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s [%d] %s\n", stamp, ts.tv_nsec / 1000000,
		level_names[level < 0 ? 0 : level > 3 ? 3 : level], (int)getpid(), msg);
}
