/* Parallel reads of whole files out of a repository into file descriptors:
 * export and `get` hand files over one by one, a pool of threads fetches
 * their manifests and chunks from the store with many requests in flight,
 * and writes each chunk at its offset (pwrite).
 *
 * Calling sequence:
 *   struct fetch *f;
 *   fetch_new(repo, 0, &f);                       // starts the threads
 *   fetch_file(f, &entry, fd, dirfd, name, path, FETCH_OWN);   // per file
 *   rc = fetch_finish(f, rc);                     // waits; first error
 *   fetch_free(f);
 *
 * Chunks that sit back to back in one pack are read with one request per
 * about 8 MiB of the pack (fetch.c FETCH_RANGE_MAX), each still verified.
 *
 * Memory: threads * (one stored range, under 8 MiB + one chunk, + one
 * plaintext chunk) plus the manifests of at most FETCH_FILES_PER_THREAD *
 * threads files (128 at most, two descriptors each), never more whatever
 * the number or size of the files.
 */
#ifndef T9K_META_FETCH_H
#define T9K_META_FETCH_H

#include "meta/object.h"
#include "meta/repo.h"

#include "lib/buf.h"

#include <sys/types.h>

#define FETCH_FILES_PER_THREAD 4

struct fetch;

/* Starts threads workers (0: store_concurrency() of the repo's store). */
int fetch_new(struct repo *r, int threads, struct fetch **out);

/* With FETCH_OWN the fetch owns fd from the call on, also on failure:
 * it applies the entry's mode and mtime and closes fd once the file is
 * complete, and unlinks name in dirfd (which it does not keep past the
 * call: it dups it) when the file cannot be completed. Without it, fd
 * stays the caller's and the bytes go at base + their offset. */
#define FETCH_OWN 1
/* With FETCH_OWN: also give the file e's owner (when it has one), before
 * its mode (chown clears set-ID bits). */
#define FETCH_OWNER 2

/* Queues file entry e (not inline) to be written into fd. Waits while
 * too many files are in flight. path names the file in messages. Returns
 * 0, or the first failure so far (the caller stops and calls
 * fetch_finish). */
int fetch_file(struct fetch *f, const struct tree_entry *e, int fd, off_t base, int dirfd,
	       const char *name, const char *path, int flags);

/* Waits until every queued file is written or, after a failure (or when
 * rc < 0, the caller's own failure), until the threads stop; removes the
 * files that were not completed. Returns rc if negative, else the first
 * failure (message set), else 0. Call once. */
int fetch_finish(struct fetch *f, int rc);
void fetch_free(struct fetch *f);

/* The serial piece, also used by ranged reads: a chunk of a manifest
 * (standalone object or a range of a pack), appended to out. A file
 * entry's manifest comes from meta_manifest_get (meta/objects.h). */
int repo_chunk_read(struct repo *r, const struct manifest_chunk *c, struct buf *out);

#endif
