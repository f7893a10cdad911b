/* Unit tests of meta/authz.c: parsing grants, permissions and durations,
 * how grants match repository names (globs, the order read < write <
 * admin), what each endpoint needs (including percent-encoded and bad
 * names, and endpoints the table does not know), and the token store on
 * a real RocksDB: create, look up, wrong secrets, expiry, revoke, and
 * that neither the secret nor its hash is listed. */
#include "test/unit/suites.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "meta/api.h"
#include "meta/authz.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static char dir[PATH_MAX];
static char dbdir[PATH_MAX + 16];
static struct meta_db *db;

static void setup(void)
{
	test_tmpdir(dir, sizeof(dir));
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
}

static void teardown(void)
{
	meta_db_close(db);
	db = NULL;
	test_rmtree(dir);
}

START_TEST(test_grant_parse)
{
	struct authz_grant g;
	int p;

	ck_assert_int_eq(authz_grant_parse("data:read", &g), 0);
	ck_assert_str_eq(g.pattern, "data");
	ck_assert_int_eq(g.perm, AUTHZ_READ);
	ck_assert_int_eq(authz_grant_parse("team-*:admin", &g), 0);
	ck_assert_int_eq(g.perm, AUTHZ_ADMIN);
	ck_assert_int_eq(authz_grant_parse("ds[!x]?:write", &g), 0);
	ck_assert_str_eq(g.pattern, "ds[!x]?");
	ck_assert_int_eq(g.perm, AUTHZ_WRITE);
	/* bad: no permission, unknown permission, empty or bad pattern */
	ck_assert_int_eq(authz_grant_parse("data", &g), -EINVAL);
	ck_assert_int_eq(authz_grant_parse("data:root", &g), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "unknown permission 'root'"));
	ck_assert_int_eq(authz_grant_parse("data:", &g), -EINVAL);
	ck_assert_int_eq(authz_grant_parse(":read", &g), -EINVAL);
	ck_assert_int_eq(authz_grant_parse("a[b:read", &g), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "not closed"));
	ck_assert_int_eq(authz_grant_parse("a/b:read", &g), -EINVAL);
	ck_assert_int_eq(authz_grant_parse("a b:read", &g), -EINVAL);
	ck_assert_int_eq(authz_grant_parse("a]:read", &g), -EINVAL);
	ck_assert_int_eq(authz_perm_parse("write", &p), 0);
	ck_assert_int_eq(p, AUTHZ_WRITE);
	ck_assert_int_eq(authz_perm_parse("Write", &p), -EINVAL);
}
END_TEST

START_TEST(test_duration_parse)
{
	int64_t ns;

	ck_assert_int_eq(authz_duration_parse("90s", &ns), 0);
	ck_assert(ns == 90LL * 1000000000);
	ck_assert_int_eq(authz_duration_parse("10m", &ns), 0);
	ck_assert(ns == 600LL * 1000000000);
	ck_assert_int_eq(authz_duration_parse("2d", &ns), 0);
	ck_assert(ns == 2 * 86400LL * 1000000000);
	ck_assert_int_eq(authz_duration_parse("0s", &ns), -EINVAL);
	ck_assert_int_eq(authz_duration_parse("-1h", &ns), -EINVAL);
	ck_assert_int_eq(authz_duration_parse("5", &ns), -EINVAL);
	ck_assert_int_eq(authz_duration_parse("5w", &ns), -EINVAL);
	ck_assert_int_eq(authz_duration_parse("5hh", &ns), -EINVAL);
	ck_assert_int_eq(authz_duration_parse("", &ns), -EINVAL);
	ck_assert_int_eq(authz_duration_parse("99999999999999999d", &ns), -EINVAL);
}
END_TEST

