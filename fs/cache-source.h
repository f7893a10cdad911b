/* A chunk source (fs/chunks.h) through the cache (cache/client.h): every
 * chunk is asked of the node's cache daemon or of its owner in a cache
 * group first, in a pack or not (cache_client_get verifies it), and read
 * from the store when the cache fails, so a dead cache member never fails
 * a read. The mount (tools/cmd_mount.c) and the SDK (sdk/t9kfs.c) read
 * through it.
 *
 *   struct cache_client_opts o = { .local = "unix:/run/t9kfs-cache.sock",
 *                                  .store_url = store_url(st) };
 *   fs_cache_source_new(&o, st, true, &cs);   // st must outlive cs
 *   fs_cache_source(cs, &src);                // src.ctx is cs; free cs yourself
 *   fs_chunks_new(&src, ...); ... fs_chunks_free(...);
 *   fs_cache_source_free(cs);
 * Thread-safe, also fs_cache_source_set_group while reads run.
 */
#ifndef T9K_FS_CACHE_SOURCE_H
#define T9K_FS_CACHE_SOURCE_H

#include "cache/client.h"
#include "fs/chunks.h"

#include <stdbool.h>

struct fs_cache_source;

/* A source over a cache client of o (o->store_url is required). probe:
 * ask the local daemon for its stats now, so that one which is not there
 * is an error at once rather than a fallback on every read. */
int fs_cache_source_new(const struct cache_client_opts *o, struct store *st, bool probe,
			struct fs_cache_source **out);
/* The fs_chunk_source reading through cs (its free is NULL: cs stays
 * the caller's, freed after the chunk cache that uses it). */
void fs_cache_source(struct fs_cache_source *cs, struct fs_chunk_source *out);
/* Makes list ("HOST:PORT,...") the group read through (arg is cs; the
 * shape of a members watch's apply function). */
int fs_cache_source_set_group(void *arg, const char *list);
/* Reads that fell back to the store so far. */
unsigned long long fs_cache_source_fallbacks(struct fs_cache_source *cs);
void fs_cache_source_free(struct fs_cache_source *cs);

/* The cache's name of chunk mc and where the store has it (its own object
 * or a pack range): a daemon fetches a miss from there. */
int fs_cache_item(const struct manifest_chunk *mc, struct proto_item *it);

#endif
