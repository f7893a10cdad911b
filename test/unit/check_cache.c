/* Unit tests of cache/: the protocol's encoders and decoders (malformed
 * frames included, items with pack locations too), rendezvous hashing,
 * the disk cache's index, LRU, capacity, single-flight and restart
 * scan, both I/O engines, address
 * lists, the RDMA probe where libibverbs is built in, and the RDMA
 * transport's decision and fallbacks (to TCP) with no device: the RDMA
 * data path itself never runs here (no device on this project's machines).
 * Changing a group's member list: shared peers, real daemons on loopback
 * joining, refusing and shrinking, and list swaps under concurrent reads.
 * Chunks in packs: written by hand into a file:// store, served by real
 * daemons by location, alone and forwarded in a group.
 */
#include "test/unit/suites.h"

#include "cache/client.h"
#include "cache/disk.h"
#include "cache/group.h"
#include "cache/io.h"
#include "cache/net.h"
#include "cache/peer.h"
#include "cache/proto.h"
#include "cache/rdma.h"
#include "cache/server.h"
#include "lib/endian.h"
#include "lib/err.h"
#include "lib/util.h"
#include "store/chunk.h"
#include "store/pack.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct oid id_of(uint64_t seed)
{
	struct oid id;

	test_random_bytes(id.b, sizeof(id.b), seed);
	return id;
}

/* ---- protocol ---- */

START_TEST(test_proto_hdr)
{
	uint8_t h[PROTO_HDR_SIZE];
	struct proto_hdr d;

	proto_hdr_encode(h, PROTO_GET, PROTO_F_FD, 1234);
	ck_assert_int_eq(proto_hdr_decode(h, &d), 0);
	ck_assert_int_eq(d.type, PROTO_GET);
	ck_assert_int_eq(d.flags, PROTO_F_FD);
	ck_assert_uint_eq(d.len, 1234);
	h[0] = 'X';
	ck_assert_int_eq(proto_hdr_decode(h, &d), T9K_ECORRUPT);
	proto_hdr_encode(h, PROTO_GET, 0, PROTO_PAYLOAD_MAX + 1);
	ck_assert_int_eq(proto_hdr_decode(h, &d), T9K_ECORRUPT);
}
END_TEST

START_TEST(test_proto_get_roundtrip)
{
	struct proto_item items[3] = { { .id = id_of(1), .len = 100 }, { .id = id_of(2), .len = 1 },
				       { .id = id_of(3), .len = 4 << 20 } };
	struct proto_get *g = malloc(sizeof(*g));
	struct buf b = BUF_INIT;
	struct proto_hdr h;

	ck_assert_int_eq(proto_get_encode(&b, PROTO_F_WARM, "file:///x/store", items, 3), 0);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.type, PROTO_GET);
	ck_assert_int_eq(h.flags, PROTO_F_WARM);
	ck_assert_uint_eq(h.len, b.len - PROTO_HDR_SIZE);
	ck_assert_int_eq(proto_get_decode(b.data + PROTO_HDR_SIZE, h.len, h.flags, g), 0);
	ck_assert_uint_eq(g->n, 3);
	ck_assert_int_eq(g->url_len, strlen("file:///x/store"));
	ck_assert(!memcmp(g->url, "file:///x/store", g->url_len));
	for (int i = 0; i < 3; i++) {
		ck_assert(oid_eq(&g->items[i].id, &items[i].id));
		ck_assert_uint_eq(g->items[i].len, items[i].len);
	}
	/* encoders refuse what decoders would */
	ck_assert_int_lt(proto_get_encode(&b, 0, "", items, 1), 0);
	ck_assert_int_lt(proto_get_encode(&b, 0, "u", items, 0), 0);
	ck_assert_int_lt(proto_get_encode(&b, 0, "u", items, PROTO_BATCH_MAX + 1), 0);
	buf_release(&b);
	free(g);
}
END_TEST

START_TEST(test_proto_get_malformed)
{
	struct proto_item it = { .id = id_of(9), .len = 10 };
	struct proto_get *g = malloc(sizeof(*g));
	struct buf b = BUF_INIT;
	uint8_t *p;
	size_t len;

	ck_assert_int_eq(proto_get_encode(&b, 0, "s3://b", &it, 1), 0);
	p = b.data + PROTO_HDR_SIZE;
	len = b.len - PROTO_HDR_SIZE;
	/* every truncation and one byte too many */
	for (size_t l = 0; l < len; l++)
		ck_assert_int_eq(proto_get_decode(p, l, 0, g), T9K_ECORRUPT);
	ck_assert_int_eq(proto_get_decode(p, len + 1, 0, g), T9K_ECORRUPT);
	/* a count that does not match the bytes */
	put_le32(p + 2 + 6, 2);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	put_le32(p + 2 + 6, 0);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	put_le32(p + 2 + 6, 1);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), 0);
	/* a zero or huge chunk length */
	put_le32(p + len - 4, 0);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	put_le32(p + len - 4, PROTO_CHUNK_MAX + 1);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	put_le32(p + len - 4, 10);
	/* a URL length past the payload, zero, or with a NUL inside */
	put_le16(p, 60000);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	put_le16(p, 0);
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	put_le16(p, 6);
	p[4] = '\0';
	ck_assert_int_eq(proto_get_decode(p, len, 0, g), T9K_ECORRUPT);
	buf_release(&b);
	free(g);
}
END_TEST

/* Items with a location (PROTO_F_LOC): a packed chunk names its pack
 * range; a batch of standalone chunks keeps the layout from before packs. */
START_TEST(test_proto_get_located)
{
	struct proto_item items[3] = {
		{ .id = id_of(1), .len = 100 },
		{ .id = id_of(2), .len = 5000, .loc = PROTO_LOC_PACK, .pack = id_of(20),
		  .pack_off = 0, .pack_len = 812 },
		{ .id = id_of(3), .len = 1, .loc = PROTO_LOC_PACK, .pack = id_of(20),
		  .pack_off = UINT64_MAX - 13, .pack_len = 13 },
	};
	struct proto_get *g = malloc(sizeof(*g));
	struct proto_item bad;
	struct buf b = BUF_INIT;
	struct proto_hdr h;

	ck_assert_ptr_nonnull(g);
	/* a packed item turns F_LOC on by itself */
	ck_assert_int_eq(proto_get_encode(&b, PROTO_F_PEER, "file:///s", items, 3), 0);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.flags, PROTO_F_PEER | PROTO_F_LOC);
	ck_assert_uint_eq(h.len, 2 + 9 + 4 + PROTO_ITEM_LOC_SIZE + 2 * PROTO_ITEM_PACK_SIZE);
	ck_assert_int_eq(proto_get_decode(b.data + PROTO_HDR_SIZE, h.len, h.flags, g), 0);
	ck_assert_uint_eq(g->n, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(oid_eq(&g->items[i].id, &items[i].id));
		ck_assert_uint_eq(g->items[i].len, items[i].len);
		ck_assert_uint_eq(g->items[i].loc, items[i].loc);
		ck_assert(oid_eq(&g->items[i].pack, &items[i].pack));
		ck_assert(g->items[i].pack_off == items[i].pack_off);
		ck_assert_uint_eq(g->items[i].pack_len, items[i].pack_len);
	}
	/* the same payload read as a frame without F_LOC is malformed */
	ck_assert_int_eq(proto_get_decode(b.data + PROTO_HDR_SIZE, h.len, PROTO_F_PEER, g),
			 T9K_ECORRUPT);
	/* standalone chunks only: no F_LOC, the items as before packs */
	buf_reset(&b);
	ck_assert_int_eq(proto_get_encode(&b, 0, "file:///s", items, 1), 0);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.flags, 0);
	ck_assert_uint_eq(h.len, 2 + 9 + 4 + OID_RAWSZ + 4);
	ck_assert(!memcmp(b.data + PROTO_HDR_SIZE + 15, items[0].id.b, OID_RAWSZ));
	ck_assert_uint_eq(get_le32(b.data + PROTO_HDR_SIZE + 15 + OID_RAWSZ), 100);
	/* ... unless the caller asks for F_LOC: a location byte of 0 */
	buf_reset(&b);
	ck_assert_int_eq(proto_get_encode(&b, PROTO_F_LOC, "file:///s", items, 1), 0);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.flags, PROTO_F_LOC);
	ck_assert_uint_eq(h.len, 2 + 9 + 4 + PROTO_ITEM_LOC_SIZE);
	ck_assert_int_eq(proto_get_decode(b.data + PROTO_HDR_SIZE, h.len, h.flags, g), 0);
	ck_assert_uint_eq(g->items[0].loc, PROTO_LOC_OBJECT);
	ck_assert(proto_items_located(items, 3));
	ck_assert(!proto_items_located(items, 1));
	/* encoders refuse what decoders would: an empty, too long or
	 * wrapping range, an unknown location */
	bad = items[1];
	bad.pack_len = 0;
	ck_assert_int_eq(proto_get_encode(&b, 0, "u", &bad, 1), -EINVAL);
	bad.pack_len = PROTO_STORED_MAX + 1;
	ck_assert_int_eq(proto_get_encode(&b, 0, "u", &bad, 1), -EINVAL);
	bad.pack_len = 14;
	bad.pack_off = UINT64_MAX - 13;
	ck_assert_int_eq(proto_get_encode(&b, 0, "u", &bad, 1), -EINVAL);
	bad = items[1];
	bad.loc = 2;
	ck_assert_int_eq(proto_get_encode(&b, 0, "u", &bad, 1), -EINVAL);
	buf_release(&b);
	free(g);
}
END_TEST

START_TEST(test_proto_get_located_malformed)
{
	struct proto_item items[2] = {
		{ .id = id_of(4), .len = 10 },
		{ .id = id_of(5), .len = 300, .loc = PROTO_LOC_PACK, .pack = id_of(21),
		  .pack_off = 4096, .pack_len = 120 },
	};
	struct proto_get *g = malloc(sizeof(*g));
	struct buf b = BUF_INIT;
	const size_t it1 = 2 + 6 + 4 + PROTO_ITEM_LOC_SIZE; /* the packed item */
	uint8_t *p, f = PROTO_F_LOC;
	size_t len;

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(proto_get_encode(&b, 0, "s3://b", items, 2), 0);
	p = b.data + PROTO_HDR_SIZE;
	len = b.len - PROTO_HDR_SIZE;
	ck_assert_uint_eq(len, it1 + PROTO_ITEM_PACK_SIZE);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), 0);
	/* every truncation and one byte too many */
	for (size_t l = 0; l < len; l++)
		ck_assert_int_eq(proto_get_decode(p, l, f, g), T9K_ECORRUPT);
	ck_assert_int_eq(proto_get_decode(p, len + 1, f, g), T9K_ECORRUPT);
	/* more or fewer items than the bytes hold */
	put_le32(p + 2 + 6, 3);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le32(p + 2 + 6, 1);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le32(p + 2 + 6, 2);
	/* an unknown location; the packed item said to be standalone */
	p[it1 + OID_RAWSZ + 4] = 2;
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	p[it1 + OID_RAWSZ + 4] = PROTO_LOC_OBJECT;
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	p[it1 + OID_RAWSZ + 4] = PROTO_LOC_PACK;
	/* a zero or huge chunk length in a located item */
	put_le32(p + it1 + OID_RAWSZ, 0);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le32(p + it1 + OID_RAWSZ, PROTO_CHUNK_MAX + 1);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le32(p + it1 + OID_RAWSZ, 300);
	/* a stored length of 0 or too large, a range past 2^64 */
	put_le32(p + len - 4, 0);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le32(p + len - 4, PROTO_STORED_MAX + 1);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le32(p + len - 4, 120);
	put_le64(p + len - 12, UINT64_MAX - 119);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), T9K_ECORRUPT);
	put_le64(p + len - 12, UINT64_MAX - 120);
	ck_assert_int_eq(proto_get_decode(p, len, f, g), 0);
	ck_assert(g->items[1].pack_off == UINT64_MAX - 120);
	buf_release(&b);
	free(g);
}
END_TEST

