/* What the t9kfs subcommands share: the global options, opening the
 * configured store, printing errors and progress. Only tools/ uses it. */
#ifndef T9K_CLI_H
#define T9K_CLI_H

#include "meta/client.h"
#include "meta/object.h"
#include "store/store.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct cli {
	const char *prog;      /* "t9kfs" */
	char home[4096];       /* $T9KFS_HOME or ~/.t9kfs */
	char store_url[4200];  /* --store, or file://HOME/store */
	bool embedded;         /* no T9KFS_SERVER: the local server under home */
	char server[4200];     /* T9KFS_SERVER, or unix:HOME/meta.sock */
	struct meta_client *client; /* opened by cli_client(), freed by main */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv); /* argv[0] is the name */
	const char *summary;
};

/* Prints "t9kfs: <message of rc>" and returns the exit status (1). */
int cli_fail(int rc);
/* For a daemon command, before it starts any thread (they inherit the
 * mask): blocks SIGINT and SIGTERM into set, for sigwait, and ignores
 * SIGPIPE. */
int cli_block_stop_signals(sigset_t *set);
/* Prints "t9kfs: <formatted>" and returns the usage exit status (2). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cli_open_store(struct cli *cli, struct store **out);

/* The metadata service client; for the embedded default, starts the local
 * server first if it is not running. */
/* A --store argument as a URL in out: one with a scheme as given, a
 * path as file://ABS (relative to the working directory). A result too
 * long is a usage error (printed; its exit status returned). */
int cli_store_url(const char *arg, char *out, size_t size);
/* Reads HOME/config (tools/config.c): each "key = value" becomes the
 * default of its T9KFS_* environment variable. A missing file is fine; an
 * unknown key or a malformed line is T9K_EUSAGE naming file and line. */
int cli_config_load(const char *home);
int cli_client(struct cli *cli, struct meta_client **out);
/* The service's token: $T9KFS_TOKEN, else HOME/token, else "" (the
 * server then answers 401). */
int cli_token(struct cli *cli, char *tok, size_t size);
/* A client of its own (its own connections and timeout); the caller frees it. */
int cli_client_new(struct cli *cli, struct meta_client **out);
/* Starts the embedded server if needed; *started tells whether it did. */
int cli_server_ensure(struct cli *cli, bool *started);
int cli_server_pid(struct cli *cli);

/* REPO[@REF][:PATH] as users write them. want: which parts are required. */
enum { SPEC_REF = 1, SPEC_PATH = 2 };
struct spec {
	char repo[65];
	char ref[301];   /* "" when absent */
	char path[4097]; /* normalised: no leading or trailing '/'; "" = root */
	bool has_ref, has_path;
};
int spec_parse(const char *s, int want, struct spec *sp);
/* Opens sp.repo for data access through the service. */
int cli_repo(struct cli *cli, const struct spec *sp, struct repo **out);
/* "/repos/NAME" with NAME escaped, plus a suffix. */
int cli_repo_path(const char *repo, const char *suffix, char *out, size_t outsz);
const char *cli_author(void);
/* True (after printing usage to stdout) when argv asks for --help/-h. */
bool cli_help_asked(int argc, char **argv, const char *usage);
/* One request for repository repo: suffix is appended to /repos/NAME. */
int cli_repo_call(struct cli *cli, const char *repo, const char *method, const char *suffix,
		  json_t *body, json_t **reply);
/* GET /diff of repo: the changes from spec a to spec b, new in *out. */
int cli_get_diff(struct cli *cli, const char *repo, const char *a, const char *b, json_t **out);
/* A time in nanoseconds since the epoch as "2026-12-07 14:03:00 UTC". */
void cli_format_time(int64_t ns, char *out, size_t size);
/* Prints a JSON value to stdout, indented. */
void cli_print_json(json_t *j);
/* Member k of object o as a string; "" when absent or not a string. */
const char *cli_js(json_t *o, const char *k);
int parse_int_opt(const char *opt, const char *arg, long lo, long hi, long *out);
/* T9K_EUSAGE naming an option getopt refused (opterr 0, optstring ":..."). */
int cli_bad_option(const char *cmd, int o, char **argv);

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
int cmd_meta(struct cli *cli, int argc, char **argv);
int cmd_csi(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_server(struct cli *cli, int argc, char **argv);
int cmd_ui(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_repo(struct cli *cli, int argc, char **argv);
int cmd_branch(struct cli *cli, int argc, char **argv);
int cmd_tag(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_cat(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_stat(struct cli *cli, int argc, char **argv);
int cmd_commit(struct cli *cli, int argc, char **argv);
int cmd_log(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_diff(struct cli *cli, int argc, char **argv);
int cmd_merge(struct cli *cli, int argc, char **argv);
int cmd_revert(struct cli *cli, int argc, char **argv);
int cmd_reset(struct cli *cli, int argc, char **argv);
int cmd_compare(struct cli *cli, int argc, char **argv);
int cmd_show(struct cli *cli, int argc, char **argv);
/* log --input (tools/cmd_lineage.c): prints the runs whose input.N read
 * the commit input names, over repos (every repository when empty). */
int cli_log_input(struct cli *cli, const char *input, json_t *repos, bool json, long max);
struct proto_item;
/* The cache's name of chunk mc and where the store has it (its own object
 * or a pack range): a daemon fetches a miss from there. */
int cli_cache_item(const struct manifest_chunk *mc, struct proto_item *it);

int cmd_mount(struct cli *cli, int argc, char **argv);
int cmd_umount(struct cli *cli, int argc, char **argv);
int cmd_cache(struct cli *cli, int argc, char **argv);
int cmd_warmup(struct cli *cli, int argc, char **argv);
int cmd_job(struct cli *cli, int argc, char **argv);
int cmd_gc(struct cli *cli, int argc, char **argv);
int cmd_retention(struct cli *cli, int argc, char **argv);
int cmd_du(struct cli *cli, int argc, char **argv);
/* "t9kfs repo show NAME": the record, retention, the last gc, du. */
int cli_repo_show(struct cli *cli, const char *name, bool json);

#endif
