/* RDMA device probe, transport choice, the owner's lending pool and the
 * verbs layer (rdma.h): RC queue pairs and one-sided RDMA READ. The verbs
 * are compiled only with T9K_HAVE_RDMA; never run end to end (no RDMA
 * device on this project's machines). A cache_rdma_qp is used by one
 * thread at a time; the CQ is per QP, so completions of one reader never
 * reach another. The pool's free list is guarded by its mutex.
 */
#include "cache/rdma.h"

#include "lib/endian.h"
#include "lib/err.h"
#include "lib/util.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef T9K_HAVE_RDMA
#include <infiniband/verbs.h>
#endif

void cache_rdma_ep_encode(const struct cache_rdma_endpoint *ep, uint8_t out[CACHE_RDMA_EP_SIZE])
{
	put_le32(out, ep->qpn);
	put_le32(out + 4, ep->psn);
	put_le16(out + 8, ep->lid);
	memcpy(out + 10, ep->gid, 16);
}

int cache_rdma_ep_decode(const uint8_t *p, size_t len, struct cache_rdma_endpoint *ep)
{
	if (len != CACHE_RDMA_EP_SIZE)
		return t9k_err(T9K_ECORRUPT, "RDMA endpoint of %zu bytes", len);
	ep->qpn = get_le32(p);
	ep->psn = get_le32(p + 4);
	ep->lid = get_le16(p + 8);
	memcpy(ep->gid, p + 10, 16);
	if (ep->qpn == 0 || ep->qpn > 0xffffff || ep->psn > 0xffffff)
		return t9k_err(T9K_ECORRUPT, "RDMA endpoint with qpn %u, psn %u", ep->qpn, ep->psn);
	return 0;
}

enum cache_transport cache_rdma_choose(int probe, bool peer_has_rdma)
{
	return probe > 0 && peer_has_rdma ? CACHE_TRANSPORT_RDMA : CACHE_TRANSPORT_TCP;
}

enum cache_transport cache_rdma_choose_conn(const struct cache_rdma *r, bool peer_has_rdma,
					    bool failed)
{
	return r && peer_has_rdma && !failed ? CACHE_TRANSPORT_RDMA : CACHE_TRANSPORT_TCP;
}

/* The pool's bookkeeping is the same with or without verbs; only the
 * registration differs. */
struct cache_rdma_pool {
	pthread_mutex_t lock; /* guards free_ and gen */
	struct cache_rdma_mr *mr;
	uint8_t *mem;
	uint32_t size;
	int n, nfree;
	int *free_;     /* indexes of free buffers, nfree of them */
	uint16_t *gen;  /* per buffer, bumped on each put */
};

void cache_rdma_pool_free(struct cache_rdma_pool *pl)
{
	if (!pl)
		return;
	cache_rdma_dereg(pl->mr);
	free(pl->mem);
	free(pl->free_);
	free(pl->gen);
	pthread_mutex_destroy(&pl->lock);
	free(pl);
}

int cache_rdma_pool_new(struct cache_rdma *r, int n, uint32_t size, struct cache_rdma_pool **out)
{
	struct cache_rdma_pool *pl;
	int rc;

	*out = NULL;
	if (n <= 0 || n > 0xffff || size == 0)
		return t9k_err(-EINVAL, "RDMA: a pool of %d buffers of %u bytes", n, size);
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&pl->lock, NULL);
	pl->size = size;
	pl->n = pl->nfree = n;
	pl->free_ = calloc((size_t)n, sizeof(*pl->free_));
	pl->gen = calloc((size_t)n, sizeof(*pl->gen));
	if (!pl->free_ || !pl->gen || posix_memalign((void **)&pl->mem, 4096, (size_t)n * size)) {
		pl->mem = NULL;
		cache_rdma_pool_free(pl);
		return t9k_err(-ENOMEM, "RDMA: cannot allocate %d buffers of %u bytes", n, size);
	}
	for (int i = 0; i < n; i++)
		pl->free_[i] = n - 1 - i;
	rc = cache_rdma_reg(r, pl->mem, (size_t)n * size, &pl->mr);
	if (rc < 0) {
		cache_rdma_pool_free(pl);
		return rc;
	}
	*out = pl;
	return 0;
}

