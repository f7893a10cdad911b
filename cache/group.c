/* Cache group membership and rendezvous hashing (group.h). The weight of
 * member m for chunk id is a 64-bit mix of the id's first 8 bytes (already
 * uniform: a SHA-256) with the hash of m's address; ties cannot matter in
 * practice and are broken by the lower index.
 *
 * Changing membership: a group never changes after it is built; a new
 * list builds a new group (sharing the peers of members that stay) and
 * swaps it into the slot. Readers take the pointer and a reference under
 * the slot's mutex: an atomic pointer alone cannot be read and then
 * referenced safely (the group could be freed in between) without RCU or
 * hazard pointers, and one uncontended lock per request batch costs far
 * less than the request. A writer's build allocates but does no I/O
 * (peers connect on first use), so set_lock is never held for long.
 */
#include "cache/group.h"

#include "cache/net.h"
#include "lib/err.h"
#include "lib/log.h"

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

/* The index of addr in g, or -1. */
static int member_index(const struct cache_group *g, const char *addr)
{
	for (int i = 0; g && i < g->n; i++)
		if (!strcmp(g->addrs[i], addr))
			return i;
	return -1;
}

/* Builds a group of addrs (n of them; taken over, freed on failure). */
static int build(const struct cache_group *old, char **addrs, int n,
		 const struct cache_group_conf *conf, const char *list, struct cache_group **out)
{
	struct cache_group *g = calloc(1, sizeof(*g));
	int rc = 0;

	*out = NULL;
	if (!g) {
		cache_net_list_free(addrs);
		return t9k_err(-ENOMEM, "out of memory");
	}
	atomic_init(&g->refs, 1);
	g->self = -1;
	g->addrs = addrs;
	g->n = n;
	if (!(g->h = calloc((size_t)g->n, sizeof(*g->h))) ||
	    !(g->peers = calloc((size_t)g->n, sizeof(*g->peers))))
		rc = t9k_err(-ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < g->n; i++) {
		int o;

		if (cache_net_is_unix(g->addrs[i])) {
			rc = t9k_err(T9K_EUSAGE, "cache group member '%s' is not HOST:PORT", g->addrs[i]);
			break;
		}
		g->h[i] = cache_member_hash(g->addrs[i]);
		if (conf->self && !strcmp(conf->self, g->addrs[i])) {
			g->self = i;
		} else if ((o = member_index(old, g->addrs[i])) >= 0 && old->peers[o]) {
			g->peers[i] = cache_peer_ref(old->peers[o]);
		} else {
			rc = cache_peer_new(g->addrs[i], conf->role, conf->timeout_ms, &g->peers[i]);
			if (rc == 0) {
				cache_peer_set_wait(g->peers[i], conf->wait_ms);
				cache_peer_set_rdma(g->peers[i], conf->rdma);
			}
		}
	}
	if (rc == 0 && conf->self && g->self < 0)
		rc = t9k_err(T9K_EUSAGE, "this daemon's address %s is not in the group list '%s'",
			     conf->self, list);
	if (rc < 0) {
		cache_group_put(g);
		return rc;
	}
	*out = g;
	return 0;
}

int cache_group_rebuild(const struct cache_group *old, const char *list,
			const struct cache_group_conf *conf, struct cache_group **out)
{
	char **addrs;
	int n, rc = cache_net_list(list, &addrs, &n);

	*out = NULL;
	if (rc < 0)
		return rc;
	return build(old, addrs, n, conf, list, out);
}

int cache_group_new(const char *list, const char *self, uint8_t role, int timeout_ms,
		    struct cache_group **out)
{
	struct cache_group_conf conf = { .self = self, .role = role, .timeout_ms = timeout_ms };

	return cache_group_rebuild(NULL, list, &conf, out);
}

void cache_group_put(struct cache_group *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (int i = 0; g->peers && i < g->n; i++)
		cache_peer_free(g->peers[i]);
	free(g->peers);
	free(g->h);
	cache_net_list_free(g->addrs);
	free(g);
}

/* ---- the current group ---- */

void cache_group_slot_init(struct cache_group_slot *sl, const struct cache_group_conf *conf)
{
	memset(sl, 0, sizeof(*sl));
	sl->conf = *conf;
	pthread_mutex_init(&sl->set_lock, NULL);
	pthread_mutex_init(&sl->lock, NULL);
}

void cache_group_slot_release(struct cache_group_slot *sl)
{
	cache_group_put(sl->g);
	sl->g = NULL;
	pthread_mutex_destroy(&sl->lock);
	pthread_mutex_destroy(&sl->set_lock);
}

struct cache_group *cache_group_hold(struct cache_group_slot *sl)
{
	struct cache_group *g;

	pthread_mutex_lock(&sl->lock);
	g = sl->g;
	if (g)
		atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&sl->lock);
	return g;
}

int cache_group_slot_members(struct cache_group_slot *sl)
{
	struct cache_group *g = cache_group_hold(sl);
	int n = g ? g->n : 0;

	cache_group_put(g);
	return n;
}

/* Members of b not in a. */
static int count_new(const struct cache_group *a, char **b, int nb)
{
	int k = 0;

	for (int i = 0; i < nb; i++)
		k += member_index(a, b[i]) < 0;
	return k;
}

int cache_group_slot_set(struct cache_group_slot *sl, const char *list)
{
	struct cache_group *old, *g = NULL;
	char **addrs = NULL, joined[256];
	int n, added, removed = 0, rc;

	if (!list || !*list)
		return t9k_err(T9K_EUSAGE, "cache group: an empty member list");
	rc = cache_net_list(list, &addrs, &n);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&sl->set_lock);
	old = sl->g; /* only this thread (set_lock) changes it */
	added = count_new(old, addrs, n);
	if (old && added == 0 && n == old->n) {
		/* the same members, maybe in another order: the owners are too */
		cache_net_list_free(addrs);
		pthread_mutex_unlock(&sl->set_lock);
		return 0;
	}
	rc = build(old, addrs, n, &sl->conf, list, &g);
	if (rc == 0) {
		pthread_mutex_lock(&sl->lock);
		sl->g = g;
		pthread_mutex_unlock(&sl->lock);
		/* g is ours to read only until set_lock goes: a next set may put it */
		removed = (old ? old->n : 0) - (g->n - added);
		n = g->n;
		joined[0] = '\0';
		for (int i = 0, len = 0; i < g->n; i++) {
			len += snprintf(joined + len, sizeof(joined) - (size_t)len, "%s%s", i ? "," : "",
					g->addrs[i]);
			if (len >= (int)sizeof(joined) - 1) {
				memcpy(joined + sizeof(joined) - 4, "...", 4);
				break;
			}
		}
	}
	pthread_mutex_unlock(&sl->set_lock);
	if (rc < 0)
		return rc;
	t9k_log(T9K_LOG_INFO, "cache: group now %d member%s (+%d -%d): %s", n, n == 1 ? "" : "s",
		added, removed, joined);
	/* requests still holding the old group keep it (and its peers) alive */
	cache_group_put(old);
	return 1;
}
