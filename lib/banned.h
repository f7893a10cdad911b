/* Functions that invite buffer overflows, banned as in git's banned.h:
 * use snprintf / memcpy with explicit sizes. Included into every file by
 * the Makefile, after the system headers of that file would be too late,
 * so the macros only break calls, not declarations. */
#ifndef T9K_BANNED_H
#define T9K_BANNED_H

#include <stdio.h>
#include <string.h>

#define BANNED(func) sorry_##func##_is_banned_in_t9kfs
#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)

#endif
