/* libt9kfs: the C API of t9kfs, for programs that read and write
 * datasets without a FUSE mount (the Python package sdk/python is one).
 *
 * It is the same code as the t9kfs command and the mount below a small,
 * stable surface: refs resolve through the metadata service, trees and
 * manifests are read from the store (every object verified against its
 * id), file bytes come through the mount's chunk cache (fs/chunks.h) with
 * its read-ahead for sequential readers, from the node's cache daemon or
 * cache group when one is configured (as 't9kfs mount --cache'), else
 * from the object store. Writes are stored the way 't9kfs put' stores
 * them and staged on a branch; commits, log, diff and refs are requests
 * to the service (meta/API.md).
 *
 * Calling sequence:
 *
 *   t9kfs_client *c;  t9kfs_repo *r;  t9kfs_ref *ref;  t9kfs_file *f;
 *   char buf[65536];
 *   if (t9kfs_connect(NULL, NULL, NULL, &c) < 0)     // the local default server
 *       fprintf(stderr, "t9kfs: %s\n", t9kfs_errmsg());
 *   t9kfs_repo_open(c, "imagenet", &r);
 *   t9kfs_ref_open(r, "v1", &ref);                   // pinned to v1's commit
 *   t9kfs_open(ref, "train/cat.jpg", &f);
 *   int64_t n = t9kfs_pread(f, buf, sizeof(buf), 0);
 *   t9kfs_close(f);  t9kfs_ref_close(ref);  t9kfs_repo_close(r);
 *   t9kfs_client_free(c);
 *
 * Handles are opaque. Each close or free drops the caller's reference;
 * a handle that others use lives on until the last of them is closed (a
 * file keeps its repo, a repo its client), so the order of the closes does
 * not matter. Closing NULL is a no-op.
 *
 * Errors: every call that can fail returns 0 (or a count) on success and
 * a negative code on failure: one of the T9KFS_E* codes below or -errno
 * (-ENOENT, -EEXIST, -EINVAL, -EISDIR, -ENOTDIR, -EACCES, -ENODATA,
 * -ECONNREFUSED, -ENOMEM, ...). The failure also leaves a sentence for a
 * user in t9kfs_errmsg(), per thread.
 *
 * Threads: every call is thread-safe. Reads of one file from many
 * threads at once are fine; each thread's error message is its own.
 *
 * Memory: per repo handle, the chunk cache (cache_size, 256 MiB unless
 * told) plus the chunks in flight of readers and prefetch threads, the
 * decoded-node cache (64 MiB) and, while a put runs, the chunk
 * pipeline of 't9kfs put'; never more with the size of a dataset.
 * Strings the library returns through char ** are malloc'd: free them
 * with t9kfs_free.
 *
 * Ownership in one line per kind: const char * results point into the
 * handle they came from and live as long as it (or, for t9kfs_errmsg,
 * until the thread's next call); char ** results are the caller's.
 *
 * The library exports only the t9kfs_* symbols, versioned T9KFS_0; its
 * soname is libt9kfs.so.0. Build with `make` (build/libt9kfs.so.0) and
 * link with -lt9kfs.
 */
#ifndef T9KFS_H
#define T9KFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(T9KFS_STATIC)
#define T9KFS_API __attribute__((visibility("default")))
#else
#define T9KFS_API
#endif

/* The API this header describes; t9kfs_api_version() says which the
 * library implements. A new function raises it; nothing is removed or
 * changed within one soname. */
#define T9KFS_API_VERSION 1

/* Codes of our own, beyond errno (lib/err.h). */
#define T9KFS_ECORRUPT (-30701)  /* an object does not match its id or format */
#define T9KFS_EBADURL (-30702)   /* a store URL is malformed */
#define T9KFS_EUSAGE (-30703)    /* bad arguments */
#define T9KFS_ECONFLICT (-30704) /* a ref moved meanwhile; a merge conflict */
#define T9KFS_ENOTFOUND (-30705) /* a named repository, ref or path is absent */

/* Flags. */
#define T9KFS_RECURSIVE 1   /* t9kfs_dir_open: the whole tree below, depth first */
#define T9KFS_ALLOW_EMPTY 1 /* t9kfs_commit: commit even with nothing staged */

typedef struct t9kfs_client t9kfs_client;
typedef struct t9kfs_repo t9kfs_repo;
typedef struct t9kfs_ref t9kfs_ref;
typedef struct t9kfs_dir t9kfs_dir;
typedef struct t9kfs_file t9kfs_file;

/* ---- the library ---- */

/* The t9kfs version ("0.1.0-dev"); static. */
T9KFS_API const char *t9kfs_version(void);
/* The T9KFS_API_VERSION the library implements. */
T9KFS_API int t9kfs_api_version(void);
/* The message of this thread's last failed call ("branch 'x' not found in
 * repository 'y'"); static per thread, valid until its next call. */
T9KFS_API const char *t9kfs_errmsg(void);
/* A generic text for a code ("not found"); static. */
T9KFS_API const char *t9kfs_strerror(int code);
/* Frees a string or buffer the library returned through char **. */
T9KFS_API void t9kfs_free(void *p);

