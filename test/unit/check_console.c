/* Unit tests of the web console's server side: the request checks and
 * login sessions of meta/webui.c, its embedded files, and the endpoints of
 * meta/console.c called through meta_api_handle (no HTTP): pages of a
 * directory, history by cursor, a diff by pages in tree order, a file's
 * bytes by range (inline and streamed), the commits a comparison picks,
 * bad input. Real RocksDB, real file:// store. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "meta/api.h"
#include "meta/repo.h"
#include "meta/transfer.h"
#include "meta/webui.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- webui: request checks, sessions, files ---- */

START_TEST(test_same_origin)
{
	const char *h = "127.0.0.1:7070";

	ck_assert(webui_same_origin("1", NULL, h, NULL));
	ck_assert(webui_same_origin("1", "http://127.0.0.1:7070", h, "same-origin"));
	ck_assert(webui_same_origin("1", "https://127.0.0.1:7070", h, NULL));
	ck_assert(!webui_same_origin(NULL, "http://127.0.0.1:7070", h, "same-origin"));
	ck_assert(!webui_same_origin("1", "http://evil.example", h, NULL));
	ck_assert(!webui_same_origin("1", "http://127.0.0.1:7071", h, NULL));
	ck_assert(!webui_same_origin("1", "null", h, NULL));
	ck_assert(!webui_same_origin("1", NULL, h, "cross-site"));
	ck_assert(!webui_same_origin("1", NULL, h, "same-site"));
	ck_assert(!webui_same_origin("1", "http://127.0.0.1:7070", NULL, NULL));
}
END_TEST

START_TEST(test_sessions)
{
	struct webui_sessions *s;
	char first[65], c[65], last[65];
	int64_t exp;

	ck_assert_int_eq(webui_sessions_new(&s), 0);
	ck_assert_int_eq(webui_session_create(s, first, &exp), 0);
	ck_assert_uint_eq(strlen(first), 64);
	ck_assert(exp > 0);
	ck_assert(webui_session_check(s, first));
	snprintf(c, sizeof(c), "%s", first);
	c[0] = c[0] == '0' ? '1' : '0';
	ck_assert(!webui_session_check(s, c));
	ck_assert(!webui_session_check(s, NULL));
	ck_assert(!webui_session_check(s, ""));
	ck_assert(!webui_session_check(s, "abc"));
	/* full: the session that expires first makes room */
	for (int i = 0; i < WEBUI_SESSIONS_MAX; i++)
		ck_assert_int_eq(webui_session_create(s, last, &exp), 0);
	ck_assert(!webui_session_check(s, first));
	ck_assert(webui_session_check(s, last));
	webui_session_drop(s, last);
	ck_assert(!webui_session_check(s, last));
	webui_session_drop(s, "nonsense");
	webui_sessions_free(s);
	webui_sessions_free(NULL);
}
END_TEST

START_TEST(test_assets)
{
	const struct webui_asset *a;
	const char *etag = NULL;

	a = webui_asset_find("index.html", &etag);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->type, "text/html; charset=utf-8");
	ck_assert_uint_eq(strlen(etag), 66);
	ck_assert_ptr_nonnull(strstr((const char *)a->data, "/ui/static/app.js"));
	a = webui_asset_find("static/app.js", &etag);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->type, "text/javascript; charset=utf-8");
	ck_assert_ptr_null(webui_asset_find("static/nope.js", &etag));
	ck_assert_ptr_null(webui_asset_find("../index.html", &etag));
}
END_TEST

/* ---- console endpoints through the api ---- */

static char dir[PATH_MAX];
static char dbdir[PATH_MAX + 8], url[PATH_MAX + 32];
static struct meta_db *db;
static struct repo *r;
static struct meta_api *api;

static void setup(void)
{
	test_tmpdir(dir, sizeof(dir));
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(url, sizeof(url), "file://%s/store", dir);
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(repo_create(db, "data", url, NULL, REPO_PACK_SIZE_AUTO, &r), 0);
	ck_assert_int_eq(meta_api_new(db, url, &api), 0);
}

static void teardown(void)
{
	meta_api_free(api);
	repo_close(r);
	meta_db_close(db);
	test_rmtree(dir);
}

static void put(const char *path, const char *text)
{
	struct tree_entry e = { 0 };

	e.mode = S_IFREG | 0644;
	e.size = strlen(text);
	e.is_inline = true;
	e.data = (const uint8_t *)text;
	e.data_len = (uint32_t)e.size;
	ck_assert_int_eq(repo_stage(r, "main", path, &e), 0);
}

