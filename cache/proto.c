/* Encoding, decoding and socket I/O of cache protocol frames (proto.h).
 * Decoders trust nothing: every count and length is checked against the
 * payload before use. Sends use sendmsg so a descriptor can ride along.
 */
#include "cache/proto.h"

#include "lib/endian.h"
#include "lib/err.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], uint8_t type, uint8_t flags, uint32_t len)
{
	out[0] = 'T';
	out[1] = '9';
	out[2] = type;
	out[3] = flags;
	put_le32(out + 4, len);
}

int proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], struct proto_hdr *h)
{
	if (in[0] != 'T' || in[1] != '9')
		return t9k_err(T9K_ECORRUPT, "cache protocol: bad frame magic 0x%02x%02x", in[0], in[1]);
	h->type = in[2];
	h->flags = in[3];
	h->len = get_le32(in + 4);
	if (h->len > PROTO_PAYLOAD_MAX)
		return t9k_err(T9K_ECORRUPT, "cache protocol: frame of %u bytes is too large", h->len);
	return 0;
}

static int frame_begin(struct buf *out, uint8_t type, uint8_t flags, size_t len, uint8_t **p)
{
	int rc = buf_grow(out, PROTO_HDR_SIZE + len);

	if (rc < 0)
		return t9k_err(rc, "out of memory");
	*p = out->data + out->len;
	proto_hdr_encode(*p, type, flags, (uint32_t)len);
	*p += PROTO_HDR_SIZE;
	out->len += PROTO_HDR_SIZE + len;
	out->data[out->len] = '\0';
	return 0;
}

/* The checks both sides make on an item; code is what a bad one returns
 * (-EINVAL from a caller, T9K_ECORRUPT from the wire). */
static int item_check(const struct proto_item *it, int code)
{
	if (it->len == 0 || it->len > PROTO_CHUNK_MAX)
		return t9k_err(code, "cache protocol: chunk length %u", it->len);
	if (it->loc > PROTO_LOC_PACK)
		return t9k_err(code, "cache protocol: unknown chunk location %u", it->loc);
	if (it->loc == PROTO_LOC_PACK &&
	    (it->pack_len == 0 || it->pack_len > PROTO_STORED_MAX ||
	     it->pack_off > UINT64_MAX - it->pack_len))
		return t9k_err(code, "cache protocol: pack range of %u bytes at %llu", it->pack_len,
			       (unsigned long long)it->pack_off);
	return 0;
}

bool proto_items_located(const struct proto_item *items, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (items[i].loc != PROTO_LOC_OBJECT)
			return true;
	return false;
}

static size_t item_size(const struct proto_item *it, bool located)
{
	if (!located)
		return PROTO_ITEM_SIZE;
	return it->loc == PROTO_LOC_PACK ? PROTO_ITEM_PACK_SIZE : PROTO_ITEM_LOC_SIZE;
}

int proto_get_encode(struct buf *out, uint8_t flags, const char *url, const struct proto_item *items,
		     uint32_t n)
{
	size_t ulen = strlen(url), len = 2 + ulen + 4;
	uint8_t *p = NULL;
	bool located;
	int rc;

	if (ulen == 0 || ulen > PROTO_URL_MAX)
		return t9k_err(-EINVAL, "cache protocol: store URL of %zu bytes", ulen);
	if (n == 0 || n > PROTO_BATCH_MAX)
		return t9k_err(-EINVAL, "cache protocol: batch of %u chunks", n);
	located = (flags & PROTO_F_LOC) || proto_items_located(items, n);
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = item_check(&items[i], -EINVAL)) < 0)
			return rc;
		len += item_size(&items[i], located);
	}
	if (located)
		flags |= PROTO_F_LOC;
	rc = frame_begin(out, PROTO_GET, flags, len, &p);
	if (rc < 0)
		return rc;
	put_le16(p, (uint16_t)ulen);
	memcpy(p + 2, url, ulen);
	p += 2 + ulen;
	put_le32(p, n);
	p += 4;
	for (uint32_t i = 0; i < n; i++) {
		const struct proto_item *it = &items[i];

		memcpy(p, it->id.b, OID_RAWSZ);
		put_le32(p + OID_RAWSZ, it->len);
		if (located) {
			p[PROTO_ITEM_SIZE] = it->loc;
			if (it->loc == PROTO_LOC_PACK) {
				memcpy(p + PROTO_ITEM_LOC_SIZE, it->pack.b, OID_RAWSZ);
				put_le64(p + PROTO_ITEM_LOC_SIZE + OID_RAWSZ, it->pack_off);
				put_le32(p + PROTO_ITEM_LOC_SIZE + OID_RAWSZ + 8, it->pack_len);
			}
		}
		p += item_size(it, located);
	}
	return 0;
}

