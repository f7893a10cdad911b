/* Unit tests of the metadata database: repos (record versions 1 and 2),
 * refs, staging, the chunk index, the commit step, name checks, durability across reopen and SIGKILL, the single-owner
 * lock and compare-and-swap under two threads. Each test has its own dir. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "meta/db.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[PATH_MAX];
static char dbdir[PATH_MAX + 16];
static struct meta_db *db;

static void setup_dir(void)
{
	test_tmpdir(dir, sizeof(dir));
	snprintf(dbdir, sizeof(dbdir), "%s/meta/db", dir);
}

static void setup(void)
{
	setup_dir();
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
}

static void teardown(void)
{
	meta_db_close(db);
	db = NULL;
	test_rmtree(dir);
}

/* An id that encodes n in its first 8 bytes. */
static struct oid oid_n(uint64_t n)
{
	struct oid id;

	memset(id.b, 0x5a, sizeof(id.b));
	for (int i = 0; i < 8; i++)
		id.b[i] = (uint8_t)(n >> (8 * i));
	return id;
}

static uint64_t n_of(const struct oid *id)
{
	uint64_t n = 0;

	for (int i = 0; i < 8; i++)
		n |= (uint64_t)id->b[i] << (8 * i);
	return n;
}

static void make_repo(struct meta_db *d, const char *name)
{
	struct meta_repo r;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.store_url, sizeof(r.store_url), "file:///data/%s", name);
	r.cdc_min = 1 << 20;
	r.cdc_avg = 4 << 20;
	r.cdc_max = 16 << 20;
	r.created_ns = 1700000000123456789LL;
	ck_assert_int_eq(meta_repo_create(d, &r), 0);
}

/* Collected names (and values) from a listing. */
struct seen {
	int n;
	char name[16][128];
	char val[16][32];
};

static int seen_repo(const struct meta_repo *r, void *arg)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 16);
	snprintf(s->name[s->n++], sizeof(s->name[0]), "%s", r->name);
	return 0;
}

static int seen_ref(const char *refname, const struct oid *id, void *arg)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 16);
	snprintf(s->val[s->n], sizeof(s->val[0]), "%llu", (unsigned long long)n_of(id));
	snprintf(s->name[s->n++], sizeof(s->name[0]), "%s", refname);
	return 0;
}

static int seen_path(const char *path, const void *val, size_t len, void *arg)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 16);
	ck_assert_uint_lt(len, sizeof(s->val[0]));
	memcpy(s->val[s->n], val, len);
	s->val[s->n][len] = '\0';
	snprintf(s->name[s->n++], sizeof(s->name[0]), "%s", path);
	return 0;
}

static int stop_at_first(const struct meta_repo *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 7;
}

static void stage(const char *repo, const char *branch, const char *path, const char *val)
{
	ck_assert_int_eq(meta_stage_put(db, repo, branch, path, val, strlen(val)), 0);
}

/* 1 and the value in out if staged, 0 if not. */
static int staged(struct meta_db *d, const char *repo, const char *branch, const char *path,
		  char *out, size_t outsz)
{
	void *v = NULL;
	size_t len = 0;
	int ret = meta_stage_get(d, repo, branch, path, &v, &len);

	if (ret == T9K_ENOTFOUND)
		return 0;
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_lt(len, outsz);
	memcpy(out, v, len);
	out[len] = '\0';
	free(v);
	return 1;
}

