/* The t9kfs command: global options, then a git-style subcommand.
 * State lives under $T9KFS_HOME (default ~/.t9kfs); the default store is
 * file://$T9KFS_HOME/store and --store URL (or T9KFS_STORE) overrides it. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmd_version(struct cli *cli, int argc, char **argv);
static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct cli_cmd commands[] = {
	{ "repo", cmd_repo, "create, list and delete repositories" },
	{ "import", cmd_import, "stage a local directory tree (and commit it with -m)" },
	{ "export", cmd_export, "write a commit's files to a local directory" },
	{ "mount", cmd_mount, "mount a commit, tag or branch with FUSE" },
	{ "run", cmd_run, "run a command with its data mounted; record the run as a commit" },
	{ "umount", cmd_umount, "unmount a t9kfs mount" },
	{ "warmup", cmd_warmup, "load a commit's chunks into the node's cache or a cache group" },
	{ "cache", cmd_cache, "run the node's chunk cache daemon (cache serve), its stats" },
	{ "put", cmd_put, "stage one local file at a path of a branch" },
	{ "get", cmd_get, "copy a file out of a commit" },
	{ "cat", cmd_cat, "print a file of a commit" },
	{ "rm", cmd_rm, "stage the removal of a path" },
	{ "ls", cmd_ls, "list a directory of a commit" },
	{ "stat", cmd_stat, "show one entry of a commit" },
	{ "status", cmd_status, "show the staged changes of a branch" },
	{ "commit", cmd_commit, "commit a branch's staged changes" },
	{ "log", cmd_log, "show history" },
	{ "diff", cmd_diff, "show changed paths between two commits" },
	{ "compare", cmd_compare, "compare commits' metadata and data side by side" },
	{ "show", cmd_show, "show a commit: message, metadata, a run's inputs, params and metrics" },
	{ "branch", cmd_branch, "create, list and delete branches" },
	{ "tag", cmd_tag, "create, list and delete tags" },
	{ "merge", cmd_merge, "merge a ref into a branch" },
	{ "revert", cmd_revert, "commit the inverse of a commit" },
	{ "reset", cmd_reset, "drop staged changes of a branch" },
	{ "gc", cmd_gc, "delete what no ref reaches under the retention rules" },
	{ "retention", cmd_retention, "show or set which commits keep their data" },
	{ "du", cmd_du, "storage of a repository or a ref: stored, reachable, unique" },
	{ "server", cmd_server, "start, stop or check the local metadata server" },
	{ "ui", cmd_ui, "print (or open) the address of the web console" },
	{ "token", cmd_token, "create, list and revoke the service's named tokens" },
	{ "chunk", cmd_chunk, "store, fetch and verify content-defined chunks (debugging)" },
	{ "meta", cmd_meta, "run the metadata service (meta serve)" },
	{ "csi", cmd_csi, "run the Kubernetes CSI driver, or the node's mounter" },
	{ "job", cmd_job, "render and submit a training job to Kubernetes" },
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
		fprintf(f, "  %-9s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 't9kfs <command> --help' for a command's options.\n"
		   "Environment: T9KFS_HOME, T9KFS_STORE, T9KFS_SERVER, T9KFS_TOKEN,\n"
		   "T9KFS_CACHE, T9KFS_CACHE_GROUP, T9KFS_AUTHOR, T9KFS_LOG=error|warn|info|debug,\n"
		   "T9KFS_UI_LISTEN (the local server's console address, default 127.0.0.1:0; off).\n"
		   "$T9KFS_HOME/config may set defaults for them, one 'key = value' a line\n"
		   "(server, store, cache, cache_group, author, log, ui_listen); the environment\n"
		   "and the command line win over it.\n");
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
	const char *store = NULL, *home = getenv("T9KFS_HOME"), *server;
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
	if ((rc = cli_config_load(cli.home)) < 0)
		return cli_fail(rc);
	t9k_log_init(); /* T9KFS_LOG may come from the config file */
	if (!store)
		store = getenv("T9KFS_STORE");
	if (store && *store)
		rc = cli_store_url(store, cli.store_url, sizeof(cli.store_url));
	else {
		char path[sizeof(cli.home) + 8];

		snprintf(path, sizeof(path), "%s/store", cli.home);
		rc = cli_store_url(path, cli.store_url, sizeof(cli.store_url));
	}
	if (rc)
		return rc;
	server = getenv("T9KFS_SERVER");
	cli.embedded = !server || !*server;
	if (cli.embedded)
		rc = snprintf(cli.server, sizeof(cli.server), "unix:%s/meta.sock", cli.home);
	else
		rc = snprintf(cli.server, sizeof(cli.server), "%s", server);
	if (rc < 0 || (size_t)rc >= sizeof(cli.server))
		return cli_usage_error("T9KFS_SERVER is too long");

	for (const struct cli_cmd *cmd = commands; cmd->name; cmd++) {
		if (strcmp(cmd->name, argv[optind]))
			continue;
		rc = cmd->run(&cli, argc - optind, argv + optind);
		meta_client_free(cli.client);
		return rc;
	}
	return cli_usage_error("'%s' is not a t9kfs command (see 't9kfs --help')", argv[optind]);
}
