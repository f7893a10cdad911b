/* Requests to one cache daemon over pooled connections (peer.h). A
 * connection is used by one request at a time and goes back to the pool
 * only after a complete exchange; any transport error closes it, so a
 * half-read reply can never be mistaken for the next one.
 *
 * RDMA: a connection whose two ends both have an open device connects a
 * pair of RC queue pairs once (RDMA_CONNECT) and then asks for chunks with
 * PROTO_F_RDMA; an owner may answer with the address of a registered
 * buffer, which is read here into the connection's own registered buffer
 * and released. Any RDMA failure turns that connection to TCP for its
 * life and the chunk is asked for again over TCP: RDMA never fails a read.
 *
 * Locking: p->lock guards the idle pool and dead_until; a pconn belongs to
 * the one request holding it. refs is atomic: a peer is shared by the
 * successive groups (group.c) that list its member.
 */
#include "cache/peer.h"

#include "cache/net.h"
#include "cache/rdma.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL_MAX 32
#define RETRY_TCP 1 /* read_chunk: the RDMA READ failed, ask again over TCP */

/* One connection and its RDMA state (none unless qp is set). */
struct pconn {
	int fd;
	bool peer_rdma;            /* its HELLO announced PROTO_FEAT_RDMA */
	bool peer_loc;             /* and PROTO_FEAT_LOC: it reads packed chunks */
	bool rdma_failed;          /* an RDMA step failed: TCP for its life */
	struct cache_rdma_qp *qp;  /* connected: GETs ask for RDMA */
	struct cache_rdma_mr *mr;  /* buf, registered */
	void *buf;                 /* CACHE_RDMA_BUF_SIZE bytes */
};

struct cache_peer {
	atomic_int refs;
	char *addr;
	uint8_t role;
	int timeout_ms, wait_ms;
	struct cache_rdma *rdma;   /* not owned; NULL: TCP only */
	atomic_bool rdma_logged;   /* the first RDMA failure was logged */
	pthread_mutex_t lock;
	struct pconn *idle[POOL_MAX];
	int nidle;
	double dead_until;
};

static void rdma_drop(struct pconn *pc)
{
	/* the queue pair goes first: no read may land in a freed buffer */
	cache_rdma_qp_free(pc->qp);
	pc->qp = NULL;
	cache_rdma_dereg(pc->mr);
	pc->mr = NULL;
	free(pc->buf);
	pc->buf = NULL;
}

static void conn_close(struct pconn *pc)
{
	if (!pc)
		return;
	rdma_drop(pc);
	if (pc->fd >= 0)
		close(pc->fd);
	free(pc);
}