START_TEST(repo_create_get_list_delete)
{
	struct meta_repo r;
	struct seen s = { 0 };
	struct oid a = oid_n(1), got;
	int calls = 0;
	char v[32];

	make_repo(db, "beta");
	make_repo(db, "alpha");
	make_repo(db, "alpha.2");
	ck_assert_int_eq(meta_repo_get(db, "alpha", &r), 0);
	ck_assert_str_eq(r.name, "alpha");
	ck_assert_str_eq(r.store_url, "file:///data/alpha");
	ck_assert_uint_eq(r.cdc_min, 1 << 20);
	ck_assert_uint_eq(r.cdc_avg, 4 << 20);
	ck_assert_uint_eq(r.cdc_max, 16 << 20);
	ck_assert(r.created_ns == 1700000000123456789LL);

	ck_assert_int_eq(meta_repo_list(db, seen_repo, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.name[0], "alpha");
	ck_assert_str_eq(s.name[1], "alpha.2");
	ck_assert_str_eq(s.name[2], "beta");
	/* A non-zero return stops the listing and is passed back. */
	ck_assert_int_eq(meta_repo_list(db, stop_at_first, &calls), 7);
	ck_assert_int_eq(calls, 1);

	/* Refs and staging of "alpha" must not touch those of "alpha.2". */
	ck_assert_int_eq(meta_ref_cas(db, "alpha", "branch/main", NULL, &a), 0);
	ck_assert_int_eq(meta_ref_cas(db, "alpha", "tag/v1", NULL, &a), 0);
	ck_assert_int_eq(meta_ref_cas(db, "alpha.2", "branch/main", NULL, &a), 0);
	stage("alpha", "main", "x/y", "1");
	stage("alpha.2", "main", "x/y", "2");

	ck_assert_int_eq(meta_repo_delete(db, "alpha"), 0);
	ck_assert_int_eq(meta_repo_get(db, "alpha", &r), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "repository 'alpha' not found"));
	ck_assert_int_eq(meta_repo_delete(db, "alpha"), T9K_ENOTFOUND);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_repo_list(db, seen_repo, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.name[0], "alpha.2");

	/* Re-created, it starts empty: the old refs and staging are gone. */
	make_repo(db, "alpha");
	ck_assert_int_eq(meta_ref_get(db, "alpha", "branch/main", &got), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "ref 'branch/main' not found"));
	ck_assert_int_eq(meta_ref_get(db, "alpha", "tag/v1", &got), T9K_ENOTFOUND);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_ref_list(db, "alpha", "", seen_ref, &s), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(meta_stage_list(db, "alpha", "main", "", seen_path, &s), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(staged(db, "alpha", "main", "x/y", v, sizeof(v)), 0);

	/* The neighbour kept everything. */
	ck_assert_int_eq(meta_ref_get(db, "alpha.2", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &a));
	ck_assert_int_eq(staged(db, "alpha.2", "main", "x/y", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "2");
}
END_TEST

START_TEST(repo_create_twice_is_eexist)
{
	struct meta_repo r;

	make_repo(db, "r");
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "r");
	snprintf(r.store_url, sizeof(r.store_url), "file:///other");
	ck_assert_int_eq(meta_repo_create(db, &r), -EEXIST);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EEXIST), "'r' already exists"));
	ck_assert_int_eq(meta_repo_get(db, "r", &r), 0);
	ck_assert_str_eq(r.store_url, "file:///data/r"); /* unchanged */
}
END_TEST

