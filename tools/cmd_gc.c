/* "t9kfs gc", "t9kfs retention", "t9kfs du" and "t9kfs repo show": garbage
 * collection, retention rules and storage accounting through the metadata
 * service (meta/gc.h runs there, where the refs and the store are). */
#include "tools/cli.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/retention.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t jint(json_t *o, const char *path)
{
	char key[64];
	const char *p = path;
	json_t *v = o;

	while (v && *p) {
		size_t n = strcspn(p, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		v = json_object_get(v, key);
		p += n + (p[n] == '.');
	}
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *sz(int64_t bytes, char *buf, size_t size)
{
	return format_size((uint64_t)(bytes < 0 ? 0 : bytes), buf, size);
}

/* "1,234,567" */
static const char *num(int64_t v, char *buf, size_t size)
{
	char raw[32];
	size_t n, o = 0;

	snprintf(raw, sizeof(raw), "%" PRId64, v);
	n = strlen(raw);
	for (size_t i = 0; i < n && o + 2 < size; i++) {
		if (i && raw[i - 1] != '-' && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = raw[i];
	}
	buf[o] = '\0';
	return buf;
}

static int parse_duration_opt(const char *opt, const char *arg, int64_t *out)
{
	int rc;

	if (!strcmp(arg, "none") || !strcmp(arg, "forever") || !strcmp(arg, "never")) {
		*out = RETENTION_UNSET;
		return 0;
	}
	rc = retention_parse_duration(arg, out);
	return rc < 0 ? t9k_err(T9K_EUSAGE, "%s: %s", opt, t9k_errmsg(rc)) : 0;
}

/* ---- gc ---- */

static const char gc_usage[] =
	"usage: t9kfs gc REPO [--dry-run] [--grace DURATION] [--max-memory SIZE] [--json]\n"
	"                     [--no-wait]\n"
	"\n"
	"Deletes from the repository's store what no branch, tag or staged change\n"
	"reaches under the retention rules ('t9kfs retention'), and what is older\n"
	"than the grace period: objects written during the run or shortly before\n"
	"(an import, a mount's writes) are never deleted. Commits the rules drop\n"
	"keep their history and metadata; reading their data says gc removed it.\n"
	"Runs in the metadata service, one at a time per repository; commits,\n"
	"imports and mounts go on meanwhile. Any error before the first delete\n"
	"ends the run with nothing deleted.\n"
	"\n"
	"  --dry-run          plan only: say what would go, delete nothing\n"
	"  --grace DURATION   keep what is younger (default: the repository's\n"
	"                     grace, 6h; never below its min_grace)\n"
	"  --max-memory SIZE  memory for the mark sets (default 256M, at least\n"
	"                     256K): past it they spill to temporary files\n"
	"  --json             print the result as JSON\n"
	"  --no-wait          start the run and return (see 't9kfs gc --status REPO')\n"
	"  --status           show the running run's progress, or the last result\n";

static void print_progress(json_t *run, bool *drawn)
{
	char a[32], b[32], c[32], d[32], e[32];

	if (!run || !isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\rgc: %s: %s objects listed, %s marked, %s read, %s candidates, %s deleted\033[K",
		cli_js(run, "phase"), num(jint(run, "listed.objects"), a, sizeof(a)),
		num(jint(run, "marked"), b, sizeof(b)), num(jint(run, "objects_read"), c, sizeof(c)),
		num(jint(run, "candidates"), d, sizeof(d)),
		num(jint(run, "deleted.objects"), e, sizeof(e)));
	*drawn = true;
}

static void print_list(const char *what, json_t *a)
{
	size_t i;
	json_t *v;

	printf("%s", what);
	if (!json_array_size(a))
		printf(" none");
	json_array_foreach(a, i, v)
		printf("%s %s", i ? "," : "", json_string_value(v));
	printf("\n");
}

static void print_result(json_t *r)
{
	char b[12][32];
	bool dry = json_is_true(json_object_get(r, "dry_run"));

	printf("gc of %s%s: %s objects (%s) listed, %s (%s) reachable, %s (%s) kept by the "
	       "grace period (%s)\n",
	       cli_js(r, "repo"), dry ? " (dry run)" : "",
	       num(jint(r, "listed.objects"), b[0], 32), sz(jint(r, "listed.bytes"), b[1], 32),
	       num(jint(r, "marked.objects"), b[2], 32), sz(jint(r, "marked.bytes"), b[3], 32),
	       num(jint(r, "kept_by_grace.objects"), b[4], 32),
	       sz(jint(r, "kept_by_grace.bytes"), b[5], 32),
	       retention_format_duration(jint(r, "grace_s"), b[6], 32));
	if (dry)
		printf("would delete %s objects, %s\n", num(jint(r, "would_delete.objects"), b[0], 32),
		       sz(jint(r, "would_delete.bytes"), b[1], 32));
	else
		printf("deleted %s objects, %s (metadata %s, chunks %s, packs %s)\n",
		       num(jint(r, "deleted.objects"), b[0], 32), sz(jint(r, "deleted.bytes"), b[1], 32),
		       num(jint(r, "deleted.meta.objects"), b[2], 32),
		       num(jint(r, "deleted.chunks.objects"), b[3], 32),
		       num(jint(r, "deleted.packs.objects"), b[4], 32));
	printf("commits: %s, %s keep their data; %s %scollected now, %s before\n",
	       num(jint(r, "commits.total"), b[0], 32), num(jint(r, "commits.kept"), b[1], 32),
	       num(jint(r, "commits.collected"), b[2], 32), dry ? "would be " : "",
	       num(jint(r, "commits.collected_before"), b[3], 32));
	print_list(dry ? "branches that would expire:" : "branches expired:",
		   json_object_get(json_object_get(r, "expired"), "branches"));
	print_list(dry ? "tags that would expire:" : "tags expired:",
		   json_object_get(json_object_get(r, "expired"), "tags"));
	if (jint(r, "packs.live") || jint(r, "packs.deleted"))
		printf("packs: %s deleted whole; %s live, holding %s of unreachable chunks (kept: "
		       "packs are not rewritten)\n",
		       num(jint(r, "packs.deleted"), b[0], 32), num(jint(r, "packs.live"), b[1], 32),
		       sz(jint(r, "packs.dead_bytes_in_live"), b[2], 32));
	if (jint(r, "index_entries_dropped"))
		printf("chunk index entries dropped: %s\n",
		       num(jint(r, "index_entries_dropped"), b[0], 32));
	printf("mark set: %s keys, %s spills to disk, peak %s of memory; %s objects read, %s store "
	       "requests; %.1f s\n",
	       num(jint(r, "mark_set.keys"), b[0], 32), num(jint(r, "mark_set.spills"), b[1], 32),
	       sz(jint(r, "mark_set.mem_peak"), b[2], 32), num(jint(r, "store.objects_read"), b[3], 32),
	       num(jint(r, "store.requests"), b[4], 32),
	       json_number_value(json_object_get(r, "seconds")));
}

/* Polls GET /gc until run id ended; *last gets its result. */
static int gc_follow(struct cli *cli, const char *repo, int64_t id, json_t **last)
{
	bool drawn = false;
	int rc;

	*last = NULL;
	for (;;) {
		json_t *st = NULL, *l;

		rc = cli_repo_call(cli, repo, "GET", "/gc", NULL, &st);
		if (rc < 0)
			break;
		l = json_object_get(st, "last");
		if (!json_is_true(json_object_get(st, "running")) ||
		    jint(json_object_get(st, "run"), "id") > id) {
			if (jint(l, "id") >= id) {
				*last = json_incref(l);
				json_decref(st);
				break;
			}
		} else {
			print_progress(json_object_get(st, "run"), &drawn);
		}
		json_decref(st);
		usleep(200000);
	}
	if (drawn)
		fputs("\r\033[K", stderr);
	if (rc == 0 && !*last)
		rc = t9k_err(-EIO, "the gc run's result is gone (the service restarted?)");
	return rc;
}

int cmd_gc(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' }, { "grace", required_argument, NULL, 'g' },
		{ "max-memory", required_argument, NULL, 'm' }, { "json", no_argument, NULL, 'j' },
		{ "no-wait", no_argument, NULL, 'W' }, { "status", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	json_t *body = json_object(), *reply = NULL, *last = NULL;
	bool js = false, nowait = false, status = false;
	int o, rc = 0;

	optind = 0;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (o == 'n') {
			json_object_set_new(body, "dry_run", json_true());
		} else if (o == 'g') {
			int64_t s;

			rc = parse_duration_opt("--grace", optarg, &s);
			if (rc == 0 && s == RETENTION_UNSET)
				rc = t9k_err(T9K_EUSAGE, "--grace wants a duration such as 6h");
			if (rc == 0)
				json_object_set_new(body, "grace_s", json_integer(s));
		} else if (o == 'm') {
			uint64_t v;

			if (parse_size(optarg, &v) < 0 || v < (256u << 10) || v > (1ull << 50))
				rc = t9k_err(T9K_EUSAGE, "invalid --max-memory '%s': want a size such as "
					     "128M (at least 256K)", optarg);
			else
				json_object_set_new(body, "max_memory", json_integer((json_int_t)v));
		} else if (o == 'j') {
			js = true;
		} else if (o == 'W') {
			nowait = true;
		} else if (o == 's') {
			status = true;
		} else if (o == 'h') {
			json_decref(body);
			fputs(gc_usage, stdout);
			return 0;
		} else {
			rc = cli_bad_option("gc", o, argv);
		}
	}
	if (rc == 0 && optind != argc - 1)
		rc = t9k_err(T9K_EUSAGE, "want one repository (see 't9kfs gc --help')");
	if (rc == 0)
		rc = meta_repo_name_check(argv[optind]);
	if (rc == 0 && status) {
		rc = cli_repo_call(cli, argv[optind], "GET", "/gc", NULL, &reply);
		if (rc == 0 && js)
			cli_print_json(reply);
		else if (rc == 0 && json_is_true(json_object_get(reply, "running")))
			printf("running: %s (run %" PRId64 ")\n",
			       cli_js(json_object_get(reply, "run"), "phase"),
			       jint(json_object_get(reply, "run"), "id"));
		else if (rc == 0 && json_is_object(json_object_get(reply, "last")))
			print_result(json_object_get(reply, "last"));
		else if (rc == 0)
			printf("no gc has run on %s\n", argv[optind]);
		goto out;
	}
	if (rc == 0)
		rc = cli_repo_call(cli, argv[optind], "POST", "/gc", body, &reply);
	if (rc == 0 && nowait) {
		if (js)
			cli_print_json(reply);
		else
			printf("started gc run %" PRId64 " of %s\n", jint(reply, "id"), argv[optind]);
		goto out;
	}
	if (rc == 0)
		rc = gc_follow(cli, argv[optind], jint(reply, "id"), &last);
	if (rc < 0)
		goto out;
	if (js)
		cli_print_json(last);
	else
		print_result(last);
	if (!json_is_true(json_object_get(last, "ok")))
		rc = t9k_err(-EIO, "%s", cli_js(last, "error"));
out:
	json_decref(body);
	json_decref(reply);
	json_decref(last);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- retention ---- */

static const char retention_usage[] =
	"usage: t9kfs retention show REPO [--json]\n"
	"       t9kfs retention set REPO [--keep-last N] [--keep-within DURATION]\n"
	"                           [--stale-branches DURATION] [--tags-expire DURATION]\n"
	"                           [--grace DURATION] [--min-grace DURATION] [--reset]\n"
	"                           [--branch GLOB [--keep-last N] [--keep-within DURATION]\n"
	"                                          [--stale-branches DURATION]]...\n"
	"                           [--no-branch GLOB]... [--json]\n"
	"\n"
	"Which commits gc keeps the data of. A commit of a branch keeps it when it is\n"
	"the head, when it is one of the last --keep-last commits of the branch's\n"
	"first-parent history, or when it is reachable from the head and younger\n"
	"than --keep-within; with neither set (the default) every commit keeps its\n"
	"data. Options after --branch GLOB make an override for the branches it\n"
	"matches (the first match wins), replacing the defaults for them.\n"
	"--stale-branches deletes a branch (never main) whose head is older and that\n"
	"has nothing staged; --tags-expire deletes tags whose commit is older\n"
	"(tags otherwise keep their commit forever). --grace is gc's default\n"
	"grace period (6h), --min-grace the least any run may use (1h: the longest\n"
	"upload an import can take). Durations: 90s, 30m, 6h, 3d, 2w, 1d12h; 'none'\n"
	"unsets one. set changes only what it is given; --reset starts from the\n"
	"defaults.\n";

static void print_policy(const char *indent, json_t *p)
{
	char a[32], b[32];
	json_t *kl = json_object_get(p, "keep_last"), *kw = json_object_get(p, "keep_within_s"),
	       *sb = json_object_get(p, "stale_branches_s");

	if (!json_is_integer(kl) && !json_is_integer(kw))
		printf("%skeep: every commit (forever)\n", indent);
	else
		printf("%skeep: the head%s%s%s%s\n", indent,
		       json_is_integer(kl) ? ", the last " : "",
		       json_is_integer(kl) ? (snprintf(a, sizeof(a), "%" PRId64 " commits",
						       (int64_t)json_integer_value(kl)), a) : "",
		       json_is_integer(kw) ? ", what is younger than " : "",
		       json_is_integer(kw) ? retention_format_duration(json_integer_value(kw), b, sizeof(b))
					   : "");
	printf("%sstale after: %s\n", indent,
	       json_is_integer(sb) ? retention_format_duration(json_integer_value(sb), a, sizeof(a))
				   : "never");
}

static void print_retention(json_t *rt)
{
	char a[32], b[32];
	size_t i;
	json_t *r, *te = json_object_get(rt, "tags_expire_s");

	printf("branches (default):\n");
	print_policy("  ", rt);
	json_array_foreach(json_object_get(rt, "branches"), i, r) {
		printf("branches matching '%s':\n", cli_js(r, "glob"));
		print_policy("  ", r);
	}
	printf("tags: %s\n", json_is_integer(te)
				     ? (snprintf(b, sizeof(b), "expire after %s",
						 retention_format_duration(json_integer_value(te), a,
									   sizeof(a))), b)
				     : "kept forever");
	printf("grace: %s (at least %s)\n",
	       retention_format_duration(jint(rt, "grace_s"), a, sizeof(a)),
	       retention_format_duration(jint(rt, "min_grace_s"), b, sizeof(b)));
}

static json_t *opt_json(int64_t v)
{
	return v == RETENTION_UNSET ? json_null() : json_integer(v);
}

/* Applies one option to the JSON object (the top level or an override). */
static int retention_opt(int o, const char *arg, json_t *dst, bool top)
{
	int64_t v;
	long n;
	int rc = 0;

	switch (o) {
	case 'l':
		if (!strcmp(arg, "none")) {
			v = RETENTION_UNSET;
		} else {
			rc = parse_int_opt("--keep-last", arg, 1, INT32_MAX, &n);
			v = n;
		}
		if (rc == 0)
			json_object_set_new(dst, "keep_last", opt_json(v));
		return rc;
	case 'w':
		rc = parse_duration_opt("--keep-within", arg, &v);
		if (rc == 0)
			json_object_set_new(dst, "keep_within_s", opt_json(v));
		return rc;
	case 's':
		rc = parse_duration_opt("--stale-branches", arg, &v);
		if (rc == 0 && v == 0)
			rc = t9k_err(T9K_EUSAGE, "--stale-branches wants a duration above 0 (or none)");
		if (rc == 0)
			json_object_set_new(dst, "stale_branches_s", opt_json(v));
		return rc;
	}
	if (!top)
		return t9k_err(T9K_EUSAGE, "--%s applies to the repository, not to a --branch override",
			       o == 't' ? "tags-expire" : o == 'g' ? "grace" : "min-grace");
	rc = parse_duration_opt(o == 't' ? "--tags-expire" : o == 'g' ? "--grace" : "--min-grace", arg,
				&v);
	if (rc == 0 && o == 't' && v == 0)
		rc = t9k_err(T9K_EUSAGE, "--tags-expire wants a duration above 0 (or none)");
	if (rc == 0 && o != 't' && v == RETENTION_UNSET)
		rc = t9k_err(T9K_EUSAGE, "--%s wants a duration", o == 'g' ? "grace" : "min-grace");
	if (rc == 0)
		json_object_set_new(dst, o == 't' ? "tags_expire_s" : o == 'g' ? "grace_s"
									: "min_grace_s",
				    opt_json(v));
	return rc;
}

/* The override for glob in the array (created at the end when absent,
 * emptied when present: an override replaces). */
static json_t *override_for(json_t *arr, const char *glob, bool reset)
{
	size_t i;
	json_t *r;

	json_array_foreach(arr, i, r) {
		if (!strcmp(cli_js(r, "glob"), glob)) {
			if (reset) {
				json_object_clear(r);
				json_object_set_new(r, "glob", json_string(glob));
			}
			return r;
		}
	}
	r = json_pack("{s:s}", "glob", glob);
	json_array_append_new(arr, r);
	return r;
}

int cmd_retention(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-last", required_argument, NULL, 'l' },
		{ "keep-within", required_argument, NULL, 'w' },
		{ "stale-branches", required_argument, NULL, 's' },
		{ "tags-expire", required_argument, NULL, 't' },
		{ "grace", required_argument, NULL, 'g' },
		{ "min-grace", required_argument, NULL, 'G' },
		{ "branch", required_argument, NULL, 'b' },
		{ "no-branch", required_argument, NULL, 'B' },
		{ "reset", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *cur = NULL, *body = NULL, *out = NULL, *arr, *section;
	bool js = false, set, changed = false;
	const char *repo;
	int o, rc = 0;

	if (argc < 2 || cli_help_asked(argc, argv, retention_usage)) {
		if (argc < 2)
			fputs(retention_usage, stderr);
		return argc < 2 ? 2 : 0;
	}
	set = !strcmp(argv[1], "set");
	if (!set && strcmp(argv[1], "show"))
		return cli_usage_error("unknown command 'retention %s' (see 't9kfs retention --help')",
				       argv[1]);
	if (argc < 3 || argv[2][0] == '-')
		return cli_usage_error("retention %s wants a repository first", argv[1]);
	repo = argv[2];
	rc = meta_repo_name_check(repo);
	if (rc == 0)
		rc = cli_repo_call(cli, repo, "GET", "/retention", NULL, &cur);
	if (rc < 0)
		return cli_fail(rc);
	body = json_deep_copy(cur);
	arr = json_object_get(body, "branches");
	section = body;
	optind = 0;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc - 2, argv + 2, ":h", opts, NULL)) != -1) {
		if (o == 'j') {
			js = true;
		} else if (o == 'h') {
			fputs(retention_usage, stdout);
			goto out;
		} else if (!set && o != '?' && o != ':') {
			rc = t9k_err(T9K_EUSAGE, "retention show takes only --json");
		} else if (o == 'r') {
			json_decref(body);
			body = json_pack("{s:n,s:n,s:n,s:n,s:n,s:n,s:[]}", "keep_last", "keep_within_s",
					 "stale_branches_s", "tags_expire_s", "grace_s", "min_grace_s",
					 "branches");
			arr = json_object_get(body, "branches");
			section = body;
			changed = true;
		} else if (o == 'b') {
			if (!*optarg || strlen(optarg) > RETENTION_GLOB_MAX)
				rc = t9k_err(T9K_EUSAGE, "--branch wants a glob of 1 to %d bytes",
					     RETENTION_GLOB_MAX);
			else
				section = override_for(arr, optarg, true);
			changed = true;
		} else if (o == 'B') {
			size_t i;
			json_t *r;
			bool found = false;

			json_array_foreach(arr, i, r) {
				if (!strcmp(cli_js(r, "glob"), optarg)) {
					json_array_remove(arr, i);
					found = true;
					break;
				}
			}
			if (!found)
				rc = t9k_err(T9K_EUSAGE, "--no-branch '%s': no such override", optarg);
			changed = true;
		} else if (o == 'l' || o == 'w' || o == 's' || o == 't' || o == 'g' || o == 'G') {
			rc = retention_opt(o == 'G' ? 'M' : o, optarg, section, section == body);
			changed = true;
		} else {
			rc = cli_bad_option("retention", o, argv + 2);
		}
	}
	if (rc == 0 && optind != argc - 2)
		rc = t9k_err(T9K_EUSAGE, "unexpected argument '%s' (see 't9kfs retention --help')",
			     argv[2 + optind]);
	if (rc == 0 && set && !changed)
		rc = t9k_err(T9K_EUSAGE, "retention set: nothing to set (see 't9kfs retention --help')");
	if (rc == 0 && set)
		rc = cli_repo_call(cli, repo, "PUT", "/retention", body, &out);
	if (rc < 0)
		goto out;
	if (js)
		cli_print_json(set ? out : cur);
	else
		print_retention(set ? out : cur);
out:
	json_decref(cur);
	json_decref(body);
	json_decref(out);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- du ---- */

static const char du_usage[] =
	"usage: t9kfs du REPO[@REF] [--json] [--max-memory SIZE]\n"
	"\n"
	"Storage of a repository: the objects and bytes in its store, how much of\n"
	"that the refs reach under the retention rules (and the garbage gc would\n"
	"delete), the logical bytes and files of its refs and the dedup ratio\n"
	"(logical bytes of the refs over the data bytes stored). With @REF also\n"
	"that ref's logical size and the stored bytes only it reaches: about what\n"
	"deleting it and running gc would free. Reads every reachable tree: as\n"
	"slow as a gc's marking.\n";

static void print_du(json_t *d)
{
	char a[32], b[32], c[32], e[32], f[32];
	json_t *ref = json_object_get(d, "ref");

	if (ref) {
		printf("%s@%s (commit %.12s):\n", cli_js(d, "repo"), cli_js(ref, "spec"),
		       cli_js(ref, "commit"));
		printf("  logical   %s in %s files\n", sz(jint(ref, "logical.bytes"), a, sizeof(a)),
		       num(jint(ref, "logical.files"), b, sizeof(b)));
		printf("  unique    %s in %s objects (freed by deleting it, then gc)\n",
		       sz(jint(ref, "unique.bytes"), a, sizeof(a)),
		       num(jint(ref, "unique.objects"), b, sizeof(b)));
	}
	printf("repository %s:\n", cli_js(d, "repo"));
	printf("  stored    %s in %s objects (metadata %s, chunks %s, packs %s)\n",
	       sz(jint(d, "stored.bytes"), a, sizeof(a)), num(jint(d, "stored.objects"), b, sizeof(b)),
	       sz(jint(d, "stored.meta.bytes"), c, sizeof(c)),
	       sz(jint(d, "stored.chunks.bytes"), e, sizeof(e)),
	       sz(jint(d, "stored.packs.bytes"), f, sizeof(f)));
	printf("  reachable %s in %s objects\n", sz(jint(d, "reachable.bytes"), a, sizeof(a)),
	       num(jint(d, "reachable.objects"), b, sizeof(b)));
	printf("  garbage   %s in %s objects (%s past the grace period)\n",
	       sz(jint(d, "garbage.bytes"), a, sizeof(a)), num(jint(d, "garbage.objects"), b, sizeof(b)),
	       sz(jint(d, "garbage_past_grace.bytes"), c, sizeof(c)));
	printf("  logical   %s in %s files over %s refs; dedup ratio %.2f\n",
	       sz(jint(d, "logical.bytes"), a, sizeof(a)), num(jint(d, "logical.files"), b, sizeof(b)),
	       num(jint(d, "refs_counted"), c, sizeof(c)),
	       json_number_value(json_object_get(d, "dedup_ratio")));
}

static int du_call(struct cli *cli, const struct spec *sp, uint64_t mem, json_t **out)
{
	char suffix[1200], esc[1024];
	size_t n = 0;
	int rc = 0;

	suffix[0] = '\0';
	if (sp->has_ref) {
		rc = meta_client_escape(sp->ref, esc, sizeof(esc));
		n += (size_t)snprintf(suffix, sizeof(suffix), "?ref=%s", esc);
	}
	if (mem)
		snprintf(suffix + n, sizeof(suffix) - n, "%smax_memory=%" PRIu64, n ? "&" : "?", mem);
	if (rc == 0) {
		char path[1300];

		snprintf(path, sizeof(path), "/du%s", suffix);
		rc = cli_repo_call(cli, sp->repo, "GET", path, NULL, out);
	}
	return rc;
}

int cmd_du(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "max-memory", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	json_t *d = NULL;
	uint64_t mem = 0;
	bool js = false;
	struct spec sp;
	int o, rc = 0;

	optind = 0;
	opterr = 0;
	while (rc == 0 && (o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (o == 'j')
			js = true;
		else if (o == 'm' && (parse_size(optarg, &mem) < 0 || mem < (256u << 10)))
			rc = t9k_err(T9K_EUSAGE, "invalid --max-memory '%s': want a size such as 128M "
				     "(at least 256K)", optarg);
		else if (o == 'h')
			return fputs(du_usage, stdout), 0;
		else if (o != 'm')
			rc = cli_bad_option("du", o, argv);
	}
	if (rc == 0 && optind != argc - 1)
		rc = t9k_err(T9K_EUSAGE, "want REPO or REPO@REF (see 't9kfs du --help')");
	if (rc == 0)
		rc = spec_parse(argv[optind], 0, &sp);
	if (rc == 0 && sp.has_path)
		rc = t9k_err(T9K_EUSAGE, "du counts a repository or a ref, not a path");
	if (rc == 0)
		rc = du_call(cli, &sp, mem, &d);
	if (rc == 0 && js)
		cli_print_json(d);
	else if (rc == 0)
		print_du(d);
	json_decref(d);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- repo show ---- */

int cli_repo_show(struct cli *cli, const char *name, bool js)
{
	json_t *info = NULL, *rt = NULL, *gc = NULL, *du = NULL;
	struct spec sp = { 0 };
	char path[400];
	int rc = meta_repo_name_check(name);

	snprintf(sp.repo, sizeof(sp.repo), "%s", name);
	if (rc == 0)
		rc = cli_repo_path(name, NULL, path, sizeof(path));
	if (rc == 0)
		rc = cli_repo_call(cli, name, "GET", "", NULL, &info);
	if (rc == 0)
		rc = cli_repo_call(cli, name, "GET", "/retention", NULL, &rt);
	if (rc == 0)
		rc = cli_repo_call(cli, name, "GET", "/gc", NULL, &gc);
	if (rc == 0)
		rc = du_call(cli, &sp, 0, &du);
	if (rc < 0)
		goto out;
	if (js) {
		json_t *all = json_pack("{s:O,s:O,s:O,s:O}", "repo", info, "retention", rt, "gc", gc,
					"du", du);

		cli_print_json(all);
		json_decref(all);
		goto out;
	}
	{
		char when[64], a[32], b[32], c[32];
		json_t *last = json_object_get(gc, "last");

		cli_format_time(jint(info, "created_ns"), when, sizeof(when));
		printf("repository %s\n  store     %s\n  created   %s\n  chunks    %s..%s, avg %s",
		       name, cli_js(info, "store"), when, sz(jint(info, "chunk.min"), a, sizeof(a)),
		       sz(jint(info, "chunk.max"), b, sizeof(b)), sz(jint(info, "chunk.avg"), c, sizeof(c)));
		if (jint(info, "pack_size"))
			printf("; packs of %s", sz(jint(info, "pack_size"), a, sizeof(a)));
		printf("\nretention\n");
		print_retention(rt);
		printf("storage\n");
		print_du(du);
		if (json_is_object(last)) {
			cli_format_time(jint(last, "started_ns"), when, sizeof(when));
			printf("last gc: %s, %s: deleted %s objects (%s)%s%s\n", when,
			       json_is_true(json_object_get(last, "ok")) ? "ok" : "failed",
			       num(jint(last, "deleted.objects"), a, sizeof(a)),
			       sz(jint(last, "deleted.bytes"), b, sizeof(b)),
			       json_is_true(json_object_get(last, "ok")) ? "" : ": ",
			       cli_js(last, "error"));
		} else {
			printf("last gc: never\n");
		}
		if (json_is_true(json_object_get(gc, "running")))
			printf("gc running: %s\n", cli_js(json_object_get(gc, "run"), "phase"));
	}
out:
	json_decref(info);
	json_decref(rt);
	json_decref(gc);
	json_decref(du);
	return rc < 0 ? cli_fail(rc) : 0;
}