static void commit(const char *msg)
{
	struct commit_info ci = { .author = "tester", .message = msg, .allow_empty = true };
	struct oid id;

	ck_assert_int_eq(repo_commit(r, "main", &ci, &id), 0);
}

/* A request's query and headers: "key", "raw value", ..., NULL. */
struct kv {
	const char **v;
};

static const char *kv_get(void *arg, const char *key)
{
	const char **v = arg;

	for (int i = 0; v && v[i]; i += 2)
		if (!strcmp(v[i], key))
			return v[i + 1];
	return NULL;
}

/* Query and header pairs share one array: headers are keys with a ':'. */
static const char *kv_header(void *arg, const char *name)
{
	const char **v = arg;
	char key[64];

	snprintf(key, sizeof(key), "%s:", name);
	return kv_get(v, key);
}

/* GET path with the pairs; the status, and the body into *body (the
 * reply's bytes, streamed ones too; free it). */
static unsigned get(const char *path, const char **pairs, char **body, size_t *len)
{
	struct api_request req = { .method = "GET", .path = path, .query = kv_get,
				   .query_arg = (void *)pairs, .header = kv_header };
	struct api_reply rep;
	struct buf out = BUF_INIT;
	unsigned status;

	api_reply_init(&rep);
	ck_assert_int_eq(meta_api_handle(api, &req, &rep), 0);
	status = rep.status;
	if (rep.read) {
		char chunk[7000]; /* not a divisor of a chunk: reads straddle them */
		long n;

		while ((n = rep.read(rep.stream_arg, out.len, chunk, sizeof(chunk))) > 0)
			ck_assert_int_eq(buf_add(&out, chunk, (size_t)n), 0);
		ck_assert_int_eq(n, 0);
		ck_assert_uint_eq(out.len, rep.stream_len);
	} else {
		ck_assert_int_lt(rep.fd, 0);
		ck_assert_int_eq(buf_add(&out, rep.body.data, rep.body.len), 0);
	}
	api_reply_release(&rep);
	if (len)
		*len = out.len;
	*body = buf_detach(&out, NULL);
	if (!*body)
		*body = strdup("");
	return status;
}

static json_t *get_json(const char *path, const char **pairs, unsigned want)
{
	char *body;
	unsigned st = get(path, pairs, &body, NULL);
	json_t *j = json_loads(body, 0, NULL);

	if (st != want)
		ck_abort_msg("GET %s: %u, want %u: %s", path, st, want, body);
	free(body);
	ck_assert_ptr_nonnull(j);
	return j;
}

START_TEST(test_tree_pages)
{
	char name[32], after[32] = "";
	const char *q[] = { "path", "d", "limit", "7", "after", after, NULL };
	int seen = 0;
	json_t *j;

	for (int i = 0; i < 25; i++) {
		snprintf(name, sizeof(name), "d/f%02d", i);
		put(name, "x");
	}
	put("top.txt", "hello");
	commit("files");
	j = get_json("/api/v1/repos/data/tree", (const char *[]){ NULL }, 200);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "entry"), "type")), "dir");
	ck_assert_int_eq(json_array_size(json_object_get(j, "entries")), 2);
	json_decref(j);
	for (int page = 0;; page++) {
		json_t *list, *e;
		size_t i;

		q[4] = after[0] ? "after" : "x-none";
		j = get_json("/api/v1/repos/data/tree", q, 200);
		list = json_object_get(j, "entries");
		json_array_foreach(list, i, e) {
			snprintf(name, sizeof(name), "f%02d", seen++);
			ck_assert_str_eq(json_string_value(json_object_get(e, "name")), name);
			ck_assert_int_eq(json_integer_value(json_object_get(e, "size")), 1);
			ck_assert_ptr_null(json_object_get(e, "inline")); /* no payload */
			snprintf(after, sizeof(after), "%s", name);
		}
		if (!json_is_true(json_object_get(j, "more"))) {
			json_decref(j);
			break;
		}
		ck_assert_int_eq(json_array_size(list), 7);
		json_decref(j);
		ck_assert_int_lt(page, 10);
	}
	ck_assert_int_eq(seen, 25);
	/* a file: its entry only */
	j = get_json("/api/v1/repos/data/tree", (const char *[]){ "path", "top.txt", NULL }, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "entry"), "size")), 5);
	ck_assert_ptr_null(json_object_get(j, "entries"));
	json_decref(j);
}
END_TEST