int cache_peer_new(const char *addr, uint8_t role, int timeout_ms, struct cache_peer **out)
{
	struct cache_peer *p = calloc(1, sizeof(*p));
	int rc = cache_net_check(addr);

	*out = NULL;
	if (rc < 0) {
		free(p);
		return rc;
	}
	if (!p || !(p->addr = strdup(addr))) {
		free(p);
		return t9k_err(-ENOMEM, "out of memory");
	}
	atomic_init(&p->refs, 1);
	p->role = role;
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	p->wait_ms = p->timeout_ms;
	atomic_init(&p->rdma_logged, false);
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

struct cache_peer *cache_peer_ref(struct cache_peer *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void cache_peer_free(struct cache_peer *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	for (int i = 0; i < p->nidle; i++)
		conn_close(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->addr);
	free(p);
}

void cache_peer_set_wait(struct cache_peer *p, int wait_ms)
{
	if (wait_ms > 0)
		p->wait_ms = wait_ms;
}

void cache_peer_set_rdma(struct cache_peer *p, struct cache_rdma *r)
{
	p->rdma = r;
}

const char *cache_peer_addr(const struct cache_peer *p)
{
	return p->addr;
}

bool cache_peer_alive(struct cache_peer *p)
{
	bool alive;

	pthread_mutex_lock(&p->lock);
	alive = now_sec() >= p->dead_until;
	pthread_mutex_unlock(&p->lock);
	return alive;
}

void cache_peer_mark_dead(struct cache_peer *p, int dead_ms)
{
	struct pconn *idle[POOL_MAX];
	int n;

	pthread_mutex_lock(&p->lock);
	p->dead_until = now_sec() + dead_ms / 1000.0;
	/* the idle connections went to the same dead process */
	n = p->nidle;
	memcpy(idle, p->idle, sizeof(idle[0]) * (size_t)n);
	p->nidle = 0;
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < n; i++)
		conn_close(idle[i]);
}

/* Reads an ERR frame's payload into a message. */
static int read_err(struct cache_peer *p, int fd, const struct proto_hdr *h)
{
	char msg[1100];
	uint8_t code[4];
	size_t mlen;
	int rc;

	if (h->len < 4 || h->len > 4 + 1000)
		return t9k_err(T9K_ECORRUPT, "cache %s: malformed error reply", p->addr);
	mlen = h->len - 4;
	rc = proto_recv_exact(fd, code, 4);
	if (rc == 0)
		rc = proto_recv_exact(fd, msg, mlen);
	if (rc < 0)
		return t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	msg[mlen] = '\0';
	return t9k_err(-EPROTO, "cache %s refused the request: %s", p->addr, msg);
}

/* HELLO; *features receives the daemon's PROTO_FEAT_* bits. */
static int hello(struct cache_peer *p, int fd, uint8_t *features)
{
	struct buf b = BUF_INIT;
	struct proto_hdr h;
	uint8_t pl[2];
	int rc = proto_hello_encode(&b, p->role);

	if (rc == 0)
		rc = proto_send_raw(fd, b.data, b.len);
	buf_release(&b);
	if (rc == 0)
		rc = proto_recv_hdr(fd, &h, NULL);
	if (rc == 0 && h.type == PROTO_ERR)
		return read_err(p, fd, &h);
	if (rc == 0 && (h.type != PROTO_OK || h.len != 2))
		return t9k_err(T9K_ECORRUPT, "cache %s: unexpected reply to HELLO", p->addr);
	if (rc == 0)
		rc = proto_recv_exact(fd, pl, 2);
	if (rc < 0)
		return t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	*features = pl[1];
	return 0;
}

/* An RDMA step failed on pc: it is TCP from now on. Logged once per peer
 * (then at debug level), since every connection to it would say the same. */
static void rdma_fail(struct cache_peer *p, struct pconn *pc, int rc)
{
	bool first = !atomic_exchange(&p->rdma_logged, true);

	rdma_drop(pc);
	pc->rdma_failed = true;
	t9k_log(first ? T9K_LOG_WARN : T9K_LOG_DEBUG,
		"cache: peer %s: RDMA failed (%s); the connection falls back to TCP", p->addr,
		t9k_errmsg(rc));
}

/* Connects pc's queue pair to the daemon's when both ends can. Returns 0
 * whether RDMA was set up or not (pc->qp says), < 0 only when the TCP
 * connection itself broke. */
static int rdma_setup(struct cache_peer *p, struct pconn *pc)
{
	struct cache_rdma_endpoint mine, theirs;
	uint8_t ep[CACHE_RDMA_EP_SIZE];
	struct buf b = BUF_INIT;
	struct proto_hdr h;
	int rc;

	if (cache_rdma_choose_conn(p->rdma, pc->peer_rdma, pc->rdma_failed) != CACHE_TRANSPORT_RDMA)
		return 0;
	if (posix_memalign(&pc->buf, 4096, CACHE_RDMA_BUF_SIZE)) {
		pc->buf = NULL;
		rdma_fail(p, pc, t9k_err(-ENOMEM, "out of memory"));
		return 0;
	}
	rc = cache_rdma_reg(p->rdma, pc->buf, CACHE_RDMA_BUF_SIZE, &pc->mr);
	if (rc == 0)
		rc = cache_rdma_qp_new(p->rdma, &pc->qp, &mine);
	if (rc == 0)
		rc = proto_rdma_ep_encode(&b, PROTO_RDMA_CONNECT, &mine);
	if (rc < 0) {
		buf_release(&b);
		rdma_fail(p, pc, rc);
		return 0;
	}
	rc = proto_send_raw(pc->fd, b.data, b.len);
	buf_release(&b);
	if (rc == 0)
		rc = proto_recv_hdr(pc->fd, &h, NULL);
	if (rc < 0)
		return t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (h.type == PROTO_ERR) {
		rc = read_err(p, pc->fd, &h);
		if (rc != -EPROTO) /* the connection broke */
			return rc;
		rdma_fail(p, pc, rc); /* the daemon refused: it has no device open */
		return 0;
	}
	if (h.type != PROTO_RDMA_ACCEPT || h.len != CACHE_RDMA_EP_SIZE)
		return t9k_err(T9K_ECORRUPT, "cache %s: unexpected reply to RDMA_CONNECT", p->addr);
	rc = proto_recv_exact(pc->fd, ep, sizeof(ep));
	if (rc < 0)
		return t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	rc = proto_rdma_ep_decode(ep, sizeof(ep), &theirs);
	if (rc == 0)
		rc = cache_rdma_qp_connect(pc->qp, &theirs);
	if (rc < 0)
		rdma_fail(p, pc, rc);
	return 0;
}

static int conn_take(struct cache_peer *p, struct pconn **out)
{
	struct pconn *pc;
	uint8_t features = 0;
	int rc;

	for (;;) {
		char b;
		ssize_t n;

		pthread_mutex_lock(&p->lock);
		pc = p->nidle ? p->idle[--p->nidle] : NULL;
		pthread_mutex_unlock(&p->lock);
		if (!pc)
			break;
		/* an idle connection the daemon closed (it restarted) reads EOF */
		n = recv(pc->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*out = pc;
			return 0;
		}
		conn_close(pc);
	}
	*out = NULL;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return t9k_err(-ENOMEM, "out of memory");
	rc = cache_net_connect(p->addr, p->timeout_ms, &pc->fd);
	if (rc < 0) {
		free(pc);
		return rc;
	}
	rc = hello(p, pc->fd, &features);
	if (rc == 0) {
		pc->peer_rdma = features & PROTO_FEAT_RDMA;
		pc->peer_loc = features & PROTO_FEAT_LOC;
		rc = rdma_setup(p, pc);
	}
	if (rc < 0) {
		conn_close(pc);
		return rc;
	}
	if (p->wait_ms != p->timeout_ms)
		cache_net_set_timeout(pc->fd, p->wait_ms);
	*out = pc;
	return 0;
}

static void conn_give(struct cache_peer *p, struct pconn *pc)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < POOL_MAX) {
		p->idle[p->nidle++] = pc;
		pc = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	conn_close(pc);
}