START_TEST(test_proto_small_frames)
{
	struct proto_chunk c = { .status = 0, .how = PROTO_HOW_INLINE, .src = PROTO_SRC_PEER,
				 .id = id_of(5), .len = 77 }, d;
	uint8_t ch[PROTO_CHUNK_HDR];
	struct buf b = BUF_INIT;
	struct proto_item it;
	uint8_t role;

	proto_chunk_encode(ch, &c);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + 77, &d), 0);
	ck_assert(oid_eq(&d.id, &c.id));
	ck_assert_int_eq(d.src, PROTO_SRC_PEER);
	ck_assert_uint_eq(d.len, 77);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + 76, &d), T9K_ECORRUPT);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR - 1, &d), T9K_ECORRUPT);
	c.how = PROTO_HOW_FD;
	proto_chunk_encode(ch, &c);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR, &d), 0);
	ch[4] = 9; /* unknown "how" */
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR, &d), T9K_ECORRUPT);
	c.how = PROTO_HOW_NONE;
	c.status = 5; /* positive statuses do not exist */
	proto_chunk_encode(ch, &c);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR, &d), T9K_ECORRUPT);

	ck_assert_int_eq(proto_hello_encode(&b, PROTO_ROLE_PEER), 0);
	ck_assert_int_eq(proto_hello_decode(b.data + PROTO_HDR_SIZE, 2, &role), 0);
	ck_assert_int_eq(role, PROTO_ROLE_PEER);
	b.data[PROTO_HDR_SIZE] = PROTO_VERSION + 1;
	ck_assert_int_eq(proto_hello_decode(b.data + PROTO_HDR_SIZE, 2, &role), T9K_ECORRUPT);
	ck_assert_int_eq(proto_hello_decode(b.data + PROTO_HDR_SIZE, 3, &role), T9K_ECORRUPT);
	buf_reset(&b);
	ck_assert_int_eq(proto_drop_encode(&b, &c.id, 3), 0);
	ck_assert_int_eq(proto_drop_decode(b.data + PROTO_HDR_SIZE, OID_RAWSZ + 4, &it), 0);
	ck_assert(oid_eq(&it.id, &c.id));
	ck_assert_int_eq(proto_drop_decode(b.data + PROTO_HDR_SIZE, OID_RAWSZ, &it), T9K_ECORRUPT);
	buf_release(&b);
}
END_TEST

START_TEST(test_proto_rdma_frames)
{
	struct cache_rdma_endpoint ep = { .qpn = 0x00abcd, .psn = 0x123456, .lid = 9 }, got;
	struct proto_chunk c = { .status = 0, .how = PROTO_HOW_RDMA, .src = PROTO_SRC_LOCAL,
				 .id = id_of(6), .len = 4096 }, d;
	struct proto_rdma_desc rd = { .addr = 0x7f0000001000ull, .rkey = 0xdeadbeef, .token = 42 }, rg;
	uint8_t ch[PROTO_CHUNK_HDR], desc[PROTO_RDMA_DESC];
	struct buf b = BUF_INIT;
	struct proto_hdr h;
	uint32_t token = 0;

	for (int i = 0; i < 16; i++)
		ep.gid[i] = (uint8_t)(0xf0 + i);
	/* RDMA_CONNECT and RDMA_ACCEPT carry an endpoint, exactly */
	ck_assert_int_eq(proto_rdma_ep_encode(&b, PROTO_RDMA_CONNECT, &ep), 0);
	ck_assert_uint_eq(b.len, PROTO_HDR_SIZE + CACHE_RDMA_EP_SIZE);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.type, PROTO_RDMA_CONNECT);
	ck_assert_uint_eq(h.len, CACHE_RDMA_EP_SIZE);
	ck_assert_int_eq(proto_rdma_ep_decode(b.data + PROTO_HDR_SIZE, h.len, &got), 0);
	ck_assert_uint_eq(got.qpn, ep.qpn);
	ck_assert_uint_eq(got.psn, ep.psn);
	ck_assert_uint_eq(got.lid, ep.lid);
	ck_assert(!memcmp(got.gid, ep.gid, 16));
	ck_assert_int_eq(proto_rdma_ep_decode(b.data + PROTO_HDR_SIZE, h.len - 1, &got), T9K_ECORRUPT);
	ck_assert_int_eq(proto_rdma_ep_decode(b.data + PROTO_HDR_SIZE, 0, &got), T9K_ECORRUPT);
	put_le32(b.data + PROTO_HDR_SIZE, 0); /* qpn 0 */
	ck_assert_int_eq(proto_rdma_ep_decode(b.data + PROTO_HDR_SIZE, h.len, &got), T9K_ECORRUPT);
	put_le32(b.data + PROTO_HDR_SIZE, 0x1000000); /* qpn beyond 24 bits */
	ck_assert_int_eq(proto_rdma_ep_decode(b.data + PROTO_HDR_SIZE, h.len, &got), T9K_ECORRUPT);
	buf_reset(&b);
	ck_assert_int_eq(proto_rdma_ep_encode(&b, PROTO_RDMA_ACCEPT, &ep), 0);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.type, PROTO_RDMA_ACCEPT);
	buf_reset(&b);
	ck_assert_int_eq(proto_rdma_ep_encode(&b, PROTO_GET, &ep), -EINVAL);

	/* RELEASE: a token, exactly 4 bytes */
	buf_reset(&b);
	ck_assert_int_eq(proto_release_encode(&b, 0xfeedf00d), 0);
	ck_assert_int_eq(proto_hdr_decode(b.data, &h), 0);
	ck_assert_int_eq(h.type, PROTO_RELEASE);
	ck_assert_int_eq(proto_release_decode(b.data + PROTO_HDR_SIZE, h.len, &token), 0);
	ck_assert_uint_eq(token, 0xfeedf00d);
	ck_assert_int_eq(proto_release_decode(b.data + PROTO_HDR_SIZE, 3, &token), T9K_ECORRUPT);
	ck_assert_int_eq(proto_release_decode(b.data + PROTO_HDR_SIZE, 5, &token), T9K_ECORRUPT);

	/* a CHUNK whose bytes wait in a registered buffer */
	proto_chunk_encode(ch, &c);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + PROTO_RDMA_DESC, &d), 0);
	ck_assert_int_eq(d.how, PROTO_HOW_RDMA);
	ck_assert_uint_eq(d.len, 4096);
	/* the data never rides inline with it, and the descriptor is exact */
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + 4096, &d), T9K_ECORRUPT);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR, &d), T9K_ECORRUPT);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + PROTO_RDMA_DESC + 1, &d),
			 T9K_ECORRUPT);
	c.len = 0; /* nothing to read */
	proto_chunk_encode(ch, &c);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + PROTO_RDMA_DESC, &d), T9K_ECORRUPT);
	c.len = 4096;
	c.status = -EIO; /* an error has no buffer */
	proto_chunk_encode(ch, &c);
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR + PROTO_RDMA_DESC, &d), T9K_ECORRUPT);
	ch[4] = PROTO_HOW_RDMA + 1;
	ck_assert_int_eq(proto_chunk_decode(ch, PROTO_CHUNK_HDR, &d), T9K_ECORRUPT);

	proto_rdma_desc_encode(desc, &rd);
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc), 4096, 1u << 20, &rg), 0);
	ck_assert(rg.addr == rd.addr);
	ck_assert_uint_eq(rg.rkey, rd.rkey);
	ck_assert_uint_eq(rg.token, rd.token);
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc) - 1, 4096, 1u << 20, &rg),
			 T9K_ECORRUPT);
	/* more than the reader's registered buffer holds, or nothing */
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc), (1u << 20) + 1, 1u << 20, &rg),
			 T9K_ECORRUPT);
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc), 0, 1u << 20, &rg), T9K_ECORRUPT);
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc), PROTO_CHUNK_MAX + 1, UINT32_MAX,
						&rg), T9K_ECORRUPT);
	rd.addr = 0; /* a null remote address */
	proto_rdma_desc_encode(desc, &rd);
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc), 4096, 1u << 20, &rg), T9K_ECORRUPT);
	rd.addr = UINT64_MAX - 100; /* a range that wraps */
	proto_rdma_desc_encode(desc, &rd);
	ck_assert_int_eq(proto_rdma_desc_decode(desc, sizeof(desc), 4096, 1u << 20, &rg), T9K_ECORRUPT);
	buf_release(&b);
}
END_TEST

/* ---- rendezvous ---- */

START_TEST(test_rendezvous)
{
	const char *addrs[4] = { "10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070", "10.0.0.4:7070" };
	uint64_t h[4];
	int cnt[4] = { 0 }, moved = 0, n = 30000;

	for (int i = 0; i < 4; i++)
		h[i] = cache_member_hash(addrs[i]);
	for (int k = 0; k < n; k++) {
		struct oid id = id_of((uint64_t)k + 1000);
		int o4 = cache_rendezvous(&id, h, 4), o3 = cache_rendezvous(&id, h, 3);

		ck_assert_int_eq(o4, cache_rendezvous(&id, h, 4)); /* deterministic */
		cnt[o4]++;
		/* dropping member 3 moves only the keys it owned */
		if (o4 != 3)
			ck_assert_int_eq(o3, o4);
		else
			moved++;
	}
	for (int i = 0; i < 4; i++)
		ck_assert_msg(cnt[i] > n / 4 * 0.9 && cnt[i] < n / 4 * 1.1, "member %d owns %d of %d", i,
			      cnt[i], n);
	ck_assert_int_eq(moved, cnt[3]);
}
END_TEST

