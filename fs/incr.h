/* Incremental stores of a file being written (a branch mount's spool):
 * an fsync or close costs what changed since the last store, not the size
 * of the file.
 *
 * What it keeps, per file: the chunks of the content last stored (their
 * ids, ends and locations: 56 bytes each, about 5.6 MB for the ~100,000
 * chunks of a 100 GiB file), a bit per chunk for "written since" and one
 * for "not in the spool yet", and the state of the last chunk (below).
 *
 * The store (incr_store) walks the file from its start. At a boundary of
 * the old content, an old chunk whose bytes are unchanged is reused as it
 * is, unless it was the last one and the file's size changed (its end was
 * the end of the file, not a cut point). Anywhere else the chunk is cut
 * from the spool's bytes, hashed and stored. So the new content is cut
 * from the last boundary before the first changed byte until a cut lands
 * on an old boundary again (content-defined chunking finds them again
 * within a chunk or two), and the result is exactly the manifest that a
 * full re-cut gives: same boundaries, same ids. The proof is short: a cut
 * point depends only on the bytes of its chunk, from the chunk's start;
 * the one chunk whose end depends on something else is the last one.
 *
 * Appends. The last chunk [B, end) grows with each append until a cut
 * shows up in it. Its cut search goes on from where it ended
 * (cdc_cut_from), its SHA-256 from a copy of the state of the bytes
 * hashed so far (a multiple of 64 bytes), so neither reads it again. It
 * is stored as a delta chunk (store/chunk.h: "deltas/<id>", the first
 * bytes of a base chunk stored whole, plus the bytes since) while the
 * suffixes stored since the base add up to less than the base itself;
 * then it is stored whole and becomes the base (also once the base is
 * INCR_BASE_MAX_AGE old, and on the last close: incr_settle, so that a
 * closed file's chunks need no base; only a crash leaves a delta behind,
 * and garbage collection must then keep its base). Each small append and
 * fsync then stores one delta object of the bytes since the base (on
 * average about sqrt(2 x append x base) bytes, ~10 KB for 60-byte lines
 * on a 1 MiB chunk) and the manifest, and reads back nothing.
 *
 * Copy-up is lazy: a stored file opened for writing gets a sparse spool
 * and every chunk "absent"; a chunk is copied in from the store only when
 * a read or a partial write needs its bytes (incr_fill,
 * incr_prepare_write), or a re-cut does. A chunk reused at a store may
 * stay absent: the new content has it too.
 *
 * Locking: the caller's. incr_fill may run in several readers at once
 * (it has its own lock); everything else excludes every other call.
 */
#ifndef T9K_FS_INCR_H
#define T9K_FS_INCR_H

#include "lib/buf.h"
#include "meta/object.h"
#include "store/cdc.h"
#include "store/chunk.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Where the bytes of an absent chunk come from: its verified plaintext
 * appended to out; prefetch (may be NULL) hints at chunks needed soon. */
struct incr_source {
	int (*fetch)(void *arg, const struct manifest_chunk *c, struct buf *out);
	void (*prefetch)(void *arg, const struct manifest_chunk *c);
	void *arg;
};

struct chunk_pipeline;
struct incr_io {
	struct store *store;
	struct chunk_writer *w;
	struct chunk_pipeline *pipe; /* may be NULL: large regions go through it */
	uint64_t pipe_min;           /* 0: INCR_PIPE_MIN */
	const struct incr_source *src;
	/* May be NULL: stores the new manifest (on another thread, while the
	 * new chunks are stored), before incr_store returns. */
	int (*manifest_put)(void *arg, const struct manifest *m);
	void *arg;
};

struct incr_stats {
	uint64_t stores;       /* incr_store calls */
	uint64_t bytes_cut;    /* bytes read from the spool to cut or hash */
	uint64_t chunks_reused;
	uint64_t chunks_new;   /* chunks cut (stored or found in the store) */
	uint64_t deltas;       /* of which stored as deltas */
	uint64_t bytes_stored; /* bytes written to the store for chunks */
	uint64_t chunks_filled;/* absent chunks copied into the spool */
};

/* Regions this large with nothing to reuse behind them are cut by the
 * pipeline (threads) when one is given. */
#define INCR_PIPE_MIN (32u << 20)
/* A base older than this (seconds) is not used for new deltas: a delta's
 * base is always far younger than gc's grace period (1 h at least). */
#define INCR_BASE_MAX_AGE 600

struct incr;

/* An empty state: nothing stored (the next store cuts everything). */
int incr_new(const struct cdc_params *p, struct incr **out);
void incr_free(struct incr *s);

/* Makes m (of m->size bytes) the content last stored; absent: the spool
 * does not hold its bytes yet (a sparse spool of that size). */
int incr_set(struct incr *s, const struct manifest *m, bool absent);

/* The spool is about to receive [off, off + len): absent chunks it covers
 * in part are copied in first, the ones it covers whole need not be; the
 * chunks it touches are marked written. */
int incr_prepare_write(struct incr *s, int fd, uint64_t off, uint64_t len,
		       const struct incr_source *src);
/* The spool is about to be cut (or extended) to size. */
int incr_prepare_truncate(struct incr *s, int fd, uint64_t size, const struct incr_source *src);
/* Makes [off, off + len) of the spool hold the file's bytes (reads). */
int incr_fill(struct incr *s, int fd, uint64_t off, uint64_t len, const struct incr_source *src);
/* Does the spool hold every byte? */
bool incr_complete(const struct incr *s);

/* Stores the spool's content, size bytes (> 0), reusing what it can, and
 * makes it the content last stored; *m gets its manifest (stored by
 * io->manifest_put when given, at the same time as the chunks; the caller
 * frees it: manifest_release). On failure the state is as before and the
 * same store can be tried again. st (may be NULL) gets this store's
 * counts. */
int incr_store(struct incr *s, int fd, uint64_t size, const struct incr_io *io,
	       struct manifest *m, struct incr_stats *st);

/* Stores the last chunk whole if it is stored as a delta only, so that
 * what is left once the file is closed needs no base (the manifest does
 * not change). Called on the last close. */
int incr_settle(struct incr *s, int fd, const struct incr_io *io);

/* The manifest of the content last stored (a checking aid). */
int incr_manifest(const struct incr *s, struct manifest *m);

/* The assertion mode: cuts the whole spool again (reading absent chunks
 * from src, without copying them in) and compares boundaries and ids with
 * the content last stored; T9K_ECORRUPT naming the first difference. */
int incr_verify(struct incr *s, int fd, const struct incr_source *src);

void incr_totals(const struct incr *s, struct incr_stats *out);
/* Bytes of memory the state holds (its arrays). */
size_t incr_memory(const struct incr *s);

#endif
