/* The cache daemon (server.h): listeners, one thread per connection, and
 * the path of a request: owner in the group -> local disk -> store.
 *
 * Threads: a connection is a mount's fetch thread, warmup worker or peer
 * daemon, so there are few of them (max_conns) and each carries a stream
 * of blocking requests; one thread per connection keeps the request path
 * straight-line code. Disk I/O from all of them is batched by the
 * io_uring thread (io.c), peer I/O is bounded by peer_timeout_ms (connect)
 * and peer_wait_ms (an answer, which may need a fill from the store).
 *
 * Verification: bytes from the store are verified by chunk_get (a chunk's
 * own object) or chunk_decode (a range of a pack, proto.h); bytes
 * from a peer are hashed here before they are served or stored; bytes
 * served from this disk are hashed by the receiver, which reports a
 * mismatch with DROP (the file is deleted and the next request refills it
 * from the store).
 *
 * RDMA: when this node's device opened and a peer's connection connected
 * its queue pair (RDMA_CONNECT), a GET with PROTO_F_RDMA is answered by
 * copying the chunk into a buffer lent from a fixed pool (--rdma-buffers)
 * and sending its address; the connection's thread then waits for the
 * reader's RELEASE before the next request. A missing RELEASE destroys the
 * connection's queue pair before the buffer is lent again, and closes it.
 * No free buffer, or a chunk larger than one: the bytes go inline.
 *
 * Single-flight: the owner of a chunk fills it through cache_disk_begin,
 * which lets one caller fetch and makes the others wait for its file,
 * however many mounts and peers ask at once. The caller that fetched
 * answers with the bytes first and writes the file after (commit_fill),
 * so a cold read waits for the store only; a warm-up's answer comes
 * after the file, as it promises the chunk is cached.
 *
 * Membership: the group can change while requests run
 * (cache_server_set_group). Each GET batch holds the group current when
 * it starts (cache_group_hold: one mutex lock per batch) and takes the
 * owner index and the owner's peer from that one group; a change only
 * affects later batches, and a removed member's peer lives until the
 * last batch holding a group with it ends.
 *
 * Locking: s->lock guards the connection list and count, and the store
 * table. s->group has its own locks (group.h), never taken with s->lock
 * held nor the reverse. Counters are atomics. Lock order: s->lock, then a
 * disk's or a peer's lock (never the reverse; neither is held across I/O
 * here except store_open on first use of a URL).
 */
#include "cache/server.h"

#include "cache/disk.h"
#include "cache/group.h"
#include "cache/net.h"
#include "cache/proto.h"
#include "cache/rdma.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/chunk.h"
#include "store/pack.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_STORES 16
#define REQ_MAX (1u << 20) /* largest request payload */
#define NBUCKETS_LAT 14

static const double lat_bounds[NBUCKETS_LAT - 1] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
						     0.01,   0.025,   0.05,   0.1,   0.25,   0.5, 1 };

struct counters {
	atomic_ullong requests, hits, misses, peer_hits, peer_served, store_fetches, store_bytes,
		bytes_served, fds_passed, uncached, peer_failures, peer_corrupt, client_corrupt,
		errors, rdma_lent, group_changes, lat_sum_us;
	atomic_ullong lat[NBUCKETS_LAT];
};

struct conn {
	struct cache_server *s;
	int fd;
	bool is_unix;
	struct cache_rdma_qp *qp; /* connected by the peer's RDMA_CONNECT */
	struct buf req, data;
	struct cache_entry *fill; /* data fetched from the store, its file
				   * written once the answer is out */
	struct conn *next;
};

struct store_slot {
	char *url;
	struct store *st;
};

struct cache_server {
	struct cache_server_opts o;
	char *sock_path;
	struct cache_io *io;
	struct cache_disk *disk;
	struct cache_group_slot group; /* current members; no group: standalone */
	int lfd_unix, lfd_tcp;
	int stop_pipe[2];
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;
	pthread_cond_t gone; /* a connection ended */
	struct conn *conns;
	int nconns;
	struct store_slot stores[MAX_STORES];
	int nstores;
	double started;
	int rdma;          /* cache_rdma_probe's result */
	char rdma_why[256];
	struct cache_rdma *rdma_dev;       /* open device, or NULL: peers use TCP */
	struct cache_rdma_pool *rdma_pool; /* buffers lent to readers */
	atomic_bool rdma_logged;           /* an owner-side RDMA failure was logged */
	struct counters c;
};

void cache_server_opts_init(struct cache_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->io_mode = CACHE_IO_AUTO;
	o->peer_timeout_ms = 2000;
	o->peer_wait_ms = 10000;
	o->dead_ms = 5000;
	o->max_conns = 256;
	o->rdma_buffers = 8;
}