START_TEST(test_group_lists)
{
	struct cache_group *g;
	char **v;
	int n;

	ck_assert_int_eq(cache_net_list("a:1,b:2", &v, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(v[1], "b:2");
	ck_assert_ptr_null(v[2]);
	cache_net_list_free(v);
	ck_assert_int_eq(cache_net_list("a:1,a:1", &v, &n), T9K_EUSAGE);
	ck_assert_int_eq(cache_net_list("", &v, &n), T9K_EUSAGE);
	ck_assert_int_eq(cache_net_list("a:0", &v, &n), T9K_EUSAGE);
	ck_assert_int_eq(cache_net_list("a:70000", &v, &n), T9K_EUSAGE);
	ck_assert_int_eq(cache_net_list("nohost", &v, &n), T9K_EUSAGE);
	ck_assert_int_eq(cache_net_check("unix:/run/x.sock"), 0);
	ck_assert(cache_net_is_unix("/run/x.sock"));
	ck_assert(!cache_net_is_unix("h:1"));
	ck_assert_int_eq(cache_group_new("h1:1,h2:2,h3:3", "h2:2", PROTO_ROLE_PEER, 100, &g), 0);
	ck_assert_int_eq(g->self, 1);
	ck_assert_ptr_null(g->peers[1]);
	ck_assert_ptr_nonnull(g->peers[0]);
	cache_group_put(g);
	ck_assert_int_eq(cache_group_new("h1:1,h2:2", "h9:9", PROTO_ROLE_PEER, 100, &g), T9K_EUSAGE);
	ck_assert_int_eq(cache_group_new("h1:1,/tmp/s", NULL, PROTO_ROLE_CLIENT, 100, &g), T9K_EUSAGE);
}
END_TEST

/* A rebuilt group shares the peers of the members that stay, and a slot
 * swaps groups while holders keep theirs (ASan checks the lifetimes). */
START_TEST(test_group_rebuild)
{
	struct cache_group_conf conf = { .self = "h2:2", .role = PROTO_ROLE_PEER, .timeout_ms = 100 };
	struct cache_group *g1, *g2, *held;
	struct cache_group_slot sl;

	ck_assert_int_eq(cache_group_new("h1:1,h2:2,h3:3", "h2:2", PROTO_ROLE_PEER, 100, &g1), 0);
	ck_assert_int_eq(cache_group_rebuild(g1, "h3:3,h4:4,h2:2,h1:1", &conf, &g2), 0);
	ck_assert_int_eq(g2->n, 4);
	ck_assert_int_eq(g2->self, 2);
	ck_assert_ptr_eq(g2->peers[0], g1->peers[2]); /* h3 stays: same peer */
	ck_assert_ptr_eq(g2->peers[3], g1->peers[0]); /* h1 too */
	ck_assert_ptr_nonnull(g2->peers[1]);          /* h4 is new */
	ck_assert_ptr_null(g2->peers[2]);
	ck_assert_int_eq(cache_group_rebuild(g1, "h1:1,h3:3", &conf, &held), T9K_EUSAGE);
	ck_assert_ptr_null(held);
	cache_group_put(g1); /* g2's shared peers live on */
	ck_assert_str_eq(cache_peer_addr(g2->peers[0]), "h3:3");
	ck_assert_str_eq(cache_peer_addr(g2->peers[3]), "h1:1");
	cache_group_put(g2);

	cache_group_slot_init(&sl, &conf);
	ck_assert_ptr_null(cache_group_hold(&sl));
	ck_assert_int_eq(cache_group_slot_members(&sl), 0);
	ck_assert_int_eq(cache_group_slot_set(&sl, "h1:1,h2:2"), 1);
	held = cache_group_hold(&sl);
	ck_assert_int_eq(cache_group_slot_set(&sl, "h2:2,h1:1"), 0); /* same members */
	ck_assert_ptr_eq(cache_group_hold(&sl), held);
	cache_group_put(held);
	ck_assert_int_eq(cache_group_slot_set(&sl, "h1:1"), T9K_EUSAGE); /* self missing */
	ck_assert_int_eq(cache_group_slot_set(&sl, ""), T9K_EUSAGE);
	ck_assert_int_eq(cache_group_slot_set(&sl, "h2:2,unix:/x"), T9K_EUSAGE);
	ck_assert_int_eq(cache_group_slot_members(&sl), 2);
	ck_assert_int_eq(cache_group_slot_set(&sl, "h2:2,h3:3"), 1);
	ck_assert_int_eq(cache_group_slot_members(&sl), 2);
	/* the holder still sees its group, h1's peer included */
	ck_assert_int_eq(held->n, 2);
	ck_assert_str_eq(cache_peer_addr(held->peers[0]), "h1:1");
	cache_group_put(held);
	cache_group_slot_release(&sl);
}
END_TEST

/* ---- I/O engines ---- */

static void io_roundtrip(enum cache_io_mode mode)
{
	char dir[4096], path[4200];
	uint8_t *w = malloc(3 << 20), *r = malloc(3 << 20);
	struct cache_io *io;
	int fd;

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	test_random_bytes(w, 3 << 20, 7);
	ck_assert_int_eq(cache_io_new(mode, 8, &io), 0);
	ck_assert_str_eq(cache_io_name(io), mode == CACHE_IO_PREAD ? "pread" : "io_uring");
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(cache_io_pwrite(io, fd, w, 3 << 20, 0), 3 << 20);
	ck_assert_int_eq(cache_io_pread(io, fd, r, 3 << 20, 0), 3 << 20);
	ck_assert(!memcmp(w, r, 3 << 20));
	ck_assert_int_eq(cache_io_pread(io, fd, r, 100, (3 << 20) - 10), 10); /* short at EOF */
	ck_assert_int_eq(cache_io_pread(io, -1, r, 100, 0), -EBADF);
	close(fd);
	cache_io_free(io);
	test_rmtree(dir);
	free(w);
	free(r);
}

START_TEST(test_io_uring)
{
	io_roundtrip(CACHE_IO_URING);
}
END_TEST

START_TEST(test_io_pread)
{
	io_roundtrip(CACHE_IO_PREAD);
}
END_TEST

/* Many threads at once through one ring: every request completes. */
struct io_arg {
	struct cache_io *io;
	int fd, seed;
};

static void *io_thread(void *arg)
{
	struct io_arg *a = arg;
	uint8_t w[4096], r[4096];

	for (int i = 0; i < 200; i++) {
		off_t off = (off_t)(a->seed * 200 + i) * 4096;

		test_random_bytes(w, sizeof(w), (uint64_t)off);
		if (cache_io_pwrite(a->io, a->fd, w, sizeof(w), off) != sizeof(w) ||
		    cache_io_pread(a->io, a->fd, r, sizeof(r), off) != sizeof(r) || memcmp(w, r, sizeof(w)))
			return (void *)1;
	}
	return NULL;
}

START_TEST(test_io_uring_concurrent)
{
	char dir[4096], path[4200];
	struct io_arg a[8];
	pthread_t th[8];
	struct cache_io *io;
	uint64_t reqs, batches;
	int fd;

	test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(cache_io_new(CACHE_IO_URING, 16, &io), 0);
	for (int i = 0; i < 8; i++) {
		a[i] = (struct io_arg){ io, fd, i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, io_thread, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		ck_assert_ptr_null(ret);
	}
	cache_io_counts(io, &reqs, &batches);
	ck_assert_uint_eq(reqs, 8 * 200 * 2);
	ck_assert_uint_le(batches, reqs);
	cache_io_free(io);
	close(fd);
	test_rmtree(dir);
}
END_TEST

/* ---- the disk cache ---- */

struct dfix {
	char dir[4096];
	struct cache_io *io;
	struct cache_disk *d;
};

static void dfix_open(struct dfix *f, uint64_t cap)
{
	ck_assert_int_eq(cache_io_new(CACHE_IO_AUTO, 16, &f->io), 0);
	ck_assert_int_eq(cache_disk_open(f->dir, cap, f->io, &f->d), 0);
}

static void dfix_close(struct dfix *f)
{
	cache_disk_close(f->d);
	cache_io_free(f->io);
}

/* Fills chunk seed with len bytes; returns the begin result. */
static int fill(struct cache_disk *d, uint64_t seed, uint32_t len)
{
	struct oid id = id_of(seed);
	struct cache_entry *e;
	uint8_t *data = malloc(len);
	int rc = cache_disk_begin(d, &id, len, &e);

	test_random_bytes(data, len, seed);
	if (rc == CACHE_DISK_FILL) {
		ck_assert_int_eq(cache_disk_commit(d, e, data), 0);
		cache_disk_put(d, e);
	} else if (rc == CACHE_DISK_HIT) {
		cache_disk_put(d, e);
	}
	free(data);
	return rc;
}

static bool cached(struct cache_disk *d, uint64_t seed)
{
	struct oid id = id_of(seed);
	struct cache_entry *e;

	if (!cache_disk_lookup(d, &id, &e))
		return false;
	cache_disk_put(d, e);
	return true;
}

START_TEST(test_disk_lru_capacity)
{
	struct cache_disk_stats st;
	struct dfix f;
	struct cache_entry *e;
	struct buf b = BUF_INIT;
	struct oid id = id_of(1);
	uint8_t want[1000];

	test_tmpdir(f.dir, sizeof(f.dir));
	dfix_open(&f, 3000);
	ck_assert_int_eq(fill(f.d, 1, 1000), CACHE_DISK_FILL);
	ck_assert_int_eq(fill(f.d, 2, 1000), CACHE_DISK_FILL);
	ck_assert_int_eq(fill(f.d, 3, 1000), CACHE_DISK_FILL);
	ck_assert_int_eq(fill(f.d, 1, 1000), CACHE_DISK_HIT); /* 1 is now the most recent */
	ck_assert_int_eq(fill(f.d, 4, 1000), CACHE_DISK_FILL); /* evicts 2, the oldest */
	ck_assert(cached(f.d, 1) && !cached(f.d, 2) && cached(f.d, 3) && cached(f.d, 4));
	cache_disk_stats(f.d, &st);
	ck_assert_uint_eq(st.used, 3000);
	ck_assert_uint_eq(st.chunks, 3);
	ck_assert_uint_eq(st.evictions, 1);
	/* bigger than the capacity: never cached */
	ck_assert_int_eq(fill(f.d, 5, 3001), CACHE_DISK_NOROOM);
	/* the bytes come back */
	ck_assert_int_eq(cache_disk_lookup(f.d, &id, &e), 1);
	ck_assert_int_eq(cache_disk_read(f.d, e, &b), 0);
	test_random_bytes(want, sizeof(want), 1);
	ck_assert_uint_eq(b.len, 1000);
	ck_assert(!memcmp(b.data, want, 1000));
	/* held entries are not evicted: no room while all three are held */
	{
		struct cache_entry *h3, *h4;
		struct oid i3 = id_of(3), i4 = id_of(4);

		ck_assert_int_eq(cache_disk_lookup(f.d, &i3, &h3), 1);
		ck_assert_int_eq(cache_disk_lookup(f.d, &i4, &h4), 1);
		ck_assert_int_eq(fill(f.d, 6, 500), CACHE_DISK_NOROOM);
		cache_disk_put(f.d, h3);
		ck_assert_int_eq(fill(f.d, 6, 500), CACHE_DISK_FILL); /* evicts 3 */
		cache_disk_put(f.d, h4);
	}
	cache_disk_put(f.d, e);
	cache_disk_stats(f.d, &st);
	ck_assert_uint_le(st.used, 3000);
	/* drop deletes the file */
	ck_assert_int_eq(cache_disk_drop(f.d, &id), 1);
	ck_assert(!cached(f.d, 1));
	ck_assert_int_eq(cache_disk_drop(f.d, &id), 0);
	buf_release(&b);
	dfix_close(&f);
	test_rmtree(f.dir);
}
END_TEST

START_TEST(test_disk_restart_scan)
{
	struct cache_disk_stats st;
	char path[4400], hex[OID_HEXSZ + 1];
	struct oid id;
	struct dfix f;
	int fd;

	test_tmpdir(f.dir, sizeof(f.dir));
	dfix_open(&f, 10000);
	for (uint64_t s = 1; s <= 4; s++)
		ck_assert_int_eq(fill(f.d, s, 1000), CACHE_DISK_FILL);
	dfix_close(&f);
	/* oldest first: give chunk 3 the oldest mtime; stray files and tmp
	 * leftovers are removed */
	id = id_of(3);
	snprintf(path, sizeof(path), "%s/chunks/%02x/%s", f.dir, id.b[0], oid_to_hex(&id, hex));
	{
		struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };

		ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	snprintf(path, sizeof(path), "%s/chunks/00/not-a-chunk", f.dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/tmp/17", f.dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* reopened smaller: the oldest goes */
	dfix_open(&f, 3000);
	cache_disk_stats(f.d, &st);
	ck_assert_uint_eq(st.chunks, 3);
	ck_assert_uint_eq(st.used, 3000);
	ck_assert(cached(f.d, 1) && cached(f.d, 2) && !cached(f.d, 3) && cached(f.d, 4));
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/chunks/00/not-a-chunk", f.dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* a file of the wrong size is refilled */
	ck_assert_int_eq(fill(f.d, 1, 999), CACHE_DISK_FILL);
	cache_disk_stats(f.d, &st);
	ck_assert_uint_eq(st.corrupt_dropped, 1);
	dfix_close(&f);
	test_rmtree(f.dir);
}
END_TEST

/* Single-flight: while one caller fills, the others wait and then hit. */
struct sf_arg {
	struct cache_disk *d;
	int result;
};

static void *sf_thread(void *arg)
{
	struct sf_arg *a = arg;
	struct oid id = id_of(42);
	struct cache_entry *e;

	a->result = cache_disk_begin(a->d, &id, 100, &e);
	if (e)
		cache_disk_put(a->d, e);
	return NULL;
}

START_TEST(test_disk_single_flight)
{
	struct oid id = id_of(42);
	struct sf_arg a[4];
	pthread_t th[4];
	struct cache_entry *e;
	struct dfix f;
	uint8_t data[100] = { 1 };

	test_tmpdir(f.dir, sizeof(f.dir));
	dfix_open(&f, 10000);
	ck_assert_int_eq(cache_disk_begin(f.d, &id, 100, &e), CACHE_DISK_FILL);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct sf_arg){ f.d, -1 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, sf_thread, &a[i]), 0);
	}
	usleep(100000); /* they are waiting on the fill */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(a[i].result, -1);
	ck_assert_int_eq(cache_disk_commit(f.d, e, data), 0);
	cache_disk_put(f.d, e);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(a[i].result, CACHE_DISK_HIT);
	}
	/* an aborted fill hands the fill to the next caller */
	id = id_of(43);
	ck_assert_int_eq(cache_disk_begin(f.d, &id, 100, &e), CACHE_DISK_FILL);
	cache_disk_abort(f.d, e);
	cache_disk_put(f.d, e);
	ck_assert_int_eq(cache_disk_begin(f.d, &id, 100, &e), CACHE_DISK_FILL);
	cache_disk_abort(f.d, e);
	cache_disk_put(f.d, e);
	dfix_close(&f);
	test_rmtree(f.dir);
}
END_TEST

/* Many threads filling and reading more chunks than fit: the capacity
 * holds at every moment, every hit returns the chunk's own bytes, and
 * the files on disk are exactly the index. */
struct cf_arg {
	struct cache_disk *d;
	uint64_t seed;
	int bad;
	uint64_t max_used;
};

