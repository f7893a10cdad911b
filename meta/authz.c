/* Identities and permissions of the metadata service (meta/authz.h): the
 * grants of named tokens and how they match repository names, the table
 * of what each endpoint of meta/API.md needs, and the token store over
 * meta/db.h (records hold SHA-256 of the secret, never the secret).
 *
 * Token record (JSON, key 'T' name):
 *   {"hash": "<64 hex: SHA-256 of NAME:HEX>", "admin": bool,
 *    "grants": ["PATTERN:PERM", ...], "created_ns": N, "expires_ns": N}
 */
#include "meta/authz.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/oid.h"

#include <errno.h>
#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const perm_names[] = { "none", "read", "write", "admin" };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int authz_perm_parse(const char *s, int *out)
{
	for (int p = AUTHZ_READ; p <= AUTHZ_ADMIN; p++)
		if (!strcmp(s, perm_names[p])) {
			*out = p;
			return 0;
		}
	return t9k_err(-EINVAL, "unknown permission '%.40s': want read, write or admin", s);
}

const char *authz_perm_name(int perm)
{
	return perm >= 0 && perm <= AUTHZ_ADMIN ? perm_names[perm] : "?";
}

int authz_grant_parse(const char *s, struct authz_grant *g)
{
	const char *colon = strrchr(s, ':');
	size_t n;
	bool in_class = false;

	memset(g, 0, sizeof(*g));
	if (!colon)
		return t9k_err(-EINVAL, "bad grant '%.160s': want PATTERN:read|write|admin", s);
	n = (size_t)(colon - s);
	if (n == 0)
		return t9k_err(-EINVAL, "bad grant '%.160s': the repository pattern is empty", s);
	if (n > AUTHZ_PATTERN_MAX)
		return t9k_err(-EINVAL, "bad grant '%.60s...': the pattern is longer than %d characters",
			       s, AUTHZ_PATTERN_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == '*' || c == '?')
			continue;
		if (c == '[' && !in_class) {
			in_class = true;
			continue;
		}
		if (c == ']' && in_class) {
			in_class = false;
			continue;
		}
		if (c == '!' && in_class && s[i - 1] == '[')
			continue;
		return t9k_err(-EINVAL, "bad repository pattern '%.*s': character '%c' not allowed "
				       "(a glob of A-Z a-z 0-9 . _ - and * ? [...])",
			       (int)n, s, c >= 0x20 && c < 0x7f ? c : '?');
	}
	if (in_class)
		return t9k_err(-EINVAL, "bad repository pattern '%.*s': '[' is not closed", (int)n, s);
	memcpy(g->pattern, s, n);
	g->pattern[n] = '\0';
	return authz_perm_parse(colon + 1, &g->perm);
}

int authz_duration_parse(const char *s, int64_t *ns)
{
	static const struct {
		char unit;
		int64_t ns;
	} units[] = { { 's', 1000000000LL }, { 'm', 60000000000LL }, { 'h', 3600000000000LL },
		      { 'd', 86400000000000LL } };
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno || v <= 0 || !*end || end[1])
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (*end == units[i].unit) {
			if (v > INT64_MAX / units[i].ns / 2)
				goto bad;
			*ns = v * units[i].ns;
			return 0;
		}
bad:
	return t9k_err(-EINVAL, "bad duration '%.40s': want a positive count and s, m, h or d (90s, 10m, 12h, 30d)",
		       s);
}

bool authz_allows(const struct authz_ident *id, const char *repo, int perm)
{
	if (id->admin)
		return true;
	for (int i = 0; i < id->ngrants; i++)
		if (id->g[i].perm >= perm && fnmatch(id->g[i].pattern, repo, 0) == 0)
			return true;
	return false;
}

/* ---- what each endpoint needs ---- */

enum { F_COMMIT = 1, F_GROUP = 2, F_BODY_NAME = 4 };

struct need_row {
	const char *method;
	const char *pattern; /* after /api/v1/; ':' one segment; the first ':' is the repo */
	int scope;
	int perm;
	unsigned flags;
};

