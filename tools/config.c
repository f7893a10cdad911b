/* The config file $T9KFS_HOME/config: "key = value" lines that give the
 * defaults of the T9KFS_* environment variables, so a node can be set up
 * once (which metadata service, which cache daemon) instead of in every
 * shell. Precedence: command line, then environment, then this file.
 */
#include "tools/cli.h"

#include "lib/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *key, *env;
} keys[] = {
	{ "server", "T9KFS_SERVER" },		/* the metadata service URL */
	{ "store", "T9KFS_STORE" },		/* default object store */
	{ "cache", "T9KFS_CACHE" },		/* the local cache daemon */
	{ "cache_group", "T9KFS_CACHE_GROUP" }, /* or a group to read through */
	{ "author", "T9KFS_AUTHOR" },		/* commit author */
	{ "log", "T9KFS_LOG" },			/* error, warn, info, debug */
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* s without leading and trailing blanks, in place. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int cli_config_load(const char *home)
{
	char path[4200], line[4200], known[200] = "";
	FILE *f;
	int rc = 0, no = 0;

	snprintf(path, sizeof(path), "%s/config", home);
	if (!(f = fopen(path, "r")))
		return errno == ENOENT ? 0 : t9k_err(-errno, "cannot read %s: %s", path, strerror(errno));
	for (size_t i = 0; i < NKEYS; i++) {
		size_t n = strlen(known);

		snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "", keys[i].key);
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *eq, *key, *val;
		size_t i;

		no++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = t9k_err(T9K_EUSAGE, "%s:%d: line longer than %zu bytes", path, no,
				     sizeof(line) - 2);
			break;
		}
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		if (!(eq = strchr(key, '='))) {
			rc = t9k_err(T9K_EUSAGE, "%s:%d: want 'key = value'", path, no);
			break;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (i = 0; i < NKEYS && strcmp(keys[i].key, key); i++)
			;
		if (i == NKEYS)
			rc = t9k_err(T9K_EUSAGE, "%s:%d: unknown key '%s' (known: %s)", path, no, key,
				     known);
		else if (setenv(keys[i].env, val, 0) < 0) /* the environment wins */
			rc = t9k_err(-errno, "%s:%d: %s", path, no, strerror(errno));
	}
	if (rc == 0 && ferror(f))
		rc = t9k_err(-EIO, "cannot read %s", path);
	fclose(f);
	return rc;
}
