/* The local disk cache of a cache daemon: chunk plaintexts as files under
 * a directory, an in-memory index, a byte capacity and LRU eviction.
 *
 * On disk (DIR/):
 *   chunks/XX/<64 hex id>   one chunk's plaintext; XX = the id's first byte
 *   tmp/                     fills being written (removed at start)
 * A file appears under chunks/ only complete (written in tmp/, renamed),
 * so a crash leaves whole files or none; the index is rebuilt at start by
 * listing chunks/ (names and sizes, no reads), oldest modification first
 * at the cold end of the LRU.
 *
 * Files are not verified here: whoever receives bytes from the cache (the
 * mount's client, or a daemon getting them from a peer) hashes them and
 * reports a mismatch with cache_disk_drop (cache/client.c, server.c).
 *
 * Capacity counts chunk bytes (file sizes, not disk blocks). A fill
 * reserves its length before anything is written, evicting idle entries
 * first, so concurrent fills never take the total past the capacity; a
 * fill that cannot get room is told so and serves its bytes uncached.
 *
 * Calling sequence of a fill (single-flight: one filler per id, other
 * callers of cache_disk_begin wait for it):
 *   rc = cache_disk_begin(d, &id, len, &e);
 *   HIT:  cache_disk_read(d, e, buf) or cache_disk_open(d, e); cache_disk_put(d, e)
 *   FILL: fetch the bytes; cache_disk_commit(d, e, data) (or cache_disk_abort); cache_disk_put
 *   NOROOM: serve without caching (e is NULL)
 * Thread-safe.
 */
#ifndef T9K_CACHE_DISK_H
#define T9K_CACHE_DISK_H

#include "cache/io.h"
#include "lib/buf.h"
#include "lib/oid.h"

#include <stdint.h>

enum { CACHE_DISK_HIT = 0, CACHE_DISK_FILL = 1, CACHE_DISK_NOROOM = 2 };

struct cache_disk;
struct cache_entry;

struct cache_disk_stats {
	uint64_t capacity, used, chunks, evictions, corrupt_dropped, fills, fill_aborts;
};

/* Opens (creating) dir, rebuilds the index; evicts down to capacity if
 * the directory holds more. io must outlive d. */
int cache_disk_open(const char *dir, uint64_t capacity, struct cache_io *io,
		    struct cache_disk **out);
void cache_disk_close(struct cache_disk *d);

/* See the calling sequence above. Waits while another caller fills id.
 * Returns CACHE_DISK_HIT/FILL (with a reference in *e), CACHE_DISK_NOROOM
 * (*e NULL) or < 0. A cached file whose size differs from len is dropped
 * and filled again. */
int cache_disk_begin(struct cache_disk *d, const struct oid *id, uint32_t len,
		     struct cache_entry **e);
/* Looks up without filling: 1 and a reference, or 0. */
int cache_disk_lookup(struct cache_disk *d, const struct oid *id, struct cache_entry **e);
/* Writes the filled bytes (e->len of them) and makes the entry visible. */
int cache_disk_commit(struct cache_disk *d, struct cache_entry *e, const void *data);
void cache_disk_abort(struct cache_disk *d, struct cache_entry *e);
void cache_disk_put(struct cache_disk *d, struct cache_entry *e);

uint32_t cache_entry_len(const struct cache_entry *e);
/* Appends the entry's bytes to out (through the io engine). */
int cache_disk_read(struct cache_disk *d, struct cache_entry *e, struct buf *out);
/* A read-only descriptor of the entry's file (the caller closes it). */
int cache_disk_open_fd(struct cache_disk *d, struct cache_entry *e);

/* The bytes of id were found corrupt: forget the entry and delete its
 * file. 1 if there was one, 0 if not. */
int cache_disk_drop(struct cache_disk *d, const struct oid *id);

void cache_disk_stats(struct cache_disk *d, struct cache_disk_stats *out);

#endif
