/* Helpers for the t9kfs subcommands: store opening, error lines, dispatch
 * of "t9kfs GROUP SUBCOMMAND", terminal progress. */
#include "tools/cli.h"

#include "cache/proto.h"
#include "fs/cache-source.h"
#include "lib/err.h"
#include "lib/util.h"
#include "meta/db.h"
#include "meta/local.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int cli_fail(int rc)
{
	fprintf(stderr, "t9kfs: %s\n", t9k_errmsg(rc));
	return rc == T9K_EUSAGE ? 2 : 1;
}

int cli_block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
		return t9k_err(-EINVAL, "cannot block signals");
	return 0;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("t9kfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

int cli_open_store(struct cli *cli, struct store **out)
{
	return store_open(cli->store_url, out);
}

static void print_cmds(FILE *f, const char *group, const struct cli_cmd *cmds)
{
	fprintf(f, "usage: t9kfs %s <command> [options]\n\ncommands:\n", group);
	for (const struct cli_cmd *c = cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 't9kfs %s <command> --help' for a command's options.\n", group);
}

int cli_dispatch(struct cli *cli, const char *group, const struct cli_cmd *cmds, int argc,
		 char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") ||
	    !strcmp(argv[0], "-h")) {
		print_cmds(argc < 1 ? stderr : stdout, group, cmds);
		return argc < 1 ? 2 : 0;
	}
	for (const struct cli_cmd *c = cmds; c->name; c++)
		if (!strcmp(c->name, argv[0]))
			return c->run(cli, argc, argv);
	return cli_usage_error("unknown command '%s %s' (see 't9kfs %s --help')", group, argv[0],
			       group);
}

void progress_init(struct progress *p, const char *what)
{
	p->on = isatty(STDERR_FILENO);
	p->start = p->last = now_sec();
	p->what = what;
}

void progress_update(struct progress *p, uint64_t done, uint64_t total, uint64_t items)
{
	char a[32], b[32];
	double t = now_sec(), rate;

	if (!p->on || t - p->last < 0.25)
		return;
	p->last = t;
	rate = (double)done / (t - p->start > 1e-9 ? t - p->start : 1e-9);
	format_size(done, a, sizeof(a));
	if (total) {
		double eta = rate > 0 ? (double)(total - (done < total ? done : total)) / rate : 0;

		format_size(total, b, sizeof(b));
		fprintf(stderr, "\r%s: %3.0f%% %s / %s, %llu items, %.0f MB/s, ETA %.0fs   ", p->what,
			100.0 * (double)done / (double)total, a, b, (unsigned long long)items,
			rate / 1e6, eta);
	} else {
		fprintf(stderr, "\r%s: %s, %llu items, %.0f MB/s   ", p->what, a,
			(unsigned long long)items, rate / 1e6);
	}
}

void progress_done(struct progress *p)
{
	if (p->on && p->last > p->start)
		fputs("\r\033[K", stderr);
}

/* ---- specs ---- */

int spec_parse(const char *s, int want, struct spec *sp)
{
	const char *at = strchr(s, '@'), *colon;
	size_t rlen;
	int rc;

	memset(sp, 0, sizeof(*sp));
	colon = strchr(at ? at : s, ':');
	rlen = at ? (size_t)(at - s) : colon ? (size_t)(colon - s) : strlen(s);
	if (rlen == 0 || rlen >= sizeof(sp->repo))
		return t9k_err(T9K_EUSAGE, "'%s': want REPO%s%s", s, want & SPEC_REF ? "@REF" : "",
			       want & SPEC_PATH ? ":PATH" : "");
	memcpy(sp->repo, s, rlen);
	rc = meta_repo_name_check(sp->repo);
	if (rc < 0)
		return rc;
	if (at) {
		size_t n = colon ? (size_t)(colon - at - 1) : strlen(at + 1);

		if (n == 0 || n >= sizeof(sp->ref))
			return t9k_err(T9K_EUSAGE, "'%s': empty or too long ref after '@'", s);
		memcpy(sp->ref, at + 1, n);
		sp->has_ref = true;
	}
	if (colon) {
		const char *p = colon + 1;
		size_t n;

		while (*p == '/')
			p++;
		n = strlen(p);
		while (n && p[n - 1] == '/')
			n--;
		if (n >= sizeof(sp->path))
			return t9k_err(T9K_EUSAGE, "'%s': path too long", s);
		memcpy(sp->path, p, n);
		sp->has_path = true;
		if (n && (rc = meta_path_check(sp->path)) < 0)
			return rc;
	}
	if ((want & SPEC_REF) && !sp->has_ref)
		return t9k_err(T9K_EUSAGE, "'%s': want REPO@REF%s", s, want & SPEC_PATH ? ":PATH" : "");
	if ((want & SPEC_PATH) && (!sp->has_path || !sp->path[0]))
		return t9k_err(T9K_EUSAGE, "'%s': want a path, as REPO@REF:PATH", s);
	return 0;
}

int cli_repo_path(const char *repo, const char *suffix, char *out, size_t outsz)
{
	char esc[256];
	int rc = meta_client_escape(repo, esc, sizeof(esc)), n;

	if (rc < 0)
		return rc;
	n = snprintf(out, outsz, "/repos/%s%s", esc, suffix ? suffix : "");
	return n < 0 || (size_t)n >= outsz ? t9k_err(-ENAMETOOLONG, "request too long") : 0;
}

const char *cli_author(void)
{
	static char who[320];

	meta_local_author(who, sizeof(who));
	return who;
}

bool cli_help_asked(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return true;
		}
	return false;
}

