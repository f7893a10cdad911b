/* Mount- and warmup-side access to the cache (client.h): pick the daemon
 * (the local one, or the chunk's owner in a group), fetch, read a passed
 * descriptor, verify, report corruption.
 *
 * Locking: none of its own; peers lock their pools, counters are atomics,
 * and the group is held per call (group.h: one mutex lock), so a call
 * takes the owner and its peer from one group however the list changes
 * meanwhile (cache_client_set_group).
 */
#include "cache/client.h"

#include "cache/group.h"
#include "cache/peer.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cache_client {
	char *url;
	int dead_ms;
	bool no_fd;
	struct cache_peer *local;  /* or: */
	struct cache_group_slot g; /* the group's members (none with local) */
	atomic_ullong gets, fd_reads, corrupt, failures, group_changes;
};

int cache_client_new(const struct cache_client_opts *o, struct cache_client **out)
{
	struct cache_client *cc = calloc(1, sizeof(*cc));
	struct cache_group_conf gc = { .role = PROTO_ROLE_CLIENT,
				       .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000 };
	int rc;

	*out = NULL;
	if (!cc)
		return t9k_err(-ENOMEM, "out of memory");
	cache_group_slot_init(&cc->g, &gc);
	cc->dead_ms = o->dead_ms > 0 ? o->dead_ms : 5000;
	cc->no_fd = o->no_fd;
	cc->url = o->store_url ? strdup(o->store_url) : NULL;
	if (!o->store_url || (!o->local == !o->group))
		rc = t9k_err(-EINVAL, "cache client: want a store URL and either a daemon or a group");
	else if (!cc->url)
		rc = t9k_err(-ENOMEM, "out of memory");
	else if (o->local)
		rc = cache_peer_new(o->local, PROTO_ROLE_CLIENT, o->timeout_ms > 0 ? o->timeout_ms : 5000,
				    &cc->local);
	else if ((rc = cache_group_slot_set(&cc->g, o->group)) > 0)
		rc = 0;
	if (rc < 0) {
		cache_client_free(cc);
		return rc;
	}
	*out = cc;
	return 0;
}

void cache_client_free(struct cache_client *cc)
{
	if (!cc)
		return;
	cache_peer_free(cc->local);
	cache_group_slot_release(&cc->g);
	free(cc->url);
	free(cc);
}

int cache_client_set_group(struct cache_client *cc, const char *list)
{
	int rc;

	if (cc->local)
		return t9k_err(T9K_EUSAGE, "cache: a client of a local daemon has no group to change");
	rc = cache_group_slot_set(&cc->g, list);
	if (rc > 0)
		atomic_fetch_add(&cc->group_changes, 1);
	return rc < 0 ? rc : 0;
}

/* Reads a passed descriptor's len bytes to out: directly when out's
 * buffer is page aligned with the room (the mount's chunk buffers are),
 * else through the page cache. */
static int read_fd(int fd, uint32_t len, struct buf *out)
{
	uint8_t *dst;
	ssize_t n;
	int rc = buf_grow(out, len);

	if (rc < 0)
		return t9k_err(rc, "out of memory");
	dst = out->data + out->len;
	/* the daemon opened the descriptor for us alone */
	n = pread_direct(fd, dst, len, 0, out->cap - out->len - 1);
	if (n == -EINVAL) {
		/* one readahead of the whole file, not the device's 128 KiB steps */
		posix_fadvise(fd, 0, len, POSIX_FADV_WILLNEED);
		n = pread_full(fd, dst, len, 0);
	}
	if (n < 0)
		return t9k_err((int)n, "reading a cache file: %s", strerror((int)-n));
	if ((size_t)n != len)
		return t9k_err(T9K_ECORRUPT, "cache file of %zd bytes, not %u", n, len);
	out->len += len;
	out->data[out->len] = '\0';
	return 0;
}

/* cache_client_get from the daemon p. */
static int get_from(struct cache_client *cc, struct cache_peer *p, const struct proto_item *it,
		    struct buf *out)
{
	const struct oid *id = &it->id;
	uint32_t len = it->len;
	size_t before = out->len;
	char hex[OID_HEXSZ + 1];

