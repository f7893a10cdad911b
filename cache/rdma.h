/* RDMA (libibverbs) as a transport of the cache group's peer protocol.
 *
 * The probe decides at daemon start whether this node has an RDMA device;
 * a group daemon then opens it and registers its lending pool. A peer
 * connection uses RDMA only when both ends have an open device (each
 * daemon announces PROTO_FEAT_RDMA in its HELLO reply) and no RDMA step
 * failed on it (cache_rdma_choose_conn); TCP stays the control path and
 * the fallback. The probe handles the "no device" answers this project's
 * machines give (ibv_get_device_list returns NULL with ENOSYS: the kernel
 * has no InfiniBand support).
 *
 * The data path (cache/peer.c reader, cache/server.c owner, frames in
 * proto.h) is built from this layer: a device context (PD), registered
 * buffers, RC queue pairs connected with endpoints exchanged over the TCP
 * connection, and a one-sided RDMA READ of an owner's lent buffer into
 * the reader's registered buffer, whose bytes the daemon hashes before use:
 *
 *   cache_rdma_open(NULL, &r);                 // first device, port 1
 *   cache_rdma_qp_new(r, &qp, &mine);          // send `mine` to the peer over TCP
 *   cache_rdma_qp_connect(qp, &theirs);        // INIT -> RTR -> RTS
 *   cache_rdma_reg(r, buf, len, &mr);          // the reader's buffer
 *   cache_rdma_read(qp, mr, buf, raddr, rkey, len, timeout_ms);
 *
 * What is tested: it compiles where libibverbs exists (and without it,
 * where every verbs call returns -ENOTSUP); unit tests cover the probe,
 * open failing with a reason, endpoint and frame encoding, the transport
 * decision, the fallbacks to TCP with no device, and the protocol of the
 * data path (connect, lend, read, release, a failed read retried over
 * TCP, an unreleased buffer taken back, corrupted bytes caught by the
 * receiver's hash) between real daemons and readers in one process over
 * a fake device that stands in for these calls (cache_rdma_ops;
 * test/unit/check_cache.c). The group integration test
 * runs over TCP. What is not: no machine of this project has an RDMA
 * device, so the libibverbs calls below (queue pair states, registration,
 * RDMA READ and its completions) have never run, and the RDMA data path
 * has never run end to end between two machines. Treat it as unproven
 * until it has run on real hardware.
 */
#ifndef T9K_CACHE_RDMA_H
#define T9K_CACHE_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cache_transport { CACHE_TRANSPORT_TCP = 0, CACHE_TRANSPORT_RDMA = 1 };

/* The number of RDMA devices (> 0), or < 0 with the reason in why:
 * -ENOTSUP (built without libibverbs), -ENODEV (no device), or the errno
 * of ibv_get_device_list (ENOSYS: no kernel support). */
int cache_rdma_probe(char *why, size_t whysz);

/* The transport towards a peer, given this node's probe result and
 * whether the peer announced an RDMA device. */
enum cache_transport cache_rdma_choose(int probe, bool peer_has_rdma);

struct cache_rdma;

/* The transport of one peer connection: RDMA only when this node's device
 * is open (r, NULL when the probe or cache_rdma_open failed), the peer
 * announced an open device in its HELLO reply, and no RDMA step failed on
 * this connection before (failed: it stays TCP for its life). */
enum cache_transport cache_rdma_choose_conn(const struct cache_rdma *r, bool peer_has_rdma,
					    bool failed);

/* What a peer needs to connect its RC queue pair to ours; sent over TCP
 * as CACHE_RDMA_EP_SIZE bytes: u32 qpn, u32 psn, u16 lid, 16 gid,
 * little-endian. */
#define CACHE_RDMA_EP_SIZE 26
struct cache_rdma_endpoint {
	uint32_t qpn, psn;
	uint16_t lid;
	uint8_t gid[16];
};
void cache_rdma_ep_encode(const struct cache_rdma_endpoint *ep, uint8_t out[CACHE_RDMA_EP_SIZE]);
int cache_rdma_ep_decode(const uint8_t *p, size_t len, struct cache_rdma_endpoint *ep);

