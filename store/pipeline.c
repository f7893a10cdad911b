/* The chunk pipeline: one reader (the caller's thread) reads the stream into
 * a ring and runs FastCDC over it in place; workers hash, compress and store
 * each chunk straight from the ring; the reader emits finished chunks in
 * order and only then lets the ring bytes under them be overwritten.
 *
 * The ring is a memfd mapped twice back to back, so ring + pos % size is
 * the start of size contiguous bytes whatever pos is: a chunk, the CDC
 * lookahead and a read all see flat memory even where they wrap. Stream
 * positions (uint64, from 0 per run) order the ring:
 *   [tail, cut)   cut into chunks not yet emitted: workers read these
 *   [cut, head)   read, not yet cut: the CDC lookahead
 *   [head, tail + size)  free: the reader reads into it
 * At most nslots chunks are unemitted, each <= cdc.max, and the reader reads
 * only while head - cut < cdc.max, so with size = (nslots + 2) * cdc.max
 * (rounded up to a page) a read always has more than cdc.max bytes of room
 * and never waits for space. That size is all the chunk memory there is:
 * the pages are mapped twice but exist once.
 * If the memfd cannot be made, the pipeline falls back to a window of
 * 4 * cdc.max and copies each chunk into a buffer of its slot.
 *
 * Slots, sequence numbers grow forever, slot = seq % nslots:
 *   [done_seq, take_seq)   being worked on (or finished, not yet emitted)
 *   [take_seq, submit_seq) queued for a worker
 *   submit_seq - done_seq <= nslots  (the reader waits for the oldest slot,
 *   running queued slots itself meanwhile, so its core is not left idle;
 *   after a failure it drops them instead: nothing more is emitted)
 * Packs (opts.pack_size > 0): a worker hashes a chunk, asks the index
 * whether it is stored, and encodes it into its slot (the header and, when
 * compressed, the payload; a raw payload stays in the ring); the reader
 * appends it to the open pack as it emits, so a file's chunks lie in its
 * packs in file order, and the run waits for the packs to be stored.
 *
 * Locking: one mutex guards the slot sequence numbers and every slot's
 * state/result. The bytes of a chunk are written by the reader before the
 * slot is queued and not touched again until it is emitted, so hashing and
 * reading run unlocked; the mutex orders the hand-offs.
 */
#include "store/pipeline.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/chunk.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Largest single read, so that the reader gets back to cutting soon (64 KiB
 * to unbounded measured alike on 1 GiB); large enough to make syscalls rare. */
#define READ_MAX (1u << 20)

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct slot {
	enum slot_state state;
	const uint8_t *data; /* in the ring, or buf */
	uint8_t *buf;        /* copy mode only */
	size_t cap;
	uint32_t len;
	uint64_t off;
	int rc;
	struct chunk_put_result res;
	struct chunk_loc loc;
	/* packs: the stored object, to be appended when emitted */
	bool fresh;
	uint8_t hdr[CHUNK_HDR_SIZE];
	uint8_t *enc;
	size_t enccap;
	struct iovec iov[2];
	char err[256];
};

struct chunk_pipeline {
	struct store *store;
	struct chunk_pipeline_opts o;
	pthread_t *workers;
	int nworkers;
	struct chunk_writer *rw; /* the reader's, for the slots it runs */
	struct pack_writer *pw;  /* packs; NULL: one object per chunk */
	struct store_probe probe; /* costly index lookups */

	pthread_mutex_t lock;
	pthread_cond_t work_cv; /* queued work or stop: workers wait */
	pthread_cond_t done_cv; /* a slot finished: reader waits */
	struct slot *slots;
	int nslots;
	uint64_t submit_seq, take_seq, done_seq;
	int stop;

	uint8_t *ring; /* ringsz bytes mapped twice; NULL in copy mode */
	size_t ringsz;
	uint8_t *win; /* copy mode: the reader's sliding window */
	size_t wincap;
};

/* One run's reader state; only the reader touches it. */
struct run {
	uint64_t tail, cut, head; /* stream positions, see the top */
	uint64_t wstart;          /* copy mode: stream position of win[0] */
	int eof, failed;
	chunk_emit_fn emit;
	void *earg;
	struct chunk_stats *st;
};

void chunk_pipeline_opts_init(struct chunk_pipeline_opts *o)
{
	memset(o, 0, sizeof(*o));
	cdc_params_init(&o->cdc, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT, CDC_MAX_DEFAULT);
	o->zlevel = CHUNK_ZLEVEL_DEFAULT;
}

