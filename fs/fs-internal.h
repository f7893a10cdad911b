/* What only the files of fs/ share: the mount, its nodes, the overlay of a branch
 * mount, and the calls between the files.
 *
 * The view. A commit mount shows the commit's tree. A read-only branch
 * mount that follows its branch (fs/follow.c) shows one commit's tree at
 * a time and moves every node it has to the next commit in one step
 * under fs->lock; nodes of paths that changed are detached (unlinked)
 * and new nodes answer for them. A branch mount shows
 * the head it resolved at start plus an overlay: every directory node may
 * carry a table (ov) of names that differ from its base tree, each naming
 * a node or a whiteout. The overlay mirrors the branch's staging exactly:
 * every staged path (loaded at start, or staged by this mount) has a slot,
 * so a directory rename can restage what lies under the directory at its
 * new path (fs/stage.c).
 *
 * Nodes. One struct fs_node per inode the kernel knows or the overlay
 * needs. Inode numbers hash (parent inode, name), so a path keeps its
 * number for the life of a mount even when the kernel forgets it; a
 * collision with a live node takes a number from a counter instead.
 * A node's name (parent, name) is its primary name, the one in the name
 * table. A hard-linked file (fs/link.c) has more: each is an overlay slot
 * naming the node, or a name of the base tree whose entry carries the
 * node's link group, recorded in the node's list of names when known.
 * A node lives while refs > 0 or nlookup > 0. refs counts: one per child
 * node (children point to their parent), one per open handle, one while an
 * overlay slot names it, and temporary holds taken to use a node without
 * fs->lock. nlookup is the kernel's count: +1 per entry reply, -n per forget.
 *
 * Locking, in this order (never the reverse):
 *   node->gate  a file's data I/O: shared for reads, exclusive for writes,
 *               truncation, copy-up and storing. Held across that file's
 *               own I/O (as the kernel's i_rwsem is), nothing else.
 *   fs->ns_lock serialises changes of the namespace and their staging
 *               requests, so the staging order is the order of the view.
 *   fs->lock    the node tables and every field marked [L]; never held
 *               across I/O, a staging request or a fuse_reply_*.
 *   chunk cache, meta_objects, store: their own locks.
 */
#ifndef T9K_FS_INTERNAL_H
#define T9K_FS_INTERNAL_H

#define FUSE_USE_VERSION 312

#include "fs/chunks.h"
#include "fs/fs.h"
#include "meta/repo.h"

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define FS_ROOT_INO 1
#define FS_BLKSIZE (1u << 20)

/* A decoded file manifest with each chunk's end offset. Immutable once
 * built; shared by reference count ([L]). */
struct fs_manifest {
	int refs;
	struct oid id;      /* the entry's id: a manifest, or the chunk when is_chunk */
	bool is_chunk;
	uint64_t size;
	uint32_t n;
	struct manifest_chunk *chunks;
	uint64_t *ends; /* ends[i]: file offset just past chunk i */
};

/* A name of an overlay: a node, or a whiteout (node NULL) hiding the base
 * entry of that name. in_base: the directory's base tree has the name. */
struct fs_ov_slot {
	struct fs_ov_slot *next;
	struct fs_node *node;
	bool in_base;
	uint16_t len;
	char name[];
};

struct fs_ov {
	struct fs_ov_slot **tab;
	uint32_t nb, n;
	uint32_t nbase; /* slots with in_base */
	uint32_t nlive; /* slots naming a node */
};

struct fs_node {
	uint64_t ino;                 /* fixed */
	struct fs_node *parent;       /* [L] NULL for the root and unlinked nodes */
	char *name;                   /* [L] NUL-terminated copy */
	uint16_t name_len;            /* [L] */
	uint64_t nlookup;             /* [L] */
	uint32_t refs;                /* [L] */
	uint32_t nopen;               /* [L] open file handles */
	uint32_t nwriters;            /* [L] ... of them open for writing */
	bool unlinked;                /* [L] removed from the namespace */
	bool in_ov;                   /* [L] an overlay slot of the parent names it */

	/* attributes [L]; size of a spooled file changes only under gate */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	int64_t atime_ns;             /* kept while mounted: trees store none */
	uint32_t uid, gid;            /* the owner, when owned */
	bool owned;                   /* has an owner of its own, staged with it;
				       * else shown as o.uid, o.gid */
	bool owner_here;              /* set by this mount: shown even under
				       * -o uid=,gid= (which covers stored ones) */
	uint32_t dev_major, dev_minor; /* devices */
	uint32_t nlink;               /* files: its names (0 once all are gone) */
	uint64_t link_id;             /* nlink > 1: the link group staged with
				       * every name (fs/link.c) */
	struct fs_name *names;        /* names other than the primary one */
	bool subdirs_known;           /* directories: st_nlink is 2 + subdirs +
				       * subdirs_delta when known, else 1 */
	uint32_t subdirs;             /* subdirectories of the tree id */
	int32_t subdirs_delta;        /* ... and what the overlay changed */