int proto_get_decode(const uint8_t *p, size_t len, uint8_t flags, struct proto_get *g)
{
	bool located = flags & PROTO_F_LOC;
	const uint8_t *end = p + len;
	size_t ulen;
	int rc;

	if (len < 2)
		return t9k_err(T9K_ECORRUPT, "cache protocol: GET of %zu bytes", len);
	ulen = get_le16(p);
	if (ulen == 0 || ulen > PROTO_URL_MAX || len < 2 + ulen + 4)
		return t9k_err(T9K_ECORRUPT, "cache protocol: GET with a bad store URL length %zu", ulen);
	g->url = (const char *)p + 2;
	g->url_len = (uint16_t)ulen;
	if (memchr(g->url, '\0', ulen))
		return t9k_err(T9K_ECORRUPT, "cache protocol: GET with a NUL in its store URL");
	p += 2 + ulen;
	g->n = get_le32(p);
	p += 4;
	if (g->n == 0 || g->n > PROTO_BATCH_MAX)
		return t9k_err(T9K_ECORRUPT, "cache protocol: GET of %u chunks", g->n);
	if (!located && len != 2 + ulen + 4 + (size_t)g->n * PROTO_ITEM_SIZE)
		return t9k_err(T9K_ECORRUPT, "cache protocol: GET of %u chunks in %zu bytes", g->n, len);
	for (uint32_t i = 0; i < g->n; i++) {
		struct proto_item *it = &g->items[i];

		memset(it, 0, sizeof(*it));
		if ((size_t)(end - p) < (located ? PROTO_ITEM_LOC_SIZE : PROTO_ITEM_SIZE))
			return t9k_err(T9K_ECORRUPT, "cache protocol: GET cut in item %u", i);
		memcpy(it->id.b, p, OID_RAWSZ);
		it->len = get_le32(p + OID_RAWSZ);
		if (located)
			it->loc = p[PROTO_ITEM_SIZE];
		if (it->loc == PROTO_LOC_PACK) {
			if ((size_t)(end - p) < PROTO_ITEM_PACK_SIZE)
				return t9k_err(T9K_ECORRUPT, "cache protocol: GET cut in item %u", i);
			memcpy(it->pack.b, p + PROTO_ITEM_LOC_SIZE, OID_RAWSZ);
			it->pack_off = get_le64(p + PROTO_ITEM_LOC_SIZE + OID_RAWSZ);
			it->pack_len = get_le32(p + PROTO_ITEM_LOC_SIZE + OID_RAWSZ + 8);
		}
		if ((rc = item_check(it, T9K_ECORRUPT)) < 0)
			return rc;
		p += item_size(it, located);
	}
	if (p != end)
		return t9k_err(T9K_ECORRUPT, "cache protocol: GET with %zu bytes after its items",
			       (size_t)(end - p));
	return 0;
}

int proto_hello_encode(struct buf *out, uint8_t role)
{
	uint8_t *p = NULL;
	int rc = frame_begin(out, PROTO_HELLO, 0, 2, &p);

	if (rc == 0) {
		p[0] = PROTO_VERSION;
		p[1] = role;
	}
	return rc;
}

int proto_hello_decode(const uint8_t *p, size_t len, uint8_t *role)
{
	if (len != 2)
		return t9k_err(T9K_ECORRUPT, "cache protocol: HELLO of %zu bytes", len);
	if (p[0] != PROTO_VERSION)
		return t9k_err(T9K_ECORRUPT, "cache protocol: version %u, this side speaks %u", p[0],
			       PROTO_VERSION);
	if (p[1] > PROTO_ROLE_PEER)
		return t9k_err(T9K_ECORRUPT, "cache protocol: unknown role %u", p[1]);
	*role = p[1];
	return 0;
}

