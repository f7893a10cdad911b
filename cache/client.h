/* The client side of the cache for mounts and warmup: chunks from the
 * local cache daemon (unix socket, file descriptors passed for zero-copy
 * reads), or straight from the owners of a cache group (TCP).
 *
 * Every chunk cache_client_get returns has been hashed here and matches
 * its id: the mount's in-memory cache holds verified chunks only. A
 * mismatch is reported to the daemon that served it (DROP: it deletes the
 * file) and the chunk is asked for once more, which refills it from the
 * store. A daemon that cannot be reached is skipped for a while; the
 * call then fails with a negative code and the caller reads the store
 * itself (tools/cmd_mount.c does), so reads never fail because a cache
 * member died.
 *
 *   struct cache_client_opts o = { .local = "unix:/run/t9kfs-cache.sock",
 *                                  .store_url = store_url(s) };
 *   cache_client_new(&o, &cc);
 *   struct proto_item it = { .id = id, .len = len }; // or a pack range
 *   cache_client_get(cc, &it, &buf);        // thread-safe
 *   cache_client_free(cc);
 *
 * In group mode the member list can change while calls run
 * (cache_client_set_group): each call uses the list current when it
 * starts; members that stay keep their connections.
 */
#ifndef T9K_CACHE_CLIENT_H
#define T9K_CACHE_CLIENT_H

#include "cache/proto.h"
#include "lib/buf.h"
#include "lib/oid.h"

#include <stdbool.h>
#include <stdint.h>

struct cache_client_opts {
	const char *local;     /* the node's daemon (unix:PATH, a path, or HOST:PORT) */
	const char *group;     /* or: members HOST:PORT,... read through directly
				* (cache_client_set_group replaces them) */
	const char *store_url; /* where daemons fetch misses (required) */
	int timeout_ms;        /* per exchange; default 5000 local, 2000 group */
	int dead_ms;           /* how long a failed daemon is skipped; default 5000 */
	bool no_fd;            /* ask for data, never a descriptor */
};

struct cache_client_stats {
	uint64_t gets, fd_reads, corrupt, failures;
	uint64_t group_members; /* now; 0 on a local daemon */
	uint64_t group_changes; /* by cache_client_set_group */
};

struct cache_client;
int cache_client_new(const struct cache_client_opts *o, struct cache_client **out);
void cache_client_free(struct cache_client *cc);

/* Makes list (HOST:PORT,... as o->group) the group read through; a
 * client of a local daemon is T9K_EUSAGE. Thread-safe, also while other
 * threads read. 0 once new calls use list (also when its members are the
 * current ones: nothing changes), < 0 with nothing changed. */
int cache_client_set_group(struct cache_client *cc, const char *list);

/* Appends the verified plaintext of chunk it->id (it->len bytes) to out.
 * it says where the store has the chunk: { .id, .len } for its own object,
 * or loc PROTO_LOC_PACK and the range of a pack (proto.h struct
 * proto_item); a daemon that misses fetches it from there. A daemon from
 * before packs cannot: a packed chunk then fails (-ENOTSUP) without
 * marking the daemon dead, and the caller reads the store itself. */
int cache_client_get(struct cache_client *cc, const struct proto_item *it, struct buf *out);
/* Loads n (<= PROTO_BATCH_MAX) chunks, each with its location as for
 * cache_client_get, into the cache without moving their bytes here; per
 * chunk status[i] (0 or -errno) and src[i] (PROTO_SRC_LOCAL: it was
 * cached already). Returns < 0 only when no daemon answered for some of
 * them. */
int cache_client_warm(struct cache_client *cc, const struct proto_item *items, uint32_t n,
		      int32_t *status, uint8_t *src);
/* The stats text of the local daemon (or of member i of the group as it
 * is at the call: indexes move when the list changes). */
int cache_client_stats(struct cache_client *cc, int member, struct buf *out);
void cache_client_get_stats(struct cache_client *cc, struct cache_client_stats *out);

#endif
