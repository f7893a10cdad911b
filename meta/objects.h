/* Reading and writing metadata objects (manifests, tree nodes, commits)
 * through the store, with a cache of decoded tree nodes.
 *
 * Metadata objects are stored like chunks (zstd when it pays, verified
 * against their id on every read) under "meta/<hex id>". They are
 * immutable, so the node cache never needs invalidation; it holds at most
 * cache_bytes of node encodings (LRU), whatever the size of the dataset.
 *
 * Calling sequence:
 *   meta_objects_new(store, 64 << 20, &mo);
 *   meta_node_get(mo, &id, &node); ... use node->n ...; meta_node_put(mo, node);
 *   meta_object_put(mo, bytes, len, &id);
 *   meta_objects_free(mo);
 * All calls are thread-safe. A node from meta_node_get stays valid until
 * its meta_node_put, even if the cache evicts it meanwhile.
 */
#ifndef T9K_META_OBJECTS_H
#define T9K_META_OBJECTS_H

#include "lib/buf.h"
#include "lib/oid.h"
#include "meta/object.h"
#include "store/pack.h"
#include "store/store.h"

#include <stdint.h>

struct meta_objects;

struct meta_node {
	struct oid id;
	struct tree_node n; /* points into raw */
	struct buf raw;
	/* cache bookkeeping, guarded by the cache's lock */
	int refs;
	struct meta_node *lru_prev, *lru_next, *hnext;
};

struct meta_stats {
	uint64_t reads;         /* objects fetched from the store (cache misses) */
	uint64_t writes;        /* objects put (including ones already there) */
	uint64_t writes_new;    /* objects the store did not have */
	uint64_t bytes_new;     /* encoded bytes of those, before compression */
	uint64_t cache_hits;
};

int meta_objects_new(struct store *s, size_t cache_bytes, struct meta_objects **out);
void meta_objects_free(struct meta_objects *mo);
struct store *meta_objects_store(struct meta_objects *mo);

/* Stores an encoded object; *id is its SHA-256. Skips the write if the
 * store already has it. */
int meta_object_put(struct meta_objects *mo, const void *data, size_t len, struct oid *id);
/* Appends the verified bytes of object id to out (T9K_ENOTFOUND if absent). */
int meta_object_get(struct meta_objects *mo, const struct oid *id, struct buf *out);

/* The manifest of file entry e (S_IFREG, not inline), the one function
 * every reader uses: payload 0 fetches and decodes the manifest object and
 * checks its size against e->size; payload 2 (e->is_chunk) synthesizes
 * {e->size, one chunk: e->id, length e->size, standalone object} without
 * touching the store. On success the caller frees *m with manifest_release;
 * on failure *m is empty. T9K_ENOTFOUND when the manifest object is absent. */
int meta_manifest_get(struct meta_objects *mo, const struct tree_entry *e, struct manifest *m);

/* Makes file entry e (mode, name, mtime left to the caller) name the
 * content of m: a file of exactly one standalone chunk with META_INLINE_MAX
 * < size <= META_CHUNK_ENTRY_MAX becomes a payload-2 entry and no manifest
 * is stored; otherwise m is stored and e names it (payload 0). Sets
 * e->size, e->id, e->is_chunk and clears e->is_inline. The chunks must be
 * in the store already; m stays the caller's. */
int meta_manifest_put(struct meta_objects *mo, const struct manifest *m, struct tree_entry *e);

/* A file's manifest, built from where the chunk pipeline stored its
 * chunks: meta_manifest_add is a chunk_emit_fn whose arg is the builder
 * (zeroed first). m.size sums the chunks; manifest_release(&b.m) frees. */
struct manifest_builder {
	struct manifest m;
	uint32_t cap; /* entries allocated at m.chunks */
};
int meta_manifest_add(void *arg, const struct chunk_loc *c, uint64_t off);

/* A decoded tree node, from the cache or the store. */
int meta_node_get(struct meta_objects *mo, const struct oid *id, struct meta_node **out);
void meta_node_put(struct meta_objects *mo, struct meta_node *n);
/* Encodes n, stores it, and returns its id. */
int meta_node_write(struct meta_objects *mo, const struct tree_node *n, struct oid *id);

void meta_objects_stats(struct meta_objects *mo, struct meta_stats *out);
void meta_objects_stats_reset(struct meta_objects *mo);

#endif