START_TEST(missing_repo_is_not_found)
{
	struct oid a = oid_n(1), got;
	struct seen s = { 0 };
	void *v = NULL;
	size_t len;
	struct meta_staged d = { "f", "1", 1, false };

	ck_assert_int_eq(meta_ref_get(db, "nope", "branch/main", &got), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "repository 'nope' not found"));
	ck_assert_int_eq(meta_ref_cas(db, "nope", "branch/main", NULL, &a), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "repository 'nope' not found"));
	ck_assert_int_eq(meta_ref_list(db, "nope", "", seen_ref, &s), T9K_ENOTFOUND);
	ck_assert_int_eq(meta_stage_put(db, "nope", "main", "f", "1", 1), T9K_ENOTFOUND);
	ck_assert_int_eq(meta_stage_get(db, "nope", "main", "f", &v, &len), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "repository 'nope' not found"));
	ck_assert_int_eq(meta_stage_list(db, "nope", "main", "", seen_path, &s), T9K_ENOTFOUND);
	ck_assert_int_eq(meta_stage_reset(db, "nope", "main", ""), T9K_ENOTFOUND);
	ck_assert_int_eq(meta_commit_apply(db, "nope", "main", NULL, &a, &d, 1), T9K_ENOTFOUND);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(bad_names_are_einval)
{
	static const char *bad_names[] = {
		"", ".hidden", "-opt", "a/b", "a b", "a\tb", "caf\xc3\xa9", "a:b", "a*", "..",
		"01234567890123456789012345678901234567890123456789012345678901234", /* 65 */
	};
	static const char *bad_refs[] = {
		"main", "branch/", "tag/", "head/main", "branch/.x", "branch/-x", "tag/a b",
		"branch/a/b", "Branch/main", "branches/main",
	};
	static const char *bad_paths[] = {
		"", "/a", "a/", "a//b", ".", "..", "a/.", "./a", "a/../b", "a/./b", "/",
	};
	char long_name[META_REPO_NAME_MAX + 1], ref[80], msg[600];
	char path[4200], comp[300];
	struct oid a = oid_n(1), got;
	struct seen s = { 0 };
	struct meta_repo r;

	make_repo(db, "r");
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		ck_assert_msg(meta_repo_name_check(bad_names[i]) == -EINVAL, "repo '%s'", bad_names[i]);
		ck_assert_msg(meta_ref_name_check(bad_names[i]) == -EINVAL, "ref '%s'", bad_names[i]);
		ck_assert_int_eq(meta_repo_get(db, bad_names[i], &r), -EINVAL);
		ck_assert_int_eq(meta_stage_put(db, "r", bad_names[i], "f", "", 0), -EINVAL);
		snprintf(ref, sizeof(ref), "branch/%s", bad_names[i]);
		ck_assert_int_eq(meta_ref_cas(db, "r", ref, NULL, &a), -EINVAL);
	}
	/* The message quotes the name. */
	ck_assert_int_eq(meta_repo_name_check("a b"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "'a b'"));
	ck_assert_int_eq(meta_repo_name_check("-opt"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "'-opt'"));

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "bad name");
	ck_assert_int_eq(meta_repo_create(db, &r), -EINVAL);
	memset(r.name, 'x', sizeof(r.name)); /* not terminated */
	ck_assert_int_eq(meta_repo_create(db, &r), -EINVAL);
	snprintf(r.name, sizeof(r.name), "ok");
	memset(r.store_url, 'u', sizeof(r.store_url)); /* not terminated */
	ck_assert_int_eq(meta_repo_create(db, &r), -EINVAL);

	for (size_t i = 0; i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
		ck_assert_msg(meta_ref_cas(db, "r", bad_refs[i], NULL, &a) == -EINVAL, "ref '%s'",
			      bad_refs[i]);
		snprintf(msg, sizeof(msg), "%s", t9k_errmsg(-EINVAL));
		ck_assert_msg(strstr(msg, "bad ") != NULL, "message '%s'", msg);
		ck_assert_int_eq(meta_ref_get(db, "r", bad_refs[i], &got), -EINVAL);
	}
	ck_assert_int_eq(meta_ref_cas(db, "r", "head/main", NULL, &a), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "'head/main'"));

	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		ck_assert_msg(meta_stage_put(db, "r", "main", bad_paths[i], "v", 1) == -EINVAL,
			      "path '%s'", bad_paths[i]);
		snprintf(msg, sizeof(msg), "%s", t9k_errmsg(-EINVAL));
		ck_assert_msg(strstr(msg, "bad path") != NULL, "message '%s'", msg);
	}
	ck_assert_int_eq(meta_stage_put(db, "r", "main", "a//b", "v", 1), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "'a//b'"));

	/* Limits: 64 characters and every allowed class pass, 65 do not. */
	memset(long_name, 'n', META_REPO_NAME_MAX);
	long_name[META_REPO_NAME_MAX] = '\0';
	ck_assert_int_eq(meta_repo_name_check(long_name), 0);
	ck_assert_int_eq(meta_repo_name_check("Az09._-x"), 0);
	ck_assert_int_eq(meta_repo_name_check("a..b"), 0);
	ck_assert_int_eq(meta_ref_name_check("v1.0_rc-2"), 0);
	ck_assert_int_eq(meta_stage_put(db, "r", "main", "..a/.b/c..", "v", 1), 0);

	/* A 255-byte component passes, 256 does not; 4096 bytes pass, 4097 not. */
	memset(comp, 'c', 256);
	comp[255] = '\0';
	ck_assert_int_eq(meta_stage_put(db, "r", "main", comp, "v", 1), 0);
	comp[255] = 'c';
	comp[256] = '\0';
	ck_assert_int_eq(meta_stage_put(db, "r", "main", comp, "v", 1), -EINVAL);
	path[0] = '\0';
	for (size_t len = 0; len < 4096;) {
		size_t n = 4096 - len > 200 ? 199 : 4096 - len; /* 199 + '/' */

		memset(path + len, 'p', n);
		len += n;
		if (len < 4096)
			path[len++] = '/';
		path[len] = '\0';
	}
	ck_assert_uint_eq(strlen(path), 4096);
	ck_assert_int_eq(meta_stage_put(db, "r", "main", path, "v", 1), 0);
	ck_assert_int_eq(meta_stage_list(db, "r", "main", path, seen_path, &s), 0);
	ck_assert_int_eq(s.n, 1);
	path[4096] = 'p';
	path[4097] = '\0';
	ck_assert_int_eq(meta_stage_put(db, "r", "main", path, "v", 1), -EINVAL);
}
END_TEST

START_TEST(ref_cas_semantics)
{
	struct oid a = oid_n(1), b = oid_n(2), c = oid_n(3), got;

	make_repo(db, "r");
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), T9K_ENOTFOUND);
	/* Create: old NULL. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", NULL, &a), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &a));
	/* Creating again conflicts. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", NULL, &b), T9K_ECONFLICT);
	/* Update. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", &a, &b), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &b));
	/* Wrong old: conflict, the message says what was found, no change. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", &a, &c), T9K_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ECONFLICT), "moved"));
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &b));
	/* Expecting absent on a missing ref, deleting nothing: a no-op. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "tag/none", NULL, NULL), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "tag/none", &got), T9K_ENOTFOUND);
	/* Delete with wrong old: conflict; with the right one: gone. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", &a, NULL), T9K_ECONFLICT);
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", &b, NULL), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), T9K_ENOTFOUND);
	/* Updating a deleted ref conflicts. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", &b, &c), T9K_ECONFLICT);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), T9K_ENOTFOUND);
	/* branch/x and tag/x are different refs. */
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/x", NULL, &a), 0);
	ck_assert_int_eq(meta_ref_cas(db, "r", "tag/x", NULL, &b), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "tag/x", &got), 0);
	ck_assert(oid_eq(&got, &b));
}
END_TEST

