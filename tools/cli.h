/* What the t9kfs subcommands share: the global options, opening the
 * configured store, printing errors and progress. Only tools/ uses it. */
#ifndef T9K_CLI_H
#define T9K_CLI_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

struct cli {
	const char *prog;      /* "t9kfs" */
	char home[4096];       /* $T9KFS_HOME or ~/.t9kfs */
	char store_url[4200];  /* --store, or file://HOME/store */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv); /* argv[0] is the name */
	const char *summary;
};

/* Prints "t9kfs: <message of rc>" and returns the exit status (1). */
int cli_fail(int rc);
/* Prints "t9kfs: <formatted>" and returns the usage exit status (2). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cli_open_store(struct cli *cli, struct store **out);

/* Finds argv[0] in a table ending with a NULL name and runs it; prints
 * the table for "help" or no command. */
int cli_dispatch(struct cli *cli, const char *group, const struct cli_cmd *cmds, int argc,
		 char **argv);

/* Progress on stderr, only when it is a terminal; redrawn at most 4 times a
 * second. total == 0 means unknown. */
struct progress {
	bool on;
	double start, last;
	const char *what;
};
void progress_init(struct progress *p, const char *what);
void progress_update(struct progress *p, uint64_t done_bytes, uint64_t total_bytes, uint64_t items);
void progress_done(struct progress *p);

int cmd_chunk(struct cli *cli, int argc, char **argv);

#endif
