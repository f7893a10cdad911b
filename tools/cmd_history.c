/* History commands: commit, log, status, diff, merge, revert, reset, all
 * answered by the metadata service. log --input, the runs that read a
 * data commit, is walked by tools/cmd_lineage.c (cli_log_input). */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A commit's time: --date, else $T9KFS_COMMIT_DATE (like git's
 * GIT_COMMITTER_DATE: imports of old history, tests' clocks), as @SECONDS
 * since the epoch or YYYY-MM-DD[THH:MM[:SS]] in UTC; 0: now. */
static const char *commit_date;

static int date_parse(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	const char *end;
	char *e;

	if (s[0] == '@') {
		long long v = strtoll(s + 1, &e, 10);

		if (!s[1] || *e || v <= 0 || v > 253402300799LL)
			goto bad;
		*ns = (int64_t)v * 1000000000;
		return 0;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end && (*end == 'T' || *end == ' '))
		end = strptime(end + 1, strchr(end + 1, ':') && strchr(strchr(end + 1, ':') + 1, ':')
						? "%H:%M:%S" : "%H:%M", &tm);
	if (!end || *end)
		goto bad;
	*ns = (int64_t)timegm(&tm) * 1000000000;
	if (*ns > 0)
		return 0;
bad:
	return t9k_err(T9K_EUSAGE, "bad commit date '%s': want @SECONDS or YYYY-MM-DD[THH:MM[:SS]] (UTC)",
		       s);
}

static int commit_time(json_t *body)
{
	const char *d = commit_date ? commit_date : getenv("T9KFS_COMMIT_DATE");
	int64_t ns = 0;
	int rc;

	if (!d || !*d)
		return 0;
	rc = date_parse(d, &ns);
	if (rc == 0)
		json_object_set_new(body, "time_ns", json_integer(ns));
	return rc;
}

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
	rc = commit_time(body);
	if (rc < 0) {
		json_decref(body);
		return rc;
	}
	rc = cli_repo_call(cli, repo, "POST", suffix, body, out);
	json_decref(body);
	return rc;
}

static const char commit_usage[] =
	"usage: t9kfs commit REPO@BRANCH -m MSG [--meta KEY=VALUE]... [--allow-empty]\n"
	"                    [--date @SECONDS|YYYY-MM-DD[THH:MM[:SS]]]\n"
	"\n"
	"Records the branch's staged changes as a new commit. --meta attaches\n"
	"key/value pairs (hyperparameters, metrics) shown by 'log --meta' and\n"
	"'compare'. The author is $T9KFS_AUTHOR, or USER@HOST. The time is now,\n"
	"or --date (else $T9KFS_COMMIT_DATE), in UTC.\n";

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' }, { "meta", required_argument, NULL, 'k' },
		{ "allow-empty", no_argument, NULL, 'e' }, { "help", no_argument, NULL, 'h' },
		{ "date", required_argument, NULL, 'd' },
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
		else if (o == 'd')
			commit_date = optarg;
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
			rc = commit_time(body);
		if (rc == 0)
			rc = cli_repo_call(cli, sp.repo, "POST", suffix, body, &out);
		json_decref(body);
	} else if (rc == 0) {
		rc = cmd_commit_staged(cli, sp.repo, sp.ref, msg, meta, &out);
	}
	if (rc == 0)
		printf("committed %s on %s@%s\n", cli_js(out, "id"), sp.repo, sp.ref);
	json_decref(meta);
	json_decref(out);
	return rc < 0 ? cli_fail(rc) : 0;
}

static void print_commit(json_t *c, bool meta)
{
	char when[64];
	const char *k;
	json_t *v;

	cli_format_time(json_integer_value(json_object_get(c, "time_ns")), when, sizeof(when));
	printf("commit %s\n", cli_js(c, "id"));
	if (json_array_size(json_object_get(c, "parents")) > 1) {
		printf("Merge: ");
		for (size_t i = 0; i < json_array_size(json_object_get(c, "parents")); i++)
			printf("%.12s ", json_string_value(json_array_get(json_object_get(c, "parents"), i)));
		printf("\n");
	}
	printf("Author: %s\nDate:   %s\n", cli_js(c, "author"), when);
	if (meta && json_object_size(json_object_get(c, "meta"))) {
		printf("Meta:  ");
		json_object_foreach(json_object_get(c, "meta"), k, v)
			printf(" %s=%s", k, json_string_value(v));
		printf("\n");
	}
	printf("\n    %s\n\n", cli_js(c, "message"));
}

