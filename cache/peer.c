/* Requests to one cache daemon over pooled connections (peer.h). A
 * connection is used by one request at a time and goes back to the pool
 * only after a complete exchange; any transport error closes it, so a
 * half-read reply can never be mistaken for the next one.
 *
 * Locking: p->lock guards the idle pool and dead_until.
 */
#include "cache/peer.h"

#include "cache/net.h"
#include "lib/err.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL_MAX 32

struct cache_peer {
	char *addr;
	uint8_t role;
	int timeout_ms, wait_ms;
	pthread_mutex_t lock;
	int idle[POOL_MAX];
	int nidle;
	double dead_until;
};

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
	p->role = role;
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	p->wait_ms = p->timeout_ms;
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

void cache_peer_free(struct cache_peer *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nidle; i++)
		close(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->addr);
	free(p);
}

void cache_peer_set_wait(struct cache_peer *p, int wait_ms)
{
	if (wait_ms > 0)
		p->wait_ms = wait_ms;
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
	pthread_mutex_lock(&p->lock);
	p->dead_until = now_sec() + dead_ms / 1000.0;
	/* the idle connections went to the same dead process */
	for (int i = 0; i < p->nidle; i++)
		close(p->idle[i]);
	p->nidle = 0;
	pthread_mutex_unlock(&p->lock);
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

static int hello(struct cache_peer *p, int fd)
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
	return 0;
}

static int conn_take(struct cache_peer *p, int *fd)
{
	int rc;

	for (;;) {
		char b;
		ssize_t n;

		pthread_mutex_lock(&p->lock);
		*fd = p->nidle ? p->idle[--p->nidle] : -1;
		pthread_mutex_unlock(&p->lock);
		if (*fd < 0)
			break;
		/* an idle connection the daemon closed (it restarted) reads EOF */
		n = recv(*fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		close(*fd);
	}
	rc = cache_net_connect(p->addr, p->timeout_ms, fd);
	if (rc == 0 && (rc = hello(p, *fd)) < 0) {
		close(*fd);
		*fd = -1;
	}
	if (rc == 0 && p->wait_ms != p->timeout_ms)
		cache_net_set_timeout(*fd, p->wait_ms);
	return rc;
}

static void conn_give(struct cache_peer *p, int fd)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < POOL_MAX) {
		p->idle[p->nidle++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		close(fd);
}

/* Reads one CHUNK reply; inline data goes to out (may be NULL for warm). */
static int read_chunk(struct cache_peer *p, int fd, const struct oid *want, struct buf *out,
		      struct proto_chunk *c, int *pfd)
{
	uint8_t ch[PROTO_CHUNK_HDR];
	struct proto_hdr h;
	int rc = proto_recv_hdr(fd, &h, pfd);

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
	if (rc < 0 && pfd && *pfd >= 0)
		close(*pfd), *pfd = -1;
	return rc;
}

int cache_peer_get(struct cache_peer *p, uint8_t flags, const char *url, const struct oid *id,
		   uint32_t len, struct buf *out, struct cache_peer_reply *r)
{
	struct proto_item it = { *id, len };
	struct buf req = BUF_INIT;
	struct proto_chunk c;
	size_t before = out->len;
	int fd = -1, rc;

	r->status = -EIO;
	r->src = 0;
	r->fd = -1;
	rc = proto_get_encode(&req, flags & ~PROTO_F_WARM, url, &it, 1);
	if (rc == 0)
		rc = conn_take(p, &fd);
	if (rc == 0 && (rc = proto_send_raw(fd, req.data, req.len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	if (rc == 0)
		rc = read_chunk(p, fd, id, out, &c, &r->fd);
	buf_release(&req);
	if (rc < 0) {
		out->len = before;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	conn_give(p, fd);
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

int cache_peer_warm(struct cache_peer *p, uint8_t flags, const char *url,
		    const struct proto_item *items, uint32_t n, int32_t *status, uint8_t *src)
{
	struct buf req = BUF_INIT;
	int fd = -1, rc;

	rc = proto_get_encode(&req, flags | PROTO_F_WARM, url, items, n);
	if (rc == 0)
		rc = conn_take(p, &fd);
	if (rc == 0 && (rc = proto_send_raw(fd, req.data, req.len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	buf_release(&req);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		struct proto_chunk c;

		rc = read_chunk(p, fd, &items[i].id, NULL, &c, NULL);
		if (rc == 0) {
			status[i] = c.status;
			src[i] = c.src;
		}
	}
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	conn_give(p, fd);
	return 0;
}

/* Sends a framed request and expects a reply of type want (payload to out). */
static int simple_call(struct cache_peer *p, struct buf *req, uint8_t want, struct buf *out)
{
	struct proto_hdr h;
	int fd = -1, rc = conn_take(p, &fd);

	if (rc == 0 && (rc = proto_send_raw(fd, req->data, req->len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, strerror(-rc));
	if (rc == 0 && (rc = proto_recv_hdr(fd, &h, NULL)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (rc == 0 && h.type == PROTO_ERR)
		rc = read_err(p, fd, &h);
	else if (rc == 0 && h.type != want)
		rc = t9k_err(T9K_ECORRUPT, "cache %s: unexpected reply type %u", p->addr, h.type);
	if (rc == 0 && h.len > (1u << 20))
		rc = t9k_err(T9K_ECORRUPT, "cache %s: reply of %u bytes", p->addr, h.len);
	if (rc == 0 && (rc = buf_grow(out, h.len)) < 0)
		rc = t9k_err(rc, "out of memory");
	if (rc == 0 && (rc = proto_recv_exact(fd, out->data + out->len, h.len)) < 0)
		rc = t9k_err(rc, "cache %s: %s", p->addr, t9k_strerror(rc));
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	out->len += h.len;
	out->data[out->len] = '\0';
	conn_give(p, fd);
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
