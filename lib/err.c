/* Thread-local error messages: the one place library code leaves a sentence
 * for the user. Messages are truncated to a fixed size, never allocated, so
 * recording an error cannot itself fail. */
#include "lib/err.h"

#include <stdio.h>
#include <string.h>

#define ERRMSG_MAX 512

static _Thread_local char errmsg[ERRMSG_MAX];

int t9k_verr(int code, const char *fmt, va_list ap)
{
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	return code;
}

int t9k_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t9k_verr(code, fmt, ap);
	va_end(ap);
	return code;
}

int t9k_err_wrap(int code, const char *fmt, ...)
{
	char old[ERRMSG_MAX], prefix[ERRMSG_MAX];
	va_list ap;

	snprintf(old, sizeof(old), "%s", t9k_errmsg(code));
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* prefix + ": " + old, cut to fit */
	size_t plen = strnlen(prefix, ERRMSG_MAX - 3), olen;

	memcpy(errmsg, prefix, plen);
	memcpy(errmsg + plen, ": ", 2);
	olen = strnlen(old, ERRMSG_MAX - plen - 3);
	memcpy(errmsg + plen + 2, old, olen);
	errmsg[plen + 2 + olen] = '\0';
	return code;
}

const char *t9k_strerror(int code)
{
	switch (code) {
	case T9K_ECORRUPT: return "corrupt object";
	case T9K_EBADURL: return "bad store URL";
	case T9K_EUSAGE: return "bad usage";
	case T9K_ECONFLICT: return "conflict";
	case T9K_ENOTFOUND: return "not found";
	}
	if (code < 0 && code > -T9K_ERR_BASE)
		return strerror(-code);
	return "unknown error";
}

const char *t9k_errmsg(int code)
{
	return errmsg[0] ? errmsg : t9k_strerror(code);
}

void t9k_err_clear(void)
{
	errmsg[0] = '\0';
}