static const char log_usage[] =
	"usage: t9kfs log [--meta] [-n N] [--first-parent] [--oneline] [--json] REPO@REF\n"
	"       t9kfs log --input REPO@REF [--repo R]... [-n N] [--json]\n"
	"\n"
	"Shows history from REF, newest first. --meta shows each commit's key/value\n"
	"pairs.\n"
	"\n"
	"--input lists the runs that read a data commit (which models did this\n"
	"dataset version train?): the commits whose metadata has an input.N of\n"
	"REPO@COMMIT or REPO@COMMIT:PATH (README, \"Experiments are commits\"),\n"
	"where COMMIT is what REF (a branch, tag, commit id or prefix, REF~N)\n"
	"names. It searches the history of every branch of every repository, or\n"
	"of the repositories given with --repo, and lists each commit once, as\n"
	"'REPO ID MESSAGE (input.N: PATH)' ('/' when the run read the whole\n"
	"commit); nothing when no run read it. -n N stops after N runs. --json\n"
	"prints an array of {repo, branch (the first whose history holds it),\n"
	"commit (the commit object), inputs: [{key, spec, path, dir}]}. History\n"
	"is read 100 commits a request: memory holds one such page, plus 64\n"
	"bytes for each commit of a repository walked so far (to visit each\n"
	"once) and the merge parents still to walk.\n";

int cmd_log(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "meta", no_argument, NULL, 'k' }, { "first-parent", no_argument, NULL, 'f' },
		{ "oneline", no_argument, NULL, 'o' }, { "json", no_argument, NULL, 'j' },
		{ "input", required_argument, NULL, 'i' }, { "repo", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	bool meta = false, fp = false, one = false, json = false;
	const char *input = NULL;
	long n = 0;
	char suffix[1000], esc[700] = "";
	json_t *j = NULL, *it, *repos = json_array();
	struct spec sp;
	size_t i;
	int o, rc = 0;

	optind = 0;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
		switch (o) {
		case 'k': meta = true; break;
		case 'f': fp = true; break;
		case 'o': one = true; break;
		case 'j': json = true; break;
		case 'i': input = optarg; break;
		case 'r':
			rc = meta_repo_name_check(optarg);
			json_array_append_new(repos, json_string(optarg));
			break;
		case 'n': rc = parse_int_opt("-n", optarg, 1, 1000000, &n); break;
		case 'h': json_decref(repos); return fputs(log_usage, stdout), 0;
		default: rc = cli_bad_option("log", o, argv); break;
		}
	}
	if (rc == 0 && !input && json_array_size(repos))
		rc = t9k_err(T9K_EUSAGE, "--repo goes with --input: 'log --input REPO@REF --repo R'");
	else if (rc == 0 && input && (optind != argc || meta || fp))
		rc = t9k_err(T9K_EUSAGE, "log --input REPO@REF lists runs and takes no other REPO@REF, "
			     "--meta or --first-parent");
	if (rc == 0 && input) {
		rc = cli_log_input(cli, input, repos, json, n);
		json_decref(repos);
		return rc < 0 ? cli_fail(rc) : 0;
	}
	json_decref(repos);
	if (rc == 0 && optind != argc - 1)
		rc = t9k_err(T9K_EUSAGE, "log wants one REPO@REF, or --input REPO@REF (see 't9kfs log "
			     "--help')");
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
				printf("%.12s %s\n", cli_js(it, "id"), cli_js(it, "message"));
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
				printf("  %-9s %s\n", kind, cli_js(it, "path"));
			rc = meta_client_escape(cli_js(it, "path"), after, sizeof(after));
			total++;
		}
		json_decref(j);
	}
	if (rc == 0 && !json && total == 0)
		printf("  nothing staged\n");
	return rc < 0 ? cli_fail(rc) : 0;
}

static const char diff_usage[] =
	"usage: t9kfs diff [--json] REPO@A REPO@B\n"
	"\n"
	"Lists the paths that differ from A to B: A added, D removed, M modified,\n"
	"with sizes, and what else changed of a modified one (type, mode, owner,\n"
	"device, hard links); a directory whose own mode or owner changed shows as\n"
	"M DIR/. Only subtrees that differ are read.\n";

/* An entry's owner as "uid:gid", "-" when none is stored. */
static const char *owner_of(json_t *e, char *buf, size_t size)
{
	json_t *u = json_object_get(e, "uid"), *g = json_object_get(e, "gid");

	if (!u || !g)
		return "-";
	snprintf(buf, size, "%lld:%lld", (long long)json_integer_value(u),
		 (long long)json_integer_value(g));
	return buf;
}