START_TEST(ref_list_by_prefix)
{
	struct seen s = { 0 };
	struct oid one = oid_n(1), two = oid_n(2), three = oid_n(3);

	make_repo(db, "r");
	make_repo(db, "r2");
	ck_assert_int_eq(meta_ref_cas(db, "r", "tag/v1", NULL, &three), 0);
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", NULL, &one), 0);
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/dev", NULL, &two), 0);
	ck_assert_int_eq(meta_ref_cas(db, "r2", "branch/other", NULL, &two), 0);

	ck_assert_int_eq(meta_ref_list(db, "r", "", seen_ref, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_str_eq(s.name[0], "branch/dev");
	ck_assert_str_eq(s.val[0], "2");
	ck_assert_str_eq(s.name[1], "branch/main");
	ck_assert_str_eq(s.val[1], "1");
	ck_assert_str_eq(s.name[2], "tag/v1");
	ck_assert_str_eq(s.val[2], "3");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_ref_list(db, "r", "branch/", seen_ref, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.name[0], "branch/dev");
	ck_assert_str_eq(s.name[1], "branch/main");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_ref_list(db, "r", "tag/", seen_ref, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.name[0], "tag/v1");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_ref_list(db, "r", "branch/m", seen_ref, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.name[0], "branch/main");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_ref_list(db, "r", "tag/zz", seen_ref, &s), 0);
	ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(staging_put_get_list_reset)
{
	struct seen s = { 0 };
	char v[32];
	void *val = NULL;
	size_t len = 99;

	make_repo(db, "r");
	stage("r", "main", "b/2", "B2");
	stage("r", "main", "a", "A");
	stage("r", "main", "b/1", "B1");
	stage("r", "main", "b.txt", "BT");
	stage("r", "main", "c/d/e", "CDE");
	stage("r", "dev", "a", "devA");

	ck_assert_int_eq(staged(db, "r", "main", "a", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "A");
	ck_assert_int_eq(staged(db, "r", "dev", "a", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "devA");
	ck_assert_int_eq(meta_stage_get(db, "r", "main", "zzz", &val, &len), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "'zzz'"));
	ck_assert_ptr_null(val);
	/* Overwrite. */
	stage("r", "main", "a", "A2");
	ck_assert_int_eq(staged(db, "r", "main", "a", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "A2");
	/* An empty value is a value. */
	ck_assert_int_eq(meta_stage_put(db, "r", "main", "empty", NULL, 0), 0);
	ck_assert_int_eq(meta_stage_get(db, "r", "main", "empty", &val, &len), 0);
	ck_assert_ptr_nonnull(val);
	ck_assert_uint_eq(len, 0);
	free(val);

	/* Byte order over the whole branch; the other branch apart. */
	ck_assert_int_eq(meta_stage_list(db, "r", "main", "", seen_path, &s), 0);
	ck_assert_int_eq(s.n, 6);
	ck_assert_str_eq(s.name[0], "a");
	ck_assert_str_eq(s.val[0], "A2");
	ck_assert_str_eq(s.name[1], "b.txt");
	ck_assert_str_eq(s.name[2], "b/1");
	ck_assert_str_eq(s.val[2], "B1");
	ck_assert_str_eq(s.name[3], "b/2");
	ck_assert_str_eq(s.name[4], "c/d/e");
	ck_assert_str_eq(s.name[5], "empty");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_stage_list(db, "r", "main", "b/", seen_path, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.name[0], "b/1");
	ck_assert_str_eq(s.name[1], "b/2");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_stage_list(db, "r", "dev", "", seen_path, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.name[0], "a");

	/* Reset by prefix counts and drops only those. */
	ck_assert_int_eq(meta_stage_reset(db, "r", "main", "b/"), 2);
	ck_assert_int_eq(meta_stage_reset(db, "r", "main", "b/"), 0);
	ck_assert_int_eq(staged(db, "r", "main", "b/1", v, sizeof(v)), 0);
	ck_assert_int_eq(staged(db, "r", "main", "b.txt", v, sizeof(v)), 1);
	/* A path without '/' drops itself and its subtree, not its namesakes:
	 * "b" left "b.txt" staged. */
	ck_assert_int_eq(meta_stage_put(db, "r", "main", "b/3", "x", 1), 0);
	ck_assert_int_eq(meta_stage_put(db, "r", "main", "b", "x", 1), 0);
	ck_assert_int_eq(meta_stage_reset(db, "r", "main", "b"), 2);
	ck_assert_int_eq(staged(db, "r", "main", "b.txt", v, sizeof(v)), 1);
	ck_assert_int_eq(meta_stage_reset(db, "r", "main", "b.tx"), 0);
	ck_assert_int_eq(meta_stage_reset(db, "r", "main", ""), 4);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(meta_stage_list(db, "r", "main", "", seen_path, &s), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(staged(db, "r", "dev", "a", v, sizeof(v)), 1);

	/* drop_below drops what was staged under the path before the batch,
	 * not what the batch itself stages there */
	{
		struct meta_staged two[] = { { "z/new", "n", 1, false }, { "z", "", 0, true } };

		ck_assert_int_eq(meta_stage_put(db, "r", "zb", "z/old", "o", 1), 0);
		ck_assert_int_eq(meta_stage_put(db, "r", "zb", "zz", "o", 1), 0);
		ck_assert_int_eq(meta_stage_put_many(db, "r", "zb", two, 2), 0);
		ck_assert_int_eq(staged(db, "r", "zb", "z/old", v, sizeof(v)), 0);
		ck_assert_int_eq(staged(db, "r", "zb", "z/new", v, sizeof(v)), 1);
		ck_assert_int_eq(staged(db, "r", "zb", "zz", v, sizeof(v)), 1);
		ck_assert_int_eq(meta_stage_reset(db, "r", "zb", ""), 3);
	}

	/* Paging: listing after a path starts right after it, whether or not
	 * that path is staged, and never outside the prefix. */
	{
		const char *paths[] = { "p/1", "p/2", "p/2x", "p/3", "q" };

		for (size_t i = 0; i < 5; i++)
			ck_assert_int_eq(meta_stage_put(db, "r", "pg", paths[i], "v", 1), 0);
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(meta_stage_list_after(db, "r", "pg", "p/", "p/2", seen_path, &s), 0);
		ck_assert_int_eq(s.n, 2);
		ck_assert_str_eq(s.name[0], "p/2x");
		ck_assert_str_eq(s.name[1], "p/3");
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(meta_stage_list_after(db, "r", "pg", "", "p/25", seen_path, &s), 0);
		ck_assert_int_eq(s.n, 3); /* "p/25" < "p/2x" */
		ck_assert_str_eq(s.name[0], "p/2x");
		ck_assert_str_eq(s.name[2], "q");
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(meta_stage_list_after(db, "r", "pg", "p/", "a", seen_path, &s), 0);
		ck_assert_int_eq(s.n, 4);
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(meta_stage_list_after(db, "r", "pg", "p/", "p/3", seen_path, &s), 0);
		ck_assert_int_eq(s.n, 0);
		ck_assert_int_eq(meta_stage_reset(db, "r", "pg", ""), 5);
	}

	/* Deleting a branch drops its staging in the same write; a tag of the
	 * same name owns none. */
	{
		struct oid x;

		memset(x.b, 7, sizeof(x.b));
		ck_assert_int_eq(meta_ref_cas(db, "r", "tag/dev", NULL, &x), 0);
		ck_assert_int_eq(meta_ref_cas(db, "r", "tag/dev", &x, NULL), 0);
		ck_assert_int_eq(staged(db, "r", "dev", "a", v, sizeof(v)), 1);
		ck_assert_int_eq(meta_ref_cas(db, "r", "branch/dev", NULL, &x), 0);
		ck_assert_int_eq(meta_ref_cas(db, "r", "branch/dev", &x, NULL), 0);
		ck_assert_int_eq(staged(db, "r", "dev", "a", v, sizeof(v)), 0);
	}
}
END_TEST

START_TEST(commit_apply_moves_head_and_drops_unchanged)
{
	struct oid c1 = oid_n(1), c2 = oid_n(2), c3 = oid_n(3), got;
	struct meta_staged done[] = {
		{ "a", "A", 1, false }, { "b", "B", 1, false }, { "gone", "G", 1, false }, { "e", "", 0, false },
	};
	struct seen s = { 0 };
	char v[32];

	make_repo(db, "r");
	stage("r", "main", "a", "A");
	stage("r", "main", "b", "B");
	stage("r", "main", "c", "C");
	stage("r", "main", "e", "");
	stage("r", "dev", "a", "A");
	/* "b" is staged again after the commit read it: it stays. */
	stage("r", "main", "b", "B-newer");

	ck_assert_int_eq(meta_commit_apply(db, "r", "main", NULL, &c1, done, 4), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &c1));
	ck_assert_int_eq(meta_stage_list(db, "r", "main", "", seen_path, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.name[0], "b");
	ck_assert_str_eq(s.val[0], "B-newer");
	ck_assert_str_eq(s.name[1], "c");
	ck_assert_int_eq(staged(db, "r", "dev", "a", v, sizeof(v)), 1); /* other branch */

	/* Conflict: head elsewhere; nothing changes. */
	done[0].path = "c";
	done[0].val = "C";
	ck_assert_int_eq(meta_commit_apply(db, "r", "main", &c2, &c3, done, 1), T9K_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ECONFLICT), "branch 'main' moved"));
	ck_assert_int_eq(meta_commit_apply(db, "r", "main", NULL, &c3, done, 1), T9K_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ECONFLICT), "expected nothing"));
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &c1));
	ck_assert_int_eq(staged(db, "r", "main", "c", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "C");

	/* From c1 it goes. */
	ck_assert_int_eq(meta_commit_apply(db, "r", "main", &c1, &c2, done, 1), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &c2));
	ck_assert_int_eq(staged(db, "r", "main", "c", v, sizeof(v)), 0);
	ck_assert_int_eq(meta_commit_apply(db, "r", "main", &c2, NULL, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(everything_acknowledged_survives_reopen)
{
	struct oid a = oid_n(41), got;
	struct meta_repo r;
	struct meta_staged done = { "k1", "v1", 2, false };
	char v[32];

	make_repo(db, "r");
	ck_assert_int_eq(meta_ref_cas(db, "r", "tag/t", NULL, &a), 0);
	stage("r", "main", "k1", "v1");
	stage("r", "main", "k2", "v2");
	ck_assert_int_eq(meta_commit_apply(db, "r", "main", NULL, &a, &done, 1), 0);
	meta_db_close(db);
	db = NULL;

	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(meta_repo_get(db, "r", &r), 0);
	ck_assert_str_eq(r.store_url, "file:///data/r");
	ck_assert_int_eq(meta_ref_get(db, "r", "tag/t", &got), 0);
	ck_assert(oid_eq(&got, &a));
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert(oid_eq(&got, &a));
	ck_assert_int_eq(staged(db, "r", "main", "k1", v, sizeof(v)), 0);
	ck_assert_int_eq(staged(db, "r", "main", "k2", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "v2");
}
END_TEST

START_TEST(second_open_is_refused)
{
	struct meta_db *other = NULL;
	int ret = meta_db_open(dbdir, &other);

	ck_assert_int_eq(ret, -EBUSY);
	ck_assert_ptr_null(other);
	ck_assert_msg(strstr(t9k_errmsg(ret), "is already open") || strstr(t9k_errmsg(ret), "in use"),
		      "message '%s'", t9k_errmsg(ret));
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(ret), dbdir));
	/* The first handle still works. */
	make_repo(db, "r");
}
END_TEST

/* Another process holds the lock: the message says so. */
START_TEST(open_locked_by_another_process)
{
	struct meta_db *other = NULL;
	int p[2], status, ret;
	char c = 0;
	pid_t pid;

	setup_dir();
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct meta_db *cdb;

		close(p[0]);
		if (meta_db_open(dbdir, &cdb) < 0)
			_exit(1);
		if (write(p[1], "k", 1) != 1)
			_exit(1);
		pause(); /* until killed */
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ret = meta_db_open(dbdir, &other);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(p[0]);
	ck_assert_int_eq(ret, -EBUSY);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(ret), "in use by another process"));
	/* The lock dies with its owner. */
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
}
END_TEST

