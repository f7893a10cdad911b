/* A cache group: a list of member daemons (HOST:PORT), each chunk owned
 * by one member chosen by rendezvous (highest-random-weight) hashing of
 * the chunk id with each member's address. Every node that has the same
 * list computes the same owner with no coordination, and a member leaving
 * moves only the chunks it owned.
 *
 * A group is immutable once built and reference counted; a changing
 * member list is a sequence of groups in a slot. Each request holds the
 * slot's current group for its duration and takes both the owner index
 * and the peer from it, so requests in flight finish against the group
 * they started with while new ones see the new list:
 *
 *   cache_group_slot_init(&sl, &conf);        // conf: role, deadlines, self
 *   cache_group_slot_set(&sl, "h1:7070,h2:7070,h3:7070");  // any thread
 *   g = cache_group_hold(&sl);                // per request (NULL: none)
 *   i = cache_group_owner(g, &id);  g->peers[i] ... (i == g->self: this node)
 *   cache_group_put(g);
 *   cache_group_slot_release(&sl);            // no holder may remain
 *
 * A member in both the old and the new list keeps its struct cache_peer
 * (idle connections, RDMA, dead mark): peers are reference counted too
 * (cache_peer_ref), one reference per group that lists them, so a removed
 * member's peer is freed with the last group still in use that has it.
 */
#ifndef T9K_CACHE_GROUP_H
#define T9K_CACHE_GROUP_H

#include "cache/peer.h"
#include "lib/oid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* Every field but refs is fixed once the group is built: holders read
 * them with no lock. */
struct cache_group {
	atomic_int refs;           /* holders: the slot, requests, the builder */
	int n;
	char **addrs;              /* NULL-terminated */
	uint64_t *h;               /* per member: hash of its address */
	struct cache_peer **peers; /* NULL at self; each one reference */
	int self;                  /* this daemon's index, or -1 (a client) */
};

/* How a group's peers are made; a peer new to a group gets all of it
 * before the group is visible to anyone. */
struct cache_group_conf {
	const char *self;        /* this daemon's address (must be listed), NULL for
				  * a client; not copied: outlives the group */
	uint8_t role;            /* PROTO_ROLE_* said in each peer's HELLO */
	int timeout_ms;          /* cache_peer_new's connect deadline */
	int wait_ms;             /* cache_peer_set_wait, or 0 */
	struct cache_rdma *rdma; /* cache_peer_set_rdma, or NULL (TCP only) */
};

/* A new group with one reference (the caller's; cache_group_put). A
 * member that is not HOST:PORT, or a self not in the list, is T9K_EUSAGE. */
int cache_group_new(const char *list, const char *self, uint8_t role, int timeout_ms,
		    struct cache_group **out);
/* Like cache_group_new with all of conf; members also in old (may be
 * NULL) share old's peer instead of getting a new one. old is unchanged. */
int cache_group_rebuild(const struct cache_group *old, const char *list,
			const struct cache_group_conf *conf, struct cache_group **out);
/* Drops one reference; the last frees the group and drops its peers'.
 * cache_group_put(NULL) is a no-op. */
void cache_group_put(struct cache_group *g);

uint64_t cache_member_hash(const char *addr);
/* The index of the member with the highest weight for id among h[0..n). */
int cache_rendezvous(const struct oid *id, const uint64_t *h, int n);
int cache_group_owner(const struct cache_group *g, const struct oid *id);

/* The current group of a daemon or client, replaced while others use it.
 * Lock order: set_lock, then lock; lock is held only to read or swap the
 * pointer (and take a reference), never across I/O or a peer's lock. */
struct cache_group_slot {
	struct cache_group_conf conf; /* set before the first cache_group_slot_set */
	pthread_mutex_t set_lock;     /* serialises cache_group_slot_set */
	pthread_mutex_t lock;         /* guards g */
	struct cache_group *g;        /* the current group (one reference), or NULL */
};

void cache_group_slot_init(struct cache_group_slot *sl, const struct cache_group_conf *conf);
/* Puts the current group; call when no thread can use the slot any more. */
void cache_group_slot_release(struct cache_group_slot *sl);
/* The current group with a reference for the caller (cache_group_put),
 * or NULL when the slot has none. One mutex lock: take it once per
 * request or batch, not per chunk. */
struct cache_group *cache_group_hold(struct cache_group_slot *sl);
/* Makes list the current group: 1 when it changed (logged at info: the
 * new size, members added and removed), 0 when list has the same members
 * as the current group in any order (nothing is rebuilt), < 0 when list
 * is invalid or lacks conf.self (nothing changes). Thread-safe. */
int cache_group_slot_set(struct cache_group_slot *sl, const char *list);
/* The current group's member count, 0 when there is none. */
int cache_group_slot_members(struct cache_group_slot *sl);

#endif