	/* stored content [L]: a file's manifest, its one chunk (is_chunk) or
	 * inline bytes, a symlink's target, a directory's tree. Replaced only
	 * under ns_lock. */
	bool has_content;             /* false: a new file not stored yet */
	bool is_inline;
	bool is_chunk;                /* file: id is its one chunk (payload 2) */
	struct oid id;
	uint8_t *data;                /* inline bytes (malloc'd), data_len of them */
	uint32_t data_len;
	uint64_t stored_size;         /* bytes of the stored file or target */
	uint64_t count;               /* directory: entries of the tree id */
	struct fs_manifest *mf;       /* decoded manifest of id, when loaded */

	/* directories [L] */
	struct fs_ov *ov;             /* NULL: no changes below */
	bool replaced;                /* staged as a whole entry (id), not as the
				       * base directory at its path */
	bool attrs_dirty;             /* mode or mtime changed since staged */

	/* files, under gate (and [L] to change) */
	pthread_rwlock_t gate;
	int spool_fd;                 /* -1: content is the stored content */
	bool dirty;                   /* to be stored and staged */
	bool appending;               /* [gate] the spool was only ever appended to */
	struct fs_stream *stream;     /* [gate] chunking the spool as it grows */
	struct fs_file *shared;       /* [L] set once: the read-ahead of reads
				       * that come without a handle (fs->no_open) */
	struct incr *incr;            /* [gate] with a spool: what was last stored
				       * of it and what changed since (fs/incr.h) */

	struct fs_node *ino_next, *name_next; /* [L] hash chains */
	struct fs_node *link_next;    /* [L] fs->link_tab chain */

	/* following a branch [L]: planned in switch follow_gen at follow_idx */
	uint32_t follow_gen, follow_idx;
};

/* A name of a hard-linked node besides its primary one ([L]). */
struct fs_name {
	struct fs_name *next;
	struct fs_node *dir;          /* held */
	uint16_t len;
	char name[];                  /* NUL-terminated */
};

/* An open file (fi->fh); also a node's shared handle for reads without
 * one (node->shared, whose node is not held). */
struct fs_file {
	struct fs_node *node;         /* held (not by a shared handle) */
	int flags;
	pthread_mutex_t lock;         /* the read-ahead state below */
	struct fs_readahead ra;       /* fs/chunks.h */
};

struct fs {
	struct fs_opts o;             /* strings below are our copies */
	char *mountpoint, *spool_dir, *fsname;
	struct meta_client *mc;
	struct repo *r;
	struct meta_objects *mo;
	struct store *store;
	char branch[300];             /* rw mounts: the branch staged to */
	struct oid commit;
	int64_t commit_time_ns;
	bool rw;
	bool no_open;                 /* read-only mount, set at init: opens and
				       * closes of files never reach us (the
				       * kernel's no-open and no-flush), reads
				       * come with fi->fh 0 */
	struct oid empty_tree;        /* rw mounts: the empty directory's tree */
	struct fs_chunks *chunks;
	struct fuse_session *se;
	bool mounted;

	pthread_mutex_t ns_lock;
	pthread_mutex_t lock;
	struct fs_node **ino_tab;     /* [L] */
	size_t ino_nb, nnodes;        /* [L] */
	struct fs_node **name_tab;    /* [L] named nodes by (parent, name) */
	size_t name_nb, nnamed;       /* [L] */
	uint64_t next_spare_ino;      /* [L] numbers for hash collisions */
	struct fs_node *root;
	struct fs_node **link_tab;    /* [L] linked nodes by link_id (not
				       * following mounts): the other names
				       * of a group find the same node */
	size_t link_nb, nlinked;      /* [L] */
	bool links_pinned;            /* [L] link_tab holds its nodes */
	bool links_walked;            /* [ns_lock, L] the view's every link
				       * group is in link_tab, with all its
				       * names */

	bool retry;                   /* [L] a close failed to store: try again */
	pthread_mutex_t bg_lock;      /* the background thread's (retry or
				       * follow) sleep, stop and start */
	pthread_cond_t bg_cv;
	bool bg_stop;                 /* [bg_lock] */
	bool up;                      /* [bg_lock] the kernel's INIT is answered:
				       * notifications may be sent */

