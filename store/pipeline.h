/* Streaming chunk pipeline: cuts a byte stream of any length into chunks,
 * hashes, compresses and stores them on worker threads, and reports the
 * chunks in stream order.
 *
 * Calling sequence:
 *   struct chunk_pipeline *p;
 *   chunk_pipeline_new(store, &opts, &p);      // starts the workers
 *   chunk_pipeline_run(p, read_fn, rarg, chunk_fn, carg, &stats);  // per file
 *   chunk_pipeline_free(p);                    // stops the workers
 *
 * Memory is bounded by the options, never by the stream: a ring of
 * (inflight + 2) * cdc.max bytes that chunks are stored from without a copy
 * (or, where memfd_create is missing, (inflight + 4) * cdc.max of copies),
 * plus (threads + 1) * compressBound(cdc.max) of compression scratch.
 * With packs, also (pack_uploads + 1) * pack_size of pack buffers and each
 * slot's compressed bytes (at most inflight * compressBound(cdc.max)).
 * One run at a time per pipeline; the store must outlive it.
 */
#ifndef T9K_PIPELINE_H
#define T9K_PIPELINE_H

#include "lib/oid.h"
#include "store/cdc.h"
#include "store/pack.h"
#include "store/store.h"

#include <sys/types.h>

struct chunk_pipeline_opts {
	struct cdc_params cdc;
	int threads;  /* workers; 0 = CPUs - 1, at least 1 (the reader
		       * stores chunks too while it waits for them) */
	int inflight; /* chunks queued or being stored; 0 = 2 * threads + 2 */
	int zlevel;   /* zstd level, 0 = no compression */
	/* > 0: new chunks go into packs of about this many bytes (pack.h), in
	 * stream order, and a run returns once its packs are stored; 0: each
	 * chunk is its own object. */
	uint32_t pack_size;
	int pack_uploads;     /* packs stored at once; 0 = 4 */
	struct pack_ops pack; /* the index that finds packed chunks again */
};

/* Fills defaults: 256K/1M/4M chunks, workers as above, zstd level 1. */
void chunk_pipeline_opts_init(struct chunk_pipeline_opts *o);

struct chunk_stats {
	uint64_t bytes;        /* plaintext bytes read */
	uint64_t chunks;       /* chunks cut */
	uint64_t chunks_new;   /* chunks the store did not have */
	uint64_t bytes_stored; /* encoded bytes written to the store */
};

/* Reads up to len bytes into buf: returns the count, 0 at end, or < 0. */
typedef ssize_t (*chunk_read_fn)(void *arg, void *buf, size_t len);
/* Receives each chunk, where it is stored and its offset in the stream, in
 * stream order. A packed chunk is durable only when the run returns 0. A
 * negative return stops the run and is returned by it. */
typedef int (*chunk_emit_fn)(void *arg, const struct chunk_loc *c, uint64_t off);

struct chunk_pipeline;
int chunk_pipeline_new(struct store *s, const struct chunk_pipeline_opts *o,
		       struct chunk_pipeline **out);
void chunk_pipeline_free(struct chunk_pipeline *p);

/* Runs one stream through the pipeline. On failure no further chunk is
 * emitted, chunks already stored stay (they are harmless: unreferenced
 * objects are garbage), and stats count what was done. */
int chunk_pipeline_run(struct chunk_pipeline *p, chunk_read_fn rd, void *rarg,
		       chunk_emit_fn emit, void *earg, struct chunk_stats *stats);

/* A chunk_read_fn over a file descriptor (arg: pointer to int fd). */
ssize_t chunk_read_fd(void *arg, void *buf, size_t len);

#endif
