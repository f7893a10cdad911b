/* "t9kfs meta serve": runs the metadata service (meta/service.h) in the
 * foreground until SIGTERM or SIGINT, then drains in-flight requests and
 * closes the database. SIGINT/SIGTERM are blocked before any thread
 * starts, so only sigwait() here sees them. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/service.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STOP_GRACE_MS 30000

static const char serve_usage[] =
	"usage: t9kfs meta serve [--db DIR] [--store URL] [--listen ADDR]... [--token-file FILE]\n"
	"                        [--ui-listen ADDR] [--ui-public-read] [--addr-file FILE]\n"
	"\n"
	"Runs the metadata service (HTTP/1.1 + JSON, see meta/API.md) in the\n"
	"foreground until SIGTERM or SIGINT. It owns the RocksDB database in DIR.\n"
	"\n"
	"  --db DIR            database directory (default $T9KFS_HOME/db)\n"
	"  --store URL         default object store; a repository created without\n"
	"                      one gets URL/NAME (default: the global --store,\n"
	"                      file://$T9KFS_HOME/store). A plain path means file://PATH.\n"
	"  --listen ADDR       unix:PATH or HOST:PORT (port 0: any free port); may be\n"
	"                      given up to 8 times (default unix:$T9KFS_HOME/meta.sock)\n"
	"  --token-file FILE   bearer token, created (mode 0600, random) if missing\n"
	"                      (default $T9KFS_HOME/token): the bootstrap admin; named\n"
	"                      tokens with per-repository grants: 't9kfs token --help'\n"
	"  --max-connections N concurrent connections (default 64)\n"
	"  --ui-listen ADDR    one more HOST:PORT, for the web console, that may fail:\n"
	"                      the service then runs without it (a warning says why)\n"
	"  --ui-public-read    the web console (and every GET of /api/v1/repos...) can be\n"
	"                      read by anyone without the token; changes still need it\n"
	"  --addr-file FILE    write the addresses listened on, one a line, to FILE\n"
	"                      once listening (what 't9kfs ui' reads)\n"
	"\n"
	"The web console is at http://ADDR/ui/ on each TCP address; log in with the\n"
	"token. Logs one line per request on stderr (T9KFS_LOG, default info here).\n";

/* Writes the addresses, one a line, to path (through a temporary file,
 * so a reader never sees half of it). */
static int write_addr_file(struct meta_service *svc, int n, const char *path)
{
	char tmp[4200];
	FILE *f;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return t9k_err(-errno, "cannot write %s: %s", tmp, strerror(errno));
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n", meta_service_address(svc, i));
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		rc = t9k_err(-errno, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

static int meta_serve_cmd(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "store", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token-file", required_argument, NULL, 't' },
		{ "max-connections", required_argument, NULL, 'c' },
		{ "ui-public-read", no_argument, NULL, 'p' },
		{ "ui-listen", required_argument, NULL, 'u' },
		{ "addr-file", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char db_def[sizeof(cli->home) + 8], tok_def[sizeof(cli->home) + 8];
	char sock[sizeof(cli->home) + 16], store[sizeof(cli->store_url)];
	const char *db = db_def, *tokf = tok_def, *addr_file = NULL;
	char tok[META_TOKEN_MAX + 2];
	struct meta_service_opts o = { 0 };
	struct meta_service *svc = NULL;
	sigset_t set;
	long maxc = 0;
	int c, sig = 0, rc;

	snprintf(db_def, sizeof(db_def), "%s/db", cli->home);
	snprintf(tok_def, sizeof(tok_def), "%s/token", cli->home);
	snprintf(store, sizeof(store), "%s", cli->store_url);
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'p': o.ui_public_read = true; break;
		case 'u': o.ui_listen = optarg; break;
		case 'a': addr_file = optarg; break;
		case 't': tokf = optarg; break;
		case 's':
			if ((rc = cli_store_url(optarg, store, sizeof(store))) != 0)
				return rc;
			break;
		case 'l':
			if (o.nlisten == META_SERVICE_MAX_LISTEN)
				return cli_usage_error("at most %d --listen addresses",
						       META_SERVICE_MAX_LISTEN);
			o.listen[o.nlisten++] = optarg;
			break;
		case 'c': {
			char *end;

			maxc = strtol(optarg, &end, 10);
			if (!*optarg || *end || maxc < 1 || maxc > 10000)
				return cli_usage_error("invalid value '%s' for --max-connections (want 1..10000)",
						       optarg);
			break;
		}
		case 'h': fputs(serve_usage, stdout); return 0;
		default: fputs(serve_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(serve_usage, stderr);
		return 2;
	}
	if (o.nlisten == 0) {
		snprintf(sock, sizeof(sock), "unix:%s/meta.sock", cli->home);
		o.listen[o.nlisten++] = sock;
	}
	o.db_dir = db;
	o.store_url = store;
	o.token_file = tokf;
	o.max_connections = (unsigned)maxc;
	if (!getenv("T9KFS_LOG"))
		t9k_log_threshold = T9K_LOG_INFO; /* a daemon logs its requests */

	rc = meta_token_load(tokf, true, tok, sizeof(tok));
	memset(tok, 0, sizeof(tok));
	if (rc < 0)
		return cli_fail(rc);
	if (rc == 1)
		fprintf(stderr, "t9kfs: created token file %s\n", tokf);

	/* before any thread exists, so every thread inherits the mask */
	if ((rc = cli_block_stop_signals(&set)) < 0)
		return cli_fail(rc);
	rc = meta_service_start(&o, &svc);
	if (rc < 0)
		return cli_fail(rc);
	for (int i = 0; i < meta_service_naddr(svc); i++)
		fprintf(stderr, "t9kfs: metadata service listening on %s (pid %d)\n",
			meta_service_address(svc, i), (int)getpid());
	if (o.ui_public_read)
		fprintf(stderr, "t9kfs: the web console and the repositories can be read without the token (--ui-public-read)\n");
	fflush(stderr);
	if (addr_file && (rc = write_addr_file(svc, meta_service_naddr(svc), addr_file)) < 0)
		t9k_log(T9K_LOG_WARN, "meta: %s", t9k_errmsg(rc));
	while (sigwait(&set, &sig) != 0)
		;
	t9k_log(T9K_LOG_INFO, "meta: stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	meta_service_stop(svc, STOP_GRACE_MS);
	return 0;
}

static const struct cli_cmd meta_cmds[] = {
	{ "serve", meta_serve_cmd, "run the metadata service in the foreground" },
	{ NULL, NULL, NULL },
};

int cmd_meta(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "meta", meta_cmds, argc - 1, argv + 1);
}