/* Every route of meta/api.c, and the tokens of authz_tokens_serve. */
static const struct need_row need_rows[] = {
	{ "GET", "health", AUTHZ_PUBLIC, 0, 0 },
	{ "GET", "repos", AUTHZ_ANY, 0, 0 },
	{ "POST", "repos", AUTHZ_REPO, AUTHZ_ADMIN, F_BODY_NAME },
	{ "GET", "repos/:", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "DELETE", "repos/:", AUTHZ_REPO, AUTHZ_ADMIN, 0 },
	{ "GET", "repos/:/refs", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "PUT", "repos/:/refs/:/:", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "GET", "repos/:/resolve", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "POST", "repos/:/branches", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "DELETE", "repos/:/branches/:", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "POST", "repos/:/tags", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "DELETE", "repos/:/tags/:", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "GET", "repos/:/branches/:/staging", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "POST", "repos/:/branches/:/staging", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "DELETE", "repos/:/branches/:/staging", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "POST", "repos/:/branches/:/commits", AUTHZ_REPO, AUTHZ_WRITE, F_COMMIT },
	{ "GET", "repos/:/commits/:", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/log", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/diff", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "POST", "repos/:/merge", AUTHZ_REPO, AUTHZ_WRITE, F_COMMIT },
	{ "POST", "repos/:/branches/:/revert", AUTHZ_REPO, AUTHZ_WRITE, F_COMMIT },
	{ "GET", "repos/:/chunk-index/:", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "POST", "repos/:/chunk-index", AUTHZ_REPO, AUTHZ_WRITE, 0 },
	{ "GET", "repos/:/retention", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "PUT", "repos/:/retention", AUTHZ_REPO, AUTHZ_ADMIN, 0 },
	{ "POST", "repos/:/gc", AUTHZ_REPO, AUTHZ_ADMIN, 0 },
	{ "GET", "repos/:/gc", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/du", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/summary", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/refinfo", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/history", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/tree", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/file", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/changes", AUTHZ_REPO, AUTHZ_READ, 0 },
	{ "GET", "repos/:/compare", AUTHZ_REPO, AUTHZ_READ, 0 },
	/* a cache group's name is matched by the same patterns as a repository's */
	{ "GET", "cache-groups/:", AUTHZ_REPO, AUTHZ_READ, F_GROUP },
	{ "PUT", "cache-groups/:/members/:", AUTHZ_REPO, AUTHZ_WRITE, F_GROUP },
	{ "DELETE", "cache-groups/:/members/:", AUTHZ_REPO, AUTHZ_WRITE, F_GROUP },
	{ "GET", "tokens", AUTHZ_GLOBAL, AUTHZ_ADMIN, 0 },
	{ "POST", "tokens", AUTHZ_GLOBAL, AUTHZ_ADMIN, 0 },
	{ "DELETE", "tokens/:", AUTHZ_GLOBAL, AUTHZ_ADMIN, 0 },
};

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes n bytes of a percent-encoded segment into out; false when it
 * is malformed or too long. */
static bool seg_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return false;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= size)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

/* Whether path (segments after /api/v1/, '/'-separated, one trailing '/'
 * allowed) matches pattern; *first gets the first ':' segment. */