static int log_one(void *arg, const struct repo_commit *c)
{
	json_array_append_new(arg, json_string(oid_to_hex(&c->id, (char[OID_HEXSZ + 1]){ 0 })));
	return 0;
}

START_TEST(test_history_cursor)
{
	json_t *want = json_array(), *got = json_array();
	char cursor[4200] = "";
	struct oid head;

	for (int i = 0; i < 30; i++)
		commit("step");
	ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
	ck_assert_int_eq(repo_log(r, &head, false, 0, log_one, want), 0);
	for (int page = 0; page < 20; page++) {
		const char *q[] = { "limit", "7", cursor[0] ? "cursor" : "x", cursor, NULL };
		json_t *j = get_json("/api/v1/repos/data/history", q, 200), *c, *next;
		size_t i;

		json_array_foreach(json_object_get(j, "commits"), i, c)
			json_array_append(got, json_object_get(c, "id"));
		next = json_object_get(j, "next");
		if (json_is_null(next)) {
			json_decref(j);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		json_decref(j);
	}
	ck_assert_int_eq(json_array_size(want), 31);
	ck_assert(json_equal(want, got));
	json_decref(want);
	json_decref(got);
}
END_TEST

START_TEST(test_changes_pages)
{
	const char *paths[] = { "a.txt", "a/b", "a/c/d", "a/e", "a-b", "b", "z/y", NULL };
	json_t *all = json_array(), *j, *c;
	char after[256] = "";
	size_t i;

	put("keep", "k");
	commit("base");
	for (int i2 = 0; paths[i2]; i2++)
		put(paths[i2], "new");
	put("keep", "changed");
	commit("changes");
	for (int page = 0; page < 10; page++) {
		const char *q[] = { "to", "main", "limit", "3", after[0] ? "after" : "x", after, NULL };

		j = get_json("/api/v1/repos/data/changes", q, 200);
		if (page == 0) {
			json_t *t = json_object_get(j, "totals");

			ck_assert_int_eq(json_integer_value(json_object_get(t, "added")), 7);
			ck_assert_int_eq(json_integer_value(json_object_get(t, "modified")), 1);
			ck_assert_int_eq(json_integer_value(json_object_get(t, "bytes_new")), 7 * 3 + 7);
			ck_assert_int_eq(json_integer_value(json_object_get(t, "bytes_old")), 1);
		} else {
			ck_assert(json_is_null(json_object_get(j, "totals")));
		}
		json_array_foreach(json_object_get(j, "changes"), i, c) {
			json_array_append(all, json_object_get(c, "path"));
			snprintf(after, sizeof(after), "%s", json_string_value(json_object_get(c, "path")));
		}
		if (!json_is_true(json_object_get(j, "more"))) {
			json_decref(j);
			break;
		}
		json_decref(j);
	}
	/* tree order: the directory "a" before "a-b" and "a.txt" */
	j = json_pack("[s,s,s,s,s,s,s,s]", "a/b", "a/c/d", "a/e", "a-b", "a.txt", "b", "keep", "z/y");
	if (!json_equal(j, all))
		ck_abort_msg("changes: %s", json_dumps(all, JSON_COMPACT));
	json_decref(j);
	json_decref(all);
}
END_TEST

START_TEST(test_file_ranges)
{
	char src[PATH_MAX + 8], path[PATH_MAX + 16], *body;
	size_t n, len = 3 << 20;
	uint8_t *data = malloc(len);
	struct transfer_stats st;
	FILE *f;

	test_random_bytes(data, len, 42);
	snprintf(src, sizeof(src), "%s/src", dir);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	snprintf(path, sizeof(path), "%s/big.bin", src);
	f = fopen(path, "w");
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	ck_assert_int_eq(repo_import(r, "main", src, "", NULL, &st), 0);
	put("small.txt", "0123456789");
	commit("files");
	/* streamed, chunk by chunk */
	ck_assert_uint_eq(get("/api/v1/repos/data/file", (const char *[]){ "path", "big.bin", NULL },
			      &body, &n), 200);
	ck_assert_uint_eq(n, len);
	ck_assert(!memcmp(body, data, len));
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/file",
			      (const char *[]){ "path", "big.bin", "Range:", "bytes=1000000-2100000", NULL },
			      &body, &n), 206);
	ck_assert_uint_eq(n, 1100001);
	ck_assert(!memcmp(body, data + 1000000, n));
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/file",
			      (const char *[]){ "path", "big.bin", "Range:", "bytes=-5", NULL }, &body, &n), 206);
	ck_assert(n == 5 && !memcmp(body, data + len - 5, 5));
	free(body);
	/* inline */
	ck_assert_uint_eq(get("/api/v1/repos/data/file",
			      (const char *[]){ "path", "small.txt", "Range:", "bytes=2-4", NULL }, &body, &n), 206);
	ck_assert(n == 3 && !memcmp(body, "234", 3));
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/file",
			      (const char *[]){ "path", "small.txt", "Range:", "bytes=10-", NULL }, &body, &n), 416);
	free(body);
	/* several ranges, or one we cannot parse: the whole file */
	ck_assert_uint_eq(get("/api/v1/repos/data/file",
			      (const char *[]){ "path", "small.txt", "Range:", "bytes=0-1,3-4", NULL }, &body, &n), 200);
	ck_assert_uint_eq(n, 10);
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/file",
			      (const char *[]){ "path", "small.txt", "Range:", "lines=1-2", NULL }, &body, &n), 200);
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/file", (const char *[]){ "path", "nope", NULL }, &body, &n), 404);
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/file", (const char *[]){ NULL }, &body, &n), 400);
	free(body);
	free(data);
}
END_TEST