int cache_rdma_pool_take(struct cache_rdma_pool *pl, struct cache_rdma_slot *out)
{
	int i;

	pthread_mutex_lock(&pl->lock);
	if (pl->nfree == 0) {
		pthread_mutex_unlock(&pl->lock);
		return -EBUSY;
	}
	i = pl->free_[--pl->nfree];
	out->token = (uint32_t)pl->gen[i] << 16 | (uint32_t)i;
	pthread_mutex_unlock(&pl->lock);
	out->buf = pl->mem + (size_t)i * pl->size;
	out->addr = (uint64_t)(uintptr_t)out->buf;
	out->rkey = cache_rdma_rkey(pl->mr);
	out->size = pl->size;
	return 0;
}

void cache_rdma_pool_put(struct cache_rdma_pool *pl, const struct cache_rdma_slot *slot)
{
	int i = (int)(slot->token & 0xffff);

	pthread_mutex_lock(&pl->lock);
	assert(i < pl->n && pl->nfree < pl->n);
	pl->gen[i]++;
	pl->free_[pl->nfree++] = i;
	pthread_mutex_unlock(&pl->lock);
}

#ifdef T9K_HAVE_RDMA

#define PORT 1
#define GID_INDEX 0
#define QP_DEPTH 64

struct cache_rdma {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_port_attr port;
};

struct cache_rdma_mr {
	struct ibv_mr *mr;
};

struct cache_rdma_qp {
	struct cache_rdma *r;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	uint32_t psn;
	uint64_t next_id;
};

static void verbs_close(struct cache_rdma *r);
static void verbs_qp_free(struct cache_rdma_qp *q);

static int verbs_probe(char *why, size_t whysz)
{
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
}

static int verbs_open(const char *dev, struct cache_rdma **out)
{
	struct cache_rdma *r = calloc(1, sizeof(*r));
	struct ibv_device **list;
	int n = 0, rc = 0;

	*out = NULL;
	if (!r)
		return t9k_err(-ENOMEM, "out of memory");
	errno = 0;
	list = ibv_get_device_list(&n);
	if (!list) {
		rc = -(errno ? errno : ENODEV);
		free(r);
		return t9k_err(rc, "RDMA: ibv_get_device_list: %s", strerror(-rc));
	}
	for (int i = 0; i < n && !r->ctx; i++)
		if (!dev || !strcmp(ibv_get_device_name(list[i]), dev))
			r->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!r->ctx)
		rc = t9k_err(-ENODEV, "RDMA: no device%s%s could be opened", dev ? " " : "", dev ? dev : "");
	else if (ibv_query_port(r->ctx, PORT, &r->port))
		rc = t9k_err(-EIO, "RDMA: cannot query port %d", PORT);
	else if (!(r->pd = ibv_alloc_pd(r->ctx)))
		rc = t9k_err(-ENOMEM, "RDMA: cannot allocate a protection domain");
	if (rc < 0) {
		verbs_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void verbs_close(struct cache_rdma *r)
{
	if (!r)
		return;
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->ctx)
		ibv_close_device(r->ctx);
	free(r);
}

static int verbs_reg(struct cache_rdma *r, void *buf, size_t len, struct cache_rdma_mr **out)
{
	struct cache_rdma_mr *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return t9k_err(-ENOMEM, "out of memory");
	m->mr = ibv_reg_mr(r->pd, buf, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!m->mr) {
		int err = errno ? errno : ENOMEM;

		free(m);
		return t9k_err(-err, "RDMA: cannot register %zu bytes: %s", len, strerror(err));
	}
	*out = m;
	return 0;
}

static void verbs_dereg(struct cache_rdma_mr *m)
{
	if (!m)
		return;
	ibv_dereg_mr(m->mr);
	free(m);
}

static uint32_t verbs_rkey(const struct cache_rdma_mr *m)
{
	return m->mr->rkey;
}

static int verbs_qp_new(struct cache_rdma *r, struct cache_rdma_qp **out,
			struct cache_rdma_endpoint *local)
{
	struct cache_rdma_qp *q = calloc(1, sizeof(*q));
	struct ibv_qp_init_attr qia = { 0 };
	union ibv_gid gid;
	uint32_t rnd;
	int rc = 0;