static void *cf_thread(void *arg)
{
	struct cf_arg *a = arg;
	uint8_t data[1500], want[1500];
	uint64_t x = a->seed;

	for (int i = 0; i < 300; i++) {
		struct cache_disk_stats st;
		struct cache_entry *e;
		struct buf b = BUF_INIT;
		uint64_t k;
		struct oid id;
		uint32_t len;
		int rc;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		k = (x >> 33) % 60;
		id = id_of(k + 500);
		len = 500 + (uint32_t)(k * 16);
		test_random_bytes(want, len, k);
		rc = cache_disk_begin(a->d, &id, len, &e);
		if (rc == CACHE_DISK_FILL) {
			memcpy(data, want, len);
			if (cache_disk_commit(a->d, e, data) < 0)
				a->bad++;
			cache_disk_put(a->d, e);
		} else if (rc == CACHE_DISK_HIT) {
			if (cache_disk_read(a->d, e, &b) < 0 || b.len != len || memcmp(b.data, want, len))
				a->bad++;
			cache_disk_put(a->d, e);
		} else if (rc != CACHE_DISK_NOROOM) {
			a->bad++;
		}
		buf_release(&b);
		cache_disk_stats(a->d, &st);
		if (st.used > a->max_used)
			a->max_used = st.used;
	}
	return NULL;
}

static uint64_t files_bytes, files_count;

static int sum_files(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F && strstr(p, "/chunks/")) {
		files_bytes += (uint64_t)sb->st_size;
		files_count++;
	}
	return 0;
}

START_TEST(test_disk_concurrent_fills)
{
	struct cache_disk_stats st;
	struct cf_arg a[6];
	pthread_t th[6];
	struct dfix f;

	test_tmpdir(f.dir, sizeof(f.dir));
	dfix_open(&f, 12000);
	for (int i = 0; i < 6; i++) {
		a[i] = (struct cf_arg){ f.d, (uint64_t)i * 7919 + 1, 0, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, cf_thread, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(a[i].bad, 0);
		ck_assert_uint_le(a[i].max_used, 12000);
	}
	cache_disk_stats(f.d, &st);
	ck_assert_uint_gt(st.evictions, 0);
	files_bytes = files_count = 0;
	nftw(f.dir, sum_files, 16, FTW_PHYS);
	ck_assert_uint_eq(files_bytes, st.used);
	ck_assert_uint_eq(files_count, st.chunks);
	dfix_close(&f);
	test_rmtree(f.dir);
}
END_TEST

/* ---- RDMA: the no-device path ---- */

START_TEST(test_rdma_probe)
{
	char why[256];
	int rc = cache_rdma_probe(why, sizeof(why));

	/* either a device is there (> 0) or the reason it is not is given */
	if (rc <= 0)
		ck_assert(strlen(why) > 0);
#ifndef T9K_HAVE_RDMA
	ck_assert_int_eq(rc, -ENOTSUP);
#endif
	ck_assert_int_eq(cache_rdma_choose(rc, true), rc > 0 ? CACHE_TRANSPORT_RDMA : CACHE_TRANSPORT_TCP);
	ck_assert_int_eq(cache_rdma_choose(rc, false), CACHE_TRANSPORT_TCP);
}
END_TEST

START_TEST(test_rdma_no_device)
{
	struct cache_rdma_endpoint ep = { .qpn = 0x1234, .psn = 0xabcdef, .lid = 7 }, got;
	uint8_t wire[CACHE_RDMA_EP_SIZE];
	struct cache_rdma *r = NULL;
	char why[256];
	int rc;

	/* endpoints cross the TCP connection: round trip and malformed */
	test_random_bytes(ep.gid, sizeof(ep.gid), 3);
	cache_rdma_ep_encode(&ep, wire);
	ck_assert_int_eq(cache_rdma_ep_decode(wire, sizeof(wire), &got), 0);
	ck_assert_uint_eq(got.qpn, ep.qpn);
	ck_assert_uint_eq(got.psn, ep.psn);
	ck_assert_uint_eq(got.lid, ep.lid);
	ck_assert(!memcmp(got.gid, ep.gid, 16));
	ck_assert_int_eq(cache_rdma_ep_decode(wire, sizeof(wire) - 1, &got), T9K_ECORRUPT);
	put_le32(wire, 0);
	ck_assert_int_eq(cache_rdma_ep_decode(wire, sizeof(wire), &got), T9K_ECORRUPT);
	put_le32(wire, 0x1000000);
	ck_assert_int_eq(cache_rdma_ep_decode(wire, sizeof(wire), &got), T9K_ECORRUPT);

	/* without a device, opening fails with a reason and leaves nothing */
	if (cache_rdma_probe(why, sizeof(why)) > 0)
		return; /* a machine with RDMA: the end-to-end path is not tested here */
	t9k_err_clear();
	rc = cache_rdma_open(NULL, &r);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(r);
	ck_assert(strstr(t9k_errmsg(rc), "RDMA") != NULL);
	cache_rdma_close(NULL);
	cache_rdma_qp_free(NULL);
	cache_rdma_dereg(NULL);
}
END_TEST

/* ---- RDMA transport decision and fallbacks ---- */

START_TEST(test_rdma_choose_conn)
{
	int dummy = 0;
	const struct cache_rdma *open_dev = (const struct cache_rdma *)&dummy; /* only tested for NULL */

	ck_assert_int_eq(cache_rdma_choose_conn(open_dev, true, false), CACHE_TRANSPORT_RDMA);
	/* only the peer has a device, or only this node */
	ck_assert_int_eq(cache_rdma_choose_conn(NULL, true, false), CACHE_TRANSPORT_TCP);
	ck_assert_int_eq(cache_rdma_choose_conn(open_dev, false, false), CACHE_TRANSPORT_TCP);
	ck_assert_int_eq(cache_rdma_choose_conn(NULL, false, false), CACHE_TRANSPORT_TCP);
	/* an RDMA step failed on the connection: TCP for its life */
	ck_assert_int_eq(cache_rdma_choose_conn(open_dev, true, true), CACHE_TRANSPORT_TCP);
}
END_TEST

/* A fake daemon announcing an RDMA device: records the requests of one
 * connection and answers GETs inline, or (rdma_reply) with an RDMA
 * descriptor nobody asked for. */
struct fake {
	int lfd;
	bool rdma_reply;
	uint8_t types[8], flags[8];
	int n;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	uint8_t pl[4096], data[100];
	struct proto_hdr h;

	memset(data, 0x5a, sizeof(data));
	while (fd >= 0 && f->n < 8 && proto_recv_hdr(fd, &h, NULL) == 0 && h.len <= sizeof(pl) &&
	       proto_recv_exact(fd, pl, h.len) == 0) {
		f->types[f->n] = h.type;
		f->flags[f->n++] = h.flags;
		if (h.type == PROTO_HELLO) {
			uint8_t ok[2] = { PROTO_VERSION, PROTO_FEAT_RDMA };

			if (proto_send(fd, PROTO_OK, 0, ok, 2, NULL, 0, -1) < 0)
				break;
		} else if (h.type == PROTO_GET) {
			struct proto_get *g = malloc(sizeof(*g));
			struct proto_chunk c = { .status = 0, .how = PROTO_HOW_INLINE, .len = sizeof(data) };
			struct proto_rdma_desc d = { .addr = 4096, .rkey = 1, .token = 1 };
			uint8_t ch[PROTO_CHUNK_HDR], desc[PROTO_RDMA_DESC];
			int rc;

			ck_assert_ptr_nonnull(g);
			ck_assert_int_eq(proto_get_decode(pl, h.len, h.flags, g), 0);
			c.id = g->items[0].id;
			free(g);
			if (f->rdma_reply) {
				c.how = PROTO_HOW_RDMA;
				proto_chunk_encode(ch, &c);
				proto_rdma_desc_encode(desc, &d);
				rc = proto_send(fd, PROTO_CHUNK, 0, ch, sizeof(ch), desc, sizeof(desc), -1);
			} else {
				proto_chunk_encode(ch, &c);
				rc = proto_send(fd, PROTO_CHUNK, 0, ch, sizeof(ch), data, sizeof(data), -1);
			}
			if (rc < 0)
				break;
		} else {
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* it: the chunk asked for (NULL: id_of(77), 100 bytes, its own object). */
static void fake_get(bool rdma_reply, const struct proto_item *it, struct fake *f, int *rc,
		     struct buf *out, struct cache_peer_reply *r)
{
	struct proto_item def = { .id = id_of(77), .len = 100 };
	char dir[256], addr[300];
	struct cache_peer *p = NULL;
	pthread_t th;

	memset(f, 0, sizeof(*f));
	f->rdma_reply = rdma_reply;
	test_tmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/fake.sock", dir);
	ck_assert_int_eq(cache_net_listen(addr, &f->lfd), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, fake_main, f), 0);
	ck_assert_int_eq(cache_peer_new(addr, PROTO_ROLE_PEER, 2000, &p), 0);
	/* what a daemon does whose device did not open (always, here) */
	cache_peer_set_rdma(p, NULL);
	*rc = cache_peer_get(p, PROTO_F_PEER, "file:///nowhere", it ? it : &def, out, r);
	cache_peer_free(p);
	pthread_join(th, NULL);
	close(f->lfd);
	test_rmtree(dir);
}

START_TEST(test_peer_rdma_fallback)
{
	struct cache_peer_reply r;
	struct buf out = BUF_INIT;
	struct fake f;
	int rc;

	/* the peer announces RDMA, this side has no open device: plain TCP,
	 * no RDMA_CONNECT, no PROTO_F_RDMA, the bytes arrive inline */
	fake_get(false, NULL, &f, &rc, &out, &r);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(out.len, 100);
	ck_assert_uint_eq(out.data[99], 0x5a);
	ck_assert_int_eq(f.n, 2);
	ck_assert_int_eq(f.types[0], PROTO_HELLO);
	ck_assert_int_eq(f.types[1], PROTO_GET);
	ck_assert_int_eq(f.flags[1] & PROTO_F_RDMA, 0);
	ck_assert_int_eq(f.flags[1] & PROTO_F_PEER, PROTO_F_PEER);

	/* an RDMA descriptor on a connection that did not ask for one is a
	 * protocol error: the exchange fails, nothing is appended */
	buf_reset(&out);
	fake_get(true, NULL, &f, &rc, &out, &r);
	ck_assert_int_eq(rc, T9K_ECORRUPT);
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
}
END_TEST

struct srv {
	struct cache_server *s;
	pthread_t th;
	char dir[256], sock[300];
};

static void *srv_main(void *arg)
{
	cache_server_run(arg);
	return NULL;
}

static void srv_start(struct srv *v)
{
	struct cache_server_opts o;

	test_tmpdir(v->dir, sizeof(v->dir));
	snprintf(v->sock, sizeof(v->sock), "%s/cache.sock", v->dir);
	cache_server_opts_init(&o);
	o.dir = v->dir;
	o.capacity = 1 << 20;
	ck_assert_int_eq(o.rdma_buffers, 8);
	ck_assert_int_eq(cache_server_new(&o, &v->s), 0);
	ck_assert_int_eq(pthread_create(&v->th, NULL, srv_main, v->s), 0);
}

static void srv_stop(struct srv *v)
{
	cache_server_stop(v->s);
	pthread_join(v->th, NULL);
	cache_server_free(v->s);
	test_rmtree(v->dir);
}

/* Reads one frame; returns its type, payload in pl (at most plsz). */
static int recv_frame(int fd, uint8_t *pl, size_t plsz, uint32_t *len)
{
	struct proto_hdr h;
	int rc = proto_recv_hdr(fd, &h, NULL);

	if (rc < 0)
		return rc;
	ck_assert_uint_le(h.len, plsz);
	ck_assert_int_eq(proto_recv_exact(fd, pl, h.len), 0);
	*len = h.len;
	return h.type;
}

START_TEST(test_server_rdma_refused)
{
	struct cache_rdma_endpoint ep = { .qpn = 0x42, .psn = 7, .lid = 1 };
	uint8_t pl[8192];
	struct buf b = BUF_INIT;
	struct srv v;
	uint32_t len;
	int fd;

	srv_start(&v);
	ck_assert_int_eq(cache_net_connect(v.sock, 2000, &fd), 0);
	ck_assert_int_eq(proto_hello_encode(&b, PROTO_ROLE_PEER), 0);
	ck_assert_int_eq(proto_send_raw(fd, b.data, b.len), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(pl[1] & PROTO_FEAT_RDMA, 0); /* no device open: not announced */
	/* asked anyway: a refusal the reader falls back on, the connection lives on */
	buf_reset(&b);
	ck_assert_int_eq(proto_rdma_ep_encode(&b, PROTO_RDMA_CONNECT, &ep), 0);
	ck_assert_int_eq(proto_send_raw(fd, b.data, b.len), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_ERR);
	ck_assert_int_eq(proto_send(fd, PROTO_STATS, 0, NULL, 0, NULL, 0, -1), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl) - 1, &len), PROTO_TEXT);
	pl[len] = '\0';
	ck_assert_ptr_nonnull(strstr((char *)pl, "rdma_lent 0\n"));
	/* a malformed endpoint is a protocol error: ERR, then the connection closes */
	ck_assert_int_eq(proto_send(fd, PROTO_RDMA_CONNECT, 0, b.data + PROTO_HDR_SIZE,
				    CACHE_RDMA_EP_SIZE - 1, NULL, 0, -1), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_ERR);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), -ECONNRESET);
	close(fd);
	/* a RELEASE of nothing lent, likewise */
	ck_assert_int_eq(cache_net_connect(v.sock, 2000, &fd), 0);
	buf_reset(&b);
	ck_assert_int_eq(proto_release_encode(&b, 1), 0);
	ck_assert_int_eq(proto_send_raw(fd, b.data, b.len), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_ERR);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), -ECONNRESET);
	close(fd);
	buf_release(&b);
	srv_stop(&v);
}
END_TEST

