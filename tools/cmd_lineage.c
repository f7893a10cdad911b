/* The lineage of runs: the run record, show, compare and log --input's
 * walk (cli_log_input, called by cmd_log), all answered by the metadata
 * service.
 *
 * A run's record is its commit's metadata (README, "Experiments are
 * commits"): run.* fields, input.N = REPO@COMMIT[:PATH], output, param.K,
 * metric.K. run_record() groups those keys; show, compare and log --input
 * read them through it and nowhere else. The walks over history page
 * through the log API (LOG_PAGE commits a request) and never hold more
 * than a page of commits. */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/oid.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether each real in j prints back as the same double with p digits. */
static bool reals_fit(json_t *j, int p)
{
	const char *k;
	json_t *v;
	size_t i;
	char buf[64];

	if (json_is_real(j)) {
		snprintf(buf, sizeof(buf), "%.*g", p, json_real_value(j));
		return strtod(buf, NULL) == json_real_value(j);
	}
	json_object_foreach(j, k, v)
		if (!reals_fit(v, p))
			return false;
	json_array_foreach(j, i, v)
		if (!reals_fit(v, p))
			return false;
	return true;
}

/* Prints j as cli_print_json does, with reals in as few digits (15 to
 * 17) as give each back exactly: a metric 0.9 stays 0.9, not
 * 0.90000000000000002. */
static void print_json(json_t *j)
{
	int p = 15;

	while (p < 17 && !reals_fit(j, p))
		p++;
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(p));
}

/* ---- the run record ---- */

/* Commits one request of a history walk asks the log API for. */
#define LOG_PAGE 100
/* The most commits compare puts side by side, ranges and globs included. */
#define COMPARE_MAX 100