static bool row_match(const char *pattern, const char *path, const char **first, size_t *first_len)
{
	const char *p = pattern, *s = path;

	*first = NULL;
	for (;;) {
		const char *pe = strchr(p, '/'), *se = strchr(s, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t sl = se ? (size_t)(se - s) : strlen(s);

		if (sl == 0)
			return false;
		if (pl == 1 && *p == ':') {
			if (!*first) {
				*first = s;
				*first_len = sl;
			}
		} else if (pl != sl || strncmp(p, s, pl)) {
			return false;
		}
		if (!pe)
			return !se || !se[1];
		if (!se)
			return false;
		p = pe + 1;
		s = se + 1;
	}
}

void authz_need_of(const char *method, const char *path, const char *body, size_t body_len,
		   struct authz_need *need)
{
	static const char api[] = "/api/v1/";

	memset(need, 0, sizeof(*need));
	need->scope = AUTHZ_GLOBAL; /* what the table does not know */
	need->perm = AUTHZ_ADMIN;
	if (!strcmp(method, "HEAD"))
		method = "GET";
	if (strncmp(path, api, sizeof(api) - 1))
		return;
	path += sizeof(api) - 1;
	for (size_t i = 0; i < sizeof(need_rows) / sizeof(need_rows[0]); i++) {
		const struct need_row *r = &need_rows[i];
		const char *first;
		size_t first_len = 0;

		if (strcmp(r->method, method) || !row_match(r->pattern, path, &first, &first_len))
			continue;
		if (r->scope == AUTHZ_REPO) {
			if (r->flags & F_BODY_NAME) {
				json_t *j = body ? json_loadb(body, body_len, 0, NULL) : NULL;
				const char *n = json_string_value(json_object_get(j, "name"));
				bool ok = n && meta_repo_name_check(n) == 0;

				if (ok)
					snprintf(need->repo, sizeof(need->repo), "%s", n);
				json_decref(j);
				if (!ok)
					return; /* the API answers 400; only an --admin gets there */
			} else if (!first || !seg_decode(first, first_len, need->repo, sizeof(need->repo)) ||
				   meta_repo_name_check(need->repo) < 0) {
				return;
			}
		}
		need->scope = r->scope;
		need->perm = r->perm;
		need->is_commit = r->flags & F_COMMIT;
		return;
	}
}

/* ---- the token store ---- */

void authz_bootstrap(struct authz_ident *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", AUTHZ_BOOTSTRAP_NAME);
	out->admin = true;
}

static int record_encode(const struct authz_ident *id, const struct oid *hash, char **out)
{
	char hex[OID_HEXSZ + 1];
	json_t *g = json_array(), *j;

	for (int i = 0; g && i < id->ngrants; i++) {
		char s[AUTHZ_PATTERN_MAX + 16];

		snprintf(s, sizeof(s), "%s:%s", id->g[i].pattern, authz_perm_name(id->g[i].perm));
		json_array_append_new(g, json_string(s));
	}
	j = json_pack("{s:s,s:b,s:o,s:I,s:I}", "hash", oid_to_hex(hash, hex), "admin", id->admin,
		      "grants", g, "created_ns", (json_int_t)id->created_ns, "expires_ns",
		      (json_int_t)id->expires_ns);
	*out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return *out ? 0 : t9k_err(-ENOMEM, "out of memory");
}

static int record_decode(const char *name, const void *v, size_t len, struct authz_ident *id,
			 struct oid *hash)
{
	json_t *j = json_loadb(v, len, 0, NULL), *g;
	const char *h = json_string_value(json_object_get(j, "hash"));
	size_t i;
	int rc = 0;

	memset(id, 0, sizeof(*id));
	snprintf(id->name, sizeof(id->name), "%s", name);
	if (!h || oid_from_hex(hash, h) < 0) {
		rc = t9k_err(-EIO, "token '%s': the stored record is damaged", name);
		goto out;
	}
	id->admin = json_is_true(json_object_get(j, "admin"));
	id->created_ns = json_integer_value(json_object_get(j, "created_ns"));
	id->expires_ns = json_integer_value(json_object_get(j, "expires_ns"));
	g = json_object_get(j, "grants");
	for (i = 0; i < json_array_size(g) && i < AUTHZ_GRANTS_MAX; i++) {
		const char *s = json_string_value(json_array_get(g, i));

		if (!s || authz_grant_parse(s, &id->g[id->ngrants]) < 0)
			continue; /* an unreadable grant grants nothing */
		id->ngrants++;
	}
out:
	json_decref(j);
	return rc;
}

int authz_token_create(struct meta_db *db, const struct authz_ident *id, char secret[AUTHZ_SECRET_MAX + 1])
{
	unsigned char raw[32];
	struct authz_ident rec = *id;
	struct oid h;
	char *val = NULL;
	size_t n;
	int rc;

	if ((rc = meta_token_name_check(id->name)) < 0)
		return rc;
	if (!strcmp(id->name, AUTHZ_BOOTSTRAP_NAME))
		return t9k_err(-EINVAL, "token name '%s' is the token file's (the bootstrap admin)",
			       AUTHZ_BOOTSTRAP_NAME);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return t9k_err(-EIO, "no random bytes for a token (OpenSSL RAND_bytes failed)");
	n = (size_t)snprintf(secret, AUTHZ_SECRET_MAX + 1, "%s:", id->name);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(secret + n + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (oid_hash(&h, secret, strlen(secret)) < 0) {
		rc = t9k_err(-EIO, "cannot hash the token");
		goto out;
	}
	rec.created_ns = now_ns();
	if ((rc = record_encode(&rec, &h, &val)) < 0)
		goto out;
	rc = meta_token_put(db, id->name, val, strlen(val));
out:
	free(val);
	if (rc < 0)
		OPENSSL_cleanse(secret, AUTHZ_SECRET_MAX + 1);
	return rc;
}

int authz_token_revoke(struct meta_db *db, const char *name)
{
	if (!strcmp(name, AUTHZ_BOOTSTRAP_NAME))
		return t9k_err(-EINVAL, "the bootstrap admin '%s' is the token file's: replace the file "
					"and restart the service to change it", AUTHZ_BOOTSTRAP_NAME);
	return meta_token_delete(db, name);
}

static int list_one(const char *name, const void *v, size_t len, void *arg)
{
	json_t *a = arg, *g = json_array();
	struct authz_ident id;
	struct oid h;
	int64_t now = now_ns();

	if (record_decode(name, v, len, &id, &h) < 0 || !g)
		return json_decref(g), 0;
	for (int i = 0; i < id.ngrants; i++)
		json_array_append_new(g, json_pack("{s:s,s:s}", "pattern", id.g[i].pattern, "perm",
						   authz_perm_name(id.g[i].perm)));
	json_array_append_new(a, json_pack("{s:s,s:b,s:o,s:I,s:I,s:b}", "name", name, "admin",
					   id.admin, "grants", g, "created_ns",
					   (json_int_t)id.created_ns, "expires_ns",
					   (json_int_t)id.expires_ns, "expired",
					   id.expires_ns && id.expires_ns <= now));
	return 0;
}

int authz_token_list(struct meta_db *db, json_t **out)
{
	json_t *a = json_array();
	int rc;

	*out = NULL;
	if (!a)
		return t9k_err(-ENOMEM, "out of memory");
	if ((rc = meta_token_list(db, list_one, a)) < 0) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

int authz_token_by_name(struct meta_db *db, const char *name, struct authz_ident *out)
{
	struct buf v;
	struct oid h;
	int rc;

	if (!strcmp(name, AUTHZ_BOOTSTRAP_NAME)) {
		authz_bootstrap(out);
		return 0;
	}
	buf_init(&v);
	rc = meta_token_get(db, name, &v);
	if (rc == T9K_ENOTFOUND)
		rc = t9k_err(-EACCES, "token '%s' is revoked or unknown", name);
	if (rc == 0)
		rc = record_decode(name, v.data, v.len, out, &h);
	if (rc == 0 && out->expires_ns && out->expires_ns <= now_ns())
		rc = t9k_err(-EACCES, "token '%s' has expired", name);
	buf_release(&v);
	return rc;
}

int authz_token_lookup(struct meta_db *db, const char *secret, struct authz_ident *out)
{
	const char *colon = strchr(secret, ':');
	char name[META_REPO_NAME_MAX + 1];
	struct oid want, got;
	struct buf v;
	int rc;

	if (!colon || colon == secret || (size_t)(colon - secret) > META_REPO_NAME_MAX ||
	    strlen(colon + 1) != 64)
		return t9k_err(-EACCES, "wrong token");
	memcpy(name, secret, (size_t)(colon - secret));
	name[colon - secret] = '\0';
	if (meta_token_name_check(name) < 0)
		return t9k_err(-EACCES, "wrong token");
	if (oid_hash(&got, secret, strlen(secret)) < 0)
		return t9k_err(-EACCES, "cannot hash the token");
	buf_init(&v);
	rc = meta_token_get(db, name, &v);
	if (rc == T9K_ENOTFOUND)
		rc = t9k_err(-EACCES, "wrong token (no token '%s': unknown or revoked)", name);
	if (rc == 0)
		rc = record_decode(name, v.data, v.len, out, &want);
	buf_release(&v);
	if (rc < 0)
		return rc;
	if (CRYPTO_memcmp(want.b, got.b, sizeof(got.b)))
		return t9k_err(-EACCES, "wrong token");
	if (out->expires_ns && out->expires_ns <= now_ns())
		return t9k_err(-EACCES, "token '%s' has expired", name);
	return 0;
}

/* ---- /api/v1/tokens ---- */

static int create_from_body(struct meta_db *db, const char *body, size_t body_len, json_t **reply)
{
	json_t *j = body ? json_loadb(body, body_len, 0, NULL) : NULL, *v, *g;
	const char *key, *name;
	struct authz_ident id;
	char secret[AUTHZ_SECRET_MAX + 1];
	int64_t ttl = 0;
	size_t i;
	int rc = 0;

	memset(&id, 0, sizeof(id));
	if (!json_is_object(j)) {
		rc = t9k_err(-EINVAL, "want a JSON object body {\"name\", \"admin\", \"grants\", \"expires\"}");
		goto out;
	}
	json_object_foreach(j, key, v) {
		if (strcmp(key, "name") && strcmp(key, "admin") && strcmp(key, "grants") &&
		    strcmp(key, "expires")) {
			rc = t9k_err(-EINVAL, "unknown key \"%.40s\" in the body (want name, admin, grants, expires)",
				     key);
			goto out;
		}
	}
	name = json_string_value(json_object_get(j, "name"));
	if (!name) {
		rc = t9k_err(-EINVAL, "request body \"name\" is missing or not a string");
		goto out;
	}
	if ((rc = meta_token_name_check(name)) < 0)
		goto out;
	snprintf(id.name, sizeof(id.name), "%s", name);
	v = json_object_get(j, "admin");
	if (v && !json_is_boolean(v)) {
		rc = t9k_err(-EINVAL, "request body \"admin\" is not true or false");
		goto out;
	}
	id.admin = json_is_true(v);
	g = json_object_get(j, "grants");
	if (g && !json_is_array(g)) {
		rc = t9k_err(-EINVAL, "request body \"grants\" is not an array of \"PATTERN:PERM\"");
		goto out;
	}
	if (json_array_size(g) > AUTHZ_GRANTS_MAX) {
		rc = t9k_err(-EINVAL, "%zu grants: at most %d", json_array_size(g), AUTHZ_GRANTS_MAX);
		goto out;
	}
	for (i = 0; i < json_array_size(g); i++) {
		const char *s = json_string_value(json_array_get(g, i));

		if (!s) {
			rc = t9k_err(-EINVAL, "grant %zu is not a string \"PATTERN:PERM\"", i);
			goto out;
		}
		if ((rc = authz_grant_parse(s, &id.g[id.ngrants++])) < 0)
			goto out;
	}
	if (!id.admin && id.ngrants == 0) {
		rc = t9k_err(-EINVAL, "token '%s' would grant nothing: give admin or at least one grant", name);
		goto out;
	}
	v = json_object_get(j, "expires");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v)) {
			rc = t9k_err(-EINVAL, "request body \"expires\" is not a duration string (10m, 12h, 30d)");
			goto out;
		}
		if ((rc = authz_duration_parse(json_string_value(v), &ttl)) < 0)
			goto out;
		id.expires_ns = now_ns() + ttl;
	}
	if ((rc = authz_token_create(db, &id, secret)) < 0)
		goto out;
	*reply = json_pack("{s:s,s:s,s:I}", "name", id.name, "secret", secret, "expires_ns",
			   (json_int_t)id.expires_ns);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!*reply)
		rc = t9k_err(-ENOMEM, "out of memory");