	*out = NULL;
	if (!q)
		return t9k_err(-ENOMEM, "out of memory");
	q->r = r;
	q->cq = ibv_create_cq(r->ctx, QP_DEPTH, NULL, NULL, 0);
	if (!q->cq) {
		rc = t9k_err(-ENOMEM, "RDMA: cannot create a completion queue");
		goto out;
	}
	qia.send_cq = q->cq;
	qia.recv_cq = q->cq;
	qia.qp_type = IBV_QPT_RC;
	qia.cap.max_send_wr = QP_DEPTH;
	qia.cap.max_recv_wr = 1;
	qia.cap.max_send_sge = 1;
	qia.cap.max_recv_sge = 1;
	q->qp = ibv_create_qp(r->pd, &qia);
	if (!q->qp) {
		rc = t9k_err(-ENOMEM, "RDMA: cannot create a queue pair");
		goto out;
	}
	if (ibv_query_gid(r->ctx, PORT, GID_INDEX, &gid)) {
		rc = t9k_err(-EIO, "RDMA: cannot query the GID");
		goto out;
	}
	rnd = (uint32_t)(now_sec() * 1e6) ^ (uint32_t)(uintptr_t)q;
	q->psn = rnd & 0xffffff;
	local->qpn = q->qp->qp_num;
	local->psn = q->psn;
	local->lid = r->port.lid;
	memcpy(local->gid, gid.raw, 16);
out:
	if (rc < 0) {
		verbs_qp_free(q);
		return rc;
	}
	*out = q;
	return 0;
}

static int verbs_qp_connect(struct cache_rdma_qp *q, const struct cache_rdma_endpoint *remote)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.pkey_index = 0;
	a.port_num = PORT;
	a.qp_access_flags = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_LOCAL_WRITE;
	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
					     IBV_QP_ACCESS_FLAGS))
		return t9k_err(-EIO, "RDMA: queue pair to INIT failed");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = q->r->port.active_mtu;
	a.dest_qp_num = remote->qpn;
	a.rq_psn = remote->psn;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 12;
	a.ah_attr.dlid = remote->lid;
	a.ah_attr.port_num = PORT;
	if (q->r->port.link_layer == IBV_LINK_LAYER_ETHERNET || remote->lid == 0) { /* RoCE */
		a.ah_attr.is_global = 1;
		memcpy(a.ah_attr.grh.dgid.raw, remote->gid, 16);
		a.ah_attr.grh.sgid_index = GID_INDEX;
		a.ah_attr.grh.hop_limit = 64;
	}
	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					     IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					     IBV_QP_MIN_RNR_TIMER))
		return t9k_err(-EIO, "RDMA: queue pair to RTR failed");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = q->psn;
	a.max_rd_atomic = 16;
	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
					     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		return t9k_err(-EIO, "RDMA: queue pair to RTS failed");
	return 0;
}

static void verbs_qp_free(struct cache_rdma_qp *q)
{
	if (!q)
		return;
	if (q->qp)
		ibv_destroy_qp(q->qp);
	if (q->cq)
		ibv_destroy_cq(q->cq);
	free(q);
}

static int verbs_read(struct cache_rdma_qp *q, struct cache_rdma_mr *m, void *dst, uint64_t raddr,
		      uint32_t rkey, uint32_t len, int timeout_ms)
{
	struct ibv_sge sge = { .addr = (uintptr_t)dst, .length = len, .lkey = m->mr->lkey };
	struct ibv_send_wr wr, *bad = NULL;
	struct ibv_wc wc;
	double deadline = now_sec() + timeout_ms / 1000.0;
	int n;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = ++q->next_id;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_READ;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	if (ibv_post_send(q->qp, &wr, &bad))
		return t9k_err(-EIO, "RDMA: cannot post a read");
	for (;;) {
		n = ibv_poll_cq(q->cq, 1, &wc);
		if (n < 0)
			return t9k_err(-EIO, "RDMA: polling the completion queue failed");
		if (n == 1 && wc.wr_id == wr.wr_id)
			break;
		if (now_sec() > deadline)
			return t9k_err(-ETIMEDOUT, "RDMA: read of %u bytes timed out", len);
	}
	if (wc.status != IBV_WC_SUCCESS)
		return t9k_err(-EIO, "RDMA: read failed: %s", ibv_wc_status_str(wc.status));
	return 0;
}

