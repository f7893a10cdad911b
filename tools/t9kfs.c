/* The t9kfs command: global options, then a git-style subcommand.
 * State lives under $T9KFS_HOME (default ~/.t9kfs); the default store is
 * file://$T9KFS_HOME/store and --store URL (or T9KFS_STORE) overrides it. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/log.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef T9KFS_VERSION
#define T9KFS_VERSION "0.1.0-dev"
#endif

static int cmd_version(struct cli *cli, int argc, char **argv);
static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct cli_cmd commands[] = {
	{ "chunk", cmd_chunk, "store, fetch and verify content-defined chunks (debugging)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "show this help" },
	{ NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: t9kfs [--store URL] [--home DIR] <command> [<args>]\n"
		"\n"
		"t9kfs: a versioned, cached dataset filesystem for AI training.\n"
		"\n"
		"global options:\n"
		"  --store URL   object store (default file://$T9KFS_HOME/store;\n"
		"                env T9KFS_STORE). A plain path means file://PATH.\n"
		"  --home DIR    state directory (default $T9KFS_HOME or ~/.t9kfs)\n"
		"  -h, --help    show this help\n"
		"  --version     print the version\n"
		"\n"
		"commands:\n");
	for (const struct cli_cmd *c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 't9kfs <command> --help' for a command's options.\n"
		   "Environment: T9KFS_HOME, T9KFS_STORE, T9KFS_LOG=error|warn|info|debug.\n");
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	printf("t9kfs %s\n", T9KFS_VERSION);
	return 0;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc > 1) {
		char *sub[] = { argv[1], "--help", NULL };

		for (const struct cli_cmd *c = commands; c->name; c++)
			if (!strcmp(c->name, argv[1]) && c->run != cmd_help)
				return c->run(cli, 2, sub);
		return cli_usage_error("no such command '%s'", argv[1]);
	}
	usage(stdout);
	return 0;
}

/* A store argument without scheme is a local path: make it file://ABS. */
static int set_store_url(struct cli *cli, const char *arg)
{
	char abs[PATH_MAX];
	int n;

	if (strstr(arg, "://")) {
		n = snprintf(cli->store_url, sizeof(cli->store_url), "%s", arg);
	} else {
		if (arg[0] == '/')
			n = snprintf(abs, sizeof(abs), "%s", arg);
		else if (getcwd(abs, sizeof(abs)))
			n = snprintf(abs + strlen(abs), sizeof(abs) - strlen(abs), "/%s", arg);
		else
			n = -1;
		if (n < 0 || (size_t)n >= sizeof(abs))
			return cli_usage_error("store path '%s' is too long", arg);
		n = snprintf(cli->store_url, sizeof(cli->store_url), "file://%s", abs);
	}
	if (n < 0 || (size_t)n >= sizeof(cli->store_url))
		return cli_usage_error("store URL '%s' is too long", arg);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "home", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .prog = "t9kfs" };
	const char *store = getenv("T9KFS_STORE"), *home = getenv("T9KFS_HOME");
	int c, rc;

	t9k_log_init();
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'H': home = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': return cmd_version(&cli, 0, NULL);
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!home || !*home) {
		const char *h = getenv("HOME");

		rc = snprintf(cli.home, sizeof(cli.home), "%s/.t9kfs", h && *h ? h : ".");
	} else {
		rc = snprintf(cli.home, sizeof(cli.home), "%s", home);
	}
	if (rc < 0 || (size_t)rc >= sizeof(cli.home))
		return cli_usage_error("T9KFS_HOME is too long");
	if (store && *store)
		rc = set_store_url(&cli, store);
	else {
		char path[sizeof(cli.home) + 8];

		snprintf(path, sizeof(path), "%s/store", cli.home);
		rc = set_store_url(&cli, path);
	}
	if (rc)
		return rc;

	for (const struct cli_cmd *cmd = commands; cmd->name; cmd++)
		if (!strcmp(cmd->name, argv[optind]))
			return cmd->run(&cli, argc - optind, argv + optind);
	return cli_usage_error("'%s' is not a t9kfs command (see 't9kfs --help')", argv[optind]);
}
