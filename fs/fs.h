/* The t9kfs FUSE file system (libfuse3 low-level API): a commit or tag
 * mounted read-only, or a branch mounted read-write.
 *
 * Calling sequence (tools/cmd_mount.c):
 *   struct fs_opts o;
 *   fs_opts_init(&o);  ... set mountpoint, options ...
 *   fs_new(client, repo, "main", &commit, is_branch, &o, &fs);  // reads staging of a branch
 *   fs_mount(fs);      // the kernel has the mount when this returns 0
 *   fs_serve(fs);      // answers requests until unmounted or signalled
 *   fs_free(fs);       // unmounts if still mounted, stores dirty files, frees
 *
 * A mount resolves its ref once (the caller passes the commit) and then
 * reads only immutable objects from the store; the metadata service is
 * used only to read the branch's staging at start, to stage what a
 * branch mount writes, and by a read-only branch mount to poll its
 * branch's head (fs/follow.c). The client and the repo handle must
 * outlive fs.
 * Errors are 0 or negative codes with a message (lib/err.h).
 *
 * Memory: the chunk cache (cache_bytes, passed only by chunks held by
 * readers in flight), the decoded-node cache of the repo (64 MiB), one
 * node per inode the kernel holds or the overlay needs (and, on a branch
 * mount that changed a hard-linked file it had not seen every name of,
 * one per hard-linked name of the branch: fs/link.c), and on branch
 * mounts up to 4 chunk pipelines storing files at once (each a ring of
 * 10 maximum-size chunks plus 7 compression buffers: 68 MiB with 4 MiB
 * chunks). File data being written lives in spool files, not in memory.
 */
#ifndef T9K_FS_H
#define T9K_FS_H

#include "lib/oid.h"
#include "meta/client.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct fs_chunk_source; /* fs/chunks.h */

struct fs_opts {
	const char *mountpoint;
	const char *spool_dir;   /* written files are spooled here (branch mounts) */
	const char *fsname;      /* shown in /proc/mounts, e.g. "t9kfs:data@main" */
	bool read_only;          /* -o ro; commits and tags are always read-only */
	bool allow_other;        /* -o allow_other */
	bool default_permissions; /* -o default_permissions: the kernel checks modes */
	uid_t uid;               /* owner shown for entries stored without one */
	gid_t gid;
	bool uid_set, gid_set;   /* -o uid=, gid=: shown for every stored entry */
	uint64_t cache_bytes;    /* -o cache_size: in-memory chunk cache */
	uint64_t prefetch_bytes; /* -o prefetch: most bytes read ahead of a sequential reader */
	int prefetch_threads;    /* -o prefetch_threads: parallel chunk fetches */
	unsigned read_ahead_kb;  /* -o read_ahead_kb: kernel readahead (root only); 0 keeps it */
	int max_threads;         /* -o max_threads: FUSE worker threads */
	double timeout;          /* -o timeout: entry and attribute cache seconds */
	unsigned poll_s;         /* -o poll: a read-only branch mount checks its branch's
				  * head this often and follows it; 0: never */
	/* Where chunk bytes come from (a cache daemon, tools/cmd_mount.c), or
	 * NULL for the repo's store. Copied by fs_new; the caller keeps owning
	 * its ctx and frees it after fs_free. */
	const struct fs_chunk_source *source;
	/* Called once from a thread of fs_serve when the mount answers
	 * requests (rc 0) or could not (rc < 0). May be NULL. */
	void (*ready)(void *arg, int rc);
	void *ready_arg;
};

/* Fills the defaults: 256 MiB cache, 64 MiB prefetch on max(4, CPUs)
 * threads, 16 MiB readahead, 16 workers, owner = this process, a
 * read-only branch mount polls its head every 2 s. */
void fs_opts_init(struct fs_opts *o);
/* Applies a comma-separated list of 't9kfs mount -o' options to o (list
 * is cut up in place): ro, rw, allow_other, default_permissions,
 * cache_size=, prefetch=, prefetch_threads=, read_ahead_kb=,
 * max_threads=, timeout=, poll=, uid=, gid=, and cache_data (sets
 * *cache_data; refused when cache_data is NULL). T9K_EUSAGE naming the
 * option for anything else or a value out of range. */
int fs_opts_parse(struct fs_opts *o, bool *cache_data, char *list);

struct fs;

/* Prepares a mount of commit (the head of branch `ref` when is_branch and
 * not o->read_only). A branch mount loads the branch's staged changes so
 * it shows head + staging. A read-only branch mount (is_branch and
 * o->read_only) with o->poll_s > 0 follows the branch's head: fs_serve
 * polls it and switches the view to each new commit. */
int fs_new(struct meta_client *mc, struct repo *r, const char *ref, const struct oid *commit,
	   bool is_branch, const struct fs_opts *o, struct fs **out);
int fs_mount(struct fs *fs);
/* Runs the multithreaded session loop; returns when the file system is
 * unmounted (0) or on a session error. SIGINT/SIGTERM/SIGHUP end it.
 * Once the kernel's INIT is answered it raises the mount's readahead (as
 * root: INIT itself can only lower it) and calls o->ready. */
int fs_serve(struct fs *fs);
void fs_free(struct fs *fs);

/* The mount at mountpoint (an absolute path, as /proc/self/mountinfo
 * shows it; the last one when mounts are stacked): 0 with its device and
 * file system type ("fuse.t9kfs" for ours; any pointer may be NULL), or
 * -ENOENT when nothing is mounted there. */
int fs_mount_info(const char *mountpoint, unsigned *major, unsigned *minor, char *type,
		  size_t typesz);
/* Calls fn for every mount of this process's namespace, in
 * /proc/self/mountinfo's order (mount points decoded); a negative return
 * of fn stops the walk and is returned. */
typedef int (*fs_mount_fn)(void *arg, const char *mountpoint, unsigned major, unsigned minor,
			   const char *type);
int fs_mounts_each(fs_mount_fn fn, void *arg);

#endif
