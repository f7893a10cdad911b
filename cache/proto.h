/* The cache protocol: compact binary frames between a mount (or warmup)
 * and its cache daemon over a unix socket, and between daemons of a
 * cache group over TCP. The same frames on both; file descriptors ride
 * only on unix sockets (SCM_RIGHTS).
 *
 * Every frame is an 8-byte header and a payload (little-endian):
 *
 *   offset  size  field
 *   0       2     magic "T9"
 *   2       1     type (PROTO_*)
 *   3       1     flags (PROTO_F_*)
 *   4       4     payload length, at most PROTO_PAYLOAD_MAX
 *
 * Requests and their payloads:
 *   HELLO  u8 version (1), u8 role (0 client, 1 peer)       -> OK: u8 version, u8 features
 *          (PROTO_FEAT_FD: descriptors can be passed, PROTO_FEAT_RDMA: the
 *          daemon has an open RDMA device and answers RDMA_CONNECT,
 *          PROTO_FEAT_LOC: it understands F_LOC items; a daemon without
 *          it answers F_LOC with ERR, so clients do not send it one). The
 *          version stays 1: packs added a feature bit and a flag, and a
 *          daemon with PROTO_FEAT_LOC reads every frame of before
 *   GET    u16 url_len, url (the store to fetch misses from),
 *          u32 n (1..PROTO_BATCH_MAX), n items -> n CHUNK frames, in order
 *          an item without F_LOC (the only form before packs):
 *            32 id, u32 len (plaintext, 1..PROTO_CHUNK_MAX): object "chunks/<id>"
 *          an item with F_LOC, where each item says where its chunk is stored:
 *            32 id, u32 len, u8 loc (PROTO_LOC_*), and for loc 1 only:
 *            32 pack id, u64 off, u32 stored_len (1..PROTO_STORED_MAX,
 *            off + stored_len <= 2^64 - 1): bytes [off, off + stored_len)
 *            of object "packs/<pack hex>" are the chunk object (store/chunk.h)
 *          flags: F_FD (send a file descriptor when the chunk is on disk),
 *                 F_PEER (from a group member: do not forward),
 *                 F_WARM (load only: CHUNK frames carry no data),
 *                 F_RDMA (the connection's queue pairs are connected: the
 *                 owner may answer with how 3 instead of inline data),
 *                 F_LOC (items carry a location; sent only to a daemon
 *                 whose HELLO answer has PROTO_FEAT_LOC, and only for a
 *                 batch with a packed chunk, so daemons from before packs
 *                 keep getting the frames they know)
 *          A chunk is cached under its id whatever its location: a later
 *          GET of the same id hits, from a pack or not.
 *   DROP   32 id, u32 len (the receiver found the bytes corrupt) -> OK
 *   STATS  empty                                           -> TEXT: "name value\n" lines
 *   RDMA_CONNECT  the reader's endpoint (CACHE_RDMA_EP_SIZE, rdma.h)
 *                                          -> RDMA_ACCEPT: the owner's endpoint, or ERR
 *          at most once per connection; then both RC queue pairs are in RTS
 *   RELEASE  u32 token: the reader is done with the buffer of a how-3
 *          CHUNK (its RDMA READ completed or failed); no reply. The owner
 *          waits for it, and on a timeout frees the buffer and closes
 *          the connection (its queue pair first).
 * Replies:
 *   CHUNK  i32 status (0 or -errno), u8 how (0 inline, 1 fd, 2 none),
 *          u8 src (PROTO_SRC_*), u16 reserved 0, 32 id, u32 len,
 *          then len bytes when how is inline; the fd (how 1) arrives with
 *          the frame's first byte and holds the chunk's plaintext at 0..len;
 *          how 3 (RDMA, status 0 only) is followed by a descriptor
 *          (PROTO_RDMA_DESC bytes): u64 addr, u32 rkey, u32 token: len bytes
 *          the reader may RDMA READ at addr with rkey until it sends
 *          RELEASE token
 *   OK     as above;  TEXT  text;  ERR  i32 code, message text
 *
 * Decoders check every length and value and return T9K_ECORRUPT with a
 * message on malformed input; nothing here allocates except into a
 * caller's struct buf.
 */
#ifndef T9K_CACHE_PROTO_H
#define T9K_CACHE_PROTO_H

#include "cache/rdma.h"
#include "lib/buf.h"
#include "lib/oid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_HDR_SIZE 8
#define PROTO_VERSION 1
#define PROTO_CHUNK_MAX (64u << 20)           /* largest chunk carried */
#define PROTO_PAYLOAD_MAX (PROTO_CHUNK_MAX + 64) /* a CHUNK frame with its data */
#define PROTO_BATCH_MAX 256
#define PROTO_URL_MAX 4096
#define PROTO_CHUNK_HDR 44 /* CHUNK payload before the data */
#define PROTO_RDMA_DESC 16 /* after the CHUNK header when how is RDMA */
/* Largest stored chunk object in a pack: a chunk is stored raw when
 * compressing does not shrink it, so its header and plaintext at most
 * (with room to spare). */
#define PROTO_STORED_MAX (PROTO_CHUNK_MAX + 4096)
#define PROTO_ITEM_SIZE (OID_RAWSZ + 4)              /* an item without F_LOC */
#define PROTO_ITEM_LOC_SIZE (OID_RAWSZ + 4 + 1)      /* F_LOC, loc 0 */
#define PROTO_ITEM_PACK_SIZE (PROTO_ITEM_LOC_SIZE + OID_RAWSZ + 8 + 4) /* F_LOC, loc 1 */

