/* The mutable state of t9kfs in RocksDB: repositories, refs and the
 * staging area of each branch. Everything else is immutable objects in the
 * store. One process owns a database (RocksDB's LOCK); within it every
 * call is thread-safe, and writes are serialised by one mutex so that a
 * compare-and-swap is a real one. Every acknowledged write is WAL-synced.
 *
 * Key layout (the only list of prefixes; names never contain NUL):
 *
 *   prefix  key                               value
 *   'R'     R repo                            repo record (below)
 *   'F'     F repo NUL refname                32-byte commit id
 *   'S'     S repo NUL branch NUL path        staged value (opaque here)
 *   'I'     I repo NUL chunk id (32 raw)      chunk index entry (below)
 *   'G'     G repo NUL name                   gc state (opaque here; meta/gc.h):
 *                                             retention rules, the last run,
 *                                             collected commits
 *   'V'     V                                 u32 schema version (1)
 *
 * refname is "branch/NAME" or "tag/NAME"; path is relative, '/'-separated.
 * Repo record (little-endian):
 *
 *   offset  size  field
 *   0       1     version: 1, or 2 when pack_size > 0
 *   1       4     cdc min
 *   5       4     cdc avg
 *   9       4     cdc max
 *   13      8     created, ns since the epoch (signed)
 *   21      2     store URL length u
 *   23      u     store URL bytes
 *   23+u    4     pack_size (version 2 only)
 *
 * A repository without packs keeps the version-1 record, which binaries
 * from before packs read; one with packs needs a binary that knows v2.
 *
 * Chunk index entry: where a chunk stored in a pack lives, so a writer can
 * reuse it instead of storing it again (dedup across packs). 48 bytes:
 *
 *   offset  size  field
 *   0       32    pack id (the object "packs/<hex>")
 *   32      8     offset of the stored chunk in the pack
 *   40      4     stored length (the chunk object's bytes in the pack)
 *   44      4     plaintext length
 *
 * Errors: T9K_ENOTFOUND for a missing repo/ref/staged path (message names
 * it), T9K_ECONFLICT when a compare-and-swap finds another value, -EEXIST
 * for creating what exists, -EIO for RocksDB failures (message has
 * RocksDB's text).
 */
#ifndef T9K_META_DB_H
#define T9K_META_DB_H

#include "lib/oid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_REPO_NAME_MAX 64
#define META_REF_MAX 300
#define META_URL_MAX 1024

struct meta_db;

/* Opens (creating if needed) the database in dir. */
int meta_db_open(const char *dir, struct meta_db **out);
void meta_db_close(struct meta_db *db);

/* Repository and branch/tag names: 1..64 of [A-Za-z0-9._-], not starting
 * with '.' or '-'. Returns 0 or -EINVAL with a message. */
int meta_repo_name_check(const char *name);
int meta_ref_name_check(const char *name); /* the NAME of branch/NAME */
int meta_cache_group_name_check(const char *name); /* same rules as a repository */
/* A path inside a repository: relative, '/'-separated, no empty, "." or
 * ".." component, components up to 255 bytes, at most 4096 bytes. */
int meta_path_check(const char *path);

struct meta_repo {
	char name[META_REPO_NAME_MAX + 1];
	char store_url[META_URL_MAX + 1];
	uint32_t cdc_min, cdc_avg, cdc_max;
	int64_t created_ns;
	uint32_t pack_size; /* target bytes per pack object; 0: no packs */
};

int meta_repo_create(struct meta_db *db, const struct meta_repo *r); /* -EEXIST */
int meta_repo_get(struct meta_db *db, const char *name, struct meta_repo *out);
/* Deletes the repo record with all its refs, staging, chunk index and gc
 * state, in one batch. */
int meta_repo_delete(struct meta_db *db, const char *name);
/* Calls fn for each repo in name order; a non-zero return stops. */
int meta_repo_list(struct meta_db *db, int (*fn)(const struct meta_repo *r, void *arg), void *arg);

/* Tokens (meta/authz.h): key 'T' name (rules of a repository name), the
 * value an opaque record. put: -EEXIST when name exists; get and delete:
 * T9K_ENOTFOUND when it does not; list: name order. */
struct buf;
int meta_token_name_check(const char *name);
int meta_token_put(struct meta_db *db, const char *name, const void *val, size_t len);
int meta_token_get(struct meta_db *db, const char *name, struct buf *val);
int meta_token_delete(struct meta_db *db, const char *name);
int meta_token_list(struct meta_db *db, int (*fn)(const char *name, const void *val, size_t len, void *arg),
		    void *arg);

/* refname: "branch/NAME" or "tag/NAME". */
int meta_ref_get(struct meta_db *db, const char *repo, const char *refname, struct oid *out);
/* Sets refname to *new if its current value is *old; old == NULL means it
 * must not exist, new == NULL deletes it (a branch's staged changes with
 * it, atomically). T9K_ECONFLICT otherwise. */
int meta_ref_cas(struct meta_db *db, const char *repo, const char *refname,
		 const struct oid *old, const struct oid *new);
/* Deletes branch/BRANCH if it is still at *old and has nothing staged
 * (gc's expiry of a stale branch); T9K_ECONFLICT, changing nothing,
 * otherwise. */