struct cache_rdma_mr;
struct cache_rdma_qp;

/* Opens device dev (NULL: the first) on port 1 with a PD and a CQ. */
int cache_rdma_open(const char *dev, struct cache_rdma **out);
void cache_rdma_close(struct cache_rdma *r);
/* Registers buf for local writes and remote reads. */
int cache_rdma_reg(struct cache_rdma *r, void *buf, size_t len, struct cache_rdma_mr **out);
void cache_rdma_dereg(struct cache_rdma_mr *mr);
uint32_t cache_rdma_rkey(const struct cache_rdma_mr *mr);
/* An RC queue pair in RESET, and the endpoint to send to the peer. */
int cache_rdma_qp_new(struct cache_rdma *r, struct cache_rdma_qp **out,
		      struct cache_rdma_endpoint *local);
int cache_rdma_qp_connect(struct cache_rdma_qp *qp, const struct cache_rdma_endpoint *remote);
void cache_rdma_qp_free(struct cache_rdma_qp *qp);
/* Reads len bytes at the peer's raddr (its rkey) into dst (inside mr);
 * waits for the completion at most timeout_ms. One caller per qp. */
int cache_rdma_read(struct cache_rdma_qp *qp, struct cache_rdma_mr *mr, void *dst, uint64_t raddr,
		    uint32_t rkey, uint32_t len, int timeout_ms);

/* The calls above go through this table: libibverbs (or, built without
 * it, -ENOTSUP everywhere), or a replacement set by a test to run the
 * data path in one process without a device (test/unit/check_cache.c).
 * The frees are never passed NULL. Not thread-safe: set it before any
 * other cache_rdma_* call, and NULL puts libibverbs back. */
struct cache_rdma_ops {
	int (*probe)(char *why, size_t whysz);
	int (*open)(const char *dev, struct cache_rdma **out);
	void (*close)(struct cache_rdma *r);
	int (*reg)(struct cache_rdma *r, void *buf, size_t len, struct cache_rdma_mr **out);
	void (*dereg)(struct cache_rdma_mr *mr);
	uint32_t (*rkey)(const struct cache_rdma_mr *mr);
	int (*qp_new)(struct cache_rdma *r, struct cache_rdma_qp **out,
		      struct cache_rdma_endpoint *local);
	int (*qp_connect)(struct cache_rdma_qp *qp, const struct cache_rdma_endpoint *remote);
	void (*qp_free)(struct cache_rdma_qp *qp);
	int (*read)(struct cache_rdma_qp *qp, struct cache_rdma_mr *mr, void *dst, uint64_t raddr,
		    uint32_t rkey, uint32_t len, int timeout_ms);
};
void cache_rdma_set_ops(const struct cache_rdma_ops *ops);

/* Buffers an owner places chunks in for its readers' RDMA READs: n of
 * size bytes, allocated and registered once at start, so the memory is
 * n x size whatever the dataset. A chunk larger than size, or a request
 * finding every buffer taken, is answered over TCP. Thread-safe (a mutex
 * guards the free list); buffers are lent, never freed, until
 * cache_rdma_pool_free, which the caller runs after every queue pair
 * that could read them is destroyed. */
#define CACHE_RDMA_BUF_SIZE (4u << 20) /* the default chunker's largest chunk */
struct cache_rdma_pool;
struct cache_rdma_slot {
	void *buf;      /* size bytes, registered */
	uint64_t addr;  /* buf as the peer addresses it */
	uint32_t rkey, size, token;
};
int cache_rdma_pool_new(struct cache_rdma *r, int n, uint32_t size, struct cache_rdma_pool **out);
void cache_rdma_pool_free(struct cache_rdma_pool *pl);
/* A free buffer, or -EBUSY when all n are lent. */
int cache_rdma_pool_take(struct cache_rdma_pool *pl, struct cache_rdma_slot *out);
/* Gives back the buffer lent with token (its token changes, so a stale
 * RELEASE never matches a later loan). */
void cache_rdma_pool_put(struct cache_rdma_pool *pl, const struct cache_rdma_slot *slot);

#endif