/* GET below /repos/REPO. On failure *out is NULL (the error body freed). */
static int repo_get(struct cli *cli, const char *repo, const char *suffix, json_t **out)
{
	int rc = cli_repo_call(cli, repo, "GET", suffix, NULL, out);

	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* The commit object ref names (branch, tag, id or prefix, REF~N): new. */
static int commit_get(struct cli *cli, const char *repo, const char *ref, json_t **out)
{
	char suffix[1100], esc[1000];
	json_t *j = NULL;
	int rc = meta_client_escape(ref, esc, sizeof(esc));

	*out = NULL;
	if (rc == 0) {
		snprintf(suffix, sizeof(suffix), "/log?ref=%s&limit=1", esc);
		rc = repo_get(cli, repo, suffix, &j);
	}
	if (rc == 0) {
		*out = json_incref(json_array_get(json_object_get(j, "commits"), 0));
		if (!*out)
			rc = t9k_err(-EPROTO, "the metadata service sent no commit for '%s@%s'", repo, ref);
	}
	json_decref(j);
	return rc;
}

enum run_key {
	RK_OTHER, RK_FIELD, RK_INPUT, RK_INPUT_DIR, RK_OUTPUT, RK_OUTPUT_DIR, RK_PARAM, RK_METRIC,
};

/* The run.* fields of a record, in the order show prints them. */
static const char *const run_fields[] = {
	"id", "status", "exit_code", "command", "start", "end", "duration_s", "host", NULL,
};

/* What metadata key k is in a run record. *name: k past its group's prefix
 * ("lr" for param.lr); *n: the N of input.N (canonical digits only). */
static enum run_key run_key(const char *k, const char **name, long *n)
{
	*name = k;
	*n = -1;
	if (!strncmp(k, "run.", 4)) {
		for (int i = 0; run_fields[i]; i++)
			if (!strcmp(k + 4, run_fields[i]))
				return *name = k + 4, RK_FIELD;
		return RK_OTHER;
	}
	if (!strncmp(k, "input.", 6) && isdigit((unsigned char)k[6])) {
		char *end;
		long v;

		errno = 0;
		v = strtol(k + 6, &end, 10);
		if (errno || v > 1000000 || (k[6] == '0' && end != k + 7))
			return RK_OTHER;
		*n = v;
		return !*end ? RK_INPUT : !strcmp(end, ".dir") ? RK_INPUT_DIR : RK_OTHER;
	}
	if (!strcmp(k, "output"))
		return RK_OUTPUT;
	if (!strcmp(k, "output.dir"))
		return RK_OUTPUT_DIR;
	if (!strncmp(k, "param.", 6) && k[6])
		return *name = k + 6, RK_PARAM;
	if (!strncmp(k, "metric.", 7) && k[7])
		return *name = k + 7, RK_METRIC;
	return RK_OTHER;
}

/* A JSON number for text that is one ("0.25", "12"), else the string. */
static json_t *number_or_string(const char *s)
{
	json_t *j = isspace((unsigned char)s[0]) ? NULL : json_loads(s, JSON_DECODE_ANY, NULL);

	if (j && json_is_number(j))
		return j;
	json_decref(j);
	return json_string(s);
}

/* "REPO@COMMIT[:PATH]" (or "REPO@BRANCH") as a new {spec, repo, REFKEY, path}. */
static json_t *spec_split(const char *v, const char *refkey)
{
	const char *at = strchr(v, '@'), *colon = at ? strchr(at, ':') : NULL;
	const char *ref = at ? at + 1 : "";
	size_t rlen = colon ? (size_t)(colon - ref) : strlen(ref);

	return json_pack("{s:s,s:s%,s:s%,s:s}", "spec", v, "repo", v, at ? (size_t)(at - v) : 0,
			 refkey, ref, rlen, "path", colon ? colon + 1 : "");
}

struct run_input {
	long n;
	json_t *o;
};

static int run_input_cmp(const void *a, const void *b)
{
	long x = ((const struct run_input *)a)->n, y = ((const struct run_input *)b)->n;

	return (x > y) - (x < y);
}

/* The run record in meta, grouped: {"id", "status", "exit_code", "command",
 * "start", "end", "duration_s", "host" (those present), "inputs": [{key,
 * spec, repo, commit, path, dir}] in input order, "output": {spec, repo,
 * branch, path, dir} (if any), "params", "metrics" (numbers where the text
 * is one), "other"}. NULL when meta holds no key of a run: a plain commit.
 * New reference. */
static json_t *run_record(json_t *meta)
{
	json_t *run = json_object(), *params = json_object(), *metrics = json_object();
	json_t *other = json_object(), *inputs = json_array(), *v;
	struct run_input *in = calloc(json_object_size(meta) + 1, sizeof(*in));
	const char *k, *name;
	size_t nin = 0;
	bool any = false;
	char key[300];
	long n;

	json_object_foreach(meta, k, v) {
		const char *s = json_string_value(v);
		enum run_key rk = run_key(k, &name, &n);

		if (!s || !in)
			continue;
		snprintf(key, sizeof(key), "%s.dir", k);
		if (rk == RK_INPUT_DIR || rk == RK_OUTPUT_DIR) {
			/* shown with its input or output; alone it is just a key */
			if (rk == RK_OUTPUT_DIR ? json_object_get(meta, "output") != NULL
						: (snprintf(key, sizeof(key), "input.%ld", n),
						   json_object_get(meta, key) != NULL))
				continue;
			rk = RK_OTHER;
		}
		any |= rk != RK_OTHER;
		switch (rk) {
		case RK_FIELD:
			json_object_set_new(run, name,
					    strcmp(name, "exit_code") && strcmp(name, "duration_s")
						    ? json_string(s) : number_or_string(s));
			break;
		case RK_INPUT:
			in[nin].n = n;
			in[nin].o = spec_split(s, "commit");
			json_object_set_new(in[nin].o, "key", json_string(k));
			json_object_set(in[nin].o, "dir", json_object_get(meta, key) ? json_object_get(meta, key)
										: json_null());
			nin++;
			break;
		case RK_OUTPUT:
			json_object_set_new(run, "output", spec_split(s, "branch"));
			json_object_set(json_object_get(run, "output"), "dir",
					json_object_get(meta, key) ? json_object_get(meta, key) : json_null());
			break;
		case RK_PARAM:
			json_object_set_new(params, name, json_string(s));
			break;
		case RK_METRIC:
			json_object_set_new(metrics, name, number_or_string(s));
			break;
		default:
			json_object_set_new(other, k, json_string(s));
			break;
		}
	}
	qsort(in, nin, sizeof(*in), run_input_cmp);
	for (size_t i = 0; i < nin; i++)
		json_array_append_new(inputs, in[i].o);
	free(in);
	json_object_set_new(run, "inputs", inputs);
	json_object_set_new(run, "params", params);
	json_object_set_new(run, "metrics", metrics);
	json_object_set_new(run, "other", other);
	if (!any) {
		json_decref(run);
		return NULL;
	}
	return run;
}

/* ---- show ---- */

static const char show_usage[] =
	"usage: t9kfs show [--json] REPO@REF\n"
	"\n"
	"Shows one commit (REF: a branch, tag, commit id or prefix, REF~N): id,\n"
	"parents, author, date, message and its metadata. A run's metadata (see\n"
	"README, \"Experiments are commits\") is grouped: the run's status, exit\n"
	"code, command, start, end, duration and host; its inputs, each\n"
	"REPO@COMMIT[:PATH] at the directory it was mounted on, with the branches\n"
	"and tags that point at that commit now; its output; its params; the last\n"
	"value of each metric; other keys.\n"
	"\n"
	"--json  the commit as the service returns it, plus \"run\": those groups\n"
	"        (each input with \"names\", the refs at its commit, null when its\n"
	"        repository cannot be read), or null for a commit that is no run\n";

/* Adds "names" to each input of run: the refs of its repository that
 * point at its commit now (repos caches each repository's refs). */
static void show_names(struct cli *cli, json_t *run)
{
	json_t *repos = json_object(), *in, *refs, *ref;
	size_t i, r;

	json_array_foreach(json_object_get(run, "inputs"), i, in) {
		const char *repo = cli_js(in, "repo");
		json_t *names;

		refs = json_object_get(repos, repo);
		if (!refs) {
			if (meta_repo_name_check(repo) < 0 || repo_get(cli, repo, "/refs", &refs) < 0)
				refs = json_string(t9k_errmsg(-EINVAL));
			json_object_set_new(repos, repo, refs);
		}
		if (json_is_string(refs)) {
			json_object_set_new(in, "names", json_null());
			json_object_set(in, "names_error", refs);
			continue;
		}
		names = json_array();
		json_array_foreach(json_object_get(refs, "refs"), r, ref)
			if (!strcmp(cli_js(ref, "commit"), cli_js(in, "commit")))
				json_array_append(names, json_object_get(ref, "name"));
		json_object_set_new(in, "names", names);
	}
	json_decref(repos);
}

static void show_text(json_t *c, json_t *run)
{
	json_t *meta = json_object_get(c, "meta"), *v, *in;
	const char *k, *m = cli_js(c, "message"), *nl;
	char when[64], key[300];
	size_t i;

	cli_format_time(json_integer_value(json_object_get(c, "time_ns")), when, sizeof(when));
	printf("commit %s\n", cli_js(c, "id"));
	if (json_array_size(json_object_get(c, "parents"))) {
		printf("Parents:");
		json_array_foreach(json_object_get(c, "parents"), i, v)
			printf(" %.12s", json_string_value(v));
		printf("\n");
	}
	printf("Author:  %s\nDate:    %s\n\n", cli_js(c, "author"), when);
	for (; (nl = strchr(m, '\n')); m = nl + 1)
		printf("    %.*s\n", (int)(nl - m), m);
	printf("    %s\n", m);
	if (!run) {
		if (json_object_size(meta))
			printf("\nMeta\n");
		json_object_foreach(meta, k, v)
			printf("  %-12s %s\n", k, json_string_value(v));
		return;
	}
	printf("\nRun %s\n", json_object_get(run, "id") ? cli_js(run, "id") : "(no run.id)");
	for (int f = 1; run_fields[f]; f++) {
		const char *s;

		snprintf(key, sizeof(key), "run.%s", run_fields[f]);
		s = json_string_value(json_object_get(meta, key));
		if (!s || !strcmp(run_fields[f], "exit_code"))
			continue;
		if (!strcmp(run_fields[f], "status") && json_object_get(meta, "run.exit_code"))
			printf("  %-12s %s (exit code %s)\n", "status", s,
			       json_string_value(json_object_get(meta, "run.exit_code")));
		else if (!strcmp(run_fields[f], "duration_s"))
			printf("  %-12s %s s\n", "duration", s);
		else
			printf("  %-12s %s\n", run_fields[f], s);
	}
	if (json_array_size(json_object_get(run, "inputs")))
		printf("Inputs\n");
	json_array_foreach(json_object_get(run, "inputs"), i, in) {
		json_t *names = json_object_get(in, "names"), *nm;
		size_t j;

		printf("  %-12s %s", cli_js(in, "key"), cli_js(in, "spec"));
		if (json_is_string(json_object_get(in, "dir")))
			printf(" at %s", cli_js(in, "dir"));
		if (!json_is_array(names))
			printf(" (its refs are unknown: %s)\n", cli_js(in, "names_error"));
		else if (!json_array_size(names))
			printf(" (no branch or tag points at it now)\n");
		else {
			json_array_foreach(names, j, nm) {
				const char *s = json_string_value(nm), *slash = strchr(s, '/');

				printf("%s%.*s %s", j ? ", " : " (", slash ? (int)(slash - s) : 0, s,
				       slash ? slash + 1 : s);
			}
			printf(")\n");
		}
	}
	if ((v = json_object_get(run, "output"))) {
		printf("Output\n  %-12s %s", "output", cli_js(v, "spec"));
		if (json_is_string(json_object_get(v, "dir")))
			printf(" at %s", cli_js(v, "dir"));
		printf("\n");
	}
	if (json_object_size(json_object_get(run, "params")))
		printf("Params\n");
	json_object_foreach(json_object_get(run, "params"), k, v)
		printf("  %-12s %s\n", k, json_string_value(v));
	if (json_object_size(json_object_get(run, "metrics")))
		printf("Metrics\n");
	json_object_foreach(json_object_get(run, "metrics"), k, v) {
		snprintf(key, sizeof(key), "metric.%s", k);
		printf("  %-12s %s\n", k, cli_js(meta, key));
	}
	if (json_object_size(json_object_get(run, "other")))
		printf("Other\n");
	json_object_foreach(json_object_get(run, "other"), k, v)
		printf("  %-12s %s\n", k, json_string_value(v));
}

int cmd_show(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *c = NULL, *run = NULL, *in;
	bool json = false;
	struct spec sp;
	size_t i;
	int o, rc = 0;

	optind = 0;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (o == 'j')
			json = true;
		else if (o == 'h')
			return fputs(show_usage, stdout), 0;
		else
			rc = cli_bad_option("show", o, argv);
	}
	if (rc == 0 && optind != argc - 1)
		rc = t9k_err(T9K_EUSAGE, "show wants one REPO@REF (see 't9kfs show --help')");
	if (rc == 0)
		rc = spec_parse(argv[optind], 0, &sp);
	if (rc == 0 && sp.has_path)
		rc = t9k_err(T9K_EUSAGE, "'%s': show takes REPO@REF, without :PATH", argv[optind]);
	if (rc == 0)
		rc = commit_get(cli, sp.repo, sp.has_ref ? sp.ref : "main", &c);
	if (rc < 0)
		return cli_fail(rc);
	run = run_record(json_object_get(c, "meta"));
	if (run)
		show_names(cli, run);
	if (json) {
		json_array_foreach(json_object_get(run, "inputs"), i, in)
			json_object_del(in, "names_error");
		json_object_set(c, "run", run ? run : json_null());
		print_json(c);
		fputc('\n', stdout);
	} else {
		show_text(c, run);
	}
	json_decref(run);
	json_decref(c);
	return 0;
}

