/* What only meta/repo.c, meta/history.c and meta/chunkindex.c share: the
 * repo handle and the path-level tree builder used by commit, merge and
 * revert. */
#ifndef T9K_META_REPO_INTERNAL_H
#define T9K_META_REPO_INTERNAL_H

#include "meta/repo.h"

#include <pthread.h>

struct branch_lock;

/* Lock order: a branch lock, then locks_mu (only to find or drop one). */
struct repo {
	struct meta_db *db;     /* NULL for a remote handle */
	struct repo_remote remote;
	struct meta_repo info;
	struct store *store;
	struct meta_objects *mo;
	pthread_mutex_t locks_mu;   /* guards locks */
	struct branch_lock *locks;  /* branches being moved by this process */
};

/* Serialises the operations of this process that move one branch (commit,
 * merge, revert), so that they queue instead of racing on the CAS and
 * starving each other. Held across the operation's I/O on purpose, like
 * git's ref lock; the CAS still guards against other writers. */
struct branch_lock *repo_branch_lock(struct repo *r, const char *branch);
void repo_branch_unlock(struct repo *r, struct branch_lock *bl);

/* A change at a full path: set to entry, or remove (entry NULL). */
struct path_edit {
	const char *path;
	const struct tree_entry *entry;
	bool dir_attrs; /* entry only gives a directory's mode and mtime */
};

/* Applies path edits (any order, unique paths) to the tree old_root and
 * returns the new root. Missing parent directories are created; a path
 * below an existing non-directory is -ENOTDIR unless that path is itself
 * removed or replaced by a directory in the same batch. */
int repo_apply_paths(struct repo *r, const struct oid *old_root, const struct path_edit *edits,
		     size_t n, int64_t now_ns, struct oid *new_root);

/* Writes a commit object. */
int repo_write_commit(struct repo *r, const struct oid *root, const struct oid *parents,
		      int nparents, const struct commit_info *ci, struct oid *out);

/* Moves branch from *old to *new (compare-and-swap), without touching
 * staging. */
int repo_branch_move(struct repo *r, const char *branch, const struct oid *old,
		     const struct oid *new);

int64_t repo_now_ns(void);

/* The pack size REPO_PACK_SIZE_AUTO picks for a store URL and largest
 * chunk (repo_create; exposed for tests). */
uint32_t repo_pack_size_default(const char *store_url, uint32_t cdc_max);

/* -ENOTSUP with a message when r has no local database. */
int repo_need_db(const struct repo *r);

#endif