START_TEST(test_allows)
{
	struct authz_ident id;

	memset(&id, 0, sizeof(id));
	ck_assert_int_eq(authz_grant_parse("team-*:write", &id.g[id.ngrants++]), 0);
	ck_assert_int_eq(authz_grant_parse("shared:read", &id.g[id.ngrants++]), 0);
	ck_assert_int_eq(authz_grant_parse("team-a:admin", &id.g[id.ngrants++]), 0);
	ck_assert(authz_allows(&id, "team-b", AUTHZ_READ));
	ck_assert(authz_allows(&id, "team-b", AUTHZ_WRITE));
	ck_assert(!authz_allows(&id, "team-b", AUTHZ_ADMIN));
	ck_assert(authz_allows(&id, "team-a", AUTHZ_ADMIN)); /* the highest grant that matches */
	ck_assert(authz_allows(&id, "shared", AUTHZ_READ));
	ck_assert(!authz_allows(&id, "shared", AUTHZ_WRITE));
	ck_assert(!authz_allows(&id, "sharedx", AUTHZ_READ)); /* a whole-name match */
	ck_assert(!authz_allows(&id, "xteam-a", AUTHZ_READ));
	ck_assert(!authz_allows(&id, "other", AUTHZ_READ));
	id.admin = true;
	ck_assert(authz_allows(&id, "other", AUTHZ_ADMIN));
}
END_TEST

static struct authz_need need_of(const char *method, const char *path, const char *body)
{
	struct authz_need n;

	authz_need_of(method, path, body, body ? strlen(body) : 0, &n);
	return n;
}

