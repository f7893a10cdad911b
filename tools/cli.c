/* Helpers for the t9kfs subcommands: store opening, error lines, dispatch
 * of "t9kfs GROUP SUBCOMMAND", terminal progress. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cli_fail(int rc)
{
	fprintf(stderr, "t9kfs: %s\n", t9k_errmsg(rc));
	return 1;
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
