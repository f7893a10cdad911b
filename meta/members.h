/* Cache group membership kept by the metadata service: soft state, in
 * memory. A cache daemon started with --meta sends a heartbeat every few
 * seconds naming its group, its peer address and, optionally, the
 * Kubernetes node it runs on; it is a member until its heartbeat is ttl_ms
 * old or it leaves. Nothing is written to RocksDB: after a service restart
 * the members are back within one heartbeat, and the daemons keep their
 * last list meanwhile.
 *
 *   meta_members_new(&m);
 *   meta_members_beat(m, "gpu-pool", "10.0.0.7:7070", "node-7", 10000, now);
 *   meta_members_list(m, "gpu-pool", now, &v, &n); ... free(v);
 *   meta_members_free(m);
 *
 * Memory is bounded: at most MEMBERS_GROUPS_MAX groups of
 * MEMBERS_PER_GROUP_MAX members of fixed size (address and node name
 * inline: about 34 MiB when all are full); past that a new one is
 * -ENOSPC. Thread-safe.
 */
#ifndef T9K_META_MEMBERS_H
#define T9K_META_MEMBERS_H

#include <stdint.h>

#define MEMBERS_GROUPS_MAX 64
#define MEMBERS_PER_GROUP_MAX 1024
#define MEMBERS_ADDR_MAX 255
#define MEMBERS_NODE_MAX 253 /* a Kubernetes node name: a DNS subdomain */
#define MEMBERS_TTL_MIN_MS 1000u
#define MEMBERS_TTL_MAX_MS 600000u
#define MEMBERS_TTL_DEFAULT_MS 10000u

struct meta_members;

/* One live member as listed. */
struct meta_member {
	char addr[MEMBERS_ADDR_MAX + 1];
	char node[MEMBERS_NODE_MAX + 1]; /* "" when its heartbeat named none */
};

int meta_members_new(struct meta_members **out);
void meta_members_free(struct meta_members *m);

/* A member address: HOST:PORT or [IPv6]:PORT, HOST letters, digits, '.',
 * '-' (and '_'), port 1-65535; -EINVAL with a message otherwise. */
int meta_members_addr_check(const char *addr);
/* A node name: 1 to MEMBERS_NODE_MAX of [a-z0-9.-], dot-separated labels
 * that start and end with a letter or digit (what Kubernetes accepts as a
 * node name); -EINVAL with a message otherwise. */
int meta_members_node_check(const char *node);

/* addr is a member of group until now_ms + ttl_ms (ms on any monotonic
 * clock; the same for every call), on node (NULL: none). Each heartbeat
 * states the node anew: one without a node clears the last one's. Names
 * are checked (the group like a repository name). */
int meta_members_beat(struct meta_members *m, const char *group, const char *addr,
		      const char *node, uint32_t ttl_ms, uint64_t now_ms);
/* Removes addr now: 0, or T9K_ENOTFOUND when it was not a live member. */
int meta_members_leave(struct meta_members *m, const char *group, const char *addr,
		       uint64_t now_ms);
/* The live members of group, sorted by address, as an array of *n (the
 * caller frees it with free(); not NULL also when empty); an unknown group
 * is empty. */
int meta_members_list(struct meta_members *m, const char *group, uint64_t now_ms,
		      struct meta_member **out, int *n);

#endif