START_TEST(unknown_schema_version_is_refused)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	const unsigned char v2[4] = { 2, 0, 0, 0 };
	rocksdb_t *raw;
	char *err = NULL;
	int ret;

	meta_db_close(db);
	db = NULL;
	raw = rocksdb_open(o, dbdir, &err);
	ck_assert_ptr_null(err);
	rocksdb_put(raw, wo, "V", 1, (const char *)v2, sizeof(v2), &err);
	ck_assert_ptr_null(err);
	rocksdb_close(raw);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);

	ret = meta_db_open(dbdir, &db);
	ck_assert_int_eq(ret, -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(ret), "schema version 2"));
	ck_assert_ptr_null(db);
}
END_TEST

/* The raw value of key k, read with RocksDB itself (db must be closed). */
static size_t raw_get(const char *k, size_t klen, unsigned char *out, size_t max)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *err = NULL, *v;
	size_t vlen = 0;
	rocksdb_t *raw = rocksdb_open(o, dbdir, &err);

	ck_assert_ptr_null(err);
	v = rocksdb_get(raw, ro, k, klen, &vlen, &err);
	ck_assert_ptr_null(err);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_le(vlen, max);
	memcpy(out, v, vlen);
	rocksdb_free(v);
	rocksdb_close(raw);
	rocksdb_readoptions_destroy(ro);
	rocksdb_options_destroy(o);
	return vlen;
}