static void count(atomic_ullong *a, uint64_t n)
{
	atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

/* The store for url, opened on first use. */
/* Is url under one of the --stores prefixes (any when none were given)? */
static bool store_allowed(const struct cache_server *s, const char *url)
{
	const char *p = s->o.stores;

	if (!p)
		return true;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n && !strncmp(url, p, n))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

static int get_store(struct cache_server *s, const char *url, struct store **out)
{
	int rc = 0;

	if (!store_allowed(s, url))
		return t9k_err(-EACCES, "store %s is not under --stores %s", url, s->o.stores);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nstores; i++)
		if (!strcmp(s->stores[i].url, url)) {
			*out = s->stores[i].st;
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	if (s->nstores == MAX_STORES) {
		rc = t9k_err(-EMFILE, "cache: more than %d stores in use", MAX_STORES);
	} else {
		struct store_slot *sl = &s->stores[s->nstores];

		rc = store_open(url, &sl->st);
		if (rc == 0 && !(sl->url = strdup(url))) {
			store_close(sl->st);
			rc = t9k_err(-ENOMEM, "out of memory");
		}
		if (rc == 0) {
			*out = sl->st;
			s->nstores++;
			t9k_log(T9K_LOG_INFO, "cache: opened store %s", url);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static bool verified(const struct buf *b, const struct oid *id)
{
	struct oid got;

	return oid_hash(&got, b->data, b->len) == 0 && oid_eq(&got, id);
}

static void log_chunk_err(const char *what, const struct oid *id, int rc)
{
	char hex[OID_HEXSZ + 1];

	t9k_log(T9K_LOG_WARN, "cache: chunk %.16s: %s: %s", oid_to_hex(id, hex), what, t9k_errmsg(rc));
}

/* Asks the owner p; 0 when r holds its answer (data verified in c->data). */
static int from_owner(struct conn *c, struct cache_peer *p, const char *url,
		      const struct proto_item *it, bool warm, struct proto_chunk *r)
{
	struct cache_server *s = c->s;
	int rc;

	if (!cache_peer_alive(p))
		return -EHOSTDOWN;
	if (warm) {
		int32_t st;
		uint8_t src;

		rc = cache_peer_warm(p, PROTO_F_PEER, url, it, 1, &st, &src);
		if (rc == 0 && st == 0) {
			r->status = 0;
			r->src = src == PROTO_SRC_LOCAL ? PROTO_SRC_LOCAL : PROTO_SRC_PEER;
			r->how = PROTO_HOW_NONE;
			return 0;
		}
	} else {
		struct cache_peer_reply pr;

		rc = cache_peer_get(p, PROTO_F_PEER, url, it, &c->data, &pr);
		if (rc == 0 && pr.status == 0) {
			if (verified(&c->data, &it->id)) {
				count(&s->c.peer_hits, 1);
				r->status = 0;
				r->src = PROTO_SRC_PEER;
				r->how = PROTO_HOW_INLINE;
				return 0;
			}
			count(&s->c.peer_corrupt, 1);
			log_chunk_err("corrupt from its owner, which drops it", &it->id,
				      t9k_err(T9K_ECORRUPT, "hash mismatch from %s", cache_peer_addr(p)));
			if (cache_peer_drop(p, &it->id, it->len) < 0)
				cache_peer_mark_dead(p, s->o.dead_ms);
			c->data.len = 0;
			return -EIO;
		}
		if (rc == 0) { /* alive, but could not get it: try ourselves */
			c->data.len = 0;
			return pr.status < 0 ? pr.status : -EIO;
		}
	}
	c->data.len = 0;
	if (rc < 0) { /* the exchange failed or the owner could not get it: skip it */
		count(&s->c.peer_failures, 1);
		t9k_log(T9K_LOG_WARN, "cache: peer %s failed (%s); skipping it for %d ms",
			cache_peer_addr(p), t9k_errmsg(rc), s->o.dead_ms);
		cache_peer_mark_dead(p, s->o.dead_ms);
	}
	return rc < 0 ? rc : -EIO;
}

/* The verified plaintext of it from the store, wherever it says the chunk
 * is (its own object or a range of a pack), to out. A pack range that is
 * not the chunk object (cut short, another chunk, corrupt) is an error,
 * never data. */
static int fetch_store(struct store *st, const struct proto_item *it, struct buf *out)
{
	if (it->loc == PROTO_LOC_OBJECT)
		return chunk_get(st, &it->id, out);
	return pack_chunk_get(st, &it->id, &it->pack, it->pack_off, it->pack_len, out);
}

/* This node's disk, filled from the store on a miss. *fd is set when
 * the reply passes the file. */
static int from_disk(struct conn *c, struct store *st, const struct proto_item *it, uint8_t flags,
		     struct proto_chunk *r, int *fd)
{
	struct cache_server *s = c->s;
	bool warm = flags & PROTO_F_WARM;
	struct cache_entry *e;
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		int how = cache_disk_begin(s->disk, &it->id, it->len, &e);

		if (how < 0)
			return how;
		if (how == CACHE_DISK_HIT) {
			count(&s->c.hits, 1);
			r->src = PROTO_SRC_LOCAL;
			r->how = PROTO_HOW_NONE;
			if (!warm && (flags & PROTO_F_FD) && c->is_unix) {
				rc = *fd = cache_disk_open_fd(s->disk, e);
				r->how = PROTO_HOW_FD;
			} else if (!warm) {
				rc = cache_disk_read(s->disk, e, &c->data);
				r->how = PROTO_HOW_INLINE;
			}
			cache_disk_put(s->disk, e);
			if (rc >= 0)
				return 0;
			log_chunk_err("unreadable cache file, dropped", &it->id, rc);
			cache_disk_drop(s->disk, &it->id);
			*fd = -1;
			c->data.len = 0;
			continue;
		}
		count(&s->c.misses, 1);
		count(&s->c.store_fetches, 1);
		rc = fetch_store(st, it, &c->data);
		if (rc == 0 && c->data.len != it->len)
			rc = t9k_err(T9K_ECORRUPT, "chunk is %zu bytes, the request says %u", c->data.len,
				     it->len);
		if (rc == 0)
			count(&s->c.store_bytes, c->data.len);
		if (how == CACHE_DISK_FILL && rc == 0 && !warm) {
			/* a reader gets the bytes before the file is written
			 * (commit_fill, after the answer): a cold read waits
			 * for the store, not for this disk too. A warm-up's
			 * answer still means "cached". */
			c->fill = e;
		} else if (how == CACHE_DISK_FILL) {
			int crc = rc == 0 ? cache_disk_commit(s->disk, e, c->data.data) : 0;

			if (crc < 0)
				log_chunk_err("not cached", &it->id, crc);
			else if (rc < 0)
				cache_disk_abort(s->disk, e);
			cache_disk_put(s->disk, e);
		} else {
			count(&s->c.uncached, 1);
		}
		if (rc < 0) {
			c->data.len = 0;
			return rc;
		}
		r->src = PROTO_SRC_STORE;
		r->how = warm ? PROTO_HOW_NONE : PROTO_HOW_INLINE;
		return 0;
	}
	return rc;
}

static void rdma_log_once(struct cache_server *s, const char *what, int rc)
{
	bool first = !atomic_exchange(&s->rdma_logged, true);

	t9k_log(first ? T9K_LOG_WARN : T9K_LOG_DEBUG, "cache: RDMA %s: %s", what, t9k_errmsg(rc));
}

/* Waits for the reader's RELEASE of token: twice its read deadline (the
 * peer's --peer-wait, taken to be ours) and a second, so a reader giving
 * up on its read is heard before this side gives up on it. */
static int wait_release(struct conn *c, uint32_t token)
{
	struct pollfd pf = { .fd = c->fd, .events = POLLIN };
	struct proto_hdr h;
	uint8_t tb[4];
	uint32_t got = 0;
	int n, rc;

	do
		n = poll(&pf, 1, 2 * c->s->o.peer_wait_ms + 1000);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return t9k_err(-errno, "poll: %s", strerror(errno));
	if (n == 0)
		return t9k_err(-ETIMEDOUT, "no RELEASE of an RDMA buffer from the reader");
	rc = proto_recv_hdr(c->fd, &h, NULL);
	if (rc == 0 && h.type != PROTO_RELEASE)
		rc = t9k_err(T9K_ECORRUPT, "cache protocol: frame type %u instead of RELEASE", h.type);
	if (rc == 0 && h.len != sizeof(tb))
		rc = t9k_err(T9K_ECORRUPT, "cache protocol: RELEASE of %u bytes", h.len);
	if (rc == 0)
		rc = proto_recv_exact(c->fd, tb, sizeof(tb));
	if (rc == 0)
		rc = proto_release_decode(tb, sizeof(tb), &got);
	if (rc == 0 && got != token)
		rc = t9k_err(T9K_ECORRUPT, "cache protocol: RELEASE of buffer %08x, lent %08x", got, token);
	return rc;
}

/* Lends c->data to the reader through a registered buffer: 1 when the
 * chunk went that way, 0 when it is to go inline (no buffer free, chunk
 * larger than one), < 0 when the connection must close. */
static int serve_rdma(struct conn *c, const struct proto_chunk *r)
{
	struct cache_server *s = c->s;
	uint8_t pl[PROTO_CHUNK_HDR + PROTO_RDMA_DESC];
	struct proto_chunk rr = *r;
	struct cache_rdma_slot sl;
	struct proto_rdma_desc d;
	int rc;

	if (c->data.len == 0 || c->data.len > CACHE_RDMA_BUF_SIZE ||
	    cache_rdma_pool_take(s->rdma_pool, &sl) < 0)
		return 0;
	memcpy(sl.buf, c->data.data, c->data.len);
	rr.how = PROTO_HOW_RDMA;
	rr.len = (uint32_t)c->data.len;
	d = (struct proto_rdma_desc){ .addr = sl.addr, .rkey = sl.rkey, .token = sl.token };
	proto_chunk_encode(pl, &rr);
	proto_rdma_desc_encode(pl + PROTO_CHUNK_HDR, &d);
	rc = proto_send(c->fd, PROTO_CHUNK, 0, pl, sizeof(pl), NULL, 0, -1);
	if (rc == 0)
		rc = wait_release(c, sl.token);
	if (rc < 0) {
		/* the reader may still be reading: cut it off before the buffer is lent again */
		rdma_log_once(s, "lent buffer not released; closing the connection", rc);
		cache_rdma_qp_free(c->qp);
		c->qp = NULL;
	}
	cache_rdma_pool_put(s->rdma_pool, &sl);
	if (rc < 0)
		return rc;
	count(&s->c.rdma_lent, 1);
	return 1;
}

static void observe(struct cache_server *s, double secs)
{
	int b = 0;

	while (b < NBUCKETS_LAT - 1 && secs > lat_bounds[b])
		b++;
	count(&s->c.lat[b], 1);
	count(&s->c.lat_sum_us, (uint64_t)(secs * 1e6));
}

/* Writes the cache file of what from_disk fetched from the store for
 * this answer (c->data), now that the answer is out. Others asking for
 * the chunk meanwhile wait for it (cache_disk_begin). */
static void commit_fill(struct conn *c, const struct oid *id)
{
	struct cache_server *s = c->s;
	int rc;

	if (!c->fill)
		return;
	rc = cache_disk_commit(s->disk, c->fill, c->data.data);
	if (rc < 0)
		log_chunk_err("not cached", id, rc);
	cache_disk_put(s->disk, c->fill);
	c->fill = NULL;
}

/* g: the group held for the batch, or NULL (standalone). */
static int serve_one(struct conn *c, const struct cache_group *g, struct store *st, const char *url,
		     const struct proto_item *it, uint8_t flags)
{
	struct cache_server *s = c->s;
	struct proto_chunk r = { .status = 0, .how = PROTO_HOW_NONE, .id = it->id, .len = it->len };
	uint8_t hdr[PROTO_CHUNK_HDR];
	double t0 = now_sec();
	int fd = -1, rc = -EHOSTDOWN, owner;

	c->data.len = 0;
	count(&s->c.requests, 1);
	if (flags & PROTO_F_PEER)
		count(&s->c.peer_served, 1);
	if (g && !(flags & PROTO_F_PEER) && (owner = cache_group_owner(g, &it->id)) != g->self)
		rc = from_owner(c, g->peers[owner], url, it, flags & PROTO_F_WARM, &r);
	if (rc < 0)
		rc = from_disk(c, st, it, flags, &r, &fd);
	if (rc < 0) {
		count(&s->c.errors, 1);
		log_chunk_err("cannot serve", &it->id, rc);
		r.status = rc < -(T9K_ERR_BASE + 99) ? -EIO : rc;
		r.how = PROTO_HOW_NONE;
	}
	if (r.how == PROTO_HOW_INLINE && (flags & PROTO_F_RDMA) && c->qp && s->rdma_pool) {
		rc = serve_rdma(c, &r);
		if (rc != 0) {
			if (rc > 0)
				count(&s->c.bytes_served, c->data.len);
			observe(s, now_sec() - t0);
			commit_fill(c, &it->id);
			if (c->data.cap > (8u << 20))
				buf_release(&c->data);
			return rc < 0 ? rc : 0;
		}
	}
	proto_chunk_encode(hdr, &r);
	if (r.how == PROTO_HOW_FD) {
		count(&s->c.fds_passed, 1);
		count(&s->c.bytes_served, it->len);
	} else if (r.how == PROTO_HOW_INLINE) {
		count(&s->c.bytes_served, c->data.len);
	}
	rc = proto_send(c->fd, PROTO_CHUNK, 0, hdr, sizeof(hdr), c->data.data,
			r.how == PROTO_HOW_INLINE ? c->data.len : 0, fd);
	if (fd >= 0)
		close(fd);
	observe(s, now_sec() - t0);
	commit_fill(c, &it->id);
	if (c->data.cap > (8u << 20)) { /* keep idle connections small */
		buf_release(&c->data);
	}
	return rc;
}

static int reply_err(struct conn *c, int code, const char *msg)
{
	struct buf b = BUF_INIT;
	int rc = proto_err_encode(&b, code, msg);

	if (rc == 0)
		rc = proto_send_raw(c->fd, b.data, b.len);
	buf_release(&b);
	return rc;
}

static int handle(struct conn *c, const struct proto_hdr *h)
{
	struct cache_server *s = c->s;
	const uint8_t *p = c->req.data;
	int rc = 0;

	switch (h->type) {
	case PROTO_HELLO: {
		uint8_t role, ok[2] = { PROTO_VERSION,
					(uint8_t)((c->is_unix ? PROTO_FEAT_FD : 0) | PROTO_FEAT_LOC |
						  (s->rdma_dev && !c->is_unix ? PROTO_FEAT_RDMA : 0)) };

		rc = proto_hello_decode(p, h->len, &role);
		if (rc < 0)
			return reply_err(c, rc, t9k_errmsg(rc)) < 0 ? -EIO : rc;
		return proto_send(c->fd, PROTO_OK, 0, ok, 2, NULL, 0, -1);
	}
	case PROTO_GET: {
		struct proto_get *g = malloc(sizeof(*g));
		char url[PROTO_URL_MAX + 1];
		struct store *st = NULL;
		struct cache_group *grp;

		if (!g)
			return -ENOMEM;
		rc = proto_get_decode(p, h->len, h->flags, g);
		if (rc < 0) {
			free(g);
			return reply_err(c, rc, t9k_errmsg(rc)) < 0 ? -EIO : rc;
		}
		memcpy(url, g->url, g->url_len);
		url[g->url_len] = '\0';
		rc = get_store(s, url, &st);
		grp = cache_group_hold(&s->group); /* the whole batch sees one group */
		for (uint32_t i = 0; i < g->n; i++) {
			if (rc < 0) {
				/* every chunk of the batch gets the store's error */
				struct proto_chunk r = { .status = -EIO, .how = PROTO_HOW_NONE,
							 .id = g->items[i].id, .len = g->items[i].len };
				uint8_t hdr[PROTO_CHUNK_HDR];

				proto_chunk_encode(hdr, &r);
				if (proto_send(c->fd, PROTO_CHUNK, 0, hdr, sizeof(hdr), NULL, 0, -1) < 0)
					break;
				continue;
			}
			if (serve_one(c, grp, st, url, &g->items[i], h->flags) < 0) {
				cache_group_put(grp);
				free(g);
				return -EIO;
			}
		}
		cache_group_put(grp);
		if (rc < 0)
			t9k_log(T9K_LOG_WARN, "cache: store %s: %s", url, t9k_errmsg(rc));
		free(g);
		return 0;
	}
	case PROTO_DROP: {
		struct proto_item it;

		rc = proto_drop_decode(p, h->len, &it);
		if (rc < 0)
			return reply_err(c, rc, t9k_errmsg(rc)) < 0 ? -EIO : rc;
		if (cache_disk_drop(s->disk, &it.id) > 0) {
			count(&s->c.client_corrupt, 1);
			log_chunk_err("reported corrupt; file dropped", &it.id,
				      t9k_err(T9K_ECORRUPT, "hash mismatch at the receiver"));
		}
		return proto_send(c->fd, PROTO_OK, 0, NULL, 0, NULL, 0, -1);
	}
	case PROTO_RDMA_CONNECT: {
		struct cache_rdma_endpoint theirs, mine;
		struct buf b = BUF_INIT;

		rc = proto_rdma_ep_decode(p, h->len, &theirs);
		if (rc < 0)
			return reply_err(c, rc, t9k_errmsg(rc)) < 0 ? -EIO : rc;
		if (!s->rdma_dev || c->is_unix || c->qp) {
			rc = t9k_err(-ENOTSUP, c->qp ? "RDMA is already connected on this connection"
						    : "no RDMA device is open on this node");
			return reply_err(c, rc, t9k_errmsg(rc)) < 0 ? -EIO : 0;
		}
		rc = cache_rdma_qp_new(s->rdma_dev, &c->qp, &mine);
		if (rc == 0)
			rc = cache_rdma_qp_connect(c->qp, &theirs);
		if (rc == 0)
			rc = proto_rdma_ep_encode(&b, PROTO_RDMA_ACCEPT, &mine);
		if (rc < 0) {
			/* the peer falls back to TCP on this connection */
			rdma_log_once(s, "cannot connect a peer's queue pair", rc);
			cache_rdma_qp_free(c->qp);
			c->qp = NULL;
			buf_release(&b);
			return reply_err(c, rc, t9k_errmsg(rc)) < 0 ? -EIO : 0;
		}
		rc = proto_send_raw(c->fd, b.data, b.len);
		buf_release(&b);
		return rc;
	}
	case PROTO_STATS: {
		struct buf t = BUF_INIT;

		rc = cache_server_stats(s, false, &t);
		if (rc == 0)
			rc = proto_send(c->fd, PROTO_TEXT, 0, t.data, t.len, NULL, 0, -1);
		buf_release(&t);
		return rc;
	}
	default: /* RELEASE outside serve_rdma's wait included */
		rc = t9k_err(T9K_ECORRUPT, "cache protocol: unknown request type %u", h->type);
		reply_err(c, rc, t9k_errmsg(rc));
		return rc;
	}
}

static void *conn_main(void *arg)
{
	struct conn *c = arg, **pp;
	struct cache_server *s = c->s;

	for (;;) {
		struct proto_hdr h;
		int rc = proto_recv_hdr(c->fd, &h, NULL);

		if (rc == -ECONNRESET || rc == -EPIPE || rc == -EBADF)
			break;
		if (rc == 0 && h.len > REQ_MAX)
			rc = t9k_err(T9K_ECORRUPT, "cache protocol: request of %u bytes", h.len);
		if (rc == 0) {
			c->req.len = 0;
			rc = buf_grow(&c->req, h.len);
			if (rc == 0)
				rc = proto_recv_exact(c->fd, c->req.data, h.len);
		}
		if (rc == 0)
			rc = handle(c, &h);
		if (rc < 0) {
			if (rc != -ECONNRESET && rc != -EPIPE)
				t9k_log(T9K_LOG_INFO, "cache: closing a connection: %s", t9k_errmsg(rc));
			break;
		}
	}
	cache_rdma_qp_free(c->qp);
	close(c->fd);
	pthread_mutex_lock(&s->lock);
	for (pp = &s->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	s->nconns--;
	pthread_cond_broadcast(&s->gone);
	pthread_mutex_unlock(&s->lock);
	buf_release(&c->req);
	buf_release(&c->data);
	free(c);
	return NULL;
}

static void accept_one(struct cache_server *s, int lfd, bool is_unix)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	struct conn *c;
	pthread_attr_t at;
	pthread_t th;
	int rc;

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			t9k_log(T9K_LOG_WARN, "cache: accept: %s", strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			usleep(10000);
		return;
	}
	if (!is_unix) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	pthread_mutex_lock(&s->lock);
	if (s->nconns >= s->o.max_conns) {
		pthread_mutex_unlock(&s->lock);
		t9k_log(T9K_LOG_WARN, "cache: refusing a connection: %d open (--max-conns)", s->nconns);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->is_unix = is_unix;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &at, conn_main, c);
	pthread_attr_destroy(&at);
	if (rc) {
		s->conns = c->next;
		s->nconns--;
		close(fd);
		free(c);
		t9k_log(T9K_LOG_WARN, "cache: cannot start a connection thread: %s", strerror(rc));
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- /metrics over HTTP ---- */

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **ptr)
{
	struct cache_server *s = cls;
	struct MHD_Response *resp;
	struct buf t = BUF_INIT;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;

	(void)version, (void)upload, (void)upload_size, (void)ptr;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		buf_addstr(&t, "only GET\n");
	} else if (strcmp(url, "/metrics")) {
		status = MHD_HTTP_NOT_FOUND;
		buf_addstr(&t, "see /metrics\n");
	} else if (cache_server_stats(s, true, &t) < 0) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	resp = MHD_create_response_from_buffer(t.len, t.data, MHD_RESPMEM_MUST_COPY);
	buf_release(&t);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(mc, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int start_metrics(struct cache_server *s)
{
	int fd, rc = cache_net_listen(s->o.metrics, &fd);

	if (rc < 0)
		return rc;
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_metrics, s,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				  MHD_OPTION_END);
	if (!s->mhd) {
		close(fd);
		return t9k_err(-EIO, "cannot serve /metrics on %s", s->o.metrics);
	}
	return 0;
}

/* ---- life cycle ---- */

int cache_server_new(const struct cache_server_opts *o, struct cache_server **out)
{
	struct cache_server *s = calloc(1, sizeof(*s));
	struct cache_group_conf gc = { .self = o->advertise ? o->advertise : o->listen,
				       .role = PROTO_ROLE_PEER,
				       .timeout_ms = o->peer_timeout_ms, .wait_ms = o->peer_wait_ms };
	char path[4200];
	int rc;

	*out = NULL;
	if (!s)
		return t9k_err(-ENOMEM, "out of memory");
	s->o = *o;
	s->lfd_unix = s->lfd_tcp = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->gone, NULL);
	cache_group_slot_init(&s->group, &gc);
	s->started = now_sec();
	if (!o->dir || !*o->dir || o->capacity == 0) {
		rc = t9k_err(T9K_EUSAGE, "the cache needs a directory and a capacity");
		goto out;
	}
	if ((o->group || o->advertise) && !o->listen) {
		rc = t9k_err(T9K_EUSAGE, "a cache group member needs --listen HOST:PORT (its own address "
			     "in the group list)");
		goto out;
	}
	if (o->advertise && (rc = cache_net_check(o->advertise)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/cache.sock", o->dir);
	s->sock_path = strdup(o->socket ? o->socket : path);
	if (!s->sock_path) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = t9k_err(-errno, "pipe: %s", strerror(errno));
		goto out;
	}
	s->rdma = cache_rdma_probe(s->rdma_why, sizeof(s->rdma_why));
	rc = cache_io_new(o->io_mode, 256, &s->io);
	if (rc == 0)
		rc = cache_disk_open(o->dir, o->capacity, s->io, &s->disk);
	if (rc == 0 && o->listen && s->rdma > 0 && o->rdma_buffers > 0) {
		/* with --listen, not only --group: a group may come later
		 * (cache_server_set_group). Any failure here leaves the group
		 * on TCP, which works */
		int rr = cache_rdma_open(NULL, &s->rdma_dev);

		if (rr == 0)
			rr = cache_rdma_pool_new(s->rdma_dev, o->rdma_buffers, CACHE_RDMA_BUF_SIZE,
						 &s->rdma_pool);
		if (rr < 0) {
			snprintf(s->rdma_why, sizeof(s->rdma_why), "%s", t9k_errmsg(rr));
			cache_rdma_close(s->rdma_dev);
			s->rdma_dev = NULL;
			s->rdma = rr;
		}
	}
	s->group.conf.rdma = s->rdma_dev; /* peers added later get it too */
	if (rc == 0 && o->group && (rc = cache_group_slot_set(&s->group, o->group)) > 0)
		rc = 0;
	if (rc == 0)
		rc = cache_net_listen(s->sock_path, &s->lfd_unix);
	if (rc == 0 && o->listen)
		rc = cache_net_listen(o->listen, &s->lfd_tcp);
	if (rc == 0 && o->metrics)
		rc = start_metrics(s);
out:
	if (rc < 0) {
		cache_server_free(s);
		return rc;
	}
	{
		struct cache_disk_stats ds;
		char a[32], b[32];

		cache_disk_stats(s->disk, &ds);
		t9k_log(T9K_LOG_WARN, "cache: serving %s (%llu chunks, %s of %s) on %s%s%s, disk I/O: %s%s%s",
			o->dir, (unsigned long long)ds.chunks, format_size(ds.used, a, sizeof(a)),
			format_size(ds.capacity, b, sizeof(b)), s->sock_path, o->listen ? " and " : "",
			o->listen ? o->listen : "", cache_io_name(s->io), o->group ? ", group of " : "",
			o->group ? o->group : "");
		if (o->listen && s->rdma_dev)
			t9k_log(T9K_LOG_WARN, "cache: peers use RDMA READ for chunk bytes where the peer "
				"has a device too, TCP otherwise and for control (RDMA: %s; %d buffer%s of "
				"%s; this path has never run end to end on a real device)", s->rdma_why,
				o->rdma_buffers, o->rdma_buffers == 1 ? "" : "s",
				format_size(CACHE_RDMA_BUF_SIZE, a, sizeof(a)));
		else if (o->listen)
			t9k_log(T9K_LOG_WARN, "cache: peers use TCP (RDMA: %s)",
				s->rdma > 0 ? "off: --rdma-buffers 0" : s->rdma_why);
	}
	*out = s;
	return 0;
}

int cache_server_run(struct cache_server *s)
{
	struct pollfd pf[3] = {
		{ .fd = s->stop_pipe[0], .events = POLLIN },
		{ .fd = s->lfd_unix, .events = POLLIN },
		{ .fd = s->lfd_tcp, .events = POLLIN },
	};

	for (;;) {
		int n = poll(pf, s->lfd_tcp >= 0 ? 3 : 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return t9k_err(-errno, "poll: %s", strerror(errno));
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN)
			accept_one(s, s->lfd_unix, true);
		if (s->lfd_tcp >= 0 && (pf[2].revents & POLLIN))
			accept_one(s, s->lfd_tcp, false);
	}
	t9k_log(T9K_LOG_WARN, "cache: stopping");
	return 0;
}

void cache_server_stop(struct cache_server *s)
{
	char b = 1;

	if (s && s->stop_pipe[1] >= 0 && write(s->stop_pipe[1], &b, 1) < 0) {
		/* full: a stop is already pending */
	}
}

void cache_server_free(struct cache_server *s)
{
	if (!s)
		return;
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->lfd_unix >= 0) {
		close(s->lfd_unix);
		unlink(s->sock_path);
	}
	if (s->lfd_tcp >= 0)
		close(s->lfd_tcp);
	pthread_mutex_lock(&s->lock);
	for (struct conn *c = s->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	while (s->nconns > 0)
		pthread_cond_wait(&s->gone, &s->lock);
	pthread_mutex_unlock(&s->lock);
	/* no request holds a group now: this frees the peers and their
	 * connections' queue pairs, before the device */
	cache_group_slot_release(&s->group);
	cache_rdma_pool_free(s->rdma_pool);
	cache_rdma_close(s->rdma_dev);
	cache_disk_close(s->disk);
	cache_io_free(s->io);
	for (int i = 0; i < s->nstores; i++) {
		store_close(s->stores[i].st);
		free(s->stores[i].url);
	}
	for (int i = 0; i < 2; i++)
		if (s->stop_pipe[i] >= 0)
			close(s->stop_pipe[i]);
	free(s->sock_path);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->gone);
	free(s);
}

int cache_server_set_group(struct cache_server *s, const char *list)
{
	int rc;

	if (!s->o.listen)
		return t9k_err(T9K_EUSAGE, "cache: a daemon without --listen HOST:PORT cannot join a "
			       "group");
	rc = cache_group_slot_set(&s->group, list);
	if (rc > 0)
		count(&s->c.group_changes, 1);
	return rc < 0 ? rc : 0;
}

/* ---- stats ---- */

int cache_server_stats(struct cache_server *s, bool prom, struct buf *out)
{
	struct cache_disk_stats ds;
	uint64_t ioreq = 0, iobatch = 0, cum = 0;
	const struct {
		const char *name, *help;
		bool counter;
		uint64_t v;
	} m[] = {
#define C(f, h) { #f, h, true, atomic_load(&s->c.f) }
		C(requests, "chunk requests served"),
		C(hits, "requests answered from this node's disk"),
		C(misses, "requests that had to be filled from the store"),
		C(peer_hits, "chunks got from their owner in the group"),
		C(peer_served, "requests from other group members"),
		C(store_fetches, "chunk reads from the object store"),
		C(store_bytes, "bytes read from the object store"),
		C(bytes_served, "chunk bytes served"),
		C(fds_passed, "chunks served as a file descriptor"),
		C(uncached, "chunks served without caching (no room)"),
		C(peer_failures, "failed requests to group members"),
		C(peer_corrupt, "chunks from a peer whose hash did not match"),
		C(client_corrupt, "cache files a client found corrupt (dropped)"),
		C(errors, "requests answered with an error"),
		C(rdma_lent, "chunks lent to a peer's RDMA READ (and released)"),
		C(group_changes, "changes of the group's member list"),
#undef C
		{ "evictions", "cache files evicted", true, 0 },
		{ "corrupt_dropped", "cache files dropped as corrupt", true, 0 },
		{ "capacity_bytes", "configured capacity", false, 0 },
		{ "used_bytes", "chunk bytes cached", false, 0 },
		{ "chunks", "chunks cached", false, 0 },
		{ "io_requests", "disk requests through io_uring", true, 0 },
		{ "io_batches", "io_uring submissions", true, 0 },
		{ "group_members", "members of this daemon's group incl. itself (0: standalone)",
		  false, 0 },
	};
	enum { NEXTRA = 8 }; /* the last NEXTRA of m[] take their value from extra[] */
	size_t nm = sizeof(m) / sizeof(m[0]);
	uint64_t extra[NEXTRA];
	int rc = 0;

	cache_disk_stats(s->disk, &ds);
	cache_io_counts(s->io, &ioreq, &iobatch);
	extra[0] = ds.evictions;
	extra[1] = ds.corrupt_dropped;
	extra[2] = ds.capacity;
	extra[3] = ds.used;
	extra[4] = ds.chunks;
	extra[5] = ioreq;
	extra[6] = iobatch;
	extra[7] = (uint64_t)cache_group_slot_members(&s->group);
	for (size_t i = 0; i < nm && rc == 0; i++) {
		uint64_t v = i >= nm - NEXTRA ? extra[i - (nm - NEXTRA)] : m[i].v;

		if (prom)
			rc = buf_addf(out, "# HELP t9kfs_cache_%s%s %s\n# TYPE t9kfs_cache_%s%s %s\n"
				      "t9kfs_cache_%s%s %llu\n",
				      m[i].name, m[i].counter ? "_total" : "", m[i].help, m[i].name,
				      m[i].counter ? "_total" : "", m[i].counter ? "counter" : "gauge",
				      m[i].name, m[i].counter ? "_total" : "", (unsigned long long)v);
		else
			rc = buf_addf(out, "%s %llu\n", m[i].name, (unsigned long long)v);
	}
	if (rc == 0 && !prom)
		rc = buf_addf(out, "io_engine %s\nuptime_seconds %.0f\n", cache_io_name(s->io),
			      now_sec() - s->started);
	if (rc == 0 && prom)
		rc = buf_addstr(out, "# HELP t9kfs_cache_request_seconds time to serve one chunk\n"
				     "# TYPE t9kfs_cache_request_seconds histogram\n");
	for (int b = 0; b < NBUCKETS_LAT && rc == 0; b++) {
		cum += atomic_load(&s->c.lat[b]);
		if (prom && b < NBUCKETS_LAT - 1)
			rc = buf_addf(out, "t9kfs_cache_request_seconds_bucket{le=\"%g\"} %llu\n",
				      lat_bounds[b], (unsigned long long)cum);
		else if (prom)
			rc = buf_addf(out, "t9kfs_cache_request_seconds_bucket{le=\"+Inf\"} %llu\n"
				      "t9kfs_cache_request_seconds_sum %.6f\n"
				      "t9kfs_cache_request_seconds_count %llu\n",
				      (unsigned long long)cum, atomic_load(&s->c.lat_sum_us) / 1e6,
				      (unsigned long long)cum);
		else if (b < NBUCKETS_LAT - 1)
			rc = buf_addf(out, "latency_le_%gs %llu\n", lat_bounds[b], (unsigned long long)cum);
		else
			rc = buf_addf(out, "latency_le_inf %llu\n", (unsigned long long)cum);
	}
	return rc < 0 ? t9k_err(rc, "out of memory") : 0;
}
