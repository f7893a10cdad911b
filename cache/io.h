/* Disk I/O of the cache daemon: io_uring (liburing) with one submitting
 * thread that batches every request queued since its last submit into one
 * io_uring_enter, or plain pread/pwrite in the calling thread where
 * io_uring cannot be set up. The engine is chosen once, at cache_io_new,
 * and cache_io_name says which (the daemon logs it).
 *
 * Calls block the calling thread until their bytes are done (short
 * transfers are continued), and are thread-safe; they return the byte
 * count or -errno.
 */
#ifndef T9K_CACHE_IO_H
#define T9K_CACHE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cache_io_mode { CACHE_IO_AUTO, CACHE_IO_URING, CACHE_IO_PREAD };

struct cache_io;
/* depth: ring entries (io_uring) and the most requests in one batch.
 * CACHE_IO_URING fails if io_uring cannot be used; AUTO falls back. */
int cache_io_new(enum cache_io_mode mode, unsigned depth, struct cache_io **out);
void cache_io_free(struct cache_io *io);
const char *cache_io_name(const struct cache_io *io); /* "io_uring" or "pread" */

ssize_t cache_io_pread(struct cache_io *io, int fd, void *buf, size_t len, off_t off);
ssize_t cache_io_pwrite(struct cache_io *io, int fd, const void *buf, size_t len, off_t off);

/* Requests and batches submitted so far (io_uring; 0 for pread). */
void cache_io_counts(struct cache_io *io, uint64_t *requests, uint64_t *batches);

#endif