enum proto_type {
	PROTO_HELLO = 1,
	PROTO_GET = 2,
	PROTO_DROP = 3,
	PROTO_STATS = 4,
	PROTO_RDMA_CONNECT = 5,
	PROTO_RELEASE = 6,
	PROTO_OK = 0x80,
	PROTO_CHUNK = 0x81,
	PROTO_TEXT = 0x82,
	PROTO_RDMA_ACCEPT = 0x83,
	PROTO_ERR = 0xff,
};

enum { PROTO_F_FD = 1, PROTO_F_PEER = 2, PROTO_F_WARM = 4, PROTO_F_RDMA = 8, PROTO_F_LOC = 16 };
enum { PROTO_HOW_INLINE = 0, PROTO_HOW_FD = 1, PROTO_HOW_NONE = 2, PROTO_HOW_RDMA = 3 };
enum { PROTO_FEAT_FD = 1, PROTO_FEAT_RDMA = 2, PROTO_FEAT_LOC = 4 };
/* Where a chunk is stored (the values of meta/object.h MANIFEST_LOC_*). */
enum { PROTO_LOC_OBJECT = 0, PROTO_LOC_PACK = 1 };
/* Where a daemon found a chunk: its disk, a peer, the store. */
enum { PROTO_SRC_LOCAL = 0, PROTO_SRC_PEER = 1, PROTO_SRC_STORE = 2 };
enum { PROTO_ROLE_CLIENT = 0, PROTO_ROLE_PEER = 1 };

struct proto_hdr {
	uint8_t type, flags;
	uint32_t len;
};

/* A chunk asked for, and where the store has it. An initializer
 * { .id = id, .len = len } leaves loc PROTO_LOC_OBJECT: the object
 * "chunks/<id>". Decoded items have every field set (0 when unused). */
struct proto_item {
	struct oid id;
	uint32_t len;      /* plaintext bytes */
	uint8_t loc;       /* PROTO_LOC_* */
	struct oid pack;   /* loc PROTO_LOC_PACK: the chunk object is bytes */
	uint64_t pack_off; /* [pack_off, pack_off + pack_len) of "packs/<pack hex>" */
	uint32_t pack_len;
};

struct proto_get {
	const char *url; /* points into the payload; not NUL-terminated */
	uint16_t url_len;
	uint32_t n;
	struct proto_item items[PROTO_BATCH_MAX];
};

/* Where the owner placed a chunk for an RDMA READ (how 3). */
struct proto_rdma_desc {
	uint64_t addr;
	uint32_t rkey, token;
};

struct proto_chunk {
	int32_t status;
	uint8_t how, src;
	struct oid id;
	uint32_t len;
};

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], uint8_t type, uint8_t flags, uint32_t len);
int proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], struct proto_hdr *h);

/* Appends a whole frame (header and payload) to out. Items go in the
 * F_LOC form (and the frame has F_LOC) when flags has it or an item is
 * in a pack, else in the form without. -EINVAL for a bad item. */
int proto_get_encode(struct buf *out, uint8_t flags, const char *url, const struct proto_item *items,
		     uint32_t n);
/* Decodes a GET payload; flags (the frame's) says the items' form. */
int proto_get_decode(const uint8_t *p, size_t len, uint8_t flags, struct proto_get *g);
/* Does the batch need F_LOC (some item is in a pack)? */
bool proto_items_located(const struct proto_item *items, uint32_t n);
int proto_hello_encode(struct buf *out, uint8_t role);
int proto_hello_decode(const uint8_t *p, size_t len, uint8_t *role);
int proto_drop_encode(struct buf *out, const struct oid *id, uint32_t len);
int proto_drop_decode(const uint8_t *p, size_t len, struct proto_item *it);
int proto_err_encode(struct buf *out, int code, const char *msg);
/* The CHUNK payload header only (data follows separately). */
void proto_chunk_encode(uint8_t out[PROTO_CHUNK_HDR], const struct proto_chunk *c);
/* Checks a CHUNK frame of payload length len whose first PROTO_CHUNK_HDR
 * bytes are p: inline frames must carry exactly c->len bytes. */
int proto_chunk_decode(const uint8_t *p, size_t len, struct proto_chunk *c);
void proto_rdma_desc_encode(uint8_t out[PROTO_RDMA_DESC], const struct proto_rdma_desc *d);
/* Checks the descriptor of a chunk of len bytes: a non-null address whose
 * range does not wrap, len within 1..max (the reader's buffer). */
int proto_rdma_desc_decode(const uint8_t *p, size_t plen, uint32_t len, uint32_t max,
			   struct proto_rdma_desc *d);
/* RDMA_CONNECT (type PROTO_RDMA_CONNECT) or RDMA_ACCEPT: an endpoint. */
int proto_rdma_ep_encode(struct buf *out, uint8_t type, const struct cache_rdma_endpoint *ep);
int proto_rdma_ep_decode(const uint8_t *p, size_t len, struct cache_rdma_endpoint *ep);
int proto_release_encode(struct buf *out, uint32_t token);
int proto_release_decode(const uint8_t *p, size_t len, uint32_t *token);

/* ---- frames on sockets (blocking; EINTR retried) ---- */

/* Sends a header, then payload parts, with fd (>= 0) attached to the
 * first byte. Returns 0 or -errno. */
int proto_send(int sock, uint8_t type, uint8_t flags, const void *a, size_t alen, const void *b,
	       size_t blen, int fd);
/* Sends bytes already framed (from the *_encode calls). */
int proto_send_raw(int sock, const void *data, size_t len);
/* Reads a header; *fd receives a passed descriptor or -1 (NULL: passed
 * descriptors are closed). 0, -ECONNRESET on EOF, or -errno/T9K_ECORRUPT. */
int proto_recv_hdr(int sock, struct proto_hdr *h, int *fd);
/* Reads exactly len bytes. */
int proto_recv_exact(int sock, void *data, size_t len);

#endif