/* ---- compare ---- */

static const char compare_usage[] =
	"usage: t9kfs compare [--json] [--only-changed] SPEC...\n"
	"\n"
	"Puts commits side by side: their metadata and how much data changed from\n"
	"the first commit to each other one of its repository. The metadata of\n"
	"runs (README, \"Experiments are commits\") is grouped as 'show' groups it:\n"
	"status, exit code, duration, host, command, inputs, output, params,\n"
	"metrics, other keys; '*' marks the rows that differ between the columns.\n"
	"Each SPEC is one of:\n"
	"  REPO@REF     a branch, tag, commit id or prefix, REF~N\n"
	"  REPO@A..B    the commits on B's first-parent history after A, up to and\n"
	"               with B, oldest first (A must be on that history):\n"
	"               REPO@main~10..main\n"
	"  'REPO@GLOB'  the heads of the branches whose names match a shell glob\n"
	"               (fnmatch; quote it): 'REPO@exp-*'\n"
	"in any mix: at least 2 commits, at most 100 in all. A ref with '..' in\n"
	"its name reads as a range: name such a commit by its id.\n"
	"\n"
	"--only-changed  hide the rows that are equal in every column\n"
	"--json          an array with one object per commit: {repo, ref, commit\n"
	"                (its id), message, author, time_ns, parents, meta, run\n"
	"                (as in 'show --json', null for no run), changed: {added,\n"
	"                removed, modified, bytes}}; changed is from the first\n"
	"                commit, null for the first and for other repositories;\n"
	"                bytes is the size of what was added or modified\n";