/* Whether the index has the chunk: 0 and *out, or -ENOENT. */
static int pack_lookup(struct chunk_pipeline *p, const struct oid *id, struct chunk_loc *out)
{
	const struct pack_ops *ops = &p->o.pack;
	int rc;

	if (!ops->lookup || (ops->lookup_costly && !store_probe_ask(&p->probe)))
		return -ENOENT;
	rc = ops->lookup(ops->arg, id, out);
	if (rc == 0 && (!oid_eq(&out->id, id)))
		rc = t9k_err(-EIO, "chunk index: asked for one chunk, told of another");
	if (ops->lookup_costly && (rc == 0 || rc == -ENOENT))
		store_probe_answer(&p->probe, rc == 0);
	return rc;
}

/* Packs: hashes the slot's chunk and, unless the index has it, encodes it
 * into the slot for drain() to append to the open pack. */
static int pack_slot(struct chunk_pipeline *p, struct chunk_writer *w, struct slot *sl)
{
	struct iovec iov[2];
	uint8_t codec;
	int rc;

	memset(&sl->res, 0, sizeof(sl->res));
	rc = oid_hash(&sl->res.id, sl->data, sl->len);
	if (rc < 0)
		return rc;
	rc = pack_lookup(p, &sl->res.id, &sl->loc);
	if (rc == 0 && sl->loc.len != sl->len)
		rc = t9k_err(T9K_ECORRUPT, "chunk index: chunk of %u bytes recorded as %u", sl->len,
			     sl->loc.len);
	if (rc != -ENOENT) {
		sl->res.existed = rc == 0;
		return rc;
	}
	sl->loc = (struct chunk_loc){ .id = sl->res.id, .len = sl->len };
	rc = chunk_encode(w, sl->data, sl->len, iov, &codec);
	if (rc < 0)
		return rc;
	memcpy(sl->hdr, iov[0].iov_base, CHUNK_HDR_SIZE);
	sl->iov[0] = (struct iovec){ .iov_base = sl->hdr, .iov_len = CHUNK_HDR_SIZE };
	sl->iov[1] = iov[1]; /* raw: the slot's bytes, which stay until emitted */
	if (codec == CHUNK_ZSTD) { /* w's scratch is reused by its next chunk */
		if (sl->enccap < iov[1].iov_len) {
			uint8_t *d = realloc(sl->enc, iov[1].iov_len);

			if (!d)
				return t9k_err(-ENOMEM, "out of memory");
			sl->enc = d;
			sl->enccap = iov[1].iov_len;
		}
		memcpy(sl->enc, iov[1].iov_base, iov[1].iov_len);
		sl->iov[1].iov_base = sl->enc;
	}
	sl->res.codec = codec;
	sl->res.stored_bytes = (uint32_t)(CHUNK_HDR_SIZE + iov[1].iov_len);
	sl->fresh = true;
	return 0;
}

/* Runs the slot taken at take_seq - 1. Called and returns with the lock
 * held; drops it meanwhile. */
static void run_slot(struct chunk_pipeline *p, struct chunk_writer *w, struct slot *sl)
{
	sl->state = SLOT_RUNNING;
	pthread_mutex_unlock(&p->lock);

	t9k_err_clear();
	sl->fresh = false;
	if (!w)
		sl->rc = t9k_err(-ENOMEM, "out of memory starting a chunk worker");
	else if (p->pw)
		sl->rc = pack_slot(p, w, sl);
	else
		sl->rc = chunk_put(w, p->store, sl->data, sl->len, &sl->res);
	if (sl->rc == 0 && !p->pw)
		sl->loc = (struct chunk_loc){ .id = sl->res.id, .len = sl->len };
	if (sl->rc < 0)
		snprintf(sl->err, sizeof(sl->err), "%s", t9k_errmsg(sl->rc));

	pthread_mutex_lock(&p->lock);
	sl->state = SLOT_DONE;
}

static void *worker_main(void *arg)
{
	struct chunk_pipeline *p = arg;
	struct chunk_writer *w = chunk_writer_new(p->o.zlevel);

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->take_seq == p->submit_seq)
			pthread_cond_wait(&p->work_cv, &p->lock);
		if (p->stop)
			break;
		run_slot(p, w, &p->slots[p->take_seq++ % (uint64_t)p->nslots]);
		pthread_cond_broadcast(&p->done_cv);
	}
	pthread_mutex_unlock(&p->lock);
	chunk_writer_free(w);
	return NULL;
}

/* Maps the ring: size bytes of a memfd at base and again at base + size.
 * Returns 0, or -errno (the caller falls back to copying). */
