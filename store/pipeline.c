/* The chunk pipeline: one reader (the caller's thread) runs FastCDC over a
 * sliding window and copies each chunk into a free slot of a ring; workers
 * hash, compress and store slots; the reader emits finished slots in order.
 *
 * Ring of n slots, sequence numbers grow forever, slot = seq % n:
 *   [done_seq, take_seq)   being worked on (or finished, not yet emitted)
 *   [take_seq, submit_seq) queued for a worker
 *   submit_seq - done_seq <= n  (the reader waits for the oldest slot)
 * Locking: one mutex guards the ring state and every slot's state/result;
 * a slot's data buffer belongs to whoever holds it by that state (reader
 * while FREE, one worker while RUNNING), so copies and hashing run unlocked.
 */
#include "store/pipeline.h"

#include "lib/err.h"
#include "lib/util.h"
#include "store/chunk.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct slot {
	enum slot_state state;
	uint8_t *data;
	size_t cap;
	uint32_t len;
	uint64_t off;
	int rc;
	struct chunk_put_result res;
	char err[256];
};

struct chunk_pipeline {
	struct store *store;
	struct chunk_pipeline_opts o;
	pthread_t *workers;
	int nworkers;

	pthread_mutex_t lock;
	pthread_cond_t work_cv; /* queued work or stop: workers wait */
	pthread_cond_t done_cv; /* a slot finished: reader waits */
	struct slot *slots;
	int nslots;
	uint64_t submit_seq, take_seq, done_seq;
	int stop;

	uint8_t *win; /* reader's sliding window */
	size_t wincap;
};

void chunk_pipeline_opts_init(struct chunk_pipeline_opts *o)
{
	memset(o, 0, sizeof(*o));
	cdc_params_init(&o->cdc, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT, CDC_MAX_DEFAULT);
	o->zlevel = CHUNK_ZLEVEL_DEFAULT;
}

static void *worker_main(void *arg)
{
	struct chunk_pipeline *p = arg;
	struct chunk_writer *w = chunk_writer_new(p->o.zlevel);

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot *sl;

		while (!p->stop && p->take_seq == p->submit_seq)
			pthread_cond_wait(&p->work_cv, &p->lock);
		if (p->stop)
			break;
		sl = &p->slots[p->take_seq++ % (uint64_t)p->nslots];
		sl->state = SLOT_RUNNING;
		pthread_mutex_unlock(&p->lock);

		t9k_err_clear();
		if (!w)
			sl->rc = t9k_err(-ENOMEM, "out of memory starting a chunk worker");
		else
			sl->rc = chunk_put(w, p->store, sl->data, sl->len, &sl->res);
		if (sl->rc < 0)
			snprintf(sl->err, sizeof(sl->err), "%s", t9k_errmsg(sl->rc));

		pthread_mutex_lock(&p->lock);
		sl->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done_cv);
	}
	pthread_mutex_unlock(&p->lock);
	chunk_writer_free(w);
	return NULL;
}

int chunk_pipeline_new(struct store *s, const struct chunk_pipeline_opts *o,
		       struct chunk_pipeline **out)
{
	struct chunk_pipeline *p = calloc(1, sizeof(*p));
	int rc = 0;

	*out = NULL;
	if (!p)
		return t9k_err(-ENOMEM, "out of memory");
	p->store = s;
	p->o = *o;
	if (p->o.threads <= 0)
		p->o.threads = cpu_count();
	if (p->o.inflight <= 0)
		p->o.inflight = 2 * p->o.threads + 2;
	p->nslots = p->o.inflight;
	p->wincap = 4 * (size_t)p->o.cdc.max;
	p->slots = calloc((size_t)p->nslots, sizeof(*p->slots));
	p->win = malloc(p->wincap);
	p->workers = calloc((size_t)p->o.threads, sizeof(*p->workers));
	if (!p->slots || !p->win || !p->workers) {
		chunk_pipeline_free(p);
		return t9k_err(-ENOMEM, "out of memory");
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	for (; p->nworkers < p->o.threads; p->nworkers++) {
		rc = pthread_create(&p->workers[p->nworkers], NULL, worker_main, p);
		if (rc) {
			chunk_pipeline_free(p);
			return t9k_err(-rc, "cannot start chunk workers: %s", strerror(rc));
		}
	}
	*out = p;
	return 0;
}

void chunk_pipeline_free(struct chunk_pipeline *p)
{
	if (!p)
		return;
	if (p->nworkers) {
		pthread_mutex_lock(&p->lock);
		p->stop = 1;
		pthread_cond_broadcast(&p->work_cv);
		pthread_mutex_unlock(&p->lock);
		for (int i = 0; i < p->nworkers; i++)
			pthread_join(p->workers[i], NULL);
	}
	if (p->slots) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->work_cv);
		pthread_cond_destroy(&p->done_cv);
		for (int i = 0; i < p->nslots; i++)
			free(p->slots[i].data);
	}
	free(p->slots);
	free(p->workers);
	free(p->win);
	free(p);
}