/* Appends a column {repo, ref, commit} to cols; takes commit. */
static int col_add(json_t *cols, const char *repo, const char *label, json_t *commit)
{
	if (json_array_size(cols) >= COMPARE_MAX) {
		json_decref(commit);
		return t9k_err(T9K_EUSAGE, "compare puts at most %d commits side by side: narrow the "
			       "ranges or globs", COMPARE_MAX);
	}
	return json_array_append_new(cols, json_pack("{s:s,s:s,s:o}", "repo", repo, "ref", label,
						     "commit", commit)) < 0
		       ? t9k_err(-ENOMEM, "out of memory") : 0;
}

/* 'REPO@GLOB': the head of each branch whose name matches, in name order. */
static int compare_glob(struct cli *cli, const struct spec *sp, json_t *cols)
{
	json_t *j = NULL, *it;
	size_t i, found = 0;
	int rc = repo_get(cli, sp->repo, "/refs?prefix=branch/", &j);

	json_array_foreach(json_object_get(j, "refs"), i, it) {
		const char *name = cli_js(it, "name");
		char suffix[200];
		json_t *c = NULL;

		if (rc < 0)
			break;
		if (strncmp(name, "branch/", 7) || fnmatch(sp->ref, name + 7, 0))
			continue;
		snprintf(suffix, sizeof(suffix), "/commits/%.64s", cli_js(it, "commit"));
		rc = repo_get(cli, sp->repo, suffix, &c);
		if (rc == 0)
			rc = col_add(cols, sp->repo, name + 7, c);
		found++;
	}
	if (rc == 0 && !found)
		rc = t9k_err(T9K_ENOTFOUND, "no branch of repository '%s' matches '%s'", sp->repo,
			     sp->ref);
	json_decref(j);
	return rc;
}

/* The name of ref~k for a column's title: "main~3" and k 2 give "main~5". */
static void ref_back(const char *ref, size_t k, char *out, size_t size)
{
	const char *tilde = strrchr(ref, '~');
	unsigned long n = 0;
	char *end = NULL;

	if (tilde)
		n = tilde[1] ? strtoul(tilde + 1, &end, 10) : 1;
	if (!tilde || (tilde[1] && (*end || !isdigit((unsigned char)tilde[1]))))
		tilde = NULL, n = 0;
	if (!k && !n)
		snprintf(out, size, "%s", ref);
	else
		snprintf(out, size, "%.*s~%lu", tilde ? (int)(tilde - ref) : (int)strlen(ref), ref,
			 n + (unsigned long)k);
}

