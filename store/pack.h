/* Packs: many chunk objects stored as one object "packs/<64 hex>", their
 * concatenation, so that a large file costs one request per pack instead of
 * one per chunk (object stores charge per request, in money or in server
 * CPU). Each chunk in a pack is exactly the object chunk.h describes, and
 * is found by (pack id, offset, stored length) from the file's manifest:
 * reading one needs no index, and verifies it against its id as ever.
 *
 * A pack id is 32 random bytes: chunks are placed as the file is cut, and
 * their locations are known before the pack is complete. The pack's content
 * is not addressed; every chunk in it is.
 *
 * Calling sequence (one writer per stream; the adding thread is one thread):
 *   pack_writer_new(store, size, uploads, &ops, &pw);
 *   pack_writer_add(pw, iov, n, &loc);  // in stream order: the pack keeps it
 *   pack_writer_flush(pw);              // seals, waits every upload: durable
 *   pack_writer_free(pw);
 * Memory: (uploads + 1) buffers of size bytes, allocated on first use and
 * kept for the writer's life.
 */
#ifndef T9K_PACK_H
#define T9K_PACK_H

#include "lib/oid.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define PACK_KEY_MAX (sizeof("packs/") + OID_HEXSZ)
#define PACK_SIZE_MAX (1u << 30)

/* Where a chunk's stored object is. */
struct chunk_loc {
	struct oid id;     /* SHA-256 of the plaintext */
	uint32_t len;      /* plaintext bytes */
	bool packed;       /* range of "packs/<pack>", else object "chunks/<id>" */
	struct oid pack;
	uint64_t pack_off;
	uint32_t pack_len; /* stored bytes */
};

/* What the layer above keeps about packs: an index of packed chunks, for
 * deduplication. Either function may be NULL. */
struct pack_ops {
	/* 0 and *out when the chunk is stored already (packed or not),
	 * -ENOENT when it is not known, other negative codes on failure. */
	int (*lookup)(void *arg, const struct oid *id, struct chunk_loc *out);
	/* After a pack is durable: its n chunks, all packed in it. */
	int (*stored)(void *arg, const struct chunk_loc *v, size_t n);
	void *arg;
	bool lookup_costly; /* a request each: skipped like store_head_maybe */
};

void pack_key(const struct oid *pack, char key[PACK_KEY_MAX]);

/* Appends the verified plaintext of chunk id, stored as bytes [off, off +
 * stored_len) of pack, to out. A range that is not exactly that chunk's
 * object (cut short, another chunk, damaged) is an error, never data; a
 * missing pack is -ENOENT naming the pack and the chunk. */
int pack_chunk_get(struct store *s, const struct oid *id, const struct oid *pack, uint64_t off,
		   uint32_t stored_len, struct buf *out);

struct pack_writer;
/* size: target bytes per pack (a pack holds at least one chunk, so it may
 * exceed size by less than a chunk); uploads: packs being stored at once. */
int pack_writer_new(struct store *s, uint32_t size, int uploads, const struct pack_ops *ops,
		    struct pack_writer **out);
/* Lets the sealed packs be stored, drops the open one (its chunks were
 * never reported durable) and frees everything. NULL is a no-op. */
void pack_writer_free(struct pack_writer *pw);

/* Appends one stored chunk object (the concatenation of iov[0..n)) to the
 * open pack and fills loc's pack fields (loc->id and loc->len are the
 * caller's). When the pack is full it is sealed and handed to an upload
 * thread; this waits only when every buffer is being uploaded. Returns 0,
 * or the first failure of an earlier upload. Not durable until
 * pack_writer_flush returns 0. */
int pack_writer_add(struct pack_writer *pw, const struct iovec *iov, int n, struct chunk_loc *loc);

/* Seals the open pack and waits until every pack added so far is stored
 * and reported to ops->stored. Returns 0, or the first failure since the
 * last flush (which it clears). */
int pack_writer_flush(struct pack_writer *pw);

#endif