int cli_repo_call(struct cli *cli, const char *repo, const char *method, const char *suffix,
		  json_t *body, json_t **reply)
{
	struct meta_client *c = NULL;
	char path[8192];
	int rc = cli_repo_path(repo, suffix, path, sizeof(path));

	if (reply)
		*reply = NULL;
	if (rc == 0)
		rc = cli_client(cli, &c);
	return rc < 0 ? rc : meta_client_call(c, method, path, body, reply);
}

int cli_get_diff(struct cli *cli, const char *repo, const char *a, const char *b, json_t **out)
{
	char suffix[2000], ea[700], eb[700];
	int rc = meta_client_escape(a, ea, sizeof(ea));

	if (rc == 0)
		rc = meta_client_escape(b, eb, sizeof(eb));
	snprintf(suffix, sizeof(suffix), "/diff?from=%s&to=%s", ea, eb);
	return rc < 0 ? rc : cli_repo_call(cli, repo, "GET", suffix, NULL, out);
}

void cli_print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
}

const char *cli_js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

void cli_format_time(int64_t ns, char *out, size_t size)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

int parse_int_opt(const char *opt, const char *arg, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < lo || v > hi)
		return t9k_err(T9K_EUSAGE, "invalid value '%s' for %s (want %ld..%ld)", arg, opt, lo, hi);
	*out = v;
	return 0;
}

int cli_bad_option(const char *cmd, int o, char **argv)
{
	if (o == ':')
		return t9k_err(T9K_EUSAGE, "%s: option '%s' wants a value (see 't9kfs %s --help')", cmd,
			       argv[optind - 1], cmd);
	return t9k_err(T9K_EUSAGE, "%s: unknown option '%s' (see 't9kfs %s --help')", cmd,
		       argv[optind - 1], cmd);
}

int cli_store_url(const char *arg, char *out, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (strstr(arg, "://"))
		n = snprintf(out, size, "%s", arg);
	else if (arg[0] == '/')
		n = snprintf(out, size, "file://%s", arg);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, size, "file://%s/%s", cwd, arg);
	else
		n = -1;
	if (n < 0 || (size_t)n >= size)
		return cli_usage_error("store '%s' is too long", arg);
	return 0;
}

/* ---- the service: client and the embedded server ---- */

int cli_token(struct cli *cli, char *tok, size_t size)
{
	return meta_local_token(cli->home, tok, size);
}

int cli_server_pid(struct cli *cli)
{
	return meta_local_server_pid(cli->home);
}

int cli_server_ensure(struct cli *cli, bool *started)
{
	return meta_local_server_ensure(cli->home, cli->server, cli->embedded, NULL, started);
}

int cli_config_load(const char *home)
{
	return meta_local_config_load(home);
}

int cli_client_new(struct cli *cli, struct meta_client **out)
{
	char tok[512];
	bool started;
	int rc;

	*out = NULL;
	rc = cli_server_ensure(cli, &started);
	if (rc == 0)
		rc = cli_token(cli, tok, sizeof(tok));
	if (rc == 0)
		rc = meta_client_new(cli->server, tok, out);
	return rc;
}

int cli_client(struct cli *cli, struct meta_client **out)
{
	int rc = 0;

	if (!cli->client)
		rc = cli_client_new(cli, &cli->client);
	*out = cli->client;
	return rc;
}

int cli_repo(struct cli *cli, const struct spec *sp, struct repo **out)
{
	struct meta_client *c;
	int rc = cli_client(cli, &c);

	return rc < 0 ? rc : meta_client_open_repo(c, sp->repo, out);
}

int cli_cache_item(const struct manifest_chunk *mc, struct proto_item *it)
{
	return fs_cache_item(mc, it);
}