	if (!cache_peer_alive(p))
		return t9k_err(-EHOSTDOWN, "cache %s is skipped after a failure", cache_peer_addr(p));
	for (int attempt = 0; attempt < 2; attempt++) {
		struct cache_peer_reply r;
		struct oid got;
		int rc = cache_peer_get(p, cc->no_fd ? 0 : PROTO_F_FD, cc->url, it, out, &r);

		if (rc < 0) {
			atomic_fetch_add(&cc->failures, 1);
			t9k_log(T9K_LOG_WARN, "%s; skipping it for %d ms", t9k_errmsg(rc), cc->dead_ms);
			cache_peer_mark_dead(p, cc->dead_ms);
			return rc;
		}
		if (r.status < 0)
			return r.status;
		if (r.fd >= 0) {
			atomic_fetch_add(&cc->fd_reads, 1);
			rc = read_fd(r.fd, len, out);
			close(r.fd);
			if (rc < 0)
				return rc;
		}
		rc = oid_hash(&got, out->data + before, out->len - before);
		if (rc < 0)
			return t9k_err(rc, "hashing a chunk: %s", t9k_strerror(rc));
		if (out->len - before == len && oid_eq(&got, id))
			return 0;
		atomic_fetch_add(&cc->corrupt, 1);
		t9k_log(T9K_LOG_WARN, "chunk %.16s from cache %s does not match its id; dropped there",
			oid_to_hex(id, hex), cache_peer_addr(p));
		out->len = before;
		rc = cache_peer_drop(p, id, len);
		if (rc < 0)
			return rc;
	}
	return t9k_err(T9K_ECORRUPT, "chunk %s from cache %s is corrupt twice", oid_to_hex(id, hex),
		       cache_peer_addr(p));
}

int cache_client_get(struct cache_client *cc, const struct proto_item *it, struct buf *out)
{
	struct cache_group *g;
	int rc;

	atomic_fetch_add(&cc->gets, 1);
	if (cc->local)
		return get_from(cc, cc->local, it, out);
	g = cache_group_hold(&cc->g);
	rc = get_from(cc, g->peers[cache_group_owner(g, &it->id)], it, out);
	cache_group_put(g);
	return rc;
}

int cache_client_warm(struct cache_client *cc, const struct proto_item *items, uint32_t n,
		      int32_t *status, uint8_t *src)
{
	struct proto_item *sub = NULL;
	struct cache_group *g = NULL;
	uint32_t *idx = NULL;
	int nm = 1, ret = 0;

	if (n == 0)
		return 0;
	sub = malloc(n * sizeof(*sub));
	idx = malloc(n * sizeof(*idx));
	if (!sub || !idx) {
		free(sub);
		free(idx);
		return t9k_err(-ENOMEM, "out of memory");
	}
	if (!cc->local) { /* owners and peers from one group for the whole call */
		g = cache_group_hold(&cc->g);
		nm = g->n;
	}
	/* one batch per daemon: a group's members each get their own chunks */
	for (int m = 0; m < nm; m++) {
		struct cache_peer *p = g ? g->peers[m] : cc->local;
		int32_t st[PROTO_BATCH_MAX];
		uint8_t sr[PROTO_BATCH_MAX];
		uint32_t k = 0;
		int rc;

		for (uint32_t i = 0; i < n; i++)
			if (!g || cache_group_owner(g, &items[i].id) == m) {
				idx[k] = i;
				sub[k++] = items[i];
			}
		if (k == 0)
			continue;
		rc = cache_peer_alive(p) ? cache_peer_warm(p, 0, cc->url, sub, k, st, sr)
					 : t9k_err(-EHOSTDOWN, "cache %s is skipped after a failure",
						   cache_peer_addr(p));
		if (rc < 0 && rc != -EHOSTDOWN)
			cache_peer_mark_dead(p, cc->dead_ms);
		for (uint32_t j = 0; j < k; j++) {
			status[idx[j]] = rc < 0 ? rc : st[j];
			src[idx[j]] = rc < 0 ? PROTO_SRC_STORE : sr[j];
		}
		if (rc < 0)
			ret = rc;
	}
	cache_group_put(g);
	free(sub);
	free(idx);
	return ret;
}

int cache_client_stats(struct cache_client *cc, int member, struct buf *out)
{
	struct cache_group *g;
	int rc;

	if (cc->local)
		return cache_peer_stats(cc->local, out);
	g = cache_group_hold(&cc->g);
	if (member < 0 || member >= g->n)
		rc = t9k_err(-EINVAL, "no group member %d (of %d)", member, g->n);
	else
		rc = cache_peer_stats(g->peers[member], out);
	cache_group_put(g);
	return rc;
}

void cache_client_get_stats(struct cache_client *cc, struct cache_client_stats *out)
{
	out->gets = atomic_load(&cc->gets);
	out->fd_reads = atomic_load(&cc->fd_reads);
	out->corrupt = atomic_load(&cc->corrupt);
	out->failures = atomic_load(&cc->failures);
	out->group_changes = atomic_load(&cc->group_changes);
	out->group_members = (uint64_t)cache_group_slot_members(&cc->g);
}