static void raw_put(const char *k, size_t klen, const unsigned char *v, size_t vlen)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;
	rocksdb_t *raw = rocksdb_open(o, dbdir, &err);

	ck_assert_ptr_null(err);
	rocksdb_put(raw, wo, k, klen, (const char *)v, vlen, &err);
	ck_assert_ptr_null(err);
	rocksdb_close(raw);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);
}

/* Version 1 without packs (what older binaries read), version 2 with
 * pack_size appended; a record written by an older binary still decodes
 * and an unknown version is refused as malformed. */
START_TEST(repo_record_versions)
{
	/* a v1 record as binaries before packs wrote it: cdc 1M/4M/16M,
	 * created 5, URL "file:///o" */
	static const unsigned char old_v1[] = {
		1, 0, 0, 0x10, 0, 0, 0, 0x40, 0, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0,
		9, 0, 'f', 'i', 'l', 'e', ':', '/', '/', '/', 'o',
	};
	unsigned char v[64 + META_URL_MAX];
	struct meta_repo r, got;
	size_t n;

	make_repo(db, "nopacks");
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "packs");
	snprintf(r.store_url, sizeof(r.store_url), "s3://bucket/packs");
	r.cdc_min = 1;
	r.cdc_avg = 2;
	r.cdc_max = 3;
	r.created_ns = -7;
	r.pack_size = 16u << 20;
	ck_assert_int_eq(meta_repo_create(db, &r), 0);
	ck_assert_int_eq(meta_repo_get(db, "packs", &got), 0);
	ck_assert_int_eq(memcmp(&r, &got, sizeof(r)), 0);
	ck_assert_int_eq(meta_repo_get(db, "nopacks", &got), 0);
	ck_assert_uint_eq(got.pack_size, 0);
	meta_db_close(db);
	db = NULL;

	n = raw_get("Rnopacks", 8, v, sizeof(v));
	ck_assert_uint_eq(v[0], 1);
	ck_assert_uint_eq(n, 23 + strlen("file:///data/nopacks"));
	n = raw_get("Rpacks", 6, v, sizeof(v));
	ck_assert_uint_eq(v[0], 2);
	ck_assert_uint_eq(n, 23 + strlen("s3://bucket/packs") + 4);
	ck_assert_uint_eq(v[n - 2], 0x00);
	ck_assert_uint_eq(v[n - 3], 0x00);
	ck_assert_uint_eq(v[n - 1], 0x01); /* 16 MiB little-endian: 00 00 00 01 */

	raw_put("Rold", 4, old_v1, sizeof(old_v1));
	memcpy(v, old_v1, sizeof(old_v1));
	v[0] = 3;
	raw_put("Rv3", 3, v, sizeof(old_v1));
	memcpy(v, old_v1, sizeof(old_v1));
	v[0] = 2; /* v2 without its pack_size */
	raw_put("Rshort", 6, v, sizeof(old_v1));

	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(meta_repo_get(db, "old", &got), 0);
	ck_assert_str_eq(got.store_url, "file:///o");
	ck_assert_uint_eq(got.cdc_min, 1u << 20);
	ck_assert_uint_eq(got.cdc_avg, 4u << 20);
	ck_assert_uint_eq(got.cdc_max, 1u << 24);
	ck_assert(got.created_ns == 5);
	ck_assert_uint_eq(got.pack_size, 0);
	ck_assert_int_eq(meta_repo_get(db, "v3", &got), T9K_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ECORRUPT), "'v3' is malformed"));
	ck_assert_int_eq(meta_repo_get(db, "short", &got), T9K_ECORRUPT);
}
END_TEST

