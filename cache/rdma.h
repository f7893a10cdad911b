/* RDMA (libibverbs) as a transport of the cache group's peer protocol.
 *
 * What exists: the probe that decides, at daemon start, whether this node
 * has an RDMA device, and the rule that picks RDMA for a peer only when
 * both sides have one (TCP otherwise, and always for the control path).
 * The probe handles the "no device" answers this project's machines give
 * (ibv_get_device_list returns NULL with ENOSYS: the kernel has no
 * InfiniBand support).
 *
 * Built with -DT9K_HAVE_RDMA where `pkg-config libibverbs` exists; without
 * it the probe says so and everything runs over TCP.
 */
#ifndef T9K_CACHE_RDMA_H
#define T9K_CACHE_RDMA_H

#include <stdbool.h>
#include <stddef.h>

enum cache_transport { CACHE_TRANSPORT_TCP = 0, CACHE_TRANSPORT_RDMA = 1 };

/* The number of RDMA devices (> 0), or < 0 with the reason in why:
 * -ENOTSUP (built without libibverbs), -ENODEV (no device), or the errno
 * of ibv_get_device_list (ENOSYS: no kernel support). */
int cache_rdma_probe(char *why, size_t whysz);

/* The transport towards a peer, given this node's probe result and
 * whether the peer announced an RDMA device. */
enum cache_transport cache_rdma_choose(int probe, bool peer_has_rdma);

#endif