#else /* !T9K_HAVE_RDMA */

static int verbs_probe(char *why, size_t whysz)
{
	snprintf(why, whysz, "built without libibverbs");
	return -ENOTSUP;
}

static int verbs_open(const char *dev, struct cache_rdma **out)
{
	(void)dev;
	*out = NULL;
	return t9k_err(-ENOTSUP, "RDMA: built without libibverbs");
}

static void verbs_close(struct cache_rdma *r)
{
	(void)r;
}

static int verbs_reg(struct cache_rdma *r, void *buf, size_t len, struct cache_rdma_mr **out)
{
	(void)r, (void)buf, (void)len;
	*out = NULL;
	return t9k_err(-ENOTSUP, "RDMA: built without libibverbs");
}

static void verbs_dereg(struct cache_rdma_mr *mr)
{
	(void)mr;
}

static uint32_t verbs_rkey(const struct cache_rdma_mr *mr)
{
	(void)mr;
	return 0;
}

static int verbs_qp_new(struct cache_rdma *r, struct cache_rdma_qp **out,
			struct cache_rdma_endpoint *local)
{
	(void)r, (void)local;
	*out = NULL;
	return t9k_err(-ENOTSUP, "RDMA: built without libibverbs");
}

static int verbs_qp_connect(struct cache_rdma_qp *qp, const struct cache_rdma_endpoint *remote)
{
	(void)qp, (void)remote;
	return t9k_err(-ENOTSUP, "RDMA: built without libibverbs");
}

static void verbs_qp_free(struct cache_rdma_qp *qp)
{
	(void)qp;
}

static int verbs_read(struct cache_rdma_qp *qp, struct cache_rdma_mr *mr, void *dst,
		      uint64_t raddr, uint32_t rkey, uint32_t len, int timeout_ms)
{
	(void)qp, (void)mr, (void)dst, (void)raddr, (void)rkey, (void)len, (void)timeout_ms;
	return t9k_err(-ENOTSUP, "RDMA: built without libibverbs");
}

#endif

/* ---- dispatch: libibverbs, or a test's replacement ---- */

static const struct cache_rdma_ops verbs_ops = {
	.probe = verbs_probe,
	.open = verbs_open,
	.close = verbs_close,
	.reg = verbs_reg,
	.dereg = verbs_dereg,
	.rkey = verbs_rkey,
	.qp_new = verbs_qp_new,
	.qp_connect = verbs_qp_connect,
	.qp_free = verbs_qp_free,
	.read = verbs_read,
};

static const struct cache_rdma_ops *ops = &verbs_ops;

void cache_rdma_set_ops(const struct cache_rdma_ops *o)
{
	ops = o ? o : &verbs_ops;
}

int cache_rdma_probe(char *why, size_t whysz)
{
	return ops->probe(why, whysz);
}

int cache_rdma_open(const char *dev, struct cache_rdma **out)
{
	return ops->open(dev, out);
}

void cache_rdma_close(struct cache_rdma *r)
{
	if (r)
		ops->close(r);
}

int cache_rdma_reg(struct cache_rdma *r, void *buf, size_t len, struct cache_rdma_mr **out)
{
	return ops->reg(r, buf, len, out);
}

void cache_rdma_dereg(struct cache_rdma_mr *mr)
{
	if (mr)
		ops->dereg(mr);
}

uint32_t cache_rdma_rkey(const struct cache_rdma_mr *mr)
{
	return ops->rkey(mr);
}

int cache_rdma_qp_new(struct cache_rdma *r, struct cache_rdma_qp **out,
		      struct cache_rdma_endpoint *local)
{
	return ops->qp_new(r, out, local);
}

int cache_rdma_qp_connect(struct cache_rdma_qp *qp, const struct cache_rdma_endpoint *remote)
{
	return ops->qp_connect(qp, remote);
}

void cache_rdma_qp_free(struct cache_rdma_qp *qp)
{
	if (qp)
		ops->qp_free(qp);
}

int cache_rdma_read(struct cache_rdma_qp *qp, struct cache_rdma_mr *mr, void *dst, uint64_t raddr,
		    uint32_t rkey, uint32_t len, int timeout_ms)
{
	return ops->read(qp, mr, dst, raddr, rkey, len, timeout_ms);
}
