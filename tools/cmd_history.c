/* History commands: commit, log, status, diff, merge, revert, reset and
 * compare, all answered by the metadata service. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Adds KEY=VALUE to a JSON object, or says why not. */
static int add_meta(json_t *meta, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[256];

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key))
		return t9k_err(T9K_EUSAGE, "--meta wants KEY=VALUE, not '%s'", arg);
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	json_object_set_new(meta, key, json_string(eq + 1));
	return 0;
}

int cmd_commit_staged(struct cli *cli, const char *repo, const char *branch, const char *msg,
		      json_t *meta, json_t **out);

int cmd_commit_staged(struct cli *cli, const char *repo, const char *branch, const char *msg,
		      json_t *meta, json_t **out)
{
	char suffix[400], esc[256];
	json_t *body;
	int rc = meta_client_escape(branch, esc, sizeof(esc));

	if (rc < 0)
		return rc;
	snprintf(suffix, sizeof(suffix), "/branches/%s/commits", esc);
	body = json_pack("{s:s,s:s,s:O}", "message", msg, "author", cli_author(), "meta", meta);
	rc = cli_repo_call(cli, repo, "POST", suffix, body, out);
	json_decref(body);
	return rc;
}

static const char commit_usage[] =
	"usage: t9kfs commit REPO@BRANCH -m MSG [--meta KEY=VALUE]... [--allow-empty]\n"
	"\n"
	"Records the branch's staged changes as a new commit. --meta attaches\n"
	"key/value pairs (hyperparameters, metrics) shown by 'log --meta' and\n"
	"'compare'. The author is $T9KFS_AUTHOR, or USER@HOST.\n";

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' }, { "meta", required_argument, NULL, 'k' },
		{ "allow-empty", no_argument, NULL, 'e' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *meta = json_object(), *out = NULL, *body;
	const char *msg = NULL;
	bool empty = false;
	struct spec sp;
	int o, rc = 0;

	optind = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		if (o == 'm')
			msg = optarg;
		else if (o == 'k')
			rc = add_meta(meta, optarg);
		else if (o == 'e')
			empty = true;
		else
			return json_decref(meta), fputs(commit_usage, o == 'h' ? stdout : stderr),
			       o == 'h' ? 0 : 2;
	}
	if (rc == 0 && (optind != argc - 1 || !msg))
		rc = t9k_err(T9K_EUSAGE, "want REPO@BRANCH and -m MSG (see 't9kfs commit --help')");
	if (rc == 0)
		rc = spec_parse(argv[optind], SPEC_REF, &sp);
	if (rc == 0 && empty) {
		char suffix[400], esc[256];

		rc = meta_client_escape(sp.ref, esc, sizeof(esc));
		snprintf(suffix, sizeof(suffix), "/branches/%s/commits", esc);
		body = json_pack("{s:s,s:s,s:O,s:b}", "message", msg, "author", cli_author(), "meta",
				 meta, "allow_empty", 1);
		if (rc == 0)
			rc = cli_repo_call(cli, sp.repo, "POST", suffix, body, &out);
		json_decref(body);
	} else if (rc == 0) {
		rc = cmd_commit_staged(cli, sp.repo, sp.ref, msg, meta, &out);
	}
	if (rc == 0)
		printf("committed %s on %s@%s\n", js(out, "id"), sp.repo, sp.ref);
	json_decref(meta);
	json_decref(out);
	return rc < 0 ? cli_fail(rc) : 0;
}

static void print_commit(json_t *c, bool meta)
{
	char when[64];
	time_t t = (time_t)(json_integer_value(json_object_get(c, "time_ns")) / 1000000000);
	struct tm tm;
	const char *k;
	json_t *v;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("commit %s\n", js(c, "id"));
	if (json_array_size(json_object_get(c, "parents")) > 1) {
		printf("Merge: ");
		for (size_t i = 0; i < json_array_size(json_object_get(c, "parents")); i++)
			printf("%.12s ", json_string_value(json_array_get(json_object_get(c, "parents"), i)));
		printf("\n");
	}
	printf("Author: %s\nDate:   %s\n", js(c, "author"), when);
	if (meta && json_object_size(json_object_get(c, "meta"))) {
		printf("Meta:  ");
		json_object_foreach(json_object_get(c, "meta"), k, v)
			printf(" %s=%s", k, json_string_value(v));
		printf("\n");
	}
	printf("\n    %s\n\n", js(c, "message"));
}