/* 'REPO@A..B': B's first-parent history after A, oldest first. */
static int compare_range(struct cli *cli, const struct spec *sp, const char *dots, json_t *cols)
{
	char a[sizeof(sp->ref)], b[sizeof(sp->ref)], esc[1000], suffix[1200], label[400];
	size_t alen = (size_t)(dots - sp->ref), k, n;
	json_t *ja = NULL, *jb = NULL, *list;
	int rc;

	snprintf(b, sizeof(b), "%s", dots + 2);
	if (alen == 0 || !b[0] || b[0] == '.')
		return t9k_err(T9K_EUSAGE, "malformed range '%s@%s': want REPO@A..B, as in %s@main~10..main",
			       sp->repo, sp->ref, sp->repo);
	memcpy(a, sp->ref, alen);
	a[alen] = '\0';
	rc = meta_client_escape(a, esc, sizeof(esc));
	if (rc == 0) {
		snprintf(suffix, sizeof(suffix), "/resolve?ref=%s", esc);
		rc = repo_get(cli, sp->repo, suffix, &ja);
	}
	if (rc == 0)
		rc = meta_client_escape(b, esc, sizeof(esc));
	if (rc == 0) {
		snprintf(suffix, sizeof(suffix), "/log?ref=%s&first_parent=1&limit=%d", esc,
			 COMPARE_MAX + 1);
		rc = repo_get(cli, sp->repo, suffix, &jb);
	}
	if (rc < 0)
		goto out;
	list = json_object_get(jb, "commits");
	n = json_array_size(list);
	for (k = 0; k < n; k++)
		if (!strcmp(cli_js(json_array_get(list, k), "id"), cli_js(ja, "commit")))
			break;
	if (k == n && json_is_true(json_object_get(jb, "more")))
		rc = t9k_err(T9K_EUSAGE, "range '%s@%s' holds more than %d commits: compare at most %d "
			     "at once", sp->repo, sp->ref, COMPARE_MAX, COMPARE_MAX);
	else if (k == n)
		rc = t9k_err(T9K_EUSAGE, "range '%s@%s': '%s' is not on the first-parent history of '%s'",
			     sp->repo, sp->ref, a, b);
	else if (k == 0)
		rc = t9k_err(T9K_EUSAGE, "range '%s@%s' is empty: '%s' and '%s' are the same commit",
			     sp->repo, sp->ref, a, b);
	while (rc == 0 && k-- > 0) {
		ref_back(b, k, label, sizeof(label));
		rc = col_add(cols, sp->repo, label, json_incref(json_array_get(list, k)));
	}
out:
	json_decref(ja);
	json_decref(jb);
	return rc;
}

static int compare_add(struct cli *cli, const char *arg, json_t *cols)
{
	const char *dots;
	json_t *c = NULL;
	struct spec sp;
	int rc = spec_parse(arg, SPEC_REF, &sp);

	if (rc == 0 && sp.has_path)
		rc = t9k_err(T9K_EUSAGE, "'%s': compare takes REPO@REF, without :PATH", arg);
	if (rc < 0)
		return rc;
	if (strpbrk(sp.ref, "*?["))
		return compare_glob(cli, &sp, cols);
	if ((dots = strstr(sp.ref, "..")))
		return compare_range(cli, &sp, dots, cols);
	rc = commit_get(cli, sp.repo, sp.ref, &c);
	return rc < 0 ? rc : col_add(cols, sp.repo, sp.ref, c);
}

/* Sets each column's "changed": from the first column, in its repository. */
static int compare_changes(struct cli *cli, json_t *cols)
{
	json_t *first = json_object_get(json_array_get(cols, 0), "commit"), *col;
	const char *repo = cli_js(json_array_get(cols, 0), "repo");
	size_t i;
	int rc = 0;

	json_object_set_new(json_array_get(cols, 0), "changed", json_null());
	json_array_foreach(cols, i, col) {
		long long counts[3] = { 0 }, bytes = 0;
		json_t *d = NULL, *it;
		size_t idx;

		if (i == 0 || rc < 0)
			continue;
		if (strcmp(cli_js(col, "repo"), repo)) {
			json_object_set_new(col, "changed", json_null());
			continue;
		}
		rc = cli_get_diff(cli, repo, cli_js(first, "id"),
				  cli_js(json_object_get(col, "commit"), "id"), &d);
		json_array_foreach(json_object_get(d, "changes"), idx, it) {
			const char *ch = cli_js(it, "change");
			json_t *nw = json_object_get(it, "new");

			counts[!strcmp(ch, "added") ? 0 : !strcmp(ch, "removed") ? 1 : 2]++;
			bytes += nw ? (long long)json_integer_value(json_object_get(nw, "size")) : 0;
		}
		if (rc == 0)
			json_object_set_new(col, "changed",
					    json_pack("{s:I,s:I,s:I,s:I}", "added", counts[0], "removed",
						      counts[1], "modified", counts[2], "bytes", bytes));
		json_decref(d);
	}
	return rc;
}

static int key_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b, *nx, *ny;
	long n, m;

	if (run_key(x, &nx, &n) == RK_INPUT && run_key(y, &ny, &m) == RK_INPUT)
		return (n > m) - (n < m);
	return strcmp(x, y);
}

/* Shortens the commit of REPO@COMMIT[:PATH] to 12 digits for a cell. */
static void input_cell(const char *v, char *out, size_t size)
{
	const char *at = strchr(v, '@'), *end = at ? at + 1 + strcspn(at + 1, ":") : NULL;

	if (at && end - at - 1 == OID_HEXSZ)
		snprintf(out, size, "%.*s%.12s%s", (int)(at + 1 - v), v, at + 1, end);
	else
		snprintf(out, size, "%s", v);
}

/* A row of the table: {group, key, cells: [one string per column], keep}. */
static json_t *compare_row(json_t *cols, const char *group, const char *label, const char *key,
			   bool keep)
{
	json_t *cells = json_array(), *col;
	char buf[600];
	size_t i;

	json_array_foreach(cols, i, col) {
		const char *s = json_string_value(
			json_object_get(json_object_get(json_object_get(col, "commit"), "meta"), key));
		long n;
		const char *name;

		if (s && run_key(key, &name, &n) == RK_INPUT) {
			input_cell(s, buf, sizeof(buf));
			s = buf;
		}
		json_array_append_new(cells, json_string(s ? s : "-"));
	}
	return json_pack("{s:s,s:s,s:o,s:b}", "group", group, "key", label, "cells", cells, "keep", keep);
}