static int ring_map(struct chunk_pipeline *p, size_t size)
{
	uint8_t *base = MAP_FAILED;
	int fd, rc = 0;

	fd = memfd_create("t9k-chunk-ring", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		goto out;
	}
	/* Reserve both halves at once, so nothing else can land in between. */
	base = mmap(NULL, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	/* MAP_POPULATE: allocate the pages now, not in the middle of a run. */
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (mmap(base + i * size, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0) == MAP_FAILED)
			rc = -errno;
	}
	if (rc < 0) {
		munmap(base, 2 * size);
		goto out;
	}
	p->ring = base;
	p->ringsz = size;
out:
	close(fd);
	return rc;
}

int chunk_pipeline_new(struct store *s, const struct chunk_pipeline_opts *o,
		       struct chunk_pipeline **out)
{
	struct chunk_pipeline *p = calloc(1, sizeof(*p));
	long page = sysconf(_SC_PAGESIZE);
	int rc = 0, ncpu = cpu_count();
	size_t max;

	*out = NULL;
	if (!p)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	p->store = s;
	p->o = *o;
	/* The reader runs slots too when they back up, so one worker per CPU
	 * but one keeps every CPU busy without time-slicing the reader. */
	if (p->o.threads <= 0)
		p->o.threads = ncpu > 1 ? ncpu - 1 : 1;
	if (p->o.inflight <= 0)
		p->o.inflight = 2 * p->o.threads + 2;
	p->nslots = p->o.inflight;
	max = p->o.cdc.max;
	if ((size_t)p->nslots > SIZE_MAX / 4 / max - 2) {
		rc = -ENOMEM;
	} else {
		size_t size = ((size_t)p->nslots + 2) * max, pg = page > 0 ? (size_t)page : 4096;

		rc = ring_map(p, (size + pg - 1) / pg * pg);
	}
	if (rc < 0) {
		t9k_log(T9K_LOG_WARN, "chunk pipeline: no shared ring (%s), copying chunks instead",
			strerror(-rc));
		p->wincap = 4 * max;
		p->win = malloc(p->wincap);
	}
	p->slots = calloc((size_t)p->nslots, sizeof(*p->slots));
	p->workers = calloc((size_t)p->o.threads, sizeof(*p->workers));
	p->rw = chunk_writer_new(p->o.zlevel);
	if (p->o.pack_size > 0) {
		rc = pack_writer_new(s, p->o.pack_size, p->o.pack_uploads ? p->o.pack_uploads : 4,
				     &p->o.pack, &p->pw);
		if (rc < 0) {
			chunk_pipeline_free(p);
			return rc;
		}
	}
	if (!p->slots || !p->workers || !p->rw || (!p->ring && !p->win)) {
		chunk_pipeline_free(p);
		return t9k_err(-ENOMEM, "out of memory");
	}
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
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	for (int i = 0; p->slots && i < p->nslots; i++) {
		free(p->slots[i].buf);
		free(p->slots[i].enc);
	}
	pack_writer_free(p->pw);
	if (p->ring)
		munmap(p->ring, 2 * p->ringsz);
	chunk_writer_free(p->rw);
	free(p->slots);
	free(p->workers);
	free(p->win);
	free(p);
}

/* Where stream position pos is in memory: pos must be in [tail, head]
 * (copy mode: [wstart, head]). */
static uint8_t *at(struct chunk_pipeline *p, const struct run *r, uint64_t pos)
{
	if (p->ring)
		return p->ring + pos % p->ringsz;
	return p->win + (pos - r->wstart);
}

/* After a failure nothing more is emitted, so the queued slots need not
 * be stored: they are finished as they are. Called with the lock held. */
static void cancel_queued(struct chunk_pipeline *p)
{
	for (; p->take_seq < p->submit_seq; p->take_seq++) {
		struct slot *sl = &p->slots[p->take_seq % (uint64_t)p->nslots];

		sl->rc = -ECANCELED;
		sl->state = SLOT_DONE;
	}
}

/* Emits finished slots in order, freeing their ring bytes. With wait,
 * blocks until the oldest one is done, running queued slots meanwhile (or,
 * after a failure, dropping them). Returns 0, or the first failure. Called
 * with the lock held. */