static const char log_usage[] =
	"usage: t9kfs log [--meta] [-n N] [--first-parent] [--oneline] [--json] REPO@REF\n"
	"\n"
	"Shows history from REF, newest first. --meta shows each commit's key/value\n"
	"pairs.\n";

int cmd_log(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "meta", no_argument, NULL, 'k' }, { "first-parent", no_argument, NULL, 'f' },
		{ "oneline", no_argument, NULL, 'o' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	bool meta = false, fp = false, one = false, json = false;
	long n = 0;
	char suffix[1000], esc[700];
	json_t *j = NULL, *it;
	struct spec sp;
	size_t i;
	int o, rc = 0;

	optind = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (o) {
		case 'k': meta = true; break;
		case 'f': fp = true; break;
		case 'o': one = true; break;
		case 'j': json = true; break;
		case 'n': rc = parse_int_opt("-n", optarg, 1, 1000000, &n); break;
		default: return fputs(log_usage, o == 'h' ? stdout : stderr), o == 'h' ? 0 : 2;
		}
	}
	if (rc == 0 && optind != argc - 1)
		return fputs(log_usage, stderr), 2;
	if (rc == 0)
		rc = spec_parse(argv[optind], 0, &sp);
	if (rc == 0)
		rc = meta_client_escape(sp.has_ref ? sp.ref : "main", esc, sizeof(esc));
	snprintf(suffix, sizeof(suffix), "/log?ref=%s&limit=%ld%s", esc, n ? n : 100000,
		 fp ? "&first_parent=1" : "");
	if (rc == 0)
		rc = cli_repo_call(cli, sp.repo, "GET", suffix, NULL, &j);
	if (rc == 0 && json)
		cli_print_json(j);
	else if (rc == 0)
		json_array_foreach(json_object_get(j, "commits"), i, it) {
			if (one)
				printf("%.12s %s\n", js(it, "id"), js(it, "message"));
			else
				print_commit(it, meta);
		}
	json_decref(j);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char status_usage[] =
	"usage: t9kfs status [--json] REPO@BRANCH\n"
	"\n"
	"Lists the branch's staged changes: what the next commit records.\n";

int cmd_status(struct cli *cli, int argc, char **argv)
{
	bool json = argc == 3 && !strcmp(argv[1], "--json");
	struct meta_client *c;
	char path[1400], suffix[1100], esc[256], after[900] = "";
	size_t total = 0;
	struct spec sp;
	int rc;

	if (cli_help_asked(argc, argv, status_usage))
		return 0;
	if (argc != 2 && !json)
		return fputs(status_usage, stderr), 2;
	rc = spec_parse(argv[argc - 1], 0, &sp);
	if (rc == 0)
		rc = meta_client_escape(sp.has_ref ? sp.ref : "main", esc, sizeof(esc));
	if (rc == 0)
		rc = cli_client(cli, &c);
	if (rc == 0 && !json)
		printf("staged on %s@%s:\n", sp.repo, sp.has_ref ? sp.ref : "main");
	for (bool more = true; rc == 0 && more;) {
		json_t *j = NULL, *it;
		size_t i;

		snprintf(suffix, sizeof(suffix), "/branches/%s/staging?limit=1000%s%s", esc,
			 after[0] ? "&after=" : "", after);
		rc = cli_repo_path(sp.repo, suffix, path, sizeof(path));
		if (rc == 0)
			rc = meta_client_call(c, "GET", path, NULL, &j);
		if (rc < 0) {
			json_decref(j); /* an error's body */
			break;
		}
		more = json_is_true(json_object_get(j, "more"));
		if (json)
			cli_print_json(j);
		json_array_foreach(json_object_get(j, "entries"), i, it) {
			const char *kind = json_object_get(it, "removed") ? "removed"
					   : json_object_get(it, "dir_attrs") ? "dir attrs" : "set";

			if (!json)
				printf("  %-9s %s\n", kind, js(it, "path"));
			rc = meta_client_escape(js(it, "path"), after, sizeof(after));
			total++;
		}
		json_decref(j);
	}
	if (rc == 0 && !json && total == 0)
		printf("  nothing staged\n");
	return rc < 0 ? cli_fail(rc) : 0;
}