/* ---- the RDMA data path in one process, over a fake device ----
 *
 * The fake stands in for libibverbs (cache_rdma_set_ops): registrations
 * are kept in a table, and a "read" checks the queue pair is connected,
 * that dst lies in the reader's registration and [raddr, raddr+len) in a
 * live registration with that rkey (as a real device would), then copies.
 * It proves the protocol, the lending, the releases and the fallbacks, not
 * the verbs: those have never run here. */

struct fake_mr {
	uint8_t *buf;
	size_t len;
	uint32_t rkey;
	bool live;
};

struct fake_qp {
	uint32_t qpn;
	bool connected;
};

static struct {
	pthread_mutex_t lock; /* guards all of it: owner and reader threads */
	struct fake_mr mrs[64];
	int nmr, reads, fail_reads, corrupt_reads;
	uint32_t next_qpn;
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int fake_probe(char *why, size_t whysz)
{
	snprintf(why, whysz, "1 fake RDMA device");
	return 1;
}

static int fake_open(const char *dev, struct cache_rdma **out)
{
	(void)dev;
	*out = malloc(8);
	return *out ? 0 : -ENOMEM;
}

static void fake_close(struct cache_rdma *r)
{
	free(r);
}

static int fake_reg(struct cache_rdma *r, void *buf, size_t len, struct cache_rdma_mr **out)
{
	int rc = 0;

	(void)r;
	pthread_mutex_lock(&fk.lock);
	if (fk.nmr == 64) {
		rc = -ENOMEM;
	} else {
		fk.mrs[fk.nmr] = (struct fake_mr){ buf, len, 0x1000u + (uint32_t)fk.nmr, true };
		*out = (struct cache_rdma_mr *)&fk.mrs[fk.nmr++];
	}
	pthread_mutex_unlock(&fk.lock);
	return rc;
}

static void fake_dereg(struct cache_rdma_mr *mr)
{
	pthread_mutex_lock(&fk.lock);
	((struct fake_mr *)mr)->live = false;
	pthread_mutex_unlock(&fk.lock);
}

static uint32_t fake_rkey(const struct cache_rdma_mr *mr)
{
	return ((const struct fake_mr *)mr)->rkey;
}

static int fake_qp_new(struct cache_rdma *r, struct cache_rdma_qp **out,
		       struct cache_rdma_endpoint *local)
{
	struct fake_qp *q = calloc(1, sizeof(*q));

	(void)r;
	if (!q)
		return -ENOMEM;
	pthread_mutex_lock(&fk.lock);
	q->qpn = ++fk.next_qpn;
	pthread_mutex_unlock(&fk.lock);
	memset(local, 0, sizeof(*local));
	local->qpn = q->qpn;
	local->psn = 100;
	*out = (struct cache_rdma_qp *)q;
	return 0;
}

static int fake_qp_connect(struct cache_rdma_qp *qp, const struct cache_rdma_endpoint *remote)
{
	((struct fake_qp *)qp)->connected = remote->qpn != 0;
	return 0;
}

static void fake_qp_free(struct cache_rdma_qp *qp)
{
	free(qp);
}

static int fake_read(struct cache_rdma_qp *qp, struct cache_rdma_mr *mr, void *dst, uint64_t raddr,
		     uint32_t rkey, uint32_t len, int timeout_ms)
{
	struct fake_mr *l = (struct fake_mr *)mr;
	uint8_t *d = dst;
	int rc = -EIO;

	(void)timeout_ms;
	pthread_mutex_lock(&fk.lock);
	fk.reads++;
	if (fk.fail_reads > 0) {
		fk.fail_reads--;
	} else if (((struct fake_qp *)qp)->connected && l->live && d >= l->buf &&
		   d + len <= l->buf + l->len) {
		for (int i = 0; i < fk.nmr; i++) {
			struct fake_mr *m = &fk.mrs[i];
			uintptr_t a = (uintptr_t)raddr;

			if (m->live && m->rkey == rkey && a >= (uintptr_t)m->buf &&
			    a + len <= (uintptr_t)m->buf + m->len) {
				memcpy(d, (const void *)a, len);
				if (fk.corrupt_reads > 0) {
					fk.corrupt_reads--;
					d[len / 2] ^= 1;
				}
				rc = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return rc;
}

static const struct cache_rdma_ops fake_ops = {
	.probe = fake_probe, .open = fake_open, .close = fake_close, .reg = fake_reg,
	.dereg = fake_dereg, .rkey = fake_rkey, .qp_new = fake_qp_new,
	.qp_connect = fake_qp_connect, .qp_free = fake_qp_free, .read = fake_read,
};

static int fake_reads(void)
{
	int n;

	pthread_mutex_lock(&fk.lock);
	n = fk.reads;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

static unsigned long long stat_value(struct cache_server *s, const char *name)
{
	struct buf t = BUF_INIT;
	char key[64];
	const char *at;
	unsigned long long v;

	ck_assert_int_eq(cache_server_stats(s, false, &t), 0);
	snprintf(key, sizeof(key), "\n%s ", name);
	at = strstr((char *)t.data, key);
	ck_assert_ptr_nonnull(at);
	v = strtoull(at + strlen(key), NULL, 10);
	buf_release(&t);
	return v;
}

/* The owner counts a lent buffer after the reader's RELEASE, which may
 * come after the reader's caller has its bytes: wait for the count (the
 * buffer is back in the pool by then). */
static unsigned long long stat_wait(struct cache_server *s, const char *name,
				    unsigned long long want)
{
	double until = now_sec() + 5;
	unsigned long long v;

	while ((v = stat_value(s, name)) != want && now_sec() < until)
		usleep(1000);
	return v;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void get_ok(struct cache_peer *p, const char *url, const struct oid *id, const uint8_t *data,
		   uint32_t len)
{
	struct proto_item it = { .id = *id, .len = len };
	struct cache_peer_reply r;
	struct buf out = BUF_INIT;

	ck_assert_int_eq(cache_peer_get(p, PROTO_F_PEER, url, &it, &out, &r), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(out.len, len);
	ck_assert(!memcmp(out.data, data, len));
	buf_release(&out);
}

START_TEST(test_rdma_data_path_fake)
{
	const uint32_t small = 100000, big = 5u << 20; /* big: over CACHE_RDMA_BUF_SIZE */
	char dir[256], cdir[300], url[300], addr[64];
	struct cache_rdma_endpoint mine;
	struct chunk_put_result res1, res2;
	struct cache_server_opts o;
	struct cache_rdma *r = NULL;
	struct cache_rdma_qp *qp = NULL;
	struct cache_peer *p = NULL, *p2 = NULL;
	struct chunk_writer *w;
	struct store *st = NULL;
	struct cache_server *s = NULL;
	struct proto_item it;
	struct proto_chunk c;
	struct buf b = BUF_INIT;
	uint8_t *d1 = malloc(small), *d2 = malloc(big), pl[256];
	uint32_t len;
	pthread_t th;
	double t0;
	int fd;

	ck_assert_ptr_nonnull(d1);
	ck_assert_ptr_nonnull(d2);
	cache_rdma_set_ops(&fake_ops);
	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	test_random_bytes(d1, small, 1);
	test_random_bytes(d2, big, 2);
	ck_assert_int_eq(store_open(url, &st), 0);
	w = chunk_writer_new(0);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(chunk_put(w, st, d1, small, &res1), 0);
	ck_assert_int_eq(chunk_put(w, st, d2, big, &res2), 0);
	chunk_writer_free(w);
	store_close(st);

	/* the owner: a one-member group with one buffer to lend */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	cache_server_opts_init(&o);
	o.dir = cdir;
	o.capacity = 64u << 20;
	o.listen = addr;
	o.group = addr;
	o.rdma_buffers = 1;
	o.peer_wait_ms = 200; /* an unreleased buffer is taken back after 1.4 s */
	ck_assert_int_eq(cache_server_new(&o, &s), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, srv_main, s), 0);

	/* the reader: a peer with its own (fake) device */
	ck_assert_int_eq(cache_rdma_open(NULL, &r), 0);
	ck_assert_int_eq(cache_peer_new(addr, PROTO_ROLE_PEER, 2000, &p), 0);
	cache_peer_set_rdma(p, r);

	/* a chunk goes by RDMA READ: lent, read, released */
	get_ok(p, url, &res1.id, d1, small);
	ck_assert_int_eq(fake_reads(), 1);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 1), 1);
	/* a chunk larger than a buffer goes inline on the same connection */
	get_ok(p, url, &res2.id, d2, big);
	ck_assert_int_eq(fake_reads(), 1);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 1), 1);
	/* the read fails: the buffer is released, the chunk comes over TCP ... */
	pthread_mutex_lock(&fk.lock);
	fk.fail_reads = 1;
	pthread_mutex_unlock(&fk.lock);
	get_ok(p, url, &res1.id, d1, small);
	ck_assert_int_eq(fake_reads(), 2);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 2), 2);
	/* ... and that connection stays TCP */
	get_ok(p, url, &res1.id, d1, small);
	ck_assert_int_eq(fake_reads(), 2);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 2), 2);
	/* a new connection uses RDMA again: the one buffer came back */
	ck_assert_int_eq(cache_peer_new(addr, PROTO_ROLE_PEER, 2000, &p2), 0);
	cache_peer_set_rdma(p2, r);
	get_ok(p2, url, &res1.id, d1, small);
	ck_assert_int_eq(fake_reads(), 3);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 3), 3);
	cache_peer_free(p2);

	/* a reader that never releases: the owner takes the buffer back and
	 * closes the connection */
	ck_assert_int_eq(cache_net_connect(addr, 3000, &fd), 0);
	ck_assert_int_eq(proto_hello_encode(&b, PROTO_ROLE_PEER), 0);
	ck_assert_int_eq(proto_send_raw(fd, b.data, b.len), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_OK);
	ck_assert_int_eq(pl[1] & PROTO_FEAT_RDMA, PROTO_FEAT_RDMA);
	ck_assert_int_eq(cache_rdma_qp_new(r, &qp, &mine), 0);
	buf_reset(&b);
	ck_assert_int_eq(proto_rdma_ep_encode(&b, PROTO_RDMA_CONNECT, &mine), 0);
	ck_assert_int_eq(proto_send_raw(fd, b.data, b.len), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_RDMA_ACCEPT);
	ck_assert_uint_eq(len, CACHE_RDMA_EP_SIZE);
	buf_reset(&b);
	it = (struct proto_item){ .id = res1.id, .len = small };
	ck_assert_int_eq(proto_get_encode(&b, PROTO_F_PEER | PROTO_F_RDMA, url, &it, 1), 0);
	ck_assert_int_eq(proto_send_raw(fd, b.data, b.len), 0);
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), PROTO_CHUNK);
	ck_assert_uint_eq(len, PROTO_CHUNK_HDR + PROTO_RDMA_DESC);
	ck_assert_int_eq(proto_chunk_decode(pl, len, &c), 0);
	ck_assert_int_eq(c.how, PROTO_HOW_RDMA);
	t0 = now_sec();
	ck_assert_int_eq(recv_frame(fd, pl, sizeof(pl), &len), -ECONNRESET);
	ck_assert(now_sec() - t0 > 1.0);
	close(fd);
	cache_rdma_qp_free(qp);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 3), 3);
	/* the buffer is back: another chunk goes by RDMA */
	get_ok(p, url, &res1.id, d1, small); /* p's connection is TCP now */
	ck_assert_int_eq(fake_reads(), 3);
	ck_assert_int_eq(cache_peer_new(addr, PROTO_ROLE_PEER, 2000, &p2), 0);
	cache_peer_set_rdma(p2, r);
	get_ok(p2, url, &res1.id, d1, small);
	ck_assert_int_eq(fake_reads(), 4);
	ck_assert_uint_eq(stat_wait(s, "rdma_lent", 4), 4);

	cache_peer_free(p2);
	cache_peer_free(p);
	cache_rdma_close(r);
	cache_server_stop(s);
	pthread_join(th, NULL);
	cache_server_free(s);
	cache_rdma_set_ops(NULL);
	buf_release(&b);
	free(d1);
	free(d2);
	test_rmtree(dir);
}
END_TEST