static int drain(struct chunk_pipeline *p, struct run *r, int wait)
{
	while (p->done_seq < p->submit_seq) {
		struct slot *sl = &p->slots[p->done_seq % (uint64_t)p->nslots];
		int rc = 0;

		if (sl->state != SLOT_DONE) {
			if (!wait)
				return 0;
			if (p->take_seq == p->submit_seq)
				pthread_cond_wait(&p->done_cv, &p->lock);
			else if (r->failed)
				cancel_queued(p);
			else
				run_slot(p, p->rw, &p->slots[p->take_seq++ % (uint64_t)p->nslots]);
			continue;
		}
		wait = 0;
		if (sl->rc < 0 && !r->failed) {
			rc = t9k_err(sl->rc, "%s", sl->err);
		} else if (!r->failed) {
			r->st->chunks++;
			if (!sl->res.existed) {
				r->st->chunks_new++;
				r->st->bytes_stored += sl->res.stored_bytes;
			}
			pthread_mutex_unlock(&p->lock);
			if (sl->fresh)
				rc = pack_writer_add(p->pw, sl->iov, 2, &sl->loc);
			if (rc == 0 && r->emit)
				rc = r->emit(r->earg, &sl->loc, sl->off);
			pthread_mutex_lock(&p->lock);
		}
		sl->state = SLOT_FREE;
		r->tail = sl->off + sl->len;
		p->done_seq++;
		if (rc < 0) {
			r->failed = rc;
			return rc;
		}
	}
	return 0;
}

/* One read into the free space after head. */
static int fill(struct chunk_pipeline *p, struct run *r, chunk_read_fn rd, void *rarg)
{
	size_t room;
	ssize_t got;

	if (p->ring) {
		room = p->ringsz - (size_t)(r->head - r->tail);
	} else {
		if (p->wincap - (r->head - r->wstart) < p->o.cdc.max) {
			memmove(p->win, at(p, r, r->cut), (size_t)(r->head - r->cut));
			r->wstart = r->cut;
		}
		room = p->wincap - (size_t)(r->head - r->wstart);
	}
	if (room == 0) /* cannot happen: see the bound at the top */
		return t9k_err(-EIO, "chunk pipeline: no room to read into");
	got = rd(rarg, at(p, r, r->head), room < READ_MAX ? room : READ_MAX);
	if (got < 0)
		return (int)got;
	r->eof = got == 0;
	r->head += (uint64_t)got;
	r->st->bytes += (uint64_t)got;
	return 0;
}

/* Queues the chunk [cut, cut + n) in the next slot, which is free. */
static int submit(struct chunk_pipeline *p, struct run *r, size_t n)
{
	struct slot *sl = &p->slots[p->submit_seq % (uint64_t)p->nslots];

	if (p->ring) {
		sl->data = at(p, r, r->cut);
	} else {
		if (sl->cap < n) {
			uint8_t *d = realloc(sl->buf, p->o.cdc.max);

			if (!d)
				return t9k_err(-ENOMEM, "out of memory");
			sl->buf = d;
			sl->cap = p->o.cdc.max;
		}
		memcpy(sl->buf, at(p, r, r->cut), n);
		sl->data = sl->buf;
	}
	sl->len = (uint32_t)n;
	sl->off = r->cut;
	sl->rc = 0;
	r->cut += n;

	pthread_mutex_lock(&p->lock);
	sl->state = SLOT_QUEUED;
	p->submit_seq++;
	pthread_cond_signal(&p->work_cv);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int chunk_pipeline_run(struct chunk_pipeline *p, chunk_read_fn rd, void *rarg,
		       chunk_emit_fn emit, void *earg, struct chunk_stats *stats)
{
	struct chunk_stats local = { 0 };
	struct run r = { .emit = emit, .earg = earg, .st = stats ? stats : &local };
	size_t max = p->o.cdc.max;
	int rc = 0;

	memset(r.st, 0, sizeof(*r.st));
	for (;;) {
		size_t n;

		while (!r.eof && r.head - r.cut < max) {
			rc = fill(p, &r, rd, rarg);
			if (rc < 0)
				goto out;
		}
		if (r.cut == r.head)
			break;
		n = cdc_cut(&p->o.cdc, at(p, &r, r.cut), (size_t)(r.head - r.cut));

		pthread_mutex_lock(&p->lock);
		rc = drain(p, &r, p->submit_seq - p->done_seq == (uint64_t)p->nslots);
		pthread_mutex_unlock(&p->lock);
		if (rc < 0)
			goto out;
		rc = submit(p, &r, n);
		if (rc < 0)
			goto out;
	}
out:
	if (rc < 0 && !r.failed)
		r.failed = rc; /* emit nothing more */
	/* Wait for everything in flight, even after a failure: the slots
	 * and the ring must be free before the next run. */
	pthread_mutex_lock(&p->lock);
	while (p->done_seq < p->submit_seq) {
		int e = drain(p, &r, 1);

		if (e < 0 && rc == 0)
			rc = e;
	}
	pthread_mutex_unlock(&p->lock);
	if (p->pw) { /* also after a failure: no upload may outlive the run */
		int e = pack_writer_flush(p->pw);

		if (e < 0 && rc == 0)
			rc = e;
	}
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