/* GET /diff: the changes between two specs of one repo. */
static int get_diff(struct cli *cli, const char *repo, const char *a, const char *b, json_t **out)
{
	char suffix[2000], ea[700], eb[700];
	int rc = meta_client_escape(a, ea, sizeof(ea));

	if (rc == 0)
		rc = meta_client_escape(b, eb, sizeof(eb));
	snprintf(suffix, sizeof(suffix), "/diff?from=%s&to=%s", ea, eb);
	return rc < 0 ? rc : cli_repo_call(cli, repo, "GET", suffix, NULL, out);
}

static const char diff_usage[] =
	"usage: t9kfs diff [--json] REPO@A REPO@B\n"
	"\n"
	"Lists the paths that differ from A to B: A added, D removed, M modified,\n"
	"with sizes. Only subtrees that differ are read.\n";

int cmd_diff(struct cli *cli, int argc, char **argv)
{
	bool json = argc == 4 && !strcmp(argv[1], "--json");
	struct spec a, b;
	json_t *j = NULL, *it;
	size_t i;
	int rc;

	if (cli_help_asked(argc, argv, diff_usage))
		return 0;
	if (argc != 3 && !json)
		return fputs(diff_usage, stderr), 2;
	rc = spec_parse(argv[argc - 2], SPEC_REF, &a);
	if (rc == 0)
		rc = spec_parse(argv[argc - 1], SPEC_REF, &b);
	if (rc == 0 && strcmp(a.repo, b.repo))
		rc = t9k_err(T9K_EUSAGE, "diff compares refs of one repository");
	if (rc == 0)
		rc = get_diff(cli, a.repo, a.ref, b.ref, &j);
	if (rc == 0 && json)
		cli_print_json(j);
	else if (rc == 0)
		json_array_foreach(json_object_get(j, "changes"), i, it) {
			const char *ch = js(it, "change");
			json_t *o = json_object_get(it, "old"), *n = json_object_get(it, "new");

			if (!strcmp(ch, "added"))
				printf("A %s (%lld bytes)\n", js(it, "path"),
				       (long long)json_integer_value(json_object_get(n, "size")));
			else if (!strcmp(ch, "removed"))
				printf("D %s (%lld bytes)\n", js(it, "path"),
				       (long long)json_integer_value(json_object_get(o, "size")));
			else
				printf("M %s (%lld -> %lld bytes)\n", js(it, "path"),
				       (long long)json_integer_value(json_object_get(o, "size")),
				       (long long)json_integer_value(json_object_get(n, "size")));
		}
	json_decref(j);
	return rc < 0 ? cli_fail(rc) : 0;
}

static void print_conflicts(json_t *reply)
{
	json_t *e = json_object_get(reply, "error"), *p;
	size_t i;

	json_array_foreach(json_object_get(e, "conflicts"), i, p)
		fprintf(stderr, "conflict: %s\n", json_string_value(p));
}

static const char merge_usage[] =
	"usage: t9kfs merge [--strategy ours|theirs] [-m MSG] REPO@SOURCE REPO@TARGET\n"
	"\n"
	"Merges SOURCE (any ref) into branch TARGET: fast-forward when possible,\n"
	"else a three-way merge by path. Paths changed on both sides are listed\n"
	"and nothing moves, unless --strategy picks a side for them.\n";