	/* following a branch (read-only branch mounts, fs/follow.c) */
	bool follow;                  /* fixed */
	uint32_t follow_gen;          /* [L] switches so far */
	/* commit and commit_time_ns above change only in the follow thread,
	 * under fs->lock */

	/* chunk pipelines for storing files: one run at a time each */
	pthread_mutex_t pipe_lock;
	pthread_cond_t pipe_cv;
	struct chunk_pipeline *pipes[4];
	struct chunk_writer *writers[4];
	bool pipe_busy[4];
	int npipes;
};

/* ---- fs.c ---- */
int fs_errno(int rc);
int64_t fs_now_ns(void);
/* Checks a name a user creates: ENAMETOOLONG, EINVAL (and UTF-8, which the
 * service's JSON needs). */
int fs_name_check(const char *name);
/* Sets the subdirectory count of root, the entry of a commit's root tree
 * (id, size), when small enough to count. */
int fs_root_subdirs(struct fs *fs, struct tree_entry *root);

/* ---- inode.c ---- */
int fs_nodes_init(struct fs *fs, const struct tree_entry *root);
void fs_nodes_release(struct fs *fs);
/* The node of ino with a hold (release with fs_node_put), or NULL. */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
void fs_node_hold_locked(struct fs_node *n);
void fs_node_put(struct fs *fs, struct fs_node *n);
void fs_node_put_locked(struct fs *fs, struct fs_node *n);
void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup);
/* A new node named name under parent, from entry e (NULL: attributes are
 * filled by the caller), in the tables, with one hold. */
struct fs_node *fs_node_new_locked(struct fs *fs, struct fs_node *parent, const char *name,
				   size_t len, const struct tree_entry *e);
/* Sets n's stored content from e (copies inline bytes). */
int fs_node_set_content_locked(struct fs *fs, struct fs_node *n, const struct tree_entry *e);
/* Sets n's attributes from e: mode, size, times, owner, device, link
 * group and count, subdirectory count (not the content). */
void fs_node_set_attrs_locked(struct fs *fs, struct fs_node *n, const struct tree_entry *e);
/* n's owner from entry e (none: shown as o.uid, o.gid). */
void fs_node_set_owner_locked(struct fs *fs, struct fs_node *n, const struct tree_entry *e);
/* The owner n shows: its own (owned), else o.uid and o.gid; -o uid=,gid=
 * cover stored owners too, not those set by this mount. */
void fs_node_owner_locked(const struct fs *fs, const struct fs_node *n, uint32_t *uid,
			  uint32_t *gid);
/* Directory dir gains (+1) or loses (-1) a subdirectory in the view. */
void fs_dir_subdirs_add_locked(struct fs_node *dir, int delta);
/* "a/b/name" for name in dir into path; -ENOENT when dir is unlinked. */
int fs_child_path_locked(const struct fs_node *dir, const char *name, size_t len, char *path,
			 size_t size);
/* Removes n from the namespace: out of the name table and its parent's
 * overlay (a whiteout stays where the base has the name). */
void fs_node_unlink_locked(struct fs *fs, struct fs_node *n, bool in_base);
/* Gives n the primary name (parent, name): the name table only, no
 * overlay slot changes. */
int fs_node_rename_locked(struct fs *fs, struct fs_node *n, struct fs_node *parent,
			  const char *name, size_t len);
/* Moves n to name under parent (a new slot there; see fs_ov_set_locked). */
int fs_node_move_locked(struct fs *fs, struct fs_node *n, struct fs_node *parent,
			const char *name, size_t len, bool in_base);
/* Looks name up in dir's view: a held node, or -ENOENT / -ENOTDIR. */
int fs_lookup(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
	      struct fs_node **out);
/* The node for base entry e of dir (readdir), e read from dir's tree
 * `tree`: from the overlay or the table, else new. 0 and a held node, or
 * -ENOENT when the overlay hides it or, following a branch, the current
 * commit has no such name. */
int fs_lookup_entry(struct fs *fs, struct fs_node *dir, const struct oid *tree,
		    const struct tree_entry *e, struct fs_node **out);
/* The named node of name under dir, without a hold, or NULL. */
struct fs_node *fs_node_child_locked(struct fs *fs, struct fs_node *dir, const char *name,
				     size_t len);
/* Takes n out of the namespace of a mount with no overlay (a followed
 * branch), and out of the link table: lookups no longer find it, whoever
 * holds it keeps it. */
