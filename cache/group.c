/* Cache group membership and rendezvous hashing (group.h). The weight of
 * member m for chunk id is a 64-bit mix of the id's first 8 bytes (already
 * uniform: a SHA-256) with the hash of m's address; ties cannot matter in
 * practice and are broken by the lower index.
 */
#include "cache/group.h"

#include "cache/net.h"
#include "lib/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t cache_member_hash(const char *addr)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

static uint64_t mix64(uint64_t z) /* splitmix64's finaliser */
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int cache_rendezvous(const struct oid *id, const uint64_t *h, int n)
{
	uint64_t key, best = 0;
	int owner = 0;

	memcpy(&key, id->b, sizeof(key));
	for (int i = 0; i < n; i++) {
		uint64_t w = mix64(key ^ mix64(h[i]));

		if (i == 0 || w > best)
			best = w, owner = i;
	}
	return owner;
}

int cache_group_owner(const struct cache_group *g, const struct oid *id)
{
	return cache_rendezvous(id, g->h, g->n);
}

int cache_group_new(const char *list, const char *self, uint8_t role, int timeout_ms,
		    struct cache_group **out)
{
	struct cache_group *g = calloc(1, sizeof(*g));
	int rc;

	*out = NULL;
	if (!g)
		return t9k_err(-ENOMEM, "out of memory");
	g->self = -1;
	rc = cache_net_list(list, &g->addrs, &g->n);
	if (rc == 0 && (!(g->h = calloc((size_t)g->n, sizeof(*g->h))) ||
			!(g->peers = calloc((size_t)g->n, sizeof(*g->peers)))))
		rc = t9k_err(-ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < g->n; i++) {
		if (cache_net_is_unix(g->addrs[i])) {
			rc = t9k_err(T9K_EUSAGE, "cache group member '%s' is not HOST:PORT", g->addrs[i]);
			break;
		}
		g->h[i] = cache_member_hash(g->addrs[i]);
		if (self && !strcmp(self, g->addrs[i]))
			g->self = i;
		else
			rc = cache_peer_new(g->addrs[i], role, timeout_ms, &g->peers[i]);
	}
	if (rc == 0 && self && g->self < 0)
		rc = t9k_err(T9K_EUSAGE, "this daemon's address %s is not in the group list '%s'", self,
			     list);
	if (rc < 0) {
		cache_group_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void cache_group_free(struct cache_group *g)
{
	if (!g)
		return;
	for (int i = 0; g->peers && i < g->n; i++)
		cache_peer_free(g->peers[i]);
	free(g->peers);
	free(g->h);
	cache_net_list_free(g->addrs);
	free(g);
}