/* The metadata rows: plain (every key as it is) or grouped as a run. */
static void compare_meta_rows(json_t *cols, json_t *rows, bool grouped)
{
	static const char *const shown[] = { "status", "exit_code", "duration_s", "host", "command" };
	static const struct { enum run_key rk; const char *group; } groups[] = {
		{ RK_INPUT, "inputs" }, { RK_OUTPUT, "output" }, { RK_PARAM, "params" },
		{ RK_METRIC, "metrics" }, { RK_OTHER, "other" },
	};
	json_t *keys = json_object(), *col, *v;
	const char **sorted;
	const char *k, *name;
	size_t i, n = 0;
	char key[300];
	long num;

	json_array_foreach(cols, i, col)
		json_object_foreach(json_object_get(json_object_get(col, "commit"), "meta"), k, v)
			json_object_set_new(keys, k, json_true());
	if (!grouped) {
		json_object_foreach(keys, k, v)
			json_array_append_new(rows, compare_row(cols, "", k, k, false));
		json_decref(keys);
		return;
	}
	for (size_t f = 0; f < sizeof(shown) / sizeof(shown[0]); f++) {
		snprintf(key, sizeof(key), "run.%s", shown[f]);
		if (json_object_get(keys, key))
			json_array_append_new(rows, compare_row(cols, "run", shown[f], key, false));
	}
	sorted = calloc(json_object_size(keys) + 1, sizeof(*sorted));
	for (size_t g = 0; sorted && g < sizeof(groups) / sizeof(groups[0]); g++) {
		n = 0;
		json_object_foreach(keys, k, v)
			if (run_key(k, &name, &num) == groups[g].rk)
				sorted[n++] = k;
		qsort(sorted, n, sizeof(*sorted), key_cmp);
		for (i = 0; i < n; i++) {
			run_key(sorted[i], &name, &num);
			json_array_append_new(rows, compare_row(cols, groups[g].group, name, sorted[i], false));
		}
	}
	free(sorted);
	json_decref(keys);
}

/* Characters (UTF-8 sequences) in s. */
static int text_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Prints s cut to w characters, padded to w unless it ends the line. */
static void put_cell(const char *s, int w, bool last)
{
	const char *e = s;
	int n = 0;

	for (; *e && n < w; n++)
		for (e++; ((unsigned char)*e & 0xC0) == 0x80; e++)
			;
	printf("%.*s%*s", (int)(e - s), s, last ? 0 : w - n, "");
}

static bool row_differs(json_t *row)
{
	json_t *cells = json_object_get(row, "cells"), *c;
	size_t i;

	json_array_foreach(cells, i, c)
		if (strcmp(json_string_value(c), json_string_value(json_array_get(cells, 0))))
			return true;
	return false;
}

/* Prints the table. Plain: 16 columns of key and 18 a cell, as compare
 * always printed. Grouped: a mark, the key, cells as wide as their widest
 * value (12 to 40), group titles. */
static void compare_print(json_t *rows, size_t ncol, bool grouped, bool only_changed)
{
	int *w = calloc(ncol, sizeof(*w)), kw = grouped ? 18 : 16;
	const char *group = "";
	json_t *row, *cell;
	size_t r, i;

	if (!w)
		return;
	for (i = 0; i < ncol; i++)
		w[i] = grouped ? 12 : 18;
	json_array_foreach(rows, r, row) {
		if (!grouped || (only_changed && !json_is_true(json_object_get(row, "keep")) &&
				 !row_differs(row)))
			continue;
		json_array_foreach(json_object_get(row, "cells"), i, cell) {
			int tw = text_width(json_string_value(cell));

			w[i] = tw > w[i] ? (tw > 40 ? 40 : tw) : w[i];
		}
	}
	json_array_foreach(rows, r, row) {
		bool keep = json_is_true(json_object_get(row, "keep")), differs = row_differs(row);

		if (only_changed && !keep && !differs)
			continue;
		if (grouped && strcmp(group, cli_js(row, "group"))) {
			group = cli_js(row, "group");
			printf("%s\n", group);
		}
		if (grouped)
			printf("%c ", !keep && differs ? '*' : ' ');
		put_cell(cli_js(row, "key"), kw, false);
		json_array_foreach(json_object_get(row, "cells"), i, cell) {
			putchar(' ');
			put_cell(json_string_value(cell), w[i], i == ncol - 1);
		}
		printf("\n");
	}
	free(w);
}