int meta_branch_expire(struct meta_db *db, const char *repo, const char *branch,
		       const struct oid *old);
/* Refs whose name starts with prefix ("branch/", "tag/", ""), in order. */
int meta_ref_list(struct meta_db *db, const char *repo, const char *prefix,
		  int (*fn)(const char *refname, const struct oid *id, void *arg), void *arg);

/* Staging: path -> opaque value (the caller's encoding of an entry or a
 * tombstone), per branch. */
int meta_stage_put(struct meta_db *db, const char *repo, const char *branch, const char *path,
		   const void *val, size_t len);
int meta_stage_get(struct meta_db *db, const char *repo, const char *branch, const char *path,
		   void **val, size_t *len); /* *val malloc'd */
/* Staged paths starting with prefix ("" for all), in byte order. */
int meta_stage_list(struct meta_db *db, const char *repo, const char *branch, const char *prefix,
		    int (*fn)(const char *path, const void *val, size_t len, void *arg), void *arg);
/* The same, starting after path `after` (NULL: from the start): a page of
 * a long listing costs its own length, not the pages before it. */
int meta_stage_list_after(struct meta_db *db, const char *repo, const char *branch,
			  const char *prefix, const char *after,
			  int (*fn)(const char *path, const void *val, size_t len, void *arg),
			  void *arg);
/* Every staged path of every branch of repo, branch by branch in name
 * order, from one consistent snapshot of the database. */
int meta_stage_list_all(struct meta_db *db, const char *repo,
			int (*fn)(const char *branch, const char *path, const void *val, size_t len,
				  void *arg),
			void *arg);
/* Drops staged changes; returns how many. prefix "" drops all, one ending
 * in '/' those starting with it, any other is a path: that path and what
 * is under it ("data" drops "data" and "data/x", not "database"). */
int meta_stage_reset(struct meta_db *db, const char *repo, const char *branch, const char *prefix);

struct meta_staged {
	const char *path;
	const void *val;
	size_t len;
	/* put only: also drop what was staged under path/ before this batch
	 * (a removal, or a file replacing a directory, leaves nothing below) */
	bool drop_below;
};

/* The commit step, atomic and WAL-synced: if branch/BRANCH is at *old
 * (NULL: must not exist), move it to *new and drop each staged path whose
 * value is still exactly the given one (a path staged again since keeps
 * its newer value). T9K_ECONFLICT and no change if the head moved. */
int meta_commit_apply(struct meta_db *db, const char *repo, const char *branch,
		      const struct oid *old, const struct oid *new,
		      const struct meta_staged *done, size_t ndone);

/* Stages many paths in one synced batch (all or none): what import uses,
 * one fsync per batch instead of per file. */
int meta_stage_put_many(struct meta_db *db, const char *repo, const char *branch,
			const struct meta_staged *items, size_t n);

/* ---- chunk index ---- */

struct meta_chunk_loc {
	struct oid id;     /* the chunk (SHA-256 of its plaintext) */
	struct oid pack;   /* the pack holding it */
	uint64_t offset;   /* where its stored object starts in the pack */
	uint32_t stored_len;
	uint32_t len;      /* plaintext length */
};

/* Fills *out (id included) for chunk id of repo: 0, or -ENOENT with no
 * message when the index has no entry (a miss is the common answer of a
 * dedup lookup, so it costs no formatting). */
int meta_chunk_index_get(struct meta_db *db, const char *repo, const struct oid *id,
			 struct meta_chunk_loc *out);
/* Records n entries in one synced batch (all or none), replacing entries
 * of the same ids. The caller has checked that each range exists in its
 * pack. T9K_ENOTFOUND when the repository does not exist. */
int meta_chunk_index_put(struct meta_db *db, const char *repo, const struct meta_chunk_loc *v,
			 size_t n);

/* Every entry of repo's index, in chunk id order (one snapshot). */
int meta_chunk_index_list(struct meta_db *db, const char *repo,
			  int (*fn)(const struct meta_chunk_loc *loc, void *arg), void *arg);
/* Drops the entries of v[i].id that still name pack v[i].pack (an entry
 * recorded again since, in another pack, stays), in one synced batch. */
int meta_chunk_index_drop(struct meta_db *db, const char *repo, const struct meta_chunk_loc *v,
			  size_t n);

/* ---- gc state ---- */

/* name -> opaque value under repo (names: 1..255 bytes without NUL). put
 * is T9K_ENOTFOUND when the repository does not exist; get is -ENOENT
 * (no message) when the name is not set, *val malloc'd otherwise. */
int meta_gc_put(struct meta_db *db, const char *repo, const char *name, const void *val,
		size_t len);
int meta_gc_get(struct meta_db *db, const char *repo, const char *name, void **val, size_t *len);
/* Deletes the names, in one synced batch (absent ones are fine). */
int meta_gc_delete(struct meta_db *db, const char *repo, const char *const *names, size_t n);
/* Names starting with prefix, in order. */
int meta_gc_list(struct meta_db *db, const char *repo, const char *prefix,
		 int (*fn)(const char *name, const void *val, size_t len, void *arg), void *arg);

#endif