/* Two daemons of a group, both with a (fake) device: a client of A asks
 * for a chunk B owns; B's bytes arrive by RDMA with one bit flipped. A must
 * notice (hash), tell B to drop it, and serve the right bytes from the
 * store: RDMA bytes are trusted no more than TCP ones. */
START_TEST(test_rdma_corrupt_bytes_fake)
{
	const uint32_t len = 50000;
	char dir[256], url[300], list[128], addr[2][64], cdir[2][300], sock[340];
	struct cache_server *s[2] = { NULL, NULL };
	struct chunk_put_result res;
	struct cache_peer_reply rep;
	struct cache_server_opts o;
	struct buf out = BUF_INIT;
	struct cache_group *g = NULL;
	struct cache_peer *cl = NULL;
	struct proto_item it;
	struct chunk_writer *w;
	struct store *st = NULL;
	uint8_t *d = malloc(len);
	pthread_t th[2];
	uint64_t seed = 100;

	ck_assert_ptr_nonnull(d);
	cache_rdma_set_ops(&fake_ops);
	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	for (int i = 0; i < 2; i++) {
		snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", free_port());
		snprintf(cdir[i], sizeof(cdir[i]), "%s/cache%d", dir, i);
	}
	snprintf(list, sizeof(list), "%s,%s", addr[0], addr[1]);
	/* a chunk whose owner is B */
	ck_assert_int_eq(cache_group_new(list, addr[0], PROTO_ROLE_PEER, 1000, &g), 0);
	do {
		struct oid id;

		test_random_bytes(d, len, ++seed);
		ck_assert_int_eq(oid_hash(&id, d, len), 0);
		if (cache_group_owner(g, &id) != g->self)
			break;
	} while (seed < 200);
	cache_group_put(g);
	ck_assert_int_eq(store_open(url, &st), 0);
	w = chunk_writer_new(0);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(chunk_put(w, st, d, len, &res), 0);
	chunk_writer_free(w);
	store_close(st);

	for (int i = 0; i < 2; i++) {
		cache_server_opts_init(&o);
		o.dir = cdir[i];
		o.capacity = 8u << 20;
		o.listen = addr[i];
		o.group = list;
		o.rdma_buffers = 1;
		ck_assert_int_eq(cache_server_new(&o, &s[i]), 0);
		ck_assert_int_eq(pthread_create(&th[i], NULL, srv_main, s[i]), 0);
	}
	pthread_mutex_lock(&fk.lock);
	fk.reads = 0;
	fk.corrupt_reads = 1;
	pthread_mutex_unlock(&fk.lock);
	snprintf(sock, sizeof(sock), "unix:%s/cache.sock", cdir[0]);
	ck_assert_int_eq(cache_peer_new(sock, PROTO_ROLE_CLIENT, 2000, &cl), 0);
	it = (struct proto_item){ .id = res.id, .len = len };
	ck_assert_int_eq(cache_peer_get(cl, 0, url, &it, &out, &rep), 0);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_uint_eq(out.len, len);
	ck_assert(!memcmp(out.data, d, len)); /* the right bytes, from the store */
	ck_assert_int_eq(fake_reads(), 1);       /* B's bytes did come by RDMA */
	ck_assert_uint_eq(stat_wait(s[1], "rdma_lent", 1), 1);
	ck_assert_uint_eq(stat_value(s[0], "peer_corrupt"), 1);
	ck_assert_uint_eq(stat_value(s[0], "peer_hits"), 0);
	ck_assert_uint_eq(stat_value(s[0], "store_fetches"), 1);
	/* B dropped its copy (DROP), so asking again refills B from the store
	 * and the bytes, read by RDMA again and intact now, are a peer hit */
	buf_reset(&out);
	ck_assert_int_eq(cache_peer_get(cl, 0, url, &it, &out, &rep), 0);
	ck_assert_int_eq(rep.status, 0);
	ck_assert(out.len == len && !memcmp(out.data, d, len));
	ck_assert_int_eq(fake_reads(), 2);
	ck_assert_uint_eq(stat_value(s[0], "peer_hits"), 1);
	ck_assert_uint_eq(stat_wait(s[1], "rdma_lent", 2), 2);

	cache_peer_free(cl);
	for (int i = 0; i < 2; i++) {
		cache_server_stop(s[i]);
		pthread_join(th[i], NULL);
		cache_server_free(s[i]);
	}
	cache_rdma_set_ops(NULL);
	buf_release(&out);
	free(d);
	test_rmtree(dir);
}
END_TEST

/* ---- changing a group's member list, real daemons on loopback ---- */

#define GC_CHUNKS 24
#define GC_LEN 4096

struct gdaemon {
	struct cache_server *s;
	pthread_t th;
	char addr[64], dir[300], sock[340];
};

/* Picks the daemon's port and paths under base (start it with gd_start). */
static void gd_init(struct gdaemon *d, const char *base, int i)
{
	snprintf(d->addr, sizeof(d->addr), "127.0.0.1:%d", free_port());
	snprintf(d->dir, sizeof(d->dir), "%s/cache%d", base, i);
	snprintf(d->sock, sizeof(d->sock), "unix:%s/cache.sock", d->dir);
}

static void gd_start(struct gdaemon *d, const char *group)
{
	struct cache_server_opts o;

	cache_server_opts_init(&o);
	o.dir = d->dir;
	o.capacity = 8u << 20;
	o.listen = d->addr;
	o.group = group;
	ck_assert_int_eq(cache_server_new(&o, &d->s), 0);
	ck_assert_int_eq(pthread_create(&d->th, NULL, srv_main, d->s), 0);
}

static void gd_stop(struct gdaemon *d)
{
	if (!d->s)
		return;
	cache_server_stop(d->s);
	pthread_join(d->th, NULL);
	cache_server_free(d->s);
	d->s = NULL;
}

/* GC_CHUNKS chunks of GC_LEN random bytes in a file store under dir. */
static void gc_store(const char *dir, char *url, size_t urlsz, struct oid *ids, uint8_t *data)
{
	struct chunk_writer *w = chunk_writer_new(0);
	struct store *st = NULL;

	snprintf(url, urlsz, "file://%s/objects", dir);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(store_open(url, &st), 0);
	for (int i = 0; i < GC_CHUNKS; i++) {
		struct chunk_put_result res;

		test_random_bytes(data + (size_t)i * GC_LEN, GC_LEN, 7000 + (uint64_t)i);
		ck_assert_int_eq(chunk_put(w, st, data + (size_t)i * GC_LEN, GC_LEN, &res), 0);
		ids[i] = res.id;
	}
	chunk_writer_free(w);
	store_close(st);
}

/* Reads chunk i through cc and checks its bytes. */
static void gc_read(struct cache_client *cc, const struct oid *ids, const uint8_t *data, int i)
{
	struct proto_item it = { .id = ids[i], .len = GC_LEN };
	struct buf out = BUF_INIT;

	ck_assert_int_eq(cache_client_get(cc, &it, &out), 0);
	ck_assert_uint_eq(out.len, GC_LEN);
	ck_assert(!memcmp(out.data, data + (size_t)i * GC_LEN, GC_LEN));
	buf_release(&out);
}

/* A standalone daemon A joins a group with B: it forwards B's chunks to
 * B; a list without A is refused and changes nothing; shrunk back to
 * itself, A serves B's former chunks from the store and its disk. */
START_TEST(test_group_change_server)
{
	char dir[256], url[300], list[160], bad[200];
	struct gdaemon a, b;
	struct oid ids[GC_CHUNKS];
	bool of_b[GC_CHUNKS];
	uint8_t *data = malloc((size_t)GC_CHUNKS * GC_LEN);
	struct cache_client_opts co = { 0 };
	struct cache_client *cc = NULL;
	struct cache_group *g = NULL;
	struct srv v;
	int nb = 0;

	ck_assert_ptr_nonnull(data);
	test_tmpdir(dir, sizeof(dir));
	gc_store(dir, url, sizeof(url), ids, data);
	gd_init(&a, dir, 0);
	gd_init(&b, dir, 1);
	gd_start(&a, NULL);
	gd_start(&b, NULL);
	co.local = a.sock;
	co.store_url = url;
	ck_assert_int_eq(cache_client_new(&co, &cc), 0);
	ck_assert_int_eq(cache_client_set_group(cc, "127.0.0.1:9"), T9K_EUSAGE); /* local */
	ck_assert_uint_eq(stat_value(a.s, "group_members"), 0);

	/* (a) A joins {A, B}: B's chunks come from B */
	snprintf(list, sizeof(list), "%s,%s", a.addr, b.addr);
	ck_assert_int_eq(cache_group_new(list, a.addr, PROTO_ROLE_PEER, 1000, &g), 0);
	for (int i = 0; i < GC_CHUNKS; i++)
		nb += of_b[i] = cache_group_owner(g, &ids[i]) != g->self;
	cache_group_put(g);
	ck_assert(nb > 0 && nb < GC_CHUNKS);
	ck_assert_int_eq(cache_server_set_group(a.s, list), 0);
	ck_assert_uint_eq(stat_value(a.s, "group_members"), 2);
	ck_assert_uint_eq(stat_value(a.s, "group_changes"), 1);
	snprintf(bad, sizeof(bad), "%s,%s", b.addr, a.addr); /* the same members */
	ck_assert_int_eq(cache_server_set_group(a.s, bad), 0);
	ck_assert_uint_eq(stat_value(a.s, "group_changes"), 1);
	for (int i = 0; i < GC_CHUNKS; i++)
		gc_read(cc, ids, data, i);
	ck_assert_uint_eq(stat_value(a.s, "peer_hits"), (unsigned)nb);
	ck_assert_uint_eq(stat_value(b.s, "peer_served"), (unsigned)nb);
	ck_assert_uint_eq(stat_value(b.s, "store_fetches"), (unsigned)nb);
	ck_assert_uint_eq(stat_value(a.s, "store_fetches"), (unsigned)(GC_CHUNKS - nb));

	/* (b) lists without A, or not HOST:PORT, change nothing */
	ck_assert_int_eq(cache_server_set_group(a.s, b.addr), T9K_EUSAGE);
	snprintf(bad, sizeof(bad), "127.0.0.1:1,%s", b.addr);
	ck_assert_int_eq(cache_server_set_group(a.s, bad), T9K_EUSAGE);
	snprintf(bad, sizeof(bad), "%s,unix:/tmp/x.sock", a.addr);
	ck_assert_int_eq(cache_server_set_group(a.s, bad), T9K_EUSAGE);
	ck_assert_int_eq(cache_server_set_group(a.s, ""), T9K_EUSAGE);
	ck_assert_int_eq(cache_server_set_group(a.s, NULL), T9K_EUSAGE);
	ck_assert_uint_eq(stat_value(a.s, "group_members"), 2);
	ck_assert_uint_eq(stat_value(a.s, "group_changes"), 1);
	for (int i = 0; i < GC_CHUNKS; i++)
		if (of_b[i])
			gc_read(cc, ids, data, i);
	ck_assert_uint_eq(stat_value(a.s, "peer_hits"), 2u * (unsigned)nb); /* still B's */
	/* a daemon with no --listen cannot join any */
	srv_start(&v);
	ck_assert_int_eq(cache_server_set_group(v.s, list), T9K_EUSAGE);
	ck_assert_uint_eq(stat_value(v.s, "group_members"), 0);
	srv_stop(&v);

	/* (c) A alone again: B's chunks from the store, then A's disk, never B */
	ck_assert_int_eq(cache_server_set_group(a.s, a.addr), 0);
	ck_assert_uint_eq(stat_value(a.s, "group_members"), 1);
	ck_assert_uint_eq(stat_value(a.s, "group_changes"), 2);
	for (int i = 0; i < GC_CHUNKS; i++)
		if (of_b[i])
			gc_read(cc, ids, data, i);
	ck_assert_uint_eq(stat_value(a.s, "store_fetches"), GC_CHUNKS);
	ck_assert_uint_eq(stat_value(b.s, "peer_served"), 2u * (unsigned)nb);
	gd_stop(&b);
	for (int i = 0; i < GC_CHUNKS; i++)
		gc_read(cc, ids, data, i);
	ck_assert_uint_eq(stat_value(a.s, "hits"), GC_CHUNKS);
	ck_assert_uint_eq(stat_value(a.s, "peer_hits"), 2u * (unsigned)nb);
	ck_assert_uint_eq(stat_value(a.s, "peer_failures"), 0);
	ck_assert_uint_eq(stat_value(a.s, "errors"), 0);

	cache_client_free(cc);
	gd_stop(&a);
	free(data);
	test_rmtree(dir);
}
END_TEST