int proto_drop_encode(struct buf *out, const struct oid *id, uint32_t len)
{
	uint8_t *p = NULL;
	int rc = frame_begin(out, PROTO_DROP, 0, OID_RAWSZ + 4, &p);

	if (rc == 0) {
		memcpy(p, id->b, OID_RAWSZ);
		put_le32(p + OID_RAWSZ, len);
	}
	return rc;
}

int proto_drop_decode(const uint8_t *p, size_t len, struct proto_item *it)
{
	if (len != OID_RAWSZ + 4)
		return t9k_err(T9K_ECORRUPT, "cache protocol: DROP of %zu bytes", len);
	memset(it, 0, sizeof(*it));
	memcpy(it->id.b, p, OID_RAWSZ);
	it->len = get_le32(p + OID_RAWSZ);
	return 0;
}

int proto_err_encode(struct buf *out, int code, const char *msg)
{
	size_t mlen = strnlen(msg, 1000);
	uint8_t *p = NULL;
	int rc = frame_begin(out, PROTO_ERR, 0, 4 + mlen, &p);

	if (rc == 0) {
		put_le32(p, (uint32_t)code);
		memcpy(p + 4, msg, mlen);
	}
	return rc;
}

void proto_chunk_encode(uint8_t out[PROTO_CHUNK_HDR], const struct proto_chunk *c)
{
	put_le32(out, (uint32_t)c->status);
	out[4] = c->how;
	out[5] = c->src;
	put_le16(out + 6, 0);
	memcpy(out + 8, c->id.b, OID_RAWSZ);
	put_le32(out + 8 + OID_RAWSZ, c->len);
}

int proto_chunk_decode(const uint8_t *p, size_t len, struct proto_chunk *c)
{
	if (len < PROTO_CHUNK_HDR)
		return t9k_err(T9K_ECORRUPT, "cache protocol: CHUNK of %zu bytes", len);
	c->status = (int32_t)get_le32(p);
	c->how = p[4];
	c->src = p[5];
	memcpy(c->id.b, p + 8, OID_RAWSZ);
	c->len = get_le32(p + 8 + OID_RAWSZ);
	if (c->status > 0 || c->status < -(T9K_ERR_BASE + 100))
		return t9k_err(T9K_ECORRUPT, "cache protocol: CHUNK status %d", c->status);
	if (c->how > PROTO_HOW_RDMA || c->src > PROTO_SRC_STORE || c->len > PROTO_CHUNK_MAX)
		return t9k_err(T9K_ECORRUPT, "cache protocol: malformed CHUNK reply");
	if (c->how == PROTO_HOW_RDMA) {
		if (c->status != 0 || c->len == 0 || len != PROTO_CHUNK_HDR + PROTO_RDMA_DESC)
			return t9k_err(T9K_ECORRUPT, "cache protocol: malformed RDMA CHUNK reply");
		return 0;
	}
	if (len != PROTO_CHUNK_HDR + (c->how == PROTO_HOW_INLINE && c->status == 0 ? c->len : 0))
		return t9k_err(T9K_ECORRUPT, "cache protocol: CHUNK of %zu bytes for %u of data", len,
			       c->len);
	return 0;
}

void proto_rdma_desc_encode(uint8_t out[PROTO_RDMA_DESC], const struct proto_rdma_desc *d)
{
	put_le64(out, d->addr);
	put_le32(out + 8, d->rkey);
	put_le32(out + 12, d->token);
}

