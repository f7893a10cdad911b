/* RDMA (libibverbs) as a transport of the cache group's peer protocol.
 *
 * The probe decides at daemon start whether this node has an RDMA device;
 * RDMA is chosen for a peer only when both sides have one (each daemon
 * announces it in its HELLO reply); TCP stays the control path and the
 * fallback. The probe handles the "no device" answers this project's
 * machines give (ibv_get_device_list returns NULL with ENOSYS: the kernel
 * has no InfiniBand support).
 *
 * The verbs layer below is what the data path is built from: a device
 * context (PD, CQ), registered buffers, RC queue pairs connected with
 * endpoints exchanged over the TCP connection, and a one-sided RDMA READ
 * of a registered buffer of the owner into one of the reader:
 *
 *   cache_rdma_open(NULL, &r);                 // first device, port 1
 *   cache_rdma_qp_new(r, &qp, &mine);          // send `mine` to the peer over TCP
 *   cache_rdma_qp_connect(qp, &theirs);        // INIT -> RTR -> RTS
 *   cache_rdma_reg(r, buf, len, &mr);          // the reader's buffer
 *   cache_rdma_read(qp, mr, buf, raddr, rkey, len, timeout_ms);
 *
 * It is compiled where libibverbs exists and unit-tested only on the
 * no-device path: no machine of this project has an RDMA device, so it
 * has never run end to end, and the daemon does not use it yet (peers
 * talk TCP). Without -DT9K_HAVE_RDMA every call returns -ENOTSUP.
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

struct cache_rdma;
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

#endif