static void compare_text(json_t *cols, bool only_changed)
{
	json_t *rows = json_array(), *titles = json_array(), *ids = json_array(), *data = json_array();
	json_t *col, *ch;
	bool grouped = false, multi = false;
	size_t i;

	json_array_foreach(cols, i, col) {
		char t[500], d[64];

		json_t *run = run_record(json_object_get(json_object_get(col, "commit"), "meta"));

		grouped |= run != NULL;
		json_decref(run);
		multi |= strcmp(cli_js(col, "repo"), cli_js(json_array_get(cols, 0), "repo")) != 0;
		ch = json_object_get(col, "changed");
		if (ch)
			snprintf(d, sizeof(d), "%lld paths, %lld B",
				 (long long)(json_integer_value(json_object_get(ch, "added")) +
					     json_integer_value(json_object_get(ch, "removed")) +
					     json_integer_value(json_object_get(ch, "modified"))),
				 (long long)json_integer_value(json_object_get(ch, "bytes")));
		json_array_append_new(data, json_string(ch && !json_is_null(ch) ? d : "-"));
		snprintf(t, sizeof(t), "%.12s", cli_js(json_object_get(col, "commit"), "id"));
		json_array_append_new(ids, json_string(t));
	}
	json_array_foreach(cols, i, col) {
		char t[500];

		snprintf(t, sizeof(t), "%s%s%s", multi ? cli_js(col, "repo") : "", multi ? "@" : "",
			 cli_js(col, "ref"));
		json_array_append_new(titles, json_string(t));
	}
	json_array_append_new(rows, json_pack("{s:s,s:s,s:o,s:b}", "group", "", "key", "", "cells",
					      titles, "keep", 1));
	json_array_append_new(rows, json_pack("{s:s,s:s,s:o,s:b}", "group", "", "key", "commit",
					      "cells", ids, "keep", 1));
	compare_meta_rows(cols, rows, grouped);
	json_array_append_new(rows, json_pack("{s:s,s:s,s:o,s:b}", "group", grouped ? "data" : "",
					      "key", grouped ? "changed vs first" : "data vs first",
					      "cells", data, "keep", 1));
	compare_print(rows, json_array_size(cols), grouped, only_changed);
	json_decref(rows);
}

static void compare_json(json_t *cols)
{
	json_t *out = json_array(), *col;
	size_t i;

	json_array_foreach(cols, i, col) {
		json_t *c = json_object_get(col, "commit"), *run = run_record(json_object_get(c, "meta"));

		json_array_append_new(
			out, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:o,s:O}", "repo",
				       json_object_get(col, "repo"), "ref", json_object_get(col, "ref"),
				       "commit", json_object_get(c, "id"), "message",
				       json_object_get(c, "message"), "author", json_object_get(c, "author"),
				       "time_ns", json_object_get(c, "time_ns"), "parents",
				       json_object_get(c, "parents"), "meta", json_object_get(c, "meta"),
				       "run", run ? run : json_null(), "changed",
				       json_object_get(col, "changed")));
	}
	print_json(out);
	fputc('\n', stdout);
	json_decref(out);
}

int cmd_compare(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "only-changed", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	bool json = false, only_changed = false;
	json_t *cols = json_array();
	int o, rc = 0;

	optind = 0;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (o == 'j')
			json = true;
		else if (o == 'c')
			only_changed = true;
		else if (o == 'h')
			return json_decref(cols), fputs(compare_usage, stdout), 0;
		else
			rc = cli_bad_option("compare", o, argv);
	}
	if (rc == 0 && optind >= argc)
		rc = t9k_err(T9K_EUSAGE, "compare wants commits: REPO@A REPO@B, REPO@A..B or "
			     "'REPO@GLOB' (see 't9kfs compare --help')");
	for (int i = optind; rc == 0 && i < argc; i++)
		rc = compare_add(cli, argv[i], cols);
	if (rc == 0 && json_array_size(cols) < 2)
		rc = t9k_err(T9K_EUSAGE, "compare wants at least two commits and '%s' names one: add "
			     "another REPO@REF, a range REPO@A..B or a glob 'REPO@exp-*'", argv[optind]);
	if (rc == 0)
		rc = compare_changes(cli, cols);
	if (rc == 0 && json)
		compare_json(cols);
	else if (rc == 0)
		compare_text(cols, only_changed);
	json_decref(cols);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- log --input: the runs that read a data commit ---- */

struct lineage {
	struct cli *cli;
	/* "REPO@COMMIT": an input.N equal to it or to it plus ":PATH" */
	char want[META_REPO_NAME_MAX + 1 + OID_HEXSZ + 1];
	size_t wlen;
	bool json;
	long max, found; /* max 0: no limit */
};

/* A stack of commit ids still to walk: merge parents, the next page's start. */
struct oidstack {
	struct oid *v;
	size_t n, cap;
};

static int oidstack_push(struct oidstack *s, const char *hex)
{
	struct oid id;
	int rc = oid_from_hex(&id, hex ? hex : "");

	if (rc < 0)
		return rc;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct oid *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = id;
	return 0;
}

static bool lineage_done(const struct lineage *s)
{
	return s->max && s->found >= s->max;
}

/* The inputs of commit c that read s->want, as a new array of {key,
 * spec, path, dir}; NULL when none does. */
static json_t *lineage_inputs(const struct lineage *s, json_t *c)
{
	json_t *meta = json_object_get(c, "meta"), *v, *hits = NULL;
	const char *k, *name;
	char key[300];
	long n;

	json_object_foreach(meta, k, v) {
		const char *val = json_string_value(v);

		if (run_key(k, &name, &n) != RK_INPUT || !val || strncmp(val, s->want, s->wlen) ||
		    (val[s->wlen] && val[s->wlen] != ':'))
			continue;
		snprintf(key, sizeof(key), "%s.dir", k);
		if (!hits)
			hits = json_array();
		json_array_append_new(hits, json_pack("{s:s,s:s,s:s,s:O?}", "key", k, "spec", val,
						      "path", val[s->wlen] ? val + s->wlen + 1 : "",
						      "dir", json_object_get(meta, key)));
	}
	return hits;
}

