/* Identities and permissions of the metadata service: named tokens kept
 * hashed in the database (meta/db.h prefix 'T'), the grants they carry,
 * and the permission each endpoint of meta/API.md needs.
 *
 * A token's secret is "NAME:HEX" (HEX: 64 hex digits of 256 random bits);
 * the database keeps only SHA-256 of the whole secret, so the name finds
 * the record and the hash is compared in constant time. The service's
 * token file token is the bootstrap identity AUTHZ_BOOTSTRAP_NAME, an
 * admin of everything; no stored token may take that name.
 *
 * Permissions are ordered: read < write < admin (admin implies write,
 * write implies read). A grant is "PATTERN:PERM", PATTERN a glob
 * (fnmatch(3), no flags) over repository names; an --admin token has
 * admin on every repository and alone may manage tokens.
 */
#ifndef T9K_META_AUTHZ_H
#define T9K_META_AUTHZ_H

#include "meta/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define AUTHZ_BOOTSTRAP_NAME "admin"
#define AUTHZ_GRANTS_MAX 16
#define AUTHZ_PATTERN_MAX 128
#define AUTHZ_SECRET_MAX (META_REPO_NAME_MAX + 1 + 64)

enum authz_perm { AUTHZ_NONE = 0, AUTHZ_READ = 1, AUTHZ_WRITE = 2, AUTHZ_ADMIN = 3 };

struct authz_grant {
	char pattern[AUTHZ_PATTERN_MAX + 1];
	int perm; /* AUTHZ_READ.. */
};

/* Who a request is. */
struct authz_ident {
	char name[META_REPO_NAME_MAX + 1];
	bool admin; /* every repository, and tokens */
	int ngrants;
	struct authz_grant g[AUTHZ_GRANTS_MAX];
	int64_t created_ns;
	int64_t expires_ns; /* 0: never */
};

/* "read" -> AUTHZ_READ ...; -EINVAL naming s otherwise. */
int authz_perm_parse(const char *s, int *out);
const char *authz_perm_name(int perm);
/* "PATTERN:PERM" into *g; -EINVAL with a message for an empty or bad
 * pattern (characters other than a repository name's and the glob's
 * * ? [ ] !, an unclosed '[') or an unknown permission. */
int authz_grant_parse(const char *s, struct authz_grant *g);
/* "30s", "10m", "12h", "7d" (a positive count and a unit) in ns. */
int authz_duration_parse(const char *s, int64_t *ns);

/* Whether id may do perm on repository repo. */
bool authz_allows(const struct authz_ident *id, const char *repo, int perm);

/* What a request needs. */
enum authz_scope {
	AUTHZ_PUBLIC,      /* nobody needs a token (health) */
	AUTHZ_ANY,         /* any valid token */
	AUTHZ_REPO,        /* perm on repo */
	AUTHZ_GLOBAL,      /* an --admin token (tokens, unknown endpoints) */
};
struct authz_need {
	int scope;
	int perm;
	char repo[META_REPO_NAME_MAX + 1]; /* AUTHZ_REPO: repository or cache group */
	bool is_commit;                    /* records an author (commit, merge, revert) */
};
/* The need of method on path (/api/v1/..., still percent-encoded); body
 * is the request body (POST /repos names the repository there). An
 * endpoint the table does not know needs an --admin token (it fails
 * closed). */
void authz_need_of(const char *method, const char *path, const char *body, size_t body_len,
		   struct authz_need *need);

/* ---- the token store ---- */

/* Creates token id->name with id's grants and expiry; secret gets
 * "NAME:HEX" (shown once, never stored). -EEXIST when the name is taken,
 * -EINVAL for a bad name. */
int authz_token_create(struct meta_db *db, const struct authz_ident *id, char secret[AUTHZ_SECRET_MAX + 1]);
/* T9K_ENOTFOUND when there is no such token. */
int authz_token_revoke(struct meta_db *db, const char *name);
/* A JSON array of the tokens (name, admin, grants, created_ns,
 * expires_ns, expired), no secret nor hash. */
int authz_token_list(struct meta_db *db, json_t **out);
/* The identity of a presented secret: 0, or -EACCES with a message for
 * an unknown, revoked or expired token. */
int authz_token_lookup(struct meta_db *db, const char *secret, struct authz_ident *out);
/* The identity named name (a console login remembers the name only): so
 * a token revoked or expired ends its logins too. */
int authz_token_by_name(struct meta_db *db, const char *name, struct authz_ident *out);
/* The bootstrap identity (the token file's token). */
void authz_bootstrap(struct authz_ident *out);

/* Serves /api/v1/tokens[/NAME] (GET list, POST create, DELETE revoke):
 * *status and a JSON body in *reply (a new reference). The caller has
 * checked that the request is an --admin's. */
int authz_tokens_serve(struct meta_db *db, const char *method, const char *path, const char *body,
		       size_t body_len, unsigned *status, json_t **reply);

#endif
