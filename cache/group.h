/* A cache group: a static list of member daemons (HOST:PORT), each chunk
 * owned by one member chosen by rendezvous (highest-random-weight)
 * hashing of the chunk id with each member's address. Every node that
 * has the same list computes the same owner with no coordination, and a
 * member leaving moves only the chunks it owned.
 *
 *   cache_group_new("h1:7070,h2:7070,h3:7070", "h2:7070", role, timeout, &g);
 *   i = cache_group_owner(g, &id);  g->peers[i] ... (i == g->self: this node)
 *   cache_group_free(g);
 */
#ifndef T9K_CACHE_GROUP_H
#define T9K_CACHE_GROUP_H

#include "cache/peer.h"
#include "lib/oid.h"

#include <stdint.h>

struct cache_group {
	int n;
	char **addrs;              /* NULL-terminated */
	uint64_t *h;               /* per member: hash of its address */
	struct cache_peer **peers; /* NULL at self */
	int self;                  /* this daemon's index, or -1 (a client) */
};

/* self: this member's address as written in list (NULL for a client);
 * a self not in the list is T9K_EUSAGE. */
int cache_group_new(const char *list, const char *self, uint8_t role, int timeout_ms,
		    struct cache_group **out);
void cache_group_free(struct cache_group *g);

uint64_t cache_member_hash(const char *addr);
/* The index of the member with the highest weight for id among h[0..n). */
int cache_rendezvous(const struct oid *id, const uint64_t *h, int n);
int cache_group_owner(const struct cache_group *g, const struct oid *id);

#endif