START_TEST(test_need_of)
{
	struct authz_need n;

	n = need_of("GET", "/api/v1/health", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_PUBLIC);
	n = need_of("GET", "/api/v1/repos", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_ANY);
	n = need_of("GET", "/api/v1/repos/data/log", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_REPO);
	ck_assert_int_eq(n.perm, AUTHZ_READ);
	ck_assert_str_eq(n.repo, "data");
	n = need_of("HEAD", "/api/v1/repos/data/file", NULL);
	ck_assert_int_eq(n.perm, AUTHZ_READ);
	n = need_of("GET", "/api/v1/repos/d%61ta/", NULL); /* decoded as meta/api.c does */
	ck_assert_int_eq(n.scope, AUTHZ_REPO);
	ck_assert_str_eq(n.repo, "data");
	n = need_of("POST", "/api/v1/repos/data/branches/main/commits", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_WRITE);
	ck_assert(n.is_commit);
	n = need_of("POST", "/api/v1/repos/data/branches/main/staging", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_WRITE);
	ck_assert(!n.is_commit);
	n = need_of("PUT", "/api/v1/repos/data/refs/branch/main", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_WRITE);
	n = need_of("GET", "/api/v1/repos/data/chunk-index/00", NULL);
	ck_assert_int_eq(n.perm, AUTHZ_READ);
	n = need_of("POST", "/api/v1/repos/data/chunk-index", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_WRITE);
	n = need_of("DELETE", "/api/v1/repos/data", NULL);
	ck_assert_int_eq(n.perm, AUTHZ_ADMIN);
	n = need_of("PUT", "/api/v1/repos/data/retention", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_ADMIN);
	n = need_of("POST", "/api/v1/repos/data/gc", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_ADMIN);
	n = need_of("POST", "/api/v1/repos", "{\"name\":\"team-x\"}");
	ck_assert_int_eq(n.scope, AUTHZ_REPO);
	ck_assert_int_eq(n.perm, AUTHZ_ADMIN);
	ck_assert_str_eq(n.repo, "team-x");
	n = need_of("PUT", "/api/v1/cache-groups/g1/members/10.0.0.1:7000", "{}");
	ck_assert_int_eq(n.perm, AUTHZ_WRITE);
	ck_assert_str_eq(n.repo, "g1");
	/* fails closed: an --admin token for what the table does not know */
	n = need_of("POST", "/api/v1/repos", "{\"name\":\"../x\"}");
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
	n = need_of("GET", "/api/v1/repos/%2e%2e/log", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
	n = need_of("GET", "/api/v1/repos/data/log/extra", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
	n = need_of("GET", "/api/v1/repos/data%zz/log", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
	n = need_of("GET", "/api/v1/new-endpoint", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
	n = need_of("GET", "/api/v1/tokens", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
	n = need_of("GET", "/elsewhere", NULL);
	ck_assert_int_eq(n.scope, AUTHZ_GLOBAL);
}
END_TEST

/* Every route of meta/api.c has its row in the permission table: a new
 * endpoint without one would need an --admin token (fail closed), and
 * fails here. */
START_TEST(test_every_route_has_a_need)
{
	const char *method, *pattern;
	size_t i, n = 0;

	for (i = 0; meta_api_route(i, &method, &pattern); i++) {
		char path[256], body[] = "{\"name\":\"x\"}";
		struct authz_need need;
		size_t o = (size_t)snprintf(path, sizeof(path), "/api/v1/");

		for (const char *p = pattern; *p && o + 4 < sizeof(path); p++)
			if (*p == ':') {
				memcpy(path + o, "x", 1); /* a repository, branch, id... named x */
				o += 1;
			} else {
				path[o++] = *p;
			}
		path[o] = '\0';
		authz_need_of(method, path, body, strlen(body), &need);
		ck_assert_msg(need.scope != AUTHZ_GLOBAL, "%s %s has no row in meta/authz.c", method,
			      pattern);
		if (need.scope == AUTHZ_REPO)
			ck_assert_str_eq(need.repo, "x");
		n++;
	}
	ck_assert_uint_ge(n, 38);
}
END_TEST

static int count_one(const char *name, const void *v, size_t len, void *arg)
{
	(void)name, (void)v, (void)len;
	++*(int *)arg;
	return 0;
}

START_TEST(test_token_store)
{
	struct authz_ident id, got;
	char secret[AUTHZ_SECRET_MAX + 1], bad[AUTHZ_SECRET_MAX + 1];
	json_t *list;
	char *dump;
	int n = 0;

	memset(&id, 0, sizeof(id));
	snprintf(id.name, sizeof(id.name), "ci-bot");
	ck_assert_int_eq(authz_grant_parse("data*:write", &id.g[id.ngrants++]), 0);
	ck_assert_int_eq(authz_token_create(db, &id, secret), 0);
	ck_assert_uint_eq(strlen(secret), strlen("ci-bot:") + 64);
	ck_assert_int_eq(authz_token_lookup(db, secret, &got), 0);
	ck_assert_str_eq(got.name, "ci-bot");
	ck_assert(!got.admin);
	ck_assert_int_eq(got.ngrants, 1);
	ck_assert(authz_allows(&got, "data1", AUTHZ_WRITE));
	/* a wrong secret of the same name, or none at all */
	snprintf(bad, sizeof(bad), "%s", secret);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	ck_assert_int_eq(authz_token_lookup(db, bad, &got), -EACCES);
	ck_assert_int_eq(authz_token_lookup(db, "ci-bot", &got), -EACCES);
	ck_assert_int_eq(authz_token_lookup(db, "nobody:0000", &got), -EACCES);
	/* duplicate and reserved names change nothing */
	ck_assert_int_eq(authz_token_create(db, &id, bad), -EEXIST);
	ck_assert_int_eq(authz_token_lookup(db, secret, &got), 0);
	snprintf(id.name, sizeof(id.name), AUTHZ_BOOTSTRAP_NAME);
	ck_assert_int_eq(authz_token_create(db, &id, bad), -EINVAL);
	snprintf(id.name, sizeof(id.name), "bad name");
	ck_assert_int_eq(authz_token_create(db, &id, bad), -EINVAL);
	ck_assert_int_eq(meta_token_list(db, count_one, &n), 0);
	ck_assert_int_eq(n, 1);
	/* listed without secret or hash */
	ck_assert_int_eq(authz_token_list(db, &list), 0);
	dump = json_dumps(list, JSON_COMPACT);
	ck_assert_ptr_nonnull(strstr(dump, "\"ci-bot\""));
	ck_assert_ptr_null(strstr(dump, secret + 7));
	ck_assert_ptr_null(strstr(dump, "hash"));
	free(dump);
	json_decref(list);
	/* expired */
	memset(&id, 0, sizeof(id));
	snprintf(id.name, sizeof(id.name), "short");
	id.admin = true;
	id.expires_ns = 1; /* long ago */
	ck_assert_int_eq(authz_token_create(db, &id, bad), 0);
	ck_assert_int_eq(authz_token_lookup(db, bad, &got), -EACCES);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EACCES), "expired"));
	ck_assert_int_eq(authz_token_by_name(db, "short", &got), -EACCES);
	/* revoke */
	ck_assert_int_eq(authz_token_by_name(db, "ci-bot", &got), 0);
	ck_assert_int_eq(authz_token_revoke(db, "ci-bot"), 0);
	ck_assert_int_eq(authz_token_lookup(db, secret, &got), -EACCES);
	ck_assert_int_eq(authz_token_by_name(db, "ci-bot", &got), -EACCES);
	ck_assert_int_eq(authz_token_revoke(db, "ci-bot"), T9K_ENOTFOUND);
	ck_assert_int_eq(authz_token_revoke(db, AUTHZ_BOOTSTRAP_NAME), -EINVAL);
	ck_assert_int_eq(authz_token_by_name(db, AUTHZ_BOOTSTRAP_NAME, &got), 0);
	ck_assert(got.admin);
}
END_TEST

START_TEST(test_tokens_serve)
{
	const char *ok = "{\"name\":\"r\",\"grants\":[\"x:read\"],\"expires\":\"1h\"}";
	unsigned status;
	json_t *j;

	ck_assert_int_eq(authz_tokens_serve(db, "POST", "/api/v1/tokens", ok, strlen(ok), &status, &j), 0);
	ck_assert_uint_eq(status, 201);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "secret")), "r:"));
	json_decref(j);