void fs_node_detach_locked(struct fs *fs, struct fs_node *n);
/* Is n, or one of its ancestors, detached or unlinked (a removed path)? */
bool fs_node_stale_locked(const struct fs *fs, const struct fs_node *n);
/* Whether dir's base tree has name (I/O; no lock held). */
int fs_base_has(struct fs *fs, struct fs_node *dir, const char *name, size_t len, bool *has);
void fs_node_stat_locked(struct fs *fs, const struct fs_node *n, struct stat *st);
/* Fills an entry reply and counts the lookup. */
void fs_entry_locked(struct fs *fs, struct fs_node *n, struct fuse_entry_param *e);
/* "a/b/c" for n ("" for the root) into buf; -ENOENT when unlinked. */
int fs_node_path_locked(const struct fs_node *n, char *buf, size_t size);
/* Is the directory empty in the view? */
bool fs_dir_empty_locked(const struct fs_node *dir);
/* Is a an ancestor of (or equal to) b? */
bool fs_node_is_ancestor_locked(const struct fs_node *a, const struct fs_node *b);

struct fs_ov_slot *fs_ov_find_locked(const struct fs_node *dir, const char *name, size_t len);
/* Points name in dir's overlay at child (NULL: whiteout), and puts dir
 * into its own parent's overlay, up to the root. */
int fs_ov_set_locked(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
		     struct fs_node *child, bool in_base);
/* Makes sure n has a slot in its parent's overlay (n changed). */
int fs_ov_attach_locked(struct fs *fs, struct fs_node *n, bool in_base);

/* The current manifest of a file node, held (fs_manifest_put), loading it
 * on first use. *out NULL for inline content. */
int fs_manifest_get(struct fs *fs, struct fs_node *n, struct fs_manifest **out);
void fs_manifest_put_locked(struct fs_manifest *m);
void fs_manifest_put(struct fs *fs, struct fs_manifest *m);

/* ---- link.c: hard links ---- */
struct fs_stage;
/* The node of link group id, or NULL. */
struct fs_node *fs_link_find_locked(struct fs *fs, uint64_t id);
/* Puts n (n->link_id set) into / out of the link table. */
int fs_link_insert_locked(struct fs *fs, struct fs_node *n);
void fs_link_remove_locked(struct fs *fs, struct fs_node *n);
/* The same without the table's hold (a node being freed). */
void fs_link_unhash_locked(struct fs *fs, struct fs_node *n);
/* The node for base entry e named name in dir, held: a new one, or the
 * node of e's link group (name then recorded as one of its names). NULL
 * when out of memory. */
struct fs_node *fs_node_for_entry_locked(struct fs *fs, struct fs_node *dir, const char *name,
					 size_t len, const struct tree_entry *e);
/* Is name in dir n's primary name? Its other name record, or NULL. */
bool fs_node_is_primary_locked(const struct fs_node *n, const struct fs_node *dir,
			       const char *name, size_t len);
struct fs_name *fs_node_name_find_locked(const struct fs_node *n, const struct fs_node *dir,
					 const char *name, size_t len);
/* Records name in dir as another name of n (holds dir). */
int fs_node_name_add_locked(struct fs *fs, struct fs_node *n, struct fs_node *dir,
			    const char *name, size_t len);
/* Takes the name (dir, name) of n out of the view, as an unlink does: a
 * whiteout in dir's overlay where in_base; n loses one link (its link
 * group goes when one name is left); another name takes the primary's
 * place. n must be held by the caller. */
void fs_name_unlink_locked(struct fs *fs, struct fs_node *n, struct fs_node *dir, const char *name,
			   size_t len, bool in_base);
/* Moves name (dir, name) of n to (newdir, newname), as rename does. */
int fs_name_move_locked(struct fs *fs, struct fs_node *n, struct fs_node *dir, const char *name,
			size_t len, struct fs_node *newdir, const char *newname, size_t newlen,
			bool in_base);
/* Makes every name of a linked node known, once per mount by a walk of
 * the whole view (then every link group is known). Under fs->ns_lock,
 * without fs->lock. */
int fs_link_complete(struct fs *fs, struct fs_node *n);
/* Adds e, n's entry, at every name of n to b but skip (in skip_dir;
 * skip NULL: none). */
int fs_stage_names_locked(struct fs *fs, struct fs_stage *b, struct fs_node *n,
			  const struct tree_entry *e, const struct fs_node *skip_dir,
			  const char *skip, size_t skip_len);