out:
	json_decref(j);
	return rc;
}

int authz_tokens_serve(struct meta_db *db, const char *method, const char *path, const char *body,
		       size_t body_len, unsigned *status, json_t **reply)
{
	static const char base[] = "/api/v1/tokens";
	const char *rest = path + sizeof(base) - 1;
	int rc;

	*reply = NULL;
	*status = 200;
	if (strncmp(path, base, sizeof(base) - 1))
		return t9k_err(T9K_ENOTFOUND, "no such endpoint '%.200s'", path);
	if (!*rest || !strcmp(rest, "/")) {
		if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
			json_t *a;

			if ((rc = authz_token_list(db, &a)) < 0)
				return rc;
			*reply = json_pack("{s:o}", "tokens", a);
			return *reply ? 0 : t9k_err(-ENOMEM, "out of memory");
		}
		if (!strcmp(method, "POST")) {
			*status = 201;
			return create_from_body(db, body, body_len, reply);
		}
		return t9k_err(-EOPNOTSUPP, "%s is not allowed on /api/v1/tokens (allowed: GET, POST)",
			       method);
	}
	if (*rest == '/' && !strchr(rest + 1, '/')) {
		if (strcmp(method, "DELETE"))
			return t9k_err(-EOPNOTSUPP, "%s is not allowed on '%.200s' (allowed: DELETE)", method,
				       path);
		if ((rc = authz_token_revoke(db, rest + 1)) < 0)
			return rc;
		*reply = json_pack("{s:s}", "revoked", rest + 1);
		return *reply ? 0 : t9k_err(-ENOMEM, "out of memory");
	}
	return t9k_err(T9K_ENOTFOUND, "no such endpoint '%.200s'", path);
}