static void lineage_print(struct lineage *s, const char *repo, const char *branch, json_t *c,
			  json_t *hits)
{
	const char *msg = cli_js(c, "message");
	json_t *h;
	size_t i;

	if (s->json) {
		json_t *o = json_pack("{s:s,s:s,s:O,s:O}", "repo", repo, "branch", branch, "commit", c,
				      "inputs", hits);

		fputs(s->found ? ",\n" : "\n", stdout);
		print_json(o);
		json_decref(o);
	} else {
		printf("%s %.12s %.*s  (", repo, cli_js(c, "id"), (int)strcspn(msg, "\n"), msg);
		json_array_foreach(hits, i, h) {
			const char *path = cli_js(h, "path");

			printf("%s%s: %s", i ? ", " : "", cli_js(h, "key"), *path ? path : "/");
		}
		printf(")\n");
	}
	s->found++;
}

/* One page of the first-parent history from start: prints the runs that
 * read s->want and queues what is left to walk, stopping at a commit seen
 * before (its history is walked or queued already). */
static int lineage_page(struct lineage *s, const char *repo, const char *branch,
			const struct oid *start, struct oidset *seen, struct oidstack *todo)
{
	char hex[OID_HEXSZ + 1], suffix[200];
	json_t *j = NULL, *list, *c;
	size_t i, n;
	int rc;

	snprintf(suffix, sizeof(suffix), "/log?ref=%s&first_parent=1&limit=%d",
		 oid_to_hex(start, hex), LOG_PAGE);
	rc = repo_get(s->cli, repo, suffix, &j);
	list = json_object_get(j, "commits");
	n = json_array_size(list);
	for (i = 0; rc == 0 && i < n && !lineage_done(s); i++) {
		json_t *parents, *hits;
		struct oid id;

		c = json_array_get(list, i);
		parents = json_object_get(c, "parents");
		rc = oid_from_hex(&id, cli_js(c, "id"));
		if (rc == 0 && i > 0 && (rc = oidset_add(seen, &id)) == 0)
			break;
		if (rc < 0)
			break;
		rc = 0;
		hits = lineage_inputs(s, c);
		if (hits)
			lineage_print(s, repo, branch, c, hits);
		json_decref(hits);
		for (size_t p = 1; rc == 0 && p < json_array_size(parents); p++)
			rc = oidstack_push(todo, json_string_value(json_array_get(parents, p)));
		if (rc == 0 && i == n - 1 && json_is_true(json_object_get(j, "more")) &&
		    json_array_size(parents))
			rc = oidstack_push(todo, json_string_value(json_array_get(parents, 0)));
	}
	json_decref(j);
	return rc;
}

/* Walks the history of every branch of repo, each commit once. */
static int lineage_repo(struct lineage *s, const char *repo)
{
	struct oidset seen = { 0 };
	struct oidstack todo = { 0 };
	json_t *refs = NULL, *ref;
	size_t i;
	int rc = repo_get(s->cli, repo, "/refs?prefix=branch/", &refs);

	json_array_foreach(json_object_get(refs, "refs"), i, ref) {
		const char *name = cli_js(ref, "name");

		if (rc < 0 || lineage_done(s))
			break;
		if (strncmp(name, "branch/", 7))
			continue;
		rc = oidstack_push(&todo, json_string_value(json_object_get(ref, "commit")));
		while (rc == 0 && todo.n && !lineage_done(s)) {
			struct oid id = todo.v[--todo.n];

			rc = oidset_add(&seen, &id);
			if (rc > 0)
				rc = lineage_page(s, repo, name + 7, &id, &seen, &todo);
		}
	}
	free(todo.v);
	oidset_release(&seen);
	json_decref(refs);
	return rc;
}

int cli_log_input(struct cli *cli, const char *input, json_t *repos, bool json, long max)
{
	struct lineage s = { .cli = cli, .json = json, .max = max };
	char suffix[1100], esc[1000];
	json_t *j = NULL, *list = NULL, *it;
	struct spec sp;
	size_t i;
	int rc = spec_parse(input, SPEC_REF, &sp);

	if (rc == 0 && sp.has_path)
		rc = t9k_err(T9K_EUSAGE, "--input '%s': want REPO@REF, without :PATH (a run's inputs "
			     "are matched with any path)", input);
	if (rc == 0)
		rc = meta_client_escape(sp.ref, esc, sizeof(esc));
	if (rc == 0) {
		snprintf(suffix, sizeof(suffix), "/resolve?ref=%s", esc);
		rc = repo_get(cli, sp.repo, suffix, &j);
	}
	if (rc == 0) {
		snprintf(s.want, sizeof(s.want), "%s@%.64s", sp.repo, cli_js(j, "commit"));
		s.wlen = strlen(s.want);
	}
	json_decref(j);
	if (rc == 0 && json_array_size(repos)) {
		list = json_incref(repos);
	} else if (rc == 0) {
		struct meta_client *mc;

		rc = cli_client(cli, &mc);
		if (rc == 0)
			rc = meta_client_call(mc, "GET", "/repos", NULL, &j);
		list = json_array();
		json_array_foreach(json_object_get(j, "repos"), i, it)
			json_array_append(list, json_object_get(it, "name"));
		json_decref(j);
	}
	if (rc == 0 && json)
		fputs("[", stdout);
	json_array_foreach(list, i, it) {
		if (rc < 0 || lineage_done(&s))
			break;
		rc = lineage_repo(&s, json_string_value(it));
	}
	if (rc == 0 && json)
		fputs(s.found ? "\n]\n" : "]\n", stdout);
	json_decref(list);
	return rc;
}
