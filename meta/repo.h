/* Versioned operations on a repository: staging, commit, refs, log, diff,
 * merge, revert, reset and the gc plan, over the immutable objects in the
 * store (meta/objects.h, meta/tree.h) and the mutable state in RocksDB
 * (meta/db.h).
 *
 * Calling sequence:
 *   struct repo *r;
 *   repo_create(db, "imagenet", "file:///data/store", NULL,      // or repo_open
 *               REPO_PACK_SIZE_AUTO, &r);
 *   repo_stage(r, "main", "train/cat.jpg", &entry);              // after storing its data
 *   repo_commit(r, "main", &info, &id);
 *   repo_close(r);
 *
 * Paths are relative and '/'-separated ("a/b/c"); "" is the root. A ref
 * spec is a branch, a tag, a commit id or a unique prefix of one (at least
 * 4 hex digits), optionally followed by ~N (N first parents back).
 * Every write of objects happens before any ref points at them, and refs
 * move only by compare-and-swap: a crash leaves each ref at its old or its
 * new value, never at a missing object. All calls are thread-safe.
 */
#ifndef T9K_META_REPO_H
#define T9K_META_REPO_H

#include "meta/db.h"
#include "meta/objects.h"
#include "meta/tree.h"
#include "store/pack.h"

#include <stdbool.h>

#define REPO_PATH_MAX 4096
#define REPO_DEFAULT_BRANCH "main"

/* Packs: many chunks of a large file written as one object "packs/<hex>"
 * (object stores charge per request). pack_size is the target bytes per
 * pack, 0 for none; valid values are 0 and cdc max..REPO_PACK_SIZE_MAX. */
#define REPO_PACK_SIZE_AUTO (-1)                /* repo_create: by store URL */
#define REPO_PACK_SIZE_S3_DEFAULT (16u << 20)   /* s3:// stores; others 0 */
#define REPO_PACK_SIZE_MAX PACK_SIZE_MAX        /* 1 GiB (store/pack.h) */
/* Most entries one chunk index request of the service records. */
#define REPO_CHUNK_INDEX_BATCH_MAX 4096

struct repo;
struct repo_stage_item;

/* Creates the repo record, an initial empty commit and branch "main".
 * cdc (may be NULL) overrides the chunking defaults. pack_size is 0 (no
 * packs), cdc max..REPO_PACK_SIZE_MAX, or REPO_PACK_SIZE_AUTO: packs of
 * REPO_PACK_SIZE_S3_DEFAULT (at least cdc max) on an s3:// store, where
 * every request costs, none on others. -EINVAL with a message otherwise. */
int repo_create(struct meta_db *db, const char *name, const char *store_url,
		const uint32_t cdc[3], int64_t pack_size, struct repo **out);
int repo_open(struct meta_db *db, const char *name, struct repo **out);

/* A handle for a process that is not the metadata service: it reads
 * objects and stores data itself, and reaches refs and staging through
 * these calls (meta/client.c fills them). Only repo_resolve*,
 * repo_stage*, lookups, diffs of trees, import, export and file reads work
 * on it; the rest is -ENOTSUP. */
struct repo_remote {
	int (*stage_batch)(void *ctx, const char *repo, const char *branch,
			   const struct repo_stage_item *items, size_t n);
	int (*resolve)(void *ctx, const char *repo, const char *spec, struct oid *out,
		       bool *is_branch);
	/* repo_chunk_index_get/_put over the service; NULL: -ENOTSUP */
	int (*chunk_index_get)(void *ctx, const char *repo, const struct oid *id,
			       struct manifest_chunk *out);
	int (*chunk_index_put)(void *ctx, const char *repo, const struct manifest_chunk *v,
			       size_t n);
	void *ctx;
};
int repo_open_remote(const struct meta_repo *info, const struct repo_remote *remote,
		     struct repo **out);
void repo_close(struct repo *r);

const struct meta_repo *repo_info(const struct repo *r);
struct meta_objects *repo_objects(struct repo *r);
struct store *repo_store(struct repo *r);
/* The database of a local handle; NULL for a remote one. */
struct meta_db *repo_db(struct repo *r);

/* ---- chunk index (dedup of chunks stored in packs) ---- */

/* Looks up a chunk in the repository's chunk index: 0 and *out (loc
 * MANIFEST_LOC_PACK, id, len, pack, pack_off, pack_len) when known,
 * -ENOENT (no message needed) when not. */
int repo_chunk_index_get(struct repo *r, const struct oid *id, struct manifest_chunk *out);
/* Records chunks of one stored pack (every v[i].loc == MANIFEST_LOC_PACK,
 * all the same pack). The pack must exist in the repository's store and
 * hold every range: checked (one store_head of "packs/<hex>") before
 * anything is recorded, so no entry ever points at a missing object.
 * All or none (on a remote handle: per request of
 * REPO_CHUNK_INDEX_BATCH_MAX entries). -EINVAL for bad entries,
 * T9K_ENOTFOUND for a missing pack, each with a message. */
int repo_chunk_index_put(struct repo *r, const struct manifest_chunk *v, size_t n);

/* ---- staging ---- */

/* Stages path as entry (entry->name is ignored: the last path component
 * is the name), or a removal when entry is NULL. The entry's data must
 * already be in the store. */
int repo_stage(struct repo *r, const char *branch, const char *path, const struct tree_entry *entry);

/* Stages many paths in one durable batch (all or none). */
struct repo_stage_item {
	const char *path;
	const struct tree_entry *entry; /* NULL: removal */
	bool dir_attrs; /* entry is a directory's mode and mtime only: its
			 * contents stay (created empty if absent) */
};
int repo_stage_batch(struct repo *r, const char *branch, const struct repo_stage_item *items,
		     size_t n);

