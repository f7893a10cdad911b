/* Where the file system gets chunk bytes: an in-memory cache of verified
 * chunks, bounded in bytes, in front of a chunk source, with a small pool
 * of threads that fetch ahead of sequential readers.
 *
 * The source is the one seam between fs/ and the bytes: today it reads the
 * object store (fs_chunk_source_store); the per-node cache daemon
 * (cache/) will be another source with the same two calls, and nothing
 * else in fs/ changes.
 *
 * Calling sequence:
 *   fs_chunks_new(&src, cache_bytes, threads, &c);   // c owns src's ctx from here
 *   fs_chunks_get(c, &mc, &ch);  ... ch->data, ch->len ...  fs_chunks_put(c, ch);
 *   fs_chunks_prefetch(c, &mc);  // queued, fetched in the background
 *   fs_chunks_free(c);           // joins the threads
 * All calls are thread-safe. A chunk from fs_chunks_get stays valid until
 * its fs_chunks_put, even if the cache evicts it meanwhile.
 */
#ifndef T9K_FS_CHUNKS_H
#define T9K_FS_CHUNKS_H

#include "lib/buf.h"
#include "meta/object.h"
#include "store/store.h"

#include <pthread.h>
#include <stdint.h>

struct fs_chunk_source {
	/* Appends the verified plaintext of chunk c to out; 0 or < 0 with a
	 * message. Called from many threads at once. */
	int (*fetch)(void *ctx, const struct manifest_chunk *c, struct buf *out);
	/* Frees ctx (may be NULL). */
	void (*free)(void *ctx);
	void *ctx;
};

/* A source reading chunk objects (and pack ranges) from store s, which
 * must outlive it. */
int fs_chunk_source_store(struct store *s, struct fs_chunk_source *out);

struct fs_chunk {
	struct oid id;
	const uint8_t *data;
	uint32_t len;
};

struct fs_chunks_stats {
	uint64_t hits, misses, prefetched, evicted, dropped, bytes_cached;
};

struct fs_chunks;
int fs_chunks_new(const struct fs_chunk_source *src, uint64_t cache_bytes, int threads,
		  struct fs_chunks **out);
void fs_chunks_free(struct fs_chunks *c);

/* The chunk, from the cache or fetched now (waiting for a fetch already
 * under way). A failed fetch is not cached: the next get tries again. */
int fs_chunks_get(struct fs_chunks *c, const struct manifest_chunk *mc, struct fs_chunk **out);
void fs_chunks_put(struct fs_chunks *c, struct fs_chunk *ch);
/* fs_chunks_put for a reader whose bytes the kernel keeps (a mount's
 * page cache): bytes of ch went out. Once as many bytes as the chunk has
 * went out (every part read once, in any order) it is dropped when nobody
 * else holds it: the kernel answers the next reads of those pages, so a
 * stream, or an epoch over many small files, reuses the same few buffers
 * (hot in the caches, no first touch) instead of pushing every chunk
 * through the whole cache. A chunk read again later is fetched again. */
void fs_chunks_put_read(struct fs_chunks *c, struct fs_chunk *ch, size_t bytes);

/* Queues a background fetch unless the chunk is cached, under way, the
 * queue is full or the cache has no room that eviction can make. */
void fs_chunks_prefetch(struct fs_chunks *c, const struct manifest_chunk *mc);

void fs_chunks_stats(struct fs_chunks *c, struct fs_chunks_stats *out);

/* Read-ahead of one reader of a file (an open file of a mount, a file of
 * the SDK): a reader whose reads follow each other (within FS_SEQ_SLACK
 * of the last end) is sequential; after two such reads the chunks ahead
 * of it are queued for the prefetch threads, the window doubling from
 * FS_PREFETCH_STEP up to max_bytes. The file's chunks are chunks[0..n),
 * chunk i ending at file offset ends[i], size bytes in all. lock (may be
 * NULL) guards ra: it is held only while ra changes, not while queueing. */
#define FS_SEQ_SLACK (8u << 20)
#define FS_PREFETCH_STEP (4u << 20)
struct fs_readahead {
	uint64_t next_off;   /* end of the last read */
	uint64_t prefetched; /* prefetch was queued up to here */
	int seq;             /* consecutive sequential reads */
};
void fs_chunks_read_ahead(struct fs_chunks *c, struct fs_readahead *ra, pthread_mutex_t *lock,
			  const struct manifest_chunk *chunks, const uint64_t *ends, uint32_t n,
			  uint64_t size, uint64_t off, uint64_t end, uint64_t max_bytes);
/* Index of the chunk holding offset off (< the file's size). */
uint32_t fs_chunk_at(const uint64_t *ends, uint32_t n, uint64_t off);

#endif
