/* Retention rules of a repository: which commits gc keeps the data of,
 * which branches and tags expire, and the grace period of its runs.
 * Stored with the repository (meta/db.h gc state "retention", as the JSON
 * of the API) and read by meta/gc.c.
 *
 * A commit of branch B keeps its data when it is B's head, or when B's
 * policy keeps everything (neither keep_last nor keep_within set: the
 * default, "forever"), or it is one of the last keep_last commits of B's
 * first-parent history, or it is reachable from B and no older than
 * keep_within. B's policy is the first override whose glob matches B
 * (fnmatch), else the default; an override replaces the default for its
 * branches. A branch whose head commit is older than its policy's
 * stale_branches and that has nothing staged is deleted by gc (never
 * "main"). A tag keeps its commit's data, unless tags_expire is set and
 * the commit is older: then gc deletes the tag.
 *
 * JSON (API and storage; absent or null: unset):
 *   {"keep_last": N, "keep_within_s": S, "stale_branches_s": S,
 *    "tags_expire_s": S, "grace_s": S, "min_grace_s": S,
 *    "branches": [{"glob": G, "keep_last": N, "keep_within_s": S,
 *                  "stale_branches_s": S}]}
 */
#ifndef T9K_META_RETENTION_H
#define T9K_META_RETENTION_H

#include "meta/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define RETENTION_UNSET (-1)
#define RETENTION_GLOB_MAX 128
#define RETENTION_RULES_MAX 64
#define RETENTION_GRACE_DEFAULT_S (6 * 3600)
#define RETENTION_MIN_GRACE_DEFAULT_S 3600
#define RETENTION_DURATION_MAX_S (100LL * 366 * 86400)

struct retention_policy {
	int64_t keep_last;     /* commits, >= 1, or RETENTION_UNSET */
	int64_t keep_within_s; /* seconds, or RETENTION_UNSET */
	int64_t stale_s;       /* seconds, or RETENTION_UNSET (never) */
};

struct retention_rule {
	char glob[RETENTION_GLOB_MAX + 1];
	struct retention_policy p;
};

struct retention {
	struct retention_policy def;
	struct retention_rule rules[RETENTION_RULES_MAX];
	int nrules;
	int64_t tags_expire_s; /* RETENTION_UNSET: tags never expire */
	int64_t grace_s;       /* gc's default grace period */
	int64_t min_grace_s;   /* no run may use a shorter one */
};

/* The defaults: keep everything, grace 6 h, min grace 1 h. */
void retention_init(struct retention *rt);
/* Parses the JSON form (every field checked, -EINVAL naming it). Fields
 * absent from j keep what *rt had, so a partial body updates. "branches"
 * replaces the overrides entirely when present. */
int retention_from_json(const json_t *j, struct retention *rt);
json_t *retention_to_json(const struct retention *rt);
/* The repository's rules (the defaults when none were set). */
int retention_load(struct meta_db *db, const char *repo, struct retention *rt);
int retention_save(struct meta_db *db, const char *repo, const struct retention *rt);
/* The policy that applies to branch. */
const struct retention_policy *retention_policy_for(const struct retention *rt,
						    const char *branch);
/* True when p keeps every commit (neither keep_last nor keep_within). */
bool retention_keeps_all(const struct retention_policy *p);

/* Durations as people write them: "90s", "30m", "6h", "3d", "2w", or a
 * sum like "1d12h"; a bare number is seconds. -EINVAL with a message. */
int retention_parse_duration(const char *s, int64_t *seconds);
/* "3d", "6h", "1d12h", "0s" into out (at least 32 bytes). */
char *retention_format_duration(int64_t seconds, char *out, size_t size);

#endif