/* After they are staged: every other name of n gets its overlay slot. */
int fs_attach_names_locked(struct fs *fs, struct fs_node *n);
/* A new link group id, random, unused in this mount. */
uint64_t fs_link_new_id_locked(struct fs *fs);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);

/* ---- stage.c ---- */
struct fs_stage {
	struct repo_stage_item *items;
	struct tree_entry *ents;
	char **paths;
	uint8_t **inl;
	size_t n, cap;
	struct fs_node *attr_dirs[4]; /* held: their attrs_dirty clears on success */
	int nattr;
};
/* Frees the batch and drops its holds (without fs->lock held). */
void fs_stage_release(struct fs *fs, struct fs_stage *b);
/* Adds path set to e (copied), removed (e NULL) or a directory's
 * attributes. */
int fs_stage_add(struct fs_stage *b, const char *path, const struct tree_entry *e, bool dir_attrs);
/* The entry of n as staged at its path; 0 when n has nothing to stage
 * (a file never stored), 1 when *e is filled (points into n: use it
 * under fs->lock or copy it with fs_stage_add). */
int fs_node_entry_locked(const struct fs_node *n, struct tree_entry *e, bool *dir_attrs);
/* The version 2 fields of n's entry into e: owner (when owned), device,
 * link group (nlink > 1). */
void fs_node_entry_meta_locked(const struct fs_node *n, struct tree_entry *e);
/* Adds n's own entry, and for directories everything its overlay holds,
 * at path. */
int fs_stage_subtree_locked(struct fs_stage *b, const struct fs_node *n, const char *path);
/* Adds the attributes of directory d when they changed. */
int fs_stage_dir_attrs_locked(struct fs_stage *b, struct fs_node *d);
/* After a successful send: the added directories' attributes are staged. */
void fs_stage_done_locked(struct fs_stage *b);
/* A new directory node name under dir with an empty tree (mkdir, and
 * missing parents of staged paths), put into dir's overlay; held. */
struct fs_node *fs_dir_new_locked(struct fs *fs, struct fs_node *dir, const char *name,
				  size_t len, uint32_t mode, int64_t mtime_ns, bool in_base);
int fs_stage_send(struct fs *fs, struct fs_stage *b);
/* Drops every staged path under directory path (prefix "path/"). */
int fs_stage_drop_below(struct fs *fs, const char *path);
/* Loads the branch's staging into the overlay (at mount). */
int fs_stage_replay(struct fs *fs);

/* ---- file.c ---- */
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
/* A write or truncation by req's caller: clears n's set-group-ID bit
 * where Linux would and the kernel, for FUSE, does not; true if so. */
bool fs_kill_sgid(struct fs *fs, fuse_req_t req, struct fs_node *n);
/* Opens a handle on n (takes a hold); for create. */
int fs_file_open(struct fs *fs, struct fs_node *n, int flags, struct fuse_file_info *fi);

/* ---- write.c ---- */
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
/* Sets the size of n, a file, under n->gate (exclusive): copies it up
 * into a spool unless emptied. */
int fs_file_truncate(struct fs *fs, struct fs_node *n, uint64_t size);
/* Ends n's stream, if any, and drops its result (under n->gate). */
void fs_stream_stop(struct fs *fs, struct fs_node *n);
/* Reads the spool of n (under n->gate, shared): its bytes not copied in
 * yet (lazy copy-up) are first. pread_full's result. */
ssize_t fs_spool_read(struct fs *fs, struct fs_node *n, int fd, void *buf, size_t len, off_t off);
/* Frees n's incremental state: with its spool (closed, under n->gate and
 * fs->lock) or n (freed). */
void fs_write_state_free(struct fs_node *n);
/* The last close of n (under n->gate, exclusive, before its spool goes):
 * a last chunk stored as a delta is stored whole. */
void fs_file_settle(struct fs *fs, struct fs_node *n);
/* Stores n's spooled content and stages its entry, if it is dirty. */
int fs_file_commit(struct fs *fs, struct fs_node *n);
/* Stores and stages every dirty file (unmount), or those nobody has open
 * (retries after failed closes). */
void fs_file_commit_all(struct fs *fs, bool closed_only);

/* ---- dir.c ---- */
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags);

/* ---- follow.c ---- */
/* The follow thread: waits for fs->up, then polls the branch's head every
 * o.poll_s seconds and switches the view to each new commit, until
 * fs->bg_stop. */
void *fs_follow_main(void *arg);

/* The one place errors become errnos for the kernel. */
void fs_reply_err(fuse_req_t req, int rc);

#endif