int cmd_merge(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "strategy", required_argument, NULL, 's' }, { "message", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *strategy = "fail", *msg = "";
	struct spec s, t;
	json_t *j = NULL, *body;
	int o, rc = 0;

	optind = 0;
	while ((o = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		if (o == 's')
			strategy = optarg;
		else if (o == 'm')
			msg = optarg;
		else
			return fputs(merge_usage, o == 'h' ? stdout : stderr), o == 'h' ? 0 : 2;
	}
	if (optind != argc - 2)
		return fputs(merge_usage, stderr), 2;
	if (strcmp(strategy, "ours") && strcmp(strategy, "theirs") && strcmp(strategy, "fail"))
		return cli_usage_error("--strategy is ours or theirs, not '%s'", strategy);
	rc = spec_parse(argv[optind], SPEC_REF, &s);
	if (rc == 0)
		rc = spec_parse(argv[optind + 1], SPEC_REF, &t);
	if (rc == 0 && strcmp(s.repo, t.repo))
		rc = t9k_err(T9K_EUSAGE, "merge works within one repository");
	if (rc < 0)
		return cli_fail(rc);
	body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "source", s.ref, "target", t.ref, "strategy",
			 strategy, "message", msg, "author", cli_author());
	rc = cli_repo_call(cli, s.repo, "POST", "/merge", body, &j);
	json_decref(body);
	if (rc < 0) {
		print_conflicts(j);
		json_decref(j);
		return cli_fail(rc);
	}
	if (json_is_true(json_object_get(j, "up_to_date")))
		printf("already up to date\n");
	else
		printf("%s %s@%s to %.12s\n",
		       json_is_true(json_object_get(j, "fast_forward")) ? "fast-forwarded" : "merged into",
		       t.repo, t.ref, js(j, "commit"));
	json_decref(j);
	return 0;
}

static const char revert_usage[] =
	"usage: t9kfs revert [-m MSG] REPO@BRANCH COMMIT\n"
	"\n"
	"Commits on BRANCH the inverse of COMMIT (a ref or id). Paths changed again\n"
	"since are conflicts and nothing moves.\n";

int cmd_revert(struct cli *cli, int argc, char **argv)
{
	const char *msg = "";
	char suffix[400], esc[256];
	json_t *j = NULL, *body;
	struct spec sp;
	int o, rc;

	optind = 0;
	while ((o = getopt(argc, argv, "m:h")) != -1) {
		if (o == 'm')
			msg = optarg;
		else
			return fputs(revert_usage, o == 'h' ? stdout : stderr), o == 'h' ? 0 : 2;
	}
	if (cli_help_asked(argc, argv, revert_usage))
		return 0;
	if (optind != argc - 2)
		return fputs(revert_usage, stderr), 2;
	rc = spec_parse(argv[optind], SPEC_REF, &sp);
	if (rc == 0)
		rc = meta_client_escape(sp.ref, esc, sizeof(esc));
	snprintf(suffix, sizeof(suffix), "/branches/%s/revert", esc);
	if (rc < 0)
		return cli_fail(rc);
	body = json_pack("{s:s,s:s,s:s}", "commit", argv[optind + 1], "message", msg, "author",
			 cli_author());
	rc = cli_repo_call(cli, sp.repo, "POST", suffix, body, &j);
	json_decref(body);
	if (rc < 0) {
		print_conflicts(j);
		json_decref(j);
		return cli_fail(rc);
	}
	printf("reverted %s on %s@%s: %.12s\n", argv[optind + 1], sp.repo, sp.ref, js(j, "commit"));
	json_decref(j);
	return 0;
}

static const char reset_usage[] =
	"usage: t9kfs reset REPO@BRANCH[:PATH]\n"
	"\n"
	"Drops the branch's staged changes (all, or those under PATH).\n";