/* The names of an entry's file: its link group's count, else 1. */
static long long links_of(json_t *e)
{
	json_t *l = json_object_get(json_object_get(e, "link"), "nlink");

	return l ? (long long)json_integer_value(l) : 1;
}

/* What else changed of a modified entry, ", type file -> fifo, mode 0644
 * -> 0755, owner 0:0 -> 1000:1000, device 1,3 -> 1,5, hard links", into
 * buf (empty when only its bytes did). */
static const char *diff_attrs(json_t *o, json_t *n, char *buf, size_t size)
{
	char a[32], b[32];
	size_t len = 0;
	json_t *ro = json_object_get(o, "rdev"), *rn = json_object_get(n, "rdev");

	buf[0] = '\0';
	if (strcmp(cli_js(o, "type"), cli_js(n, "type")))
		len += (size_t)snprintf(buf + len, size - len, ", type %s -> %s", cli_js(o, "type"),
				      cli_js(n, "type"));
	if (len < size && json_integer_value(json_object_get(o, "mode")) !=
			  json_integer_value(json_object_get(n, "mode")))
		len += (size_t)snprintf(buf + len, size - len, ", mode %04llo -> %04llo",
				      (long long)json_integer_value(json_object_get(o, "mode")),
				      (long long)json_integer_value(json_object_get(n, "mode")));
	if (len < size && strcmp(owner_of(o, a, sizeof(a)), owner_of(n, b, sizeof(b))))
		len += (size_t)snprintf(buf + len, size - len, ", owner %s -> %s", a, b);
	if (len < size && (ro || rn) && !json_equal(ro, rn))
		len += (size_t)snprintf(buf + len, size - len, ", device %lld,%lld -> %lld,%lld",
				      (long long)json_integer_value(json_object_get(ro, "major")),
				      (long long)json_integer_value(json_object_get(ro, "minor")),
				      (long long)json_integer_value(json_object_get(rn, "major")),
				      (long long)json_integer_value(json_object_get(rn, "minor")));
	if (len < size && !json_equal(json_object_get(o, "link"), json_object_get(n, "link")) &&
	    (json_object_get(o, "link") || json_object_get(n, "link")))
		snprintf(buf + len, size - len, ", hard links %lld -> %lld", links_of(o), links_of(n));
	return buf;
}

int cmd_diff(struct cli *cli, int argc, char **argv)
{
	bool json = argc == 4 && !strcmp(argv[1], "--json");
	char attrs[512];
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
	if (rc == 0) { /* cli_get_diff's request, with directories' attributes */
		char suffix[2000], ea[700], eb[700];

		rc = meta_client_escape(a.ref, ea, sizeof(ea));
		if (rc == 0)
			rc = meta_client_escape(b.ref, eb, sizeof(eb));
		snprintf(suffix, sizeof(suffix), "/diff?from=%s&to=%s&dirs=1", ea, eb);
		if (rc == 0)
			rc = cli_repo_call(cli, a.repo, "GET", suffix, NULL, &j);
	}
	if (rc == 0 && json)
		cli_print_json(j);
	else if (rc == 0)
		json_array_foreach(json_object_get(j, "changes"), i, it) {
			const char *ch = cli_js(it, "change");
			json_t *o = json_object_get(it, "old"), *n = json_object_get(it, "new");

			if (!strcmp(cli_js(n, "type"), "dir") && !strcmp(cli_js(o, "type"), "dir"))
				printf("M %s/ (%s)\n", cli_js(it, "path"),
				       diff_attrs(o, n, attrs, sizeof(attrs)) + 2);
			else if (!strcmp(ch, "added"))
				printf("A %s (%lld bytes)\n", cli_js(it, "path"),
				       (long long)json_integer_value(json_object_get(n, "size")));
			else if (!strcmp(ch, "removed"))
				printf("D %s (%lld bytes)\n", cli_js(it, "path"),
				       (long long)json_integer_value(json_object_get(o, "size")));
			else
				printf("M %s (%lld -> %lld bytes%s)\n", cli_js(it, "path"),
				       (long long)json_integer_value(json_object_get(o, "size")),
				       (long long)json_integer_value(json_object_get(n, "size")),
				       diff_attrs(o, n, attrs, sizeof(attrs)));
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
		       t.repo, t.ref, cli_js(j, "commit"));
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
	printf("reverted %s on %s@%s: %.12s\n", argv[optind + 1], sp.repo, sp.ref, cli_js(j, "commit"));
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