static struct meta_chunk_loc loc_n(uint64_t n)
{
	struct meta_chunk_loc l = { .id = oid_n(n), .pack = oid_n(1000 + n % 2),
				    .offset = (n << 32) + 7, .stored_len = (uint32_t)n + 20,
				    .len = (uint32_t)n + 100 };

	return l;
}

/* Put, get and miss; a repository's entries are its own, go with it when
 * it is deleted, and need it to exist. */
START_TEST(chunk_index_put_get_delete)
{
	struct meta_chunk_loc v[3] = { loc_n(0), loc_n(1), loc_n(2) }, got, other = loc_n(9);
	struct oid miss = oid_n(77);

	make_repo(db, "alpha");
	make_repo(db, "alpha.2");
	ck_assert_int_eq(meta_chunk_index_put(db, "alpha", v, 3), 0);
	ck_assert_int_eq(meta_chunk_index_put(db, "alpha.2", &other, 1), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(meta_chunk_index_get(db, "alpha", &v[i].id, &got), 0);
		ck_assert_int_eq(memcmp(&got, &v[i], sizeof(got)), 0);
	}
	ck_assert_int_eq(meta_chunk_index_get(db, "alpha", &miss, &got), -ENOENT);
	ck_assert_int_eq(meta_chunk_index_get(db, "alpha", &other.id, &got), -ENOENT);
	ck_assert_int_eq(meta_chunk_index_get(db, "alpha.2", &v[0].id, &got), -ENOENT);
	/* a second put of an id replaces its entry */
	v[1].offset = 1;
	ck_assert_int_eq(meta_chunk_index_put(db, "alpha", &v[1], 1), 0);
	ck_assert_int_eq(meta_chunk_index_get(db, "alpha", &v[1].id, &got), 0);
	ck_assert_uint_eq(got.offset, 1);

	ck_assert_int_eq(meta_chunk_index_put(db, "nope", v, 1), T9K_ENOTFOUND);
	ck_assert_int_eq(meta_chunk_index_get(db, "nope", &v[0].id, &got), -ENOENT);
	ck_assert_int_eq(meta_chunk_index_put(db, "../x", v, 1), -EINVAL);

	ck_assert_int_eq(meta_repo_delete(db, "alpha"), 0);
	make_repo(db, "alpha");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(meta_chunk_index_get(db, "alpha", &v[i].id, &got), -ENOENT);
	ck_assert_int_eq(meta_chunk_index_get(db, "alpha.2", &other.id, &got), 0);
	ck_assert_int_eq(memcmp(&got, &other, sizeof(got)), 0);
}
END_TEST

struct cas_arg {
	int moves;
	int conflicts;
	int err;
};