/* Reads len bytes the owner placed for us (d) into pc's buffer, then
 * releases the owner's buffer; the bytes go to out. RETRY_TCP when the
 * read failed (pc is TCP from now on), < 0 when the connection broke. */
static int rdma_take(struct cache_peer *p, struct pconn *pc, const struct proto_rdma_desc *d,
		     uint32_t len, struct buf *out)
{
	struct buf rel = BUF_INIT;
	int rr = cache_rdma_read(pc->qp, pc->mr, pc->buf, d->addr, d->rkey, len, p->wait_ms);
	int rc;

	if (rr < 0)
		rdma_fail(p, pc, rr); /* destroys the queue pair before the owner reuses its buffer */
	rc = proto_release_encode(&rel, d->token);
	if (rc == 0 && (rc = proto_send_raw(pc->fd, rel.data, rel.len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	buf_release(&rel);
	if (rc < 0)
		return rc;
	if (rr < 0)
		return RETRY_TCP;
	if ((rc = buf_add(out, pc->buf, len)) < 0)
		return t9k_err(rc, "out of memory");
	return 0;
}

/* Reads one CHUNK reply; inline data goes to out (may be NULL for warm),
 * as do bytes read by RDMA (RETRY_TCP: that failed, ask again). */
static int read_chunk(struct cache_peer *p, struct pconn *pc, const struct oid *want,
		      struct buf *out, struct proto_chunk *c, int *pfd)
{
	uint8_t ch[PROTO_CHUNK_HDR], desc[PROTO_RDMA_DESC];
	struct proto_rdma_desc d;
	struct proto_hdr h;
	int fd = pc->fd, rc = proto_recv_hdr(fd, &h, pfd);

	if (rc < 0)
		return t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (h.type == PROTO_ERR)
		rc = read_err(p, fd, &h);
	else if (h.type != PROTO_CHUNK || h.len < PROTO_CHUNK_HDR)
		rc = t9k_err(T9K_ECORRUPT, "cache %s: unexpected reply type %u", p->addr, h.type);
	if (rc == 0 && (rc = proto_recv_exact(fd, ch, sizeof(ch))) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (rc == 0)
		rc = proto_chunk_decode(ch, h.len, c);
	if (rc == 0 && !oid_eq(&c->id, want))
		rc = t9k_err(T9K_ECORRUPT, "cache %s: reply for another chunk", p->addr);
	if (rc == 0 && c->status == 0 && c->how == PROTO_HOW_FD && (!pfd || *pfd < 0))
		rc = t9k_err(T9K_ECORRUPT, "cache %s: descriptor missing from reply", p->addr);
	if (rc == 0 && c->how == PROTO_HOW_RDMA) {
		if (!out || !pc->qp)
			rc = t9k_err(T9K_ECORRUPT, "cache %s: an RDMA reply not asked for", p->addr);
		else if ((rc = proto_recv_exact(fd, desc, sizeof(desc))) < 0)
			rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
		else if ((rc = proto_rdma_desc_decode(desc, sizeof(desc), c->len, CACHE_RDMA_BUF_SIZE,
						      &d)) == 0)
			rc = rdma_take(p, pc, &d, c->len, out);
	}
	if (rc == 0 && c->status == 0 && c->how == PROTO_HOW_INLINE) {
		if (!out) {
			rc = t9k_err(T9K_ECORRUPT, "cache %s: data in a warm-up reply", p->addr);
		} else if ((rc = buf_grow(out, c->len)) < 0) {
			rc = t9k_err(rc, "out of memory");
		} else if ((rc = proto_recv_exact(fd, out->data + out->len, c->len)) < 0) {
			rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
		} else {
			out->len += c->len;
			out->data[out->len] = '\0';
		}
	}
	if (rc != 0 && pfd && *pfd >= 0)
		close(*pfd), *pfd = -1;
	return rc;
}

/* The status of a packed chunk on a daemon from before packs: it would
 * answer F_LOC with ERR and close, so the request is not sent. */
static int no_loc(struct cache_peer *p)
{
	return t9k_err(-ENOTSUP, "cache %s does not read chunks in packs (an older version)",
		       p->addr);
}

int cache_peer_get(struct cache_peer *p, uint8_t flags, const char *url,
		   const struct proto_item *it, struct buf *out, struct cache_peer_reply *r)
{
	const struct oid *id = &it->id;
	uint32_t len = it->len;
	struct buf req = BUF_INIT;
	struct proto_chunk c;
	struct pconn *pc = NULL;
	size_t before = out->len;
	int rc;

	r->status = -EIO;
	r->src = 0;
	r->fd = -1;
	rc = conn_take(p, &pc);
	if (rc == 0 && !pc->peer_loc && it->loc != PROTO_LOC_OBJECT) {
		conn_give(p, pc);
		r->status = no_loc(p);
		return 0;
	}
	/* at most twice: RDMA when the connection has it, then TCP if that failed */
	for (int attempt = 0; rc == 0; attempt++) {
		uint8_t f = (uint8_t)((flags & ~(PROTO_F_WARM | PROTO_F_RDMA)) |
				      (pc->qp ? PROTO_F_RDMA : 0));

		req.len = 0;
		rc = proto_get_encode(&req, f, url, it, 1);
		if (rc == 0 && (rc = proto_send_raw(pc->fd, req.data, req.len)) < 0)
			rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
		if (rc == 0)
			rc = read_chunk(p, pc, id, out, &c, &r->fd);
		if (rc != RETRY_TCP || attempt > 0)
			break;
		out->len = before;
		rc = 0;
	}
	buf_release(&req);
	if (rc == RETRY_TCP) /* cannot happen: the second attempt is TCP */
		rc = t9k_err(-EIO, "cache %s: RDMA retry without RDMA", p->addr);
	if (rc < 0) {
		out->len = before;
		conn_close(pc);
		return rc;
	}
	conn_give(p, pc);
	r->status = c.status;
	r->src = c.src;
	if (c.status == 0 && c.len != len) {
		out->len = before;
		if (r->fd >= 0)
			close(r->fd), r->fd = -1;
		r->status = t9k_err(T9K_ECORRUPT, "cache %s: chunk of %u bytes, not %u", p->addr, c.len,
				    len);
	} else if (c.status < 0) {
		r->status = t9k_err(c.status, "cache %s: %s", p->addr, t9k_strerror(c.status));
	}
	return 0;
}

/* cache_peer_warm on a connection taken: items go as they are. */
static int warm_on(struct cache_peer *p, struct pconn *pc, uint8_t flags, const char *url,
		   const struct proto_item *items, uint32_t n, int32_t *status, uint8_t *src)
{
	struct buf req = BUF_INIT;
	int rc;

	rc = proto_get_encode(&req, (uint8_t)((flags | PROTO_F_WARM) & ~PROTO_F_RDMA), url, items, n);
	if (rc == 0 && (rc = proto_send_raw(pc->fd, req.data, req.len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	buf_release(&req);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		struct proto_chunk c;

		rc = read_chunk(p, pc, &items[i].id, NULL, &c, NULL);
		if (rc == 0) {
			status[i] = c.status;
			src[i] = c.src;
		}
	}
	return rc;
}

int cache_peer_warm(struct cache_peer *p, uint8_t flags, const char *url,
		    const struct proto_item *items, uint32_t n, int32_t *status, uint8_t *src)
{
	struct proto_item *sub = NULL;
	struct pconn *pc = NULL;
	uint32_t *idx = NULL, k = 0;
	int rc;

	if (n == 0 || n > PROTO_BATCH_MAX)
		return t9k_err(-EINVAL, "cache protocol: batch of %u chunks", n);
	rc = conn_take(p, &pc);
	if (rc == 0 && !pc->peer_loc && proto_items_located(items, n)) {
		/* a daemon from before packs: packed chunks fail here, the rest go */
		sub = malloc(n * sizeof(*sub));
		idx = malloc(n * sizeof(*idx));
		if (!sub || !idx)
			rc = t9k_err(-ENOMEM, "out of memory");
		for (uint32_t i = 0; rc == 0 && i < n; i++) {
			if (items[i].loc == PROTO_LOC_OBJECT) {
				idx[k] = i;
				sub[k++] = items[i];
				continue;
			}
			status[i] = no_loc(p);
			src[i] = PROTO_SRC_STORE;
		}
		if (rc == 0 && k > 0) {
			int32_t *st = malloc(k * sizeof(*st));
			uint8_t *sr = malloc(k);

			rc = st && sr ? warm_on(p, pc, flags, url, sub, k, st, sr)
				      : t9k_err(-ENOMEM, "out of memory");
			for (uint32_t j = 0; rc == 0 && j < k; j++) {
				status[idx[j]] = st[j];
				src[idx[j]] = sr[j];
			}
			free(st);
			free(sr);
		}
	} else if (rc == 0) {
		rc = warm_on(p, pc, flags, url, items, n, status, src);
	}
	free(sub);
	free(idx);
	if (rc != 0) {
		conn_close(pc);
		return rc < 0 ? rc : t9k_err(T9K_ECORRUPT, "cache %s: RDMA in a warm-up", p->addr);
	}
	conn_give(p, pc);
	return 0;
}

/* Sends a framed request and expects a reply of type want (payload to out). */
static int simple_call(struct cache_peer *p, struct buf *req, uint8_t want, struct buf *out)
{
	struct proto_hdr h;
	struct pconn *pc = NULL;
	int rc = conn_take(p, &pc);

	if (rc == 0 && (rc = proto_send_raw(pc->fd, req->data, req->len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	if (rc == 0 && (rc = proto_recv_hdr(pc->fd, &h, NULL)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (rc == 0 && h.type == PROTO_ERR)
		rc = read_err(p, pc->fd, &h);
	else if (rc == 0 && h.type != want)
		rc = t9k_err(T9K_ECORRUPT, "cache %s: unexpected reply type %u", p->addr, h.type);
	if (rc == 0 && h.len > (1u << 20))
		rc = t9k_err(T9K_ECORRUPT, "cache %s: reply of %u bytes", p->addr, h.len);
	if (rc == 0 && (rc = buf_grow(out, h.len)) < 0)
		rc = t9k_err(rc, "out of memory");
	if (rc == 0 && (rc = proto_recv_exact(pc->fd, out->data + out->len, h.len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (rc < 0) {
		conn_close(pc);
		return rc;
	}
	out->len += h.len;
	out->data[out->len] = '\0';
	conn_give(p, pc);
	return 0;
}

int cache_peer_drop(struct cache_peer *p, const struct oid *id, uint32_t len)
{
	struct buf req = BUF_INIT, rep = BUF_INIT;
	int rc = proto_drop_encode(&req, id, len);

	if (rc == 0)
		rc = simple_call(p, &req, PROTO_OK, &rep);
	buf_release(&req);
	buf_release(&rep);
	return rc;
}

int cache_peer_stats(struct cache_peer *p, struct buf *out)
{
	uint8_t hdr[PROTO_HDR_SIZE];
	struct buf req = BUF_INIT;
	int rc;

	proto_hdr_encode(hdr, PROTO_STATS, 0, 0);
	rc = buf_add(&req, hdr, sizeof(hdr));
	if (rc == 0)
		rc = simple_call(p, &req, PROTO_TEXT, out);
	buf_release(&req);
	return rc;
}