/* ---- the client: one metadata service ---- */

/* Connects to the metadata service at server ("unix:PATH" or
 * "http://HOST:PORT"). server NULL or "": the one the t9kfs command
 * would use: $T9KFS_SERVER, else `server` of $T9KFS_HOME/config, else the
 * embedded server under $T9KFS_HOME (default ~/.t9kfs), which is started
 * when it is not running (that needs the t9kfs binary: $T9KFS_BIN, else
 * ../t9kfs beside the library's folder, as in the source tree, else
 * t9kfs on $PATH). token NULL: $T9KFS_TOKEN, else $T9KFS_HOME/token.
 * options (NULL or ""): comma-separated KEY=VALUE:
 *   home=DIR             the state directory instead of $T9KFS_HOME
 *   cache=ADDR           read chunks through the node's cache daemon
 *                        (default $T9KFS_CACHE or `cache` of the config)
 *   cache_group=PEERS    or straight from a cache group's owners: HOST:PORT,...
 *                        or @NAME, the live members the service knows, as
 *                        they are when a repo is opened
 *   cache_size=SIZE      each repo handle's chunk cache (default 256M)
 *   prefetch=SIZE        read-ahead window of a sequential reader (default 64M)
 *   prefetch_threads=N   parallel chunk fetches per repo (default max(4, CPUs))
 *   author=NAME          commit author (default $T9KFS_AUTHOR, else USER@HOST)
 *   timeout=SECONDS      most one request to the service may take (default 3600)
 * The service is asked for its health before this returns: an unreachable
 * one is -ECONNREFUSED. On success *out is the caller's
 * (t9kfs_client_free). */
T9KFS_API int t9kfs_connect(const char *server, const char *token, const char *options,
			    t9kfs_client **out);
T9KFS_API void t9kfs_client_free(t9kfs_client *c);
/* The address connected to; lives as long as c. */
T9KFS_API const char *t9kfs_client_server(const t9kfs_client *c);

/* Creates repository name (store_url NULL: the server's store plus
 * /NAME); *json (if json is not NULL) is the Repo of meta/API.md. */
T9KFS_API int t9kfs_repo_create(t9kfs_client *c, const char *name, const char *store_url,
				char **json);
/* Deletes the record, refs and staging of a repository (objects stay). */
T9KFS_API int t9kfs_repo_delete(t9kfs_client *c, const char *name);
/* {"repos": [Repo, ...]} into *json. */
T9KFS_API int t9kfs_repo_list(t9kfs_client *c, char **json);

/* ---- repositories ---- */

/* Opens repository name for reading and writing data; T9KFS_ENOTFOUND
 * if there is none. Holds c. */
T9KFS_API int t9kfs_repo_open(t9kfs_client *c, const char *name, t9kfs_repo **out);
T9KFS_API void t9kfs_repo_close(t9kfs_repo *r);
/* The repository's name; lives as long as r. */
T9KFS_API const char *t9kfs_repo_name(const t9kfs_repo *r);

/* Resolves spec (a branch, tag, commit id or unique prefix of 4+ hex
 * digits, optionally ~N) to its commit: commit gets 64 hex digits and a
 * NUL; *is_branch (may be NULL) 1 when spec names a branch. */
T9KFS_API int t9kfs_resolve(t9kfs_repo *r, const char *spec, char commit[65], int *is_branch);

/* ---- refs: a commit to read, pinned ---- */

/* Resolves spec now and pins its commit: everything read through the ref
 * is that commit's, even when a branch moves on (open a new ref to see
 * it). Staged changes of a branch are not visible: commit them first.
 * Holds r. */
T9KFS_API int t9kfs_ref_open(t9kfs_repo *r, const char *spec, t9kfs_ref **out);
T9KFS_API void t9kfs_ref_close(t9kfs_ref *ref);
/* The commit id (64 hex digits), the spec as given, whether it named a
 * branch; strings live as long as ref. */
T9KFS_API const char *t9kfs_ref_commit(const t9kfs_ref *ref);
T9KFS_API const char *t9kfs_ref_spec(const t9kfs_ref *ref);
T9KFS_API int t9kfs_ref_is_branch(const t9kfs_ref *ref);

/* One entry at path ("" or "/" is the root; no "." or ".." parts). mode
 * is as stat(2)'s st_mode (S_IFREG, S_IFDIR or S_IFLNK with the
 * permission bits); size is a file's bytes, a symlink target's length or
 * a directory's number of entries; mtime in ns since the epoch; id gets
 * the content's id (a manifest, chunk or tree; "" for bytes stored in the
 * entry itself) and a NUL. Any of them may be NULL. -ENOENT (or
 * T9KFS_ENOTFOUND) for a path that is not there. */
T9KFS_API int t9kfs_stat(t9kfs_ref *ref, const char *path, uint32_t *mode, uint64_t *size,
			 int64_t *mtime_ns, char id[65]);
