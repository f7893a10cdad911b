/* RDMA device probe and transport choice (rdma.h). The probe lists the
 * verbs devices once and frees the list; it opens nothing.
 */
#include "cache/rdma.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef T9K_HAVE_RDMA
#include <infiniband/verbs.h>
#endif

int cache_rdma_probe(char *why, size_t whysz)
{
#ifdef T9K_HAVE_RDMA
	struct ibv_device **list;
	int n = 0, err;

	errno = 0;
	list = ibv_get_device_list(&n);
	if (!list) {
		err = errno ? errno : ENODEV;
		snprintf(why, whysz, "ibv_get_device_list: %s%s", strerror(err),
			 err == ENOSYS ? " (no RDMA support in this kernel)" : "");
		return -err;
	}
	ibv_free_device_list(list);
	if (n <= 0) {
		snprintf(why, whysz, "no RDMA device");
		return -ENODEV;
	}
	snprintf(why, whysz, "%d RDMA device%s", n, n == 1 ? "" : "s");
	return n;
#else
	snprintf(why, whysz, "built without libibverbs");
	return -ENOTSUP;
#endif
}

enum cache_transport cache_rdma_choose(int probe, bool peer_has_rdma)
{
	return probe > 0 && peer_has_rdma ? CACHE_TRANSPORT_RDMA : CACHE_TRANSPORT_TCP;
}