/* Emits finished slots in order. With wait, blocks until the oldest one is
 * done. Returns 0, or the first failure. Called with the lock held. */
static int drain(struct chunk_pipeline *p, int wait, int *failed, chunk_emit_fn emit, void *earg,
		 struct chunk_stats *st)
{
	while (p->done_seq < p->submit_seq) {
		struct slot *sl = &p->slots[p->done_seq % (uint64_t)p->nslots];
		int rc = 0;

		if (sl->state != SLOT_DONE) {
			if (!wait)
				return 0;
			pthread_cond_wait(&p->done_cv, &p->lock);
			continue;
		}
		wait = 0;
		if (sl->rc < 0 && !*failed) {
			rc = t9k_err(sl->rc, "%s", sl->err);
		} else if (!*failed) {
			st->chunks++;
			if (!sl->res.existed) {
				st->chunks_new++;
				st->bytes_stored += sl->res.stored_bytes;
			}
			pthread_mutex_unlock(&p->lock);
			rc = emit ? emit(earg, &sl->res.id, sl->off, sl->len) : 0;
			pthread_mutex_lock(&p->lock);
		}
		sl->state = SLOT_FREE;
		p->done_seq++;
		if (rc < 0) {
			*failed = rc;
			return rc;
		}
	}
	return 0;
}

int chunk_pipeline_run(struct chunk_pipeline *p, chunk_read_fn rd, void *rarg,
		       chunk_emit_fn emit, void *earg, struct chunk_stats *stats)
{
	size_t start = 0, end = 0, max = p->o.cdc.max;
	struct chunk_stats local = { 0 };
	struct chunk_stats *st = stats ? stats : &local;
	uint64_t off = 0;
	int eof = 0, failed = 0, rc = 0;

	memset(st, 0, sizeof(*st));
	for (;;) {
		struct slot *sl;
		size_t n;

		while (!eof && end - start < max) {
			ssize_t got;

			if (p->wincap - end < max) {
				memmove(p->win, p->win + start, end - start);
				end -= start;
				start = 0;
			}
			got = rd(rarg, p->win + end, p->wincap - end);
			if (got < 0) {
				rc = (int)got;
				goto out;
			}
			eof = got == 0;
			end += (size_t)got;
			st->bytes += (uint64_t)got;
		}
		if (start == end)
			break;
		n = cdc_cut(&p->o.cdc, p->win + start, end - start);

		pthread_mutex_lock(&p->lock);
		if (p->submit_seq - p->done_seq == (uint64_t)p->nslots)
			rc = drain(p, 1, &failed, emit, earg, st);
		else
			rc = drain(p, 0, &failed, emit, earg, st);
		pthread_mutex_unlock(&p->lock);
		if (rc < 0)
			goto out;

		sl = &p->slots[p->submit_seq % (uint64_t)p->nslots];
		if (sl->cap < n) {
			uint8_t *d = realloc(sl->data, max);

			if (!d) {
				rc = t9k_err(-ENOMEM, "out of memory");
				goto out;
			}
			sl->data = d;
			sl->cap = max;
		}
		memcpy(sl->data, p->win + start, n);
		sl->len = (uint32_t)n;
		sl->off = off;
		sl->rc = 0;
		off += n;
		start += n;

		pthread_mutex_lock(&p->lock);
		sl->state = SLOT_QUEUED;
		p->submit_seq++;
		pthread_cond_signal(&p->work_cv);
		pthread_mutex_unlock(&p->lock);
	}
out:
	if (rc < 0 && !failed)
		failed = rc; /* emit nothing more */
	/* Wait for everything in flight, even after a failure: the slots
	 * must be free before the next run. */
	pthread_mutex_lock(&p->lock);
	while (p->done_seq < p->submit_seq) {
		int r = drain(p, 1, &failed, emit, earg, st);

		if (r < 0 && rc == 0)
			rc = r;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

ssize_t chunk_read_fd(void *arg, void *buf, size_t len)
{
	int fd = *(int *)arg;

	for (;;) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return t9k_err(-errno, "read: %s", strerror(errno));
	}
}