/* A symlink's target into *target (NUL-terminated). -EINVAL if not a symlink. */
T9KFS_API int t9kfs_readlink(t9kfs_ref *ref, const char *path, char **target);

/* Lists directory path, names in byte order; with T9KFS_RECURSIVE also
 * everything below it, each directory's entries right after it (depth
 * first). -ENOTDIR for a file. Holds ref's repo; memory: one tree node
 * per level open. */
T9KFS_API int t9kfs_dir_open(t9kfs_ref *ref, const char *path, int flags, t9kfs_dir **out);
/* The next entry: 1 with *path (relative to the listed directory, e.g.
 * "a/b.jpg"; valid until the next call on d) and the attributes as in
 * t9kfs_stat (pointers may be NULL); 0 at the end; < 0 on failure. */
T9KFS_API int t9kfs_dir_next(t9kfs_dir *d, const char **path, uint32_t *mode, uint64_t *size,
			     int64_t *mtime_ns);
T9KFS_API void t9kfs_dir_close(t9kfs_dir *d);

/* ---- reading files ---- */

/* Opens a regular file of ref for reading (-EISDIR for a directory,
 * -EINVAL for a symlink: read its target with t9kfs_readlink). Holds
 * ref's repo, not ref. */
T9KFS_API int t9kfs_open(t9kfs_ref *ref, const char *path, t9kfs_file **out);
T9KFS_API uint64_t t9kfs_file_size(const t9kfs_file *f);
/* Reads up to len bytes at off into buf: the count (short only at the
 * end of the file, 0 past it) or < 0. Every byte comes from a chunk that
 * matched its id. Reads that follow each other make the chunks ahead be
 * fetched in the background. Thread-safe on one f. */
T9KFS_API int64_t t9kfs_pread(t9kfs_file *f, void *buf, size_t len, uint64_t off);
T9KFS_API void t9kfs_close(t9kfs_file *f);

/* ---- writing to a branch ---- */

/* Stores the local file (chunked, deduplicated, compressed, as 't9kfs
 * put') and stages it at path of branch, keeping its mode and mtime. */
T9KFS_API int t9kfs_put_file(t9kfs_repo *r, const char *branch, const char *path,
			     const char *local_path);
/* The same for len bytes at data, mode 0644, mtime now. */
T9KFS_API int t9kfs_put_bytes(t9kfs_repo *r, const char *branch, const char *path,
			      const void *data, size_t len);
/* Stages the removal of path (a file, or a directory with all below). */
T9KFS_API int t9kfs_remove(t9kfs_repo *r, const char *branch, const char *path);
/* Drops the staged changes at path and below ("" for all of them);
 * returns how many. */
T9KFS_API int t9kfs_reset(t9kfs_repo *r, const char *branch, const char *path);
/* The staged changes of branch as {"entries": [...]} (meta/API.md, the
 * staging list; at most the first 10000). */
T9KFS_API int t9kfs_staged(t9kfs_repo *r, const char *branch, char **json);
/* Commits what is staged on branch with message and nkv metadata pairs
 * (keys[i] = values[i], keys unique; may be NULL when nkv is 0).
 * -ENODATA when nothing is staged, unless flags has T9KFS_ALLOW_EMPTY.
 * id (may be NULL) gets the new commit's id and a NUL. */
T9KFS_API int t9kfs_commit(t9kfs_repo *r, const char *branch, const char *message,
			   const char *const *keys, const char *const *values, size_t nkv, int flags,
			   char id[65]);

/* ---- history and refs ---- */

/* {"commits": [Commit, ...], "more": bool}: history from spec, newest
 * first, at most max commits (0: all). Commit is meta/API.md's: id, root,
 * parents, time_ns, author, message, meta. */
T9KFS_API int t9kfs_log(t9kfs_repo *r, const char *spec, size_t max, char **json);
/* One Commit, of spec, into *json. */
T9KFS_API int t9kfs_show(t9kfs_repo *r, const char *spec, char **json);
/* {"changes": [{"path", "change": "added"|"removed"|"modified", "old"?,
 * "new"?}]}: what changed from from to to, in path order. */
T9KFS_API int t9kfs_diff(t9kfs_repo *r, const char *from, const char *to, char **json);
/* {"refs": [{"name": "branch/main", "commit": ID}, ...]}, those whose
 * name starts with prefix ("branch/", "tag/"; NULL or "" for all). */
T9KFS_API int t9kfs_refs(t9kfs_repo *r, const char *prefix, char **json);
/* New branch name at from (NULL: main); -EEXIST if there is one. */
T9KFS_API int t9kfs_branch_create(t9kfs_repo *r, const char *name, const char *from);
/* Deletes branch name and its staging. */
T9KFS_API int t9kfs_branch_delete(t9kfs_repo *r, const char *name);
/* New tag name at target (NULL: main); -EEXIST if there is one. */
T9KFS_API int t9kfs_tag_create(t9kfs_repo *r, const char *name, const char *target);
T9KFS_API int t9kfs_tag_delete(t9kfs_repo *r, const char *name);

#ifdef __cplusplus
}
#endif

#endif