struct gc_stress {
	struct cache_client *cc;
	const struct oid *ids;
	const uint8_t *data;
	atomic_bool done;
	atomic_int reads, warms, bad;
};

/* Warm-up batches (one group held across its members) and member stats. */
static void *gc_warmer(void *arg)
{
	struct gc_stress *t = arg;
	struct proto_item items[8];
	int32_t st[8];
	uint8_t src[8];
	struct buf out = BUF_INIT;

	for (int k = 0; !atomic_load(&t->done); k++) {
		for (int j = 0; j < 8; j++)
			items[j] = (struct proto_item){ .id = t->ids[(k + 3 * j) % GC_CHUNKS], .len = GC_LEN };
		if (cache_client_warm(t->cc, items, 8, st, src) < 0)
			atomic_fetch_add(&t->bad, 1);
		for (int j = 0; j < 8; j++)
			if (st[j] != 0)
				atomic_fetch_add(&t->bad, 1);
		out.len = 0;
		if (cache_client_stats(t->cc, k % 2, &out) < 0 || !strstr((char *)out.data, "\nhits "))
			atomic_fetch_add(&t->bad, 1);
		atomic_fetch_add(&t->warms, 1);
	}
	buf_release(&out);
	return NULL;
}

static void *gc_reader(void *arg)
{
	struct gc_stress *t = arg;
	struct buf out = BUF_INIT;
	uint64_t x = (uint64_t)(uintptr_t)&out; /* a different sequence per thread */

	while (!atomic_load(&t->done)) {
		int i = (int)((x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) %
			GC_CHUNKS;
		struct proto_item it = { .id = t->ids[i], .len = GC_LEN };

		out.len = 0;
		if (cache_client_get(t->cc, &it, &out) < 0 || out.len != GC_LEN ||
		    memcmp(out.data, t->data + (size_t)i * GC_LEN, GC_LEN))
			atomic_fetch_add(&t->bad, 1);
		atomic_fetch_add(&t->reads, 1);
	}
	buf_release(&out);
	return NULL;
}

/* Four threads use a group client (three read chunks, one warms batches
 * and asks members for stats) while the lists of the client and of two
 * daemons swap between two and three members 200 times: every read is
 * verified, and a dropped member's peers are freed only once no thread
 * uses them any more (ASan). */
START_TEST(test_group_change_stress)
{
	char dir[256], url[300], l2[160], l3[240];
	struct gdaemon d[3];
	struct oid ids[GC_CHUNKS];
	uint8_t *data = malloc((size_t)GC_CHUNKS * GC_LEN);
	struct cache_client_opts co = { 0 };
	struct cache_client_stats cs;
	struct gc_stress t = { 0 };
	pthread_t th[4];

	ck_assert_ptr_nonnull(data);
	test_tmpdir(dir, sizeof(dir));
	gc_store(dir, url, sizeof(url), ids, data);
	for (int i = 0; i < 3; i++)
		gd_init(&d[i], dir, i);
	snprintf(l2, sizeof(l2), "%s,%s", d[0].addr, d[1].addr);
	snprintf(l3, sizeof(l3), "%s,%s,%s", d[0].addr, d[1].addr, d[2].addr);
	for (int i = 0; i < 3; i++)
		gd_start(&d[i], l3);
	co.group = l3;
	co.store_url = url;
	ck_assert_int_eq(cache_client_new(&co, &t.cc), 0);
	t.ids = ids;
	t.data = data;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, i < 3 ? gc_reader : gc_warmer, &t), 0);
	for (int k = 0; k < 200; k++) {
		const char *l = k % 2 ? l3 : l2;

		ck_assert_int_eq(cache_client_set_group(t.cc, l), 0);
		ck_assert_int_eq(cache_server_set_group(d[0].s, l), 0);
		ck_assert_int_eq(cache_server_set_group(d[1].s, l), 0);
		usleep(1000);
	}
	atomic_store(&t.done, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&t.bad), 0);
	ck_assert_int_gt(atomic_load(&t.reads), 200);
	ck_assert_int_gt(atomic_load(&t.warms), 20);
	cache_client_get_stats(t.cc, &cs);
	ck_assert_uint_eq(cs.group_changes, 200);
	ck_assert_uint_eq(cs.group_members, 3);
	ck_assert_uint_eq(cs.failures, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(stat_value(d[i].s, "peer_failures"), 0);
		ck_assert_uint_eq(stat_value(d[i].s, "errors"), 0);
	}
	ck_assert_uint_eq(stat_value(d[0].s, "group_changes"), 200);
	ck_assert_uint_eq(stat_value(d[2].s, "group_changes"), 0);
	cache_client_free(t.cc);
	for (int i = 0; i < 3; i++)
		gd_stop(&d[i]);
	free(data);
	test_rmtree(dir);
}
END_TEST

/* ---- chunks in packs, real daemons over a file:// store ---- */

#define PK_CHUNKS 8

/* A pack written by hand as the writers of packs do: chunk objects
 * (store/chunk.h, some compressed) back to back in "packs/<hex>" (here
 * the hash of the pack's bytes; pack_writer takes random ids: the
 * daemon must not care). items[i] locates chunk i; data
 * holds the plaintexts. corrupt >= 0 flips a byte inside chunk corrupt's
 * stored object after the ranges are taken. */
struct pk {
	struct oid pack;
	struct proto_item items[PK_CHUNKS];
	uint8_t *data[PK_CHUNKS];
	uint32_t lens[PK_CHUNKS];
};

static void pk_write(struct store *st, uint64_t seed, int corrupt, struct pk *k)
{
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	struct buf pack = BUF_INIT;
	char key[PACK_KEY_MAX];

	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < PK_CHUNKS; i++) {
		struct iovec iov[2];
		uint8_t codec;

		k->lens[i] = 1000 + 7919u * (uint32_t)i;
		k->data[i] = malloc(k->lens[i]);
		ck_assert_ptr_nonnull(k->data[i]);
		test_random_bytes(k->data[i], k->lens[i], seed + (uint64_t)i);
		if (i % 2) /* compressible: zstd */
			memset(k->data[i] + 64, 'z', k->lens[i] - 64);
		k->items[i] = (struct proto_item){ .len = k->lens[i], .loc = PROTO_LOC_PACK,
						   .pack_off = pack.len };
		ck_assert_int_eq(oid_hash(&k->items[i].id, k->data[i], k->lens[i]), 0);
		ck_assert_int_eq(chunk_encode(w, k->data[i], k->lens[i], iov, &codec), 0);
		ck_assert_int_eq(codec, i % 2 ? CHUNK_ZSTD : CHUNK_RAW);
		ck_assert_int_eq(buf_add(&pack, iov[0].iov_base, iov[0].iov_len), 0);
		ck_assert_int_eq(buf_add(&pack, iov[1].iov_base, iov[1].iov_len), 0);
		k->items[i].pack_len = (uint32_t)(pack.len - k->items[i].pack_off);
	}
	if (corrupt >= 0) /* a payload byte, past the chunk's header */
		pack.data[k->items[corrupt].pack_off + CHUNK_HDR_SIZE + 5] ^= 0x40;
	ck_assert_int_eq(oid_hash(&k->pack, pack.data, pack.len), 0);
	for (int i = 0; i < PK_CHUNKS; i++)
		k->items[i].pack = k->pack;
	pack_key(&k->pack, key);
	ck_assert_int_eq(store_put_buf(st, key, pack.data, pack.len), 0);
	buf_release(&pack);
	chunk_writer_free(w);
}

static void pk_release(struct pk *k)
{
	for (int i = 0; i < PK_CHUNKS; i++)
		free(k->data[i]);
}

/* Gets it through cc and checks its bytes are want. */
static void pk_get_ok(struct cache_client *cc, const struct proto_item *it, const uint8_t *want)
{
	struct buf out = BUF_INIT;

	ck_assert_int_eq(cache_client_get(cc, it, &out), 0);
	ck_assert_uint_eq(out.len, it->len);
	ck_assert(!memcmp(out.data, want, it->len));
	buf_release(&out);
}

static void pk_get_fails(struct cache_client *cc, const struct proto_item *it)
{
	struct buf out = BUF_INIT;

	ck_assert_int_lt(cache_client_get(cc, it, &out), 0);
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
}

/* One daemon: packed chunks by location, verified, cached under their id
 * (a later GET hits, by location or as a standalone chunk), and a range
 * that is not the chunk object, or a corrupt one, is an error that
 * leaves nothing cached. */
