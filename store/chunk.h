/* Chunks: content-addressed, compressed, self-verifying blobs in a store.
 *
 * A chunk's id is the SHA-256 of its plaintext; it is stored under key
 * "chunks/<64 hex>" as one object in this format (little-endian):
 *
 *   offset  size  field
 *   0       4     magic "T9KC"
 *   4       1     format version, 1
 *   5       1     codec: 0 = raw, 1 = zstd (one frame)
 *   6       2     reserved, 0
 *   8       4     plaintext length
 *   12      ...   payload: plaintext (raw) or the zstd frame
 *
 * Reads check all of it and the hash of the plaintext: a chunk whose bytes
 * do not match its id is T9K_ECORRUPT naming the chunk, never data.
 *
 * Delta chunks. A chunk that is another chunk's first bytes plus some
 * more (the last chunk of a file that grows by small appends, fsync after
 * fsync) may be stored instead under "deltas/<64 hex>" of its id, as
 *
 *   offset  size  field
 *   0       4     magic "T9KD"
 *   4       1     format version, 1
 *   5       1     codec of the suffix: 0 = raw, 1 = zstd (one frame)
 *   6       2     reserved, 0
 *   8       4     plaintext length (prefix + suffix)
 *   12      32    base: the id of a chunk stored whole ("chunks/<base>")
 *   44      4     prefix: bytes taken from the start of the base
 *   48      ...   the suffix: raw, or the zstd frame
 *
 * The base is never a delta itself (one hop). Reading chunk id looks for
 * "chunks/<id>" first and for "deltas/<id>" only when that is absent; the
 * whole plaintext is verified against id as ever. Manifests do not change:
 * they name the chunk by id at its place in the file, with a standalone
 * location, so a file's manifest is the same whichever way its chunks are
 * stored. The gc plan (repo_gc_reachable) keeps a reachable delta and its
 * base.
 */
#ifndef T9K_CHUNK_H
#define T9K_CHUNK_H

#include "lib/buf.h"
#include "lib/oid.h"
#include "store/store.h"

#include <stdbool.h>

#define CHUNK_HDR_SIZE 12
#define CHUNK_KEY_MAX (sizeof("chunks/") + OID_HEXSZ)

/* Key namespaces: file data under "chunks/", metadata objects (manifests,
 * trees, commits: meta/) under "meta/". Same object format, same checks. */
#define CHUNK_NS_DATA "chunks"
#define CHUNK_NS_META "meta"
#define CHUNK_NS_DELTA "deltas"
#define CHUNK_DELTA_HDR_SIZE 48

#define CHUNK_ZLEVEL_DEFAULT 1

enum chunk_codec { CHUNK_RAW = 0, CHUNK_ZSTD = 1 };

/* Per-thread state for writing chunks: a zstd context and scratch space.
 * Not shared between threads. zlevel 0 disables compression. */
struct chunk_writer;
struct chunk_writer *chunk_writer_new(int zlevel);
void chunk_writer_free(struct chunk_writer *w);

struct chunk_put_result {
	struct oid id;
	bool existed;          /* store had it already: nothing written */
	uint32_t stored_bytes; /* object size written (0 when existed) */
	uint8_t codec;
};

/* Hashes data and, unless the store already has the chunk, encodes and
 * stores it. Whether it has it is asked with store_head_maybe: during a
 * fresh upload to S3 most chunks are put without asking (existed is then
 * false even if the object was there). Thread-safe across writers. */
int chunk_put(struct chunk_writer *w, struct store *s, const void *data, size_t len,
	      struct chunk_put_result *res);
/* The same in namespace ns (CHUNK_NS_*). */
int chunk_put_ns(struct chunk_writer *w, struct store *s, const char *ns, const void *data,
		 size_t len, struct chunk_put_result *res);

/* The same for data whose id the caller computed (not checked here). */
int chunk_put_id(struct chunk_writer *w, struct store *s, const struct oid *id, const void *data,
		 size_t len, struct chunk_put_result *res);

/* Stores chunk id, len bytes, as a delta (above): the first prefix bytes
 * of chunk base, which must be stored whole as "chunks/<base>", then
 * suffix. Nothing checks that these bytes hash to id: the caller's
 * promise, which every read verifies. */
int chunk_put_delta(struct chunk_writer *w, struct store *s, const struct oid *id, uint32_t len,
		    const struct oid *base, uint32_t prefix, const void *suffix, size_t suffix_len,
		    struct chunk_put_result *res);
/* Is obj a delta object? Its base into *base when so. */
bool chunk_delta_base(const uint8_t *obj, size_t objlen, struct oid *base);
/* Decodes a delta object of chunk id, reading its base from s, and
 * appends the verified plaintext to out (left as it was on failure). */
int chunk_delta_decode(struct store *s, const struct oid *id, const uint8_t *obj, size_t objlen,
		       struct buf *out);

/* Encodes data (already hashed) into w's scratch; *obj points into it until
 * the next call on w. Exposed for tests and the benchmark. */
int chunk_encode(struct chunk_writer *w, const void *data, size_t len,
		 struct iovec iov[2], uint8_t *codec);

/* Appends the verified plaintext of chunk id to out (a delta when
 * "chunks/<id>" is absent). */
int chunk_get(struct store *s, const struct oid *id, struct buf *out);
int chunk_get_ns(struct store *s, const char *ns, const struct oid *id, struct buf *out);
/* Decodes and verifies one stored object; appends plaintext to out. On
 * failure out is left as it was. */
int chunk_decode(const struct oid *id, const uint8_t *obj, size_t objlen, struct buf *out);
/* The same for an object that sits at the end of out, from start: leaves
 * its verified plaintext there instead (a raw chunk's is shifted over
 * the header, not copied out of another buffer). On failure out->len is
 * start again. */
int chunk_decode_tail(const struct oid *id, struct buf *out, size_t start);

void chunk_key(const struct oid *id, char key[CHUNK_KEY_MAX]);
void chunk_key_ns(const char *ns, const struct oid *id, char key[CHUNK_KEY_MAX]);
/* Parses a key "chunks/<hex>"; -EINVAL for other keys. */
int chunk_key_parse(const char *key, struct oid *id);

#endif
