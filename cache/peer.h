/* One cache daemon as seen by whoever talks to it (a mount, warmup, or
 * another daemon of the group): a pool of connections to its address and
 * the request calls of the protocol (proto.h). Transport: TCP for
 * HOST:PORT, a unix socket (with descriptor passing) for unix:PATH.
 *
 * Every call returns 0 when the exchange happened (the daemon's own
 * verdict on each chunk is in its status), or < 0 when the daemon could
 * not be reached or broke the protocol; the caller then marks the peer
 * dead (cache_peer_mark_dead) so the next requests skip it for a while
 * instead of waiting on it again. Bytes are returned as received (over
 * TCP or, see cache_peer_set_rdma, by RDMA READ): verifying them is the
 * caller's job (cache/client.c, server.c).
 * Thread-safe. Reference counted: cache_peer_new gives the caller one
 * reference, cache_peer_ref another (a cache group shares a peer with the
 * next group when the member stays), cache_peer_free drops one and the
 * last closes the idle connections and frees the peer.
 */
#ifndef T9K_CACHE_PEER_H
#define T9K_CACHE_PEER_H

#include "cache/proto.h"
#include "lib/buf.h"

#include <stdbool.h>
#include <stdint.h>

struct cache_peer;

/* timeout_ms bounds connecting and, unless cache_peer_set_wait says
 * otherwise, every exchange. */
int cache_peer_new(const char *addr, uint8_t role, int timeout_ms, struct cache_peer **out);
/* How long an exchange may wait for the daemon's answer (it may be
 * filling the chunk from a slow store); call before first use. */
void cache_peer_set_wait(struct cache_peer *p, int wait_ms);
/* Lets connections to a daemon that announces an RDMA device take chunk
 * bytes by RDMA READ (cache_peer_get only); r is not owned and outlives
 * p. Call before first use. Without it every connection is TCP. */
struct cache_rdma;
void cache_peer_set_rdma(struct cache_peer *p, struct cache_rdma *r);
/* One more reference to p, for a holder that frees it on its own. */
struct cache_peer *cache_peer_ref(struct cache_peer *p);
/* Drops one reference; the last frees p. cache_peer_free(NULL) is a no-op. */
void cache_peer_free(struct cache_peer *p);
const char *cache_peer_addr(const struct cache_peer *p);

/* False for dead_ms after cache_peer_mark_dead. */
bool cache_peer_alive(struct cache_peer *p);
void cache_peer_mark_dead(struct cache_peer *p, int dead_ms);

struct cache_peer_reply {
	int status;   /* the daemon's result for the chunk: 0 or -errno */
	uint8_t src;  /* PROTO_SRC_* */
	int fd;       /* PROTO_F_FD and the chunk was on disk: its file, else -1 */
};

/* One chunk it->id of it->len bytes, stored where it says (a pack range
 * or its own object): on status 0 its bytes are appended to out, or come
 * as r->fd (the caller closes it) when flags has PROTO_F_FD and the
 * daemon sent one. A packed chunk asked of a daemon whose HELLO lacks
 * PROTO_FEAT_LOC (from before packs) is not sent: status -ENOTSUP. */
int cache_peer_get(struct cache_peer *p, uint8_t flags, const char *url,
		   const struct proto_item *it, struct buf *out, struct cache_peer_reply *r);
/* Loads chunks without moving their bytes (PROTO_F_WARM): n <=
 * PROTO_BATCH_MAX; status[i] and src[i] per chunk (-ENOTSUP for a
 * packed one on a daemon from before packs, as cache_peer_get). */
int cache_peer_warm(struct cache_peer *p, uint8_t flags, const char *url,
		    const struct proto_item *items, uint32_t n, int32_t *status, uint8_t *src);
int cache_peer_drop(struct cache_peer *p, const struct oid *id, uint32_t len);
/* Appends the daemon's stats text to out. */
int cache_peer_stats(struct cache_peer *p, struct buf *out);

#endif