int proto_rdma_desc_decode(const uint8_t *p, size_t plen, uint32_t len, uint32_t max,
			   struct proto_rdma_desc *d)
{
	if (plen != PROTO_RDMA_DESC)
		return t9k_err(T9K_ECORRUPT, "cache protocol: RDMA descriptor of %zu bytes", plen);
	d->addr = get_le64(p);
	d->rkey = get_le32(p + 8);
	d->token = get_le32(p + 12);
	if (len == 0 || len > max || len > PROTO_CHUNK_MAX)
		return t9k_err(T9K_ECORRUPT, "cache protocol: RDMA read of %u bytes (at most %u)", len,
			       max);
	if (d->addr == 0 || d->addr > UINT64_MAX - len)
		return t9k_err(T9K_ECORRUPT, "cache protocol: RDMA address 0x%llx for %u bytes",
			       (unsigned long long)d->addr, len);
	return 0;
}

int proto_rdma_ep_encode(struct buf *out, uint8_t type, const struct cache_rdma_endpoint *ep)
{
	uint8_t *p = NULL;
	int rc;

	if (type != PROTO_RDMA_CONNECT && type != PROTO_RDMA_ACCEPT)
		return t9k_err(-EINVAL, "cache protocol: an endpoint in a frame of type %u", type);
	rc = frame_begin(out, type, 0, CACHE_RDMA_EP_SIZE, &p);
	if (rc == 0)
		cache_rdma_ep_encode(ep, p);
	return rc;
}

int proto_rdma_ep_decode(const uint8_t *p, size_t len, struct cache_rdma_endpoint *ep)
{
	if (len != CACHE_RDMA_EP_SIZE)
		return t9k_err(T9K_ECORRUPT, "cache protocol: RDMA endpoint frame of %zu bytes", len);
	return cache_rdma_ep_decode(p, len, ep);
}

int proto_release_encode(struct buf *out, uint32_t token)
{
	uint8_t *p = NULL;
	int rc = frame_begin(out, PROTO_RELEASE, 0, 4, &p);

	if (rc == 0)
		put_le32(p, token);
	return rc;
}

int proto_release_decode(const uint8_t *p, size_t len, uint32_t *token)
{
	if (len != 4)
		return t9k_err(T9K_ECORRUPT, "cache protocol: RELEASE of %zu bytes", len);
	*token = get_le32(p);
	return 0;
}

/* ---- sockets ---- */

static int send_iov(int sock, struct iovec *iov, int n, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (n > 0) {
		ssize_t w = sendmsg(sock, &mh, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		mh.msg_control = NULL; /* the fd went with the first byte */
		mh.msg_controllen = 0;
		while (n > 0 && (size_t)w >= iov[0].iov_len) {
			w -= (ssize_t)iov[0].iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + w;
			iov[0].iov_len -= (size_t)w;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
	}
	return 0;
}

int proto_send(int sock, uint8_t type, uint8_t flags, const void *a, size_t alen, const void *b,
	       size_t blen, int fd)
{
	uint8_t hdr[PROTO_HDR_SIZE];
	struct iovec iov[3];
	int n = 0;

	proto_hdr_encode(hdr, type, flags, (uint32_t)(alen + blen));
	iov[n++] = (struct iovec){ hdr, sizeof(hdr) };
	if (alen)
		iov[n++] = (struct iovec){ (void *)a, alen };
	if (blen)
		iov[n++] = (struct iovec){ (void *)b, blen };
	return send_iov(sock, iov, n, fd);
}

int proto_send_raw(int sock, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };

	return send_iov(sock, &iov, 1, -1);
}

int proto_recv_hdr(int sock, struct proto_hdr *h, int *fd)
{
	uint8_t hdr[PROTO_HDR_SIZE];
	size_t got = 0;
	int rc;

	if (fd)
		*fd = -1;
	while (got < sizeof(hdr)) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { hdr + got, sizeof(hdr) - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (fd && *fd < 0)
					*fd = f;
				else
					close(f);
			}
		}
		if (r == 0) {
			if (fd && *fd >= 0)
				close(*fd), *fd = -1;
			return -ECONNRESET;
		}
		got += (size_t)r;
	}
	rc = proto_hdr_decode(hdr, h);
	if (rc < 0 && fd && *fd >= 0)
		close(*fd), *fd = -1;
	return rc;
}

int proto_recv_exact(int sock, void *data, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = recv(sock, (char *)data + got, len - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		got += (size_t)r;
	}
	return 0;
}
