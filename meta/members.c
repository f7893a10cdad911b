/* Cache group membership with heartbeats (members.h): a small table of
 * groups, each an array of (address, node, expiry), swept of expired members on
 * every call that touches the group. Groups and members are few (a group
 * is the nodes of a cluster), so linear scans under one mutex are enough.
 */
#include "meta/members.h"

#include "lib/err.h"
#include "meta/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct member {
	struct meta_member m; /* as listed */
	uint64_t until;       /* ms */
};

struct group {
	char name[META_REPO_NAME_MAX + 1];
	struct member *v;
	int n, cap;
};

struct meta_members {
	pthread_mutex_t lock;
	struct group g[MEMBERS_GROUPS_MAX];
	int ng;
};

int meta_members_new(struct meta_members **out)
{
	struct meta_members *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void meta_members_free(struct meta_members *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->ng; i++)
		free(m->g[i].v);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int meta_members_addr_check(const char *addr)
{
	size_t len = strnlen(addr, MEMBERS_ADDR_MAX + 1);
	const char *colon, *h = addr, *he;
	unsigned long port = 0;

	if (len > MEMBERS_ADDR_MAX)
		return t9k_err(-EINVAL, "bad member address '%.60s...': longer than %d characters",
			       addr, MEMBERS_ADDR_MAX);
	colon = strrchr(addr, ':');
	if (!colon || colon == addr)
		return t9k_err(-EINVAL, "bad member address '%s': want HOST:PORT", addr);
	he = colon;
	if (*addr == '[') { /* [IPv6]:PORT */
		if (colon[-1] != ']' || colon - addr < 3)
			return t9k_err(-EINVAL, "bad member address '%s': want [IPv6]:PORT", addr);
		h = addr + 1, he = colon - 1;
		for (const char *p = h; p < he; p++)
			if (!(*p == ':' || *p == '.' || (*p >= '0' && *p <= '9') ||
			      (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
				return t9k_err(-EINVAL, "bad member address '%s': not an IPv6 address",
					       addr);
	} else {
		for (const char *p = h; p < he; p++)
			if (!host_char(*p))
				return t9k_err(-EINVAL, "bad member address '%s': character 0x%02x not "
						       "allowed in a host name",
					       addr, (unsigned char)*p);
	}
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return t9k_err(-EINVAL, "bad member address '%s': bad port", addr);
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return t9k_err(-EINVAL, "bad member address '%s': port must be 1-65535", addr);
	return 0;
}

/* Labels of [a-z0-9-] that start and end with a letter or digit, joined
 * by dots: Kubernetes' DNS-1123 subdomain, which a node name is. */
int meta_members_node_check(const char *node)
{
	size_t len = strnlen(node, MEMBERS_NODE_MAX + 1);

	if (len == 0)
		return t9k_err(-EINVAL, "bad node name '': want 1 to %d characters", MEMBERS_NODE_MAX);
	if (len > MEMBERS_NODE_MAX)
		return t9k_err(-EINVAL, "bad node name '%.60s...': longer than %d characters", node,
			       MEMBERS_NODE_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = node[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		bool edge = i == 0 || i + 1 == len || node[i - 1] == '.' || node[i + 1] == '.';

		if (!alnum && c != '-' && c != '.')
			return t9k_err(-EINVAL, "bad node name '%s': character 0x%02x not allowed "
					       "(want lowercase letters, digits, '-' and '.', a "
					       "Kubernetes node name)",
				       node, (unsigned char)c);
		if (!alnum && edge)
			return t9k_err(-EINVAL, "bad node name '%s': each dot-separated part must "
					       "start and end with a letter or digit",
				       node);
	}
	return 0;
}

/* Drops expired members; a group left empty is removed (m->lock held). */
static void sweep(struct meta_members *m, int gi, uint64_t now)
{
	struct group *g = &m->g[gi];
	int k = 0;

	for (int i = 0; i < g->n; i++)
		if (g->v[i].until > now)
			g->v[k++] = g->v[i];
	g->n = k;
	if (k == 0) {
		free(g->v);
		m->g[gi] = m->g[--m->ng];
		memset(&m->g[m->ng], 0, sizeof(m->g[m->ng]));
	}
}

/* The index of group name after a sweep, or -1 (m->lock held). */
static int group_find(struct meta_members *m, const char *name, uint64_t now)
{
	for (int i = 0; i < m->ng; i++) {
		if (strcmp(m->g[i].name, name))
			continue;
		sweep(m, i, now);
		return i < m->ng && !strcmp(m->g[i].name, name) ? i : -1;
	}
	return -1;
}

static int names_check(const char *group, const char *addr)
{
	int rc = meta_cache_group_name_check(group);

	return rc < 0 ? rc : meta_members_addr_check(addr);
}

int meta_members_beat(struct meta_members *m, const char *group, const char *addr,
		      const char *node, uint32_t ttl_ms, uint64_t now_ms)
{
	struct group *g;
	int rc = names_check(group, addr), gi, i;

	if (rc == 0 && node)
		rc = meta_members_node_check(node);
	if (rc < 0)
		return rc;
	if (ttl_ms < MEMBERS_TTL_MIN_MS || ttl_ms > MEMBERS_TTL_MAX_MS)
		return t9k_err(-EINVAL, "heartbeat ttl of %u ms: want %u to %u", ttl_ms,
			       MEMBERS_TTL_MIN_MS, MEMBERS_TTL_MAX_MS);
	pthread_mutex_lock(&m->lock);
	if ((gi = group_find(m, group, now_ms)) < 0) {
		for (int k = m->ng - 1; m->ng == MEMBERS_GROUPS_MAX && k >= 0; k--)
			sweep(m, k, now_ms); /* full: make room from expired groups */
		if (m->ng == MEMBERS_GROUPS_MAX) {
			rc = t9k_err(-ENOSPC, "cache group '%s' not added: the service keeps at most "
					      "%d groups",
				     group, MEMBERS_GROUPS_MAX);
			goto out;
		}
		gi = m->ng++;
		snprintf(m->g[gi].name, sizeof(m->g[gi].name), "%s", group);
	}
	g = &m->g[gi];
	for (i = 0; i < g->n && strcmp(g->v[i].m.addr, addr); i++)
		;
	if (i == g->n) {
		if (g->n == MEMBERS_PER_GROUP_MAX) {
			rc = t9k_err(-ENOSPC, "'%s' not added to cache group '%s': it has the most "
					      "members the service keeps (%d)",
				     addr, group, MEMBERS_PER_GROUP_MAX);
			goto out;
		}
		if (g->n == g->cap) {
			int cap = g->cap ? 2 * g->cap : 8;
			struct member *v = realloc(g->v, (size_t)cap * sizeof(*v));

			if (!v) {
				rc = t9k_err(-ENOMEM, "out of memory");
				goto out;
			}
			g->v = v, g->cap = cap;
		}
		snprintf(g->v[g->n++].m.addr, sizeof(g->v[0].m.addr), "%s", addr);
	}
	snprintf(g->v[i].m.node, sizeof(g->v[i].m.node), "%s", node ? node : "");
	g->v[i].until = now_ms + ttl_ms;
out:
	if (gi >= 0 && m->g[gi].n == 0) /* a group we made but could not fill */
		sweep(m, gi, now_ms);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int meta_members_leave(struct meta_members *m, const char *group, const char *addr,
		       uint64_t now_ms)
{
	int rc = names_check(group, addr), gi;

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&m->lock);
	rc = t9k_err(T9K_ENOTFOUND, "'%s' is not a member of cache group '%s'", addr, group);
	if ((gi = group_find(m, group, now_ms)) >= 0) {
		struct group *g = &m->g[gi];

		for (int i = 0; i < g->n; i++) {
			if (strcmp(g->v[i].m.addr, addr))
				continue;
			g->v[i].until = 0;
			sweep(m, gi, now_ms);
			t9k_err_clear();
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int addr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct meta_member *)a)->addr, ((const struct meta_member *)b)->addr);
}

int meta_members_list(struct meta_members *m, const char *group, uint64_t now_ms,
		      struct meta_member **out, int *n)
{
	struct meta_member *v = NULL;
	int rc = meta_cache_group_name_check(group), gi, k = 0;

	*out = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&m->lock);
	gi = group_find(m, group, now_ms);
	k = gi < 0 ? 0 : m->g[gi].n;
	if (!(v = calloc((size_t)k + 1, sizeof(*v))))
		rc = t9k_err(-ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < k; i++)
		v[i] = m->g[gi].v[i].m;
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		return rc;
	qsort(v, (size_t)k, sizeof(*v), addr_cmp);
	*out = v;
	*n = k;
	return 0;
}