/* Staged changes under prefix ("" for all), in path order. entry NULL:
 * removal; a directory entry with a zero id: attributes only. */
typedef int (*repo_staged_fn)(void *arg, const char *path, const struct tree_entry *entry);
int repo_staged(struct repo *r, const char *branch, const char *prefix, repo_staged_fn fn, void *arg);
/* The same from the first path after `after` (NULL: from the start). */
int repo_staged_after(struct repo *r, const char *branch, const char *prefix, const char *after,
		      repo_staged_fn fn, void *arg);
/* Every staged change of every branch, from one snapshot (gc). */
typedef int (*repo_staged_all_fn)(void *arg, const char *branch, const char *path,
				  const struct tree_entry *entry, bool dir_attrs);
int repo_staged_all(struct repo *r, repo_staged_all_fn fn, void *arg);
/* Drops staged changes under prefix; returns how many. */
int repo_reset(struct repo *r, const char *branch, const char *prefix);

/* ---- commits ---- */

struct commit_info {
	const char *author;
	const char *message;
	int64_t time_ns;           /* 0: now */
	const struct commit_kv *kv; /* sorted by key, unique */
	uint16_t nkv;
	bool allow_empty;          /* commit even with nothing staged */
};

/* Folds the branch's staging into new trees and moves the head. Retries
 * when another commit lands first; -ENODATA when nothing is staged. */
int repo_commit(struct repo *r, const char *branch, const struct commit_info *ci, struct oid *out);

/* A decoded commit with the bytes it points into. */
struct repo_commit {
	struct oid id;
	struct commit c;
	struct buf raw;
};
int repo_commit_read(struct repo *r, const struct oid *id, struct repo_commit *out);
void repo_commit_release(struct repo_commit *rc);

/* ---- refs ---- */

int repo_resolve(struct repo *r, const char *spec, struct oid *out);
/* Resolves spec; *branch gets 1 when spec names a branch (a mutable ref). */
int repo_resolve_ex(struct repo *r, const char *spec, struct oid *out, bool *is_branch);
int repo_branch_create(struct repo *r, const char *name, const char *from);
int repo_branch_delete(struct repo *r, const char *name);
int repo_tag_create(struct repo *r, const char *name, const char *target);
int repo_tag_delete(struct repo *r, const char *name);

/* ---- history and changes ---- */

/* Walks history from id, newest first (by time, then id); first_parent
 * follows only first parents. Stops after max commits (0: all). */
typedef int (*repo_log_fn)(void *arg, const struct repo_commit *c);
int repo_log(struct repo *r, const struct oid *id, bool first_parent, size_t max, repo_log_fn fn,
	     void *arg);
/* The same from several commits (a page's cursor), each walked once; when
 * max stops the walk, the newest next_max commits it had left to walk go
 * to next (*nnext of them: the next page's cursor; 0 when none was left). */
int repo_log_page(struct repo *r, const struct oid *start, size_t nstart, bool first_parent,
		  size_t max, repo_log_fn fn, void *arg, struct oid *next, size_t next_max,
		  size_t *nnext);

/* Changed paths between two commits (or trees), in path order. Added
 * directories report every file in them. old/new NULL: added/removed. */
typedef int (*repo_diff_fn)(void *arg, const char *path, const struct tree_entry *old,
			    const struct tree_entry *new);
int repo_diff(struct repo *r, const struct oid *commit_a, const struct oid *commit_b,
	      repo_diff_fn fn, void *arg);
int repo_diff_trees(struct repo *r, const struct oid *tree_a, const struct oid *tree_b,
		    repo_diff_fn fn, void *arg);
/* With REPO_DIFF_DIRS, a directory on both sides whose own mode or owner
 * changed is reported too (old and new both directories), before what
 * changed below it; merge and revert diff without it. */
#define REPO_DIFF_DIRS 1
int repo_diff_ex(struct repo *r, const struct oid *commit_a, const struct oid *commit_b,
		 unsigned flags, repo_diff_fn fn, void *arg);

/* Looks up path in commit; *hold must be released with meta_node_put
 * (it is NULL for the root, which gets a synthesized directory entry). */
int repo_lookup(struct repo *r, const struct oid *commit, const char *path, struct tree_entry *e,
		struct meta_node **hold);

/* ---- merge and revert ---- */

enum merge_strategy { MERGE_FAIL = 0, MERGE_OURS, MERGE_THEIRS };

struct merge_result {
	struct oid commit;     /* new head of the target */
	bool fast_forward;
	bool up_to_date;
	size_t nconflicts;
	char **conflicts;      /* paths, when the merge stopped on conflicts */
};
void merge_result_release(struct merge_result *m);

/* Merges source (any spec) into branch target. Conflicting paths stop the
 * merge with T9K_ECONFLICT (listed in res) unless a strategy picks a side. */
int repo_merge(struct repo *r, const char *source, const char *target, enum merge_strategy s,
	       const struct commit_info *ci, struct merge_result *res);

/* Commits on branch the inverse of commit `what` (against its first
 * parent). Paths changed since on the branch are conflicts. */
int repo_revert(struct repo *r, const char *branch, const char *what, const struct commit_info *ci,
		struct merge_result *res);

/* ---- gc plan ---- */

/* Calls fn with every store key reachable from the repository's refs
 * (commits, tree nodes, manifests, chunks), each once. */
typedef int (*repo_key_fn)(void *arg, const char *key);
int repo_gc_reachable(struct repo *r, repo_key_fn fn, void *arg);

#endif