#define BAD(body) authz_tokens_serve(db, "POST", "/api/v1/tokens", body, strlen(body), &status, &j)
	ck_assert_int_eq(BAD("{\"name\":\"s\",\"grants\":[\"x:own\"]}"), -EINVAL);
	ck_assert_int_eq(BAD("{\"name\":\"s\",\"grants\":[\"x[:read\"]}"), -EINVAL);
	ck_assert_int_eq(BAD("{\"name\":\"s\",\"grants\":[\"x:read\"],\"expires\":\"soon\"}"), -EINVAL);
	ck_assert_int_eq(BAD("{\"name\":\"s\"}"), -EINVAL);
	ck_assert_int_eq(BAD("{\"name\":\"s\",\"admin\":true,\"root\":1}"), -EINVAL);
	ck_assert_int_eq(BAD("{\"name\":\"r\",\"admin\":true}"), -EEXIST);
	ck_assert_int_eq(BAD("not json"), -EINVAL);
#undef BAD
	ck_assert_int_eq(authz_tokens_serve(db, "GET", "/api/v1/tokens", NULL, 0, &status, &j), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "tokens")), 1);
	json_decref(j);
	ck_assert_int_eq(authz_tokens_serve(db, "PUT", "/api/v1/tokens", NULL, 0, &status, &j), -EOPNOTSUPP);
	ck_assert_int_eq(authz_tokens_serve(db, "DELETE", "/api/v1/tokens/r", NULL, 0, &status, &j), 0);
	json_decref(j);
	ck_assert_int_eq(authz_tokens_serve(db, "DELETE", "/api/v1/tokens/r", NULL, 0, &status, &j),
			 T9K_ENOTFOUND);
}
END_TEST

Suite *authz_suite(void)
{
	Suite *s = suite_create("authz");
	TCase *tc = tcase_create("authz");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_grant_parse);
	tcase_add_test(tc, test_duration_parse);
	tcase_add_test(tc, test_allows);
	tcase_add_test(tc, test_need_of);
	tcase_add_test(tc, test_every_route_has_a_need);
	tcase_add_test(tc, test_token_store);
	tcase_add_test(tc, test_tokens_serve);
	suite_add_tcase(s, tc);
	return s;
}
