/* Error codes and the per-thread error message.
 *
 * Every library call returns >= 0 on success or a negative code: -errno, or
 * one of the T9K_E* codes below (a range beyond errno, like LMDB's). A failing
 * call also records a sentence a user can act on with t9k_err(); the CLI
 * prints it as "t9kfs: <message>". The message is thread-local, so threads
 * never see each other's errors.
 */
#ifndef T9K_ERR_H
#define T9K_ERR_H

#include <stdarg.h>

enum {
	T9K_ERR_BASE = 30700,
	T9K_ECORRUPT = -(T9K_ERR_BASE + 1),  /* object bytes do not match id or format */
	T9K_EBADURL = -(T9K_ERR_BASE + 2),   /* store URL malformed or unknown scheme */
	T9K_EUSAGE = -(T9K_ERR_BASE + 3),    /* bad arguments from the user */
	T9K_ECONFLICT = -(T9K_ERR_BASE + 4), /* compare-and-swap lost */
	T9K_ENOTFOUND = -(T9K_ERR_BASE + 5), /* named thing (repo, ref, key) is absent */
	T9K_ERR_LAST = -(T9K_ERR_BASE + 6),
};

/* Records a formatted message for this thread and returns code, so callers
 * write: return t9k_err(-ENOENT, "chunk %s not found", hex); */
int t9k_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int t9k_verr(int code, const char *fmt, va_list ap);

/* Prefixes the current message with "<context>: ", keeping the code. */
int t9k_err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread, or the code's generic text when
 * none was recorded since t9k_err_clear(). Valid until the next t9k_err*. */
const char *t9k_errmsg(int code);
void t9k_err_clear(void);

/* Generic text for a code (strerror for -errno). */
const char *t9k_strerror(int code);

#endif