START_TEST(test_pack_daemon)
{
	char dir[256], url[300];
	struct cache_client_opts co = { 0 };
	struct cache_client *cc = NULL;
	struct store *st = NULL;
	struct gdaemon d;
	struct pk k, bad;
	struct proto_item it, items[PK_CHUNKS];
	int32_t status[PK_CHUNKS];
	uint8_t src[PK_CHUNKS];

	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
	pk_write(st, 8100, -1, &k);
	pk_write(st, 8100, 3, &bad); /* the same chunks, one of them corrupt */
	ck_assert(!oid_eq(&k.pack, &bad.pack));
	gd_init(&d, dir, 0);
	gd_start(&d, NULL);
	co.local = d.sock;
	co.store_url = url;
	ck_assert_int_eq(cache_client_new(&co, &cc), 0);

	/* a miss fills from the pack range, a second GET is a hit */
	pk_get_ok(cc, &k.items[0], k.data[0]);
	pk_get_ok(cc, &k.items[1], k.data[1]);
	ck_assert_uint_eq(stat_value(d.s, "misses"), 2);
	ck_assert_uint_eq(stat_value(d.s, "store_fetches"), 2);
	ck_assert_uint_eq(stat_value(d.s, "chunks"), 2);
	pk_get_ok(cc, &k.items[0], k.data[0]);
	pk_get_ok(cc, &k.items[1], k.data[1]);
	ck_assert_uint_eq(stat_value(d.s, "hits"), 2);
	ck_assert_uint_eq(stat_value(d.s, "store_fetches"), 2);
	/* cached under the chunk id: asked as a standalone chunk (there is no
	 * chunks/<id> in the store) or from another pack, it hits */
	it = (struct proto_item){ .id = k.items[1].id, .len = k.items[1].len };
	pk_get_ok(cc, &it, k.data[1]);
	pk_get_ok(cc, &bad.items[0], k.data[0]);
	ck_assert_uint_eq(stat_value(d.s, "hits"), 4);
	ck_assert_uint_eq(stat_value(d.s, "store_fetches"), 2);
	ck_assert_uint_eq(stat_value(d.s, "errors"), 0);

	/* wrong ranges: shifted, cut short, the neighbour's, past the end */
	it = k.items[2];
	it.pack_off++;
	pk_get_fails(cc, &it);
	it = k.items[2];
	it.pack_len--;
	pk_get_fails(cc, &it);
	it = k.items[2];
	it.pack_off = k.items[3].pack_off;
	it.pack_len = k.items[3].pack_len;
	pk_get_fails(cc, &it);
	it = k.items[PK_CHUNKS - 1];
	it.pack_len += 10; /* the store cuts it at the end of the pack */
	pk_get_fails(cc, &it);
	it.pack_off += 1u << 20;
	pk_get_fails(cc, &it);
	it = k.items[2]; /* a pack that does not exist */
	it.pack = id_of(99);
	pk_get_fails(cc, &it);
	/* a corrupt byte in the pack */
	pk_get_fails(cc, &bad.items[3]);
	ck_assert_uint_eq(stat_value(d.s, "errors"), 7);
	ck_assert_uint_eq(stat_value(d.s, "chunks"), 2); /* none of them cached */
	/* so the right range afterwards is a miss and the right bytes */
	pk_get_ok(cc, &k.items[2], k.data[2]);
	pk_get_ok(cc, &k.items[PK_CHUNKS - 1], k.data[PK_CHUNKS - 1]);
	pk_get_ok(cc, &k.items[3], k.data[3]);
	ck_assert_uint_eq(stat_value(d.s, "chunks"), 5);
	ck_assert_uint_eq(stat_value(d.s, "store_fetches"), 2 + 7 + 3);

	/* warm-up of packed chunks: loaded from the store once, then cached */
	for (int i = 0; i < PK_CHUNKS; i++)
		items[i] = k.items[i];
	ck_assert_int_eq(cache_client_warm(cc, items, PK_CHUNKS, status, src), 0);
	for (int i = 0; i < PK_CHUNKS; i++) {
		ck_assert_int_eq(status[i], 0);
		ck_assert_int_eq(src[i], i < 4 || i == PK_CHUNKS - 1 ? PROTO_SRC_LOCAL : PROTO_SRC_STORE);
	}
	ck_assert_uint_eq(stat_value(d.s, "chunks"), PK_CHUNKS);
	items[0] = bad.items[3]; /* a corrupt one in a batch fails alone */
	items[1] = bad.items[3];
	items[1].id = id_of(98);
	ck_assert_int_eq(cache_client_warm(cc, items, 2, status, src), 0);
	ck_assert_int_eq(status[0], 0); /* cached already: its id is what counts */
	ck_assert_int_eq(src[0], PROTO_SRC_LOCAL);
	ck_assert_int_lt(status[1], 0);
	for (int i = 0; i < PK_CHUNKS; i++)
		pk_get_ok(cc, &k.items[i], k.data[i]);
	ck_assert_uint_eq(stat_value(d.s, "chunks"), PK_CHUNKS);

	cache_client_free(cc);
	gd_stop(&d);
	store_close(st);
	pk_release(&k);
	pk_release(&bad);
	test_rmtree(dir);
}
END_TEST

/* Packs from the real writer (store/pack.h, random pack ids, several
 * packs as the size limit is passed): every chunk by its chunk_loc,
 * through a daemon, right bytes, then hits. */
START_TEST(test_pack_writer_daemon)
{
	char dir[256], url[300];
	struct cache_client_opts co = { 0 };
	struct cache_client *cc = NULL;
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	struct pack_writer *pw = NULL;
	struct store *st = NULL;
	struct gdaemon d;
	struct proto_item items[PK_CHUNKS];
	uint8_t *data[PK_CHUNKS];
	int packs = 1;

	ck_assert_ptr_nonnull(w);
	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
	ck_assert_int_eq(pack_writer_new(st, 40000, 2, NULL, &pw), 0);
	for (int i = 0; i < PK_CHUNKS; i++) {
		uint32_t len = 3000 + 6007u * (uint32_t)i;
		struct chunk_loc loc = { .len = len };
		struct iovec iov[2];
		uint8_t codec;

		data[i] = malloc(len);
		ck_assert_ptr_nonnull(data[i]);
		test_random_bytes(data[i], len, 8300 + (uint64_t)i);
		if (i % 3 == 0)
			memset(data[i] + 100, 'p', len - 100);
		ck_assert_int_eq(oid_hash(&loc.id, data[i], len), 0);
		ck_assert_int_eq(chunk_encode(w, data[i], len, iov, &codec), 0);
		ck_assert_int_eq(pack_writer_add(pw, iov, 2, &loc), 0);
		ck_assert(loc.packed);
		packs += i > 0 && !oid_eq(&loc.pack, &items[i - 1].pack);
		items[i] = (struct proto_item){ .id = loc.id, .len = loc.len, .loc = PROTO_LOC_PACK,
						.pack = loc.pack, .pack_off = loc.pack_off,
						.pack_len = loc.pack_len };
	}
	ck_assert_int_eq(pack_writer_flush(pw), 0); /* every pack stored */
	ck_assert_int_gt(packs, 1);
	pack_writer_free(pw);
	gd_init(&d, dir, 0);
	gd_start(&d, NULL);
	co.local = d.sock;
	co.store_url = url;
	ck_assert_int_eq(cache_client_new(&co, &cc), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < PK_CHUNKS; i++)
			pk_get_ok(cc, &items[i], data[i]);
	ck_assert_uint_eq(stat_value(d.s, "store_fetches"), PK_CHUNKS);
	ck_assert_uint_eq(stat_value(d.s, "hits"), PK_CHUNKS);
	ck_assert_uint_eq(stat_value(d.s, "errors"), 0);

	cache_client_free(cc);
	gd_stop(&d);
	store_close(st);
	chunk_writer_free(w);
	for (int i = 0; i < PK_CHUNKS; i++)
		free(data[i]);
	test_rmtree(dir);
}
END_TEST

/* A group of two: a packed chunk asked of A that B owns is forwarded to B
 * with its location; B fills it from the pack, and A's next asks are
 * B's hits. Warm-up forwards the same way. */
START_TEST(test_pack_group_forward)
{
	char dir[256], url[300], list[160];
	struct cache_client_opts co = { 0 };
	struct cache_client *cc = NULL;
	struct cache_group *g = NULL;
	struct store *st = NULL;
	struct gdaemon a, b;
	struct pk k;
	struct proto_item items[PK_CHUNKS];
	int32_t status[PK_CHUNKS];
	uint8_t src[PK_CHUNKS];
	int of_b[PK_CHUNKS], nb = 0, n = 0;
	unsigned want_b_fetch = 0;

	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
	pk_write(st, 8200, -1, &k);
	gd_init(&a, dir, 0);
	gd_init(&b, dir, 1);
	snprintf(list, sizeof(list), "%s,%s", a.addr, b.addr);
	ck_assert_int_eq(cache_group_new(list, a.addr, PROTO_ROLE_PEER, 1000, &g), 0);
	for (int i = 0; i < PK_CHUNKS; i++)
		nb += of_b[i] = cache_group_owner(g, &k.items[i].id) != g->self;
	cache_group_put(g);
	ck_assert(nb >= 2 && nb < PK_CHUNKS);
	gd_start(&a, list);
	gd_start(&b, list);
	co.local = a.sock;
	co.store_url = url;
	ck_assert_int_eq(cache_client_new(&co, &cc), 0);

	/* the first of B's chunks by GET through A */
	for (int i = 0; i < PK_CHUNKS && !n; i++)
		if (of_b[i]) {
			pk_get_ok(cc, &k.items[i], k.data[i]);
			pk_get_ok(cc, &k.items[i], k.data[i]);
			of_b[i] = 2; /* cached on B now */
			n = 1;
		}
	ck_assert_uint_eq(stat_value(a.s, "peer_hits"), 2);
	ck_assert_uint_eq(stat_value(a.s, "store_fetches"), 0);
	ck_assert_uint_eq(stat_value(a.s, "errors"), 0);
	ck_assert_uint_eq(stat_value(b.s, "peer_served"), 2);
	ck_assert_uint_eq(stat_value(b.s, "store_fetches"), 1);
	ck_assert_uint_eq(stat_value(b.s, "hits"), 1);
	ck_assert_uint_eq(stat_value(b.s, "chunks"), 1);

	/* the whole pack warmed through A: B's chunks load on B, A's on A */
	for (int i = 0; i < PK_CHUNKS; i++) {
		items[i] = k.items[i];
		want_b_fetch += of_b[i] == 1;
	}
	ck_assert_int_eq(cache_client_warm(cc, items, PK_CHUNKS, status, src), 0);
	for (int i = 0; i < PK_CHUNKS; i++)
		ck_assert_int_eq(status[i], 0);
	ck_assert_uint_eq(stat_value(b.s, "store_fetches"), 1 + want_b_fetch);
	ck_assert_uint_eq(stat_value(b.s, "chunks"), (unsigned)nb);
	ck_assert_uint_eq(stat_value(a.s, "chunks"), (unsigned)(PK_CHUNKS - nb));
	ck_assert_uint_eq(stat_value(a.s, "store_fetches"), (unsigned)(PK_CHUNKS - nb));
	/* and every chunk reads back through A without the store */
	for (int i = 0; i < PK_CHUNKS; i++)
		pk_get_ok(cc, &k.items[i], k.data[i]);
	ck_assert_uint_eq(stat_value(a.s, "store_fetches"), (unsigned)(PK_CHUNKS - nb));
	ck_assert_uint_eq(stat_value(b.s, "store_fetches"), 1 + want_b_fetch);
	ck_assert_uint_eq(stat_value(a.s, "peer_failures"), 0);
	ck_assert_uint_eq(stat_value(a.s, "errors"), 0);

	cache_client_free(cc);
	gd_stop(&a);
	gd_stop(&b);
	store_close(st);
	pk_release(&k);
	test_rmtree(dir);
}
END_TEST

/* A daemon from before packs (its HELLO has no PROTO_FEAT_LOC) is never
 * sent F_LOC: a packed chunk fails on this side with -ENOTSUP (the
 * daemon's verdict, not a failed exchange) and no GET goes out. */
START_TEST(test_pack_old_daemon)
{
	struct proto_item it = { .id = id_of(77), .len = 100, .loc = PROTO_LOC_PACK,
				 .pack = id_of(78), .pack_off = 5, .pack_len = 112 };
	struct cache_peer_reply r;
	struct buf out = BUF_INIT;
	struct fake f;
	int rc;

	fake_get(false, &it, &f, &rc, &out, &r);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(r.status, -ENOTSUP);
	ck_assert_int_eq(r.fd, -1);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(f.n, 1);
	ck_assert_int_eq(f.types[0], PROTO_HELLO);
	buf_release(&out);
}
END_TEST

Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, test_proto_hdr);
	tcase_add_test(tc, test_proto_get_roundtrip);
	tcase_add_test(tc, test_proto_get_malformed);
	tcase_add_test(tc, test_proto_get_located);
	tcase_add_test(tc, test_proto_get_located_malformed);
	tcase_add_test(tc, test_proto_small_frames);
	tcase_add_test(tc, test_proto_rdma_frames);
	tcase_add_test(tc, test_rendezvous);
	tcase_add_test(tc, test_group_lists);
	tcase_add_test(tc, test_group_rebuild);
	tcase_add_test(tc, test_io_uring);
	tcase_add_test(tc, test_io_pread);
	tcase_add_test(tc, test_io_uring_concurrent);
	tcase_add_test(tc, test_disk_lru_capacity);
	tcase_add_test(tc, test_disk_restart_scan);
	tcase_add_test(tc, test_disk_single_flight);
	tcase_add_test(tc, test_disk_concurrent_fills);
	tcase_add_test(tc, test_rdma_probe);
	tcase_add_test(tc, test_rdma_no_device);
	tcase_add_test(tc, test_rdma_choose_conn);
	tcase_add_test(tc, test_peer_rdma_fallback);
	tcase_add_test(tc, test_server_rdma_refused);
	tcase_add_test(tc, test_rdma_data_path_fake);
	tcase_add_test(tc, test_rdma_corrupt_bytes_fake);
	tcase_add_test(tc, test_group_change_server);
	tcase_add_test(tc, test_group_change_stress);
	tcase_add_test(tc, test_pack_daemon);
	tcase_add_test(tc, test_pack_writer_daemon);
	tcase_add_test(tc, test_pack_group_forward);
	tcase_add_test(tc, test_pack_old_daemon);
	suite_add_tcase(s, tc);
	return s;
}