int cmd_reset(struct cli *cli, int argc, char **argv)
{
	char suffix[5500], esc[256], pesc[5000];
	json_t *j = NULL;
	struct spec sp;
	int rc;

	if (cli_help_asked(argc, argv, reset_usage))
		return 0;
	if (argc != 2)
		return fputs(reset_usage, stderr), 2;
	rc = spec_parse(argv[1], SPEC_REF, &sp);
	if (rc == 0)
		rc = meta_client_escape(sp.ref, esc, sizeof(esc));
	if (rc == 0)
		rc = meta_client_escape(sp.path, pesc, sizeof(pesc));
	snprintf(suffix, sizeof(suffix), "/branches/%s/staging?prefix=%s", esc, pesc);
	if (rc == 0)
		rc = cli_repo_call(cli, sp.repo, "DELETE", suffix, NULL, &j);
	if (rc == 0)
		printf("dropped %lld staged change(s)\n",
		       (long long)json_integer_value(json_object_get(j, "dropped")));
	json_decref(j);
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char compare_usage[] =
	"usage: t9kfs compare REPO@A REPO@B [REPO@C...]\n"
	"\n"
	"Prints the commits' metadata (hyperparameters, metrics) side by side, and\n"
	"how much data changed from the first to each other one.\n";

int cmd_compare(struct cli *cli, int argc, char **argv)
{
	struct meta_client *c;
	struct spec sp[16];
	json_t *commits[16] = { 0 }, *keys = json_object();
	int n = argc - 1, rc = 0;
	const char *k;
	json_t *v;

	if (cli_help_asked(argc, argv, compare_usage))
		return json_decref(keys), 0;
	if (n < 2 || n > 16)
		return json_decref(keys), fputs(compare_usage, stderr), 2;
	rc = cli_client(cli, &c);
	for (int i = 0; rc == 0 && i < n; i++) {
		char path[1400], suffix[1000], esc[700];
		json_t *j = NULL;

		rc = spec_parse(argv[i + 1], SPEC_REF, &sp[i]);
		if (rc == 0 && strcmp(sp[i].repo, sp[0].repo))
			rc = t9k_err(T9K_EUSAGE, "compare works within one repository");
		if (rc == 0)
			rc = meta_client_escape(sp[i].ref, esc, sizeof(esc));
		snprintf(suffix, sizeof(suffix), "/log?ref=%s&limit=1", esc);
		if (rc == 0)
			rc = cli_repo_path(sp[i].repo, suffix, path, sizeof(path));
		if (rc == 0)
			rc = meta_client_call(c, "GET", path, NULL, &j);
		if (rc == 0) {
			commits[i] = json_incref(json_array_get(json_object_get(j, "commits"), 0));
			json_object_foreach(json_object_get(commits[i], "meta"), k, v)
				json_object_set_new(keys, k, json_true());
		}
		json_decref(j);
	}
	if (rc == 0) {
		printf("%-16s", "");
		for (int i = 0; i < n; i++)
			printf(" %-18.18s", sp[i].ref);
		printf("\n%-16s", "commit");
		for (int i = 0; i < n; i++)
			printf(" %-18.12s", js(commits[i], "id"));
		printf("\n");
		json_object_foreach(keys, k, v) {
			printf("%-16.16s", k);
			for (int i = 0; i < n; i++) {
				const char *s = json_string_value(
					json_object_get(json_object_get(commits[i], "meta"), k));

				printf(" %-18.18s", s ? s : "-");
			}
			printf("\n");
		}
		printf("%-16s %-18s", "data vs first", "-");
		for (int i = 1; rc == 0 && i < n; i++) {
			json_t *d = NULL, *it;
			long long bytes = 0;
			size_t idx;
			char col[64];

			rc = get_diff(cli, sp[0].repo, sp[0].ref, sp[i].ref, &d);
			json_array_foreach(json_object_get(d, "changes"), idx, it) {
				json_t *nw = json_object_get(it, "new");

				bytes += nw ? (long long)json_integer_value(json_object_get(nw, "size")) : 0;
			}
			snprintf(col, sizeof(col), "%zu paths, %lld B",
				 json_array_size(json_object_get(d, "changes")), bytes);
			printf(" %-18.18s", col);
			json_decref(d);
		}
		printf("\n");
	}
	for (int i = 0; i < n; i++)
		json_decref(commits[i]);
	json_decref(keys);
	return rc < 0 ? cli_fail(rc) : 0;
}