static void *cas_worker(void *p)
{
	struct cas_arg *a = p;

	while (a->moves < 200) {
		struct oid cur, next;
		int ret = meta_ref_get(db, "r", "branch/main", &cur);

		if (ret < 0) {
			a->err = ret;
			break;
		}
		next = oid_n(n_of(&cur) + 1);
		ret = meta_ref_cas(db, "r", "branch/main", &cur, &next);
		if (ret == 0)
			a->moves++;
		else if (ret == T9K_ECONFLICT)
			a->conflicts++;
		else {
			a->err = ret;
			break;
		}
	}
	return NULL;
}

START_TEST(two_threads_cas_no_lost_update)
{
	struct cas_arg args[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	pthread_t t[2];
	struct oid zero = oid_n(0), got;

	make_repo(db, "r");
	ck_assert_int_eq(meta_ref_cas(db, "r", "branch/main", NULL, &zero), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, cas_worker, &args[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(args[0].err, 0);
	ck_assert_int_eq(args[1].err, 0);
	ck_assert_int_eq(args[0].moves + args[1].moves, 400);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert_uint_eq(n_of(&got), 400);
}
END_TEST

/* A child commits in a loop, acknowledging each commit on a pipe, and is
 * killed mid-loop. The database must open with the head at the last
 * acknowledged commit or the one in flight, and staging consistent with it. */
START_TEST(sigkill_during_commits_leaves_a_written_value)
{
	uint32_t acked = 0, n;
	struct pollfd pfd;
	struct oid got;
	int p[2], status, nread;
	char v[32], want[32];
	pid_t pid;

	setup_dir();
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct meta_db *cdb;
		struct meta_repo r;

		close(p[0]);
		memset(&r, 0, sizeof(r));
		snprintf(r.name, sizeof(r.name), "r");
		if (meta_db_open(dbdir, &cdb) < 0 || meta_repo_create(cdb, &r) < 0)
			_exit(2);
		for (uint32_t i = 1;; i++) {
			struct oid prev = oid_n(i - 1), next = oid_n(i);
			struct meta_staged d = { "f", v, 0, false };

			d.len = (size_t)snprintf(v, sizeof(v), "%u", i);
			if (meta_stage_put(cdb, "r", "main", "f", v, d.len) < 0 ||
			    meta_commit_apply(cdb, "r", "main", i > 1 ? &prev : NULL, &next, &d, 1) < 0 ||
			    write(p[1], &i, sizeof(i)) != sizeof(i))
				_exit(3);
		}
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (acked < 30) {
		ck_assert_msg(poll(&pfd, 1, 60000) == 1, "child made no progress");
		nread = (int)read(p[0], &n, sizeof(n));
		ck_assert_msg(nread == sizeof(n), "child died early (read %d)", nread);
		acked = n;
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	while ((nread = (int)read(p[0], &n, sizeof(n))) == sizeof(n))
		acked = n;
	ck_assert_int_eq(nread, 0);
	close(p[0]);

	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(meta_ref_get(db, "r", "branch/main", &got), 0);
	ck_assert_msg(n_of(&got) == acked || n_of(&got) == acked + 1, "head %llu, last acked %u",
		      (unsigned long long)n_of(&got), acked);
	for (int i = 8; i < OID_RAWSZ; i++)
		ck_assert_uint_eq(got.b[i], 0x5a);
	/* Staged "f" is gone with its commit, or holds the next one's value. */
	if (staged(db, "r", "main", "f", v, sizeof(v))) {
		snprintf(want, sizeof(want), "%llu", (unsigned long long)n_of(&got) + 1);
		ck_assert_str_eq(v, want);
	}
	/* And the branch moves on from there. */
	{
		struct oid next = oid_n(n_of(&got) + 1);

		ck_assert_int_eq(meta_commit_apply(db, "r", "main", &got, &next, NULL, 0), 0);
	}
}
END_TEST

Suite *db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("db");
	TCase *crash = tcase_create("crash");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, repo_create_get_list_delete);
	tcase_add_test(tc, repo_create_twice_is_eexist);
	tcase_add_test(tc, missing_repo_is_not_found);
	tcase_add_test(tc, bad_names_are_einval);
	tcase_add_test(tc, ref_cas_semantics);
	tcase_add_test(tc, ref_list_by_prefix);
	tcase_add_test(tc, staging_put_get_list_reset);
	tcase_add_test(tc, commit_apply_moves_head_and_drops_unchanged);
	tcase_add_test(tc, everything_acknowledged_survives_reopen);
	tcase_add_test(tc, second_open_is_refused);
	tcase_add_test(tc, unknown_schema_version_is_refused);
	tcase_add_test(tc, repo_record_versions);
	tcase_add_test(tc, chunk_index_put_get_delete);
	tcase_add_test(tc, two_threads_cas_no_lost_update);
	suite_add_tcase(s, tc);

	/* No database in the fixture: a forked child must be the first to use
	 * RocksDB in its process (RocksDB's background threads do not fork). */
	tcase_add_checked_fixture(crash, NULL, teardown);
	tcase_set_timeout(crash, 120);
	tcase_add_test(crash, open_locked_by_another_process);
	tcase_add_test(crash, sigkill_during_commits_leaves_a_written_value);
	suite_add_tcase(s, crash);
	return s;
}