START_TEST(test_compare_and_bad_input)
{
	static const char *const bad[][6] = {
		{ "/api/v1/repos/data/tree", "path", "../x", NULL },
		{ "/api/v1/repos/data/tree", "after", "a/b", NULL },
		{ "/api/v1/repos/data/tree", "limit", "0", NULL },
		{ "/api/v1/repos/data/history", "cursor", "abc", NULL },
		{ "/api/v1/repos/data/changes", NULL },
		{ "/api/v1/repos/data/compare", NULL },
		{ "/api/v1/repos/data/compare", "branch", "main", "last", "0", NULL },
		{ "/api/v1/repos/data/compare", "refs", "main~1..main~3", NULL },
	};
	json_t *j, *c;
	char *body;
	size_t i;

	for (int k = 0; k < 3; k++)
		commit("run");
	ck_assert_int_eq(repo_branch_create(r, "exp-b", "main~1"), 0);
	ck_assert_int_eq(repo_branch_create(r, "exp-a", "main"), 0);
	j = get_json("/api/v1/repos/data/compare",
		     (const char *[]){ "glob", "exp-*", "refs", "main~2,main", NULL }, 200);
	c = json_object_get(j, "commits");
	/* refs first, then the glob in name order; main and exp-a are one commit */
	ck_assert_int_eq(json_array_size(c), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "label")), "main~2");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 1), "label")), "main");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 2), "label")), "exp-b");
	ck_assert(json_is_null(json_object_get(json_array_get(c, 0), "metrics_jsonl")));
	json_decref(j);
	j = get_json("/api/v1/repos/data/compare", (const char *[]){ "branch", "main", "last", "3", NULL }, 200);
	c = json_object_get(j, "commits");
	ck_assert_int_eq(json_array_size(c), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "label")), "main~2");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 2), "label")), "main");
	json_decref(j);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned st = get(bad[i][0], (const char **)&bad[i][1], &body, NULL);

		if (st != 400)
			ck_abort_msg("%s %s: %u: %s", bad[i][0], bad[i][1] ? bad[i][1] : "", st, body);
		free(body);
	}
	ck_assert_uint_eq(get("/api/v1/repos/data/compare", (const char *[]){ "glob", "zz*", NULL }, &body, NULL), 404);
	free(body);
	ck_assert_uint_eq(get("/api/v1/repos/data/summary", (const char *[]){ NULL }, &body, NULL), 200);
	j = json_loads(body, 0, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "branches")), 3);
	ck_assert(json_is_true(json_object_get(json_object_get(j, "size"), "complete")));
	json_decref(j);
	free(body);
}
END_TEST

Suite *console_suite(void)
{
	Suite *s = suite_create("console");
	TCase *w = tcase_create("webui"), *t = tcase_create("endpoints");

	tcase_add_test(w, test_same_origin);
	tcase_add_test(w, test_sessions);
	tcase_add_test(w, test_assets);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_tree_pages);
	tcase_add_test(t, test_history_cursor);
	tcase_add_test(t, test_changes_pages);
	tcase_add_test(t, test_file_ranges);
	tcase_add_test(t, test_compare_and_bad_input);
	suite_add_tcase(s, w);
	suite_add_tcase(s, t);
	return s;
}
