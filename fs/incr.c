/* Incremental stores of a spooled file: see fs/incr.h. */
#include "fs/incr.h"

#include "lib/err.h"
#include "lib/util.h"
#include "store/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One chunk of the content last stored: 56 bytes. */
struct incr_chunk {
	struct oid id;
	uint64_t end;      /* file offset just past it */
	uint64_t pack_off; /* pack != 0 */
	uint32_t pack_len;
	uint32_t pack;     /* 0: a standalone object; k: in pack packs[k - 1] */
};

/* Chunks with their pack table and a bitmap of absent ones. */
struct chunk_vec {
	struct incr_chunk *c;
	uint32_t n, cap;
	struct oid *packs;
	uint32_t npacks, packs_cap;
	uint64_t *absent; /* (cap + 63) / 64 words */
	uint32_t nabsent;
};

struct incr {
	struct cdc_params cdc;
	struct chunk_vec v;
	uint64_t *dirty;    /* bit i: chunk i was written since the store */
	uint32_t dirty_cap; /* chunks the bitmap covers */
	uint64_t size;      /* of the content last stored */
	uint64_t low;       /* bytes from here on changed (truncations); <= size */
	/* the last chunk, [size - its length, size) */
	struct oid_hasher *th; /* SHA-256 over its first th_len bytes, when th_ok */
	uint64_t th_len;       /* a multiple of 64 */
	bool th_ok;
	struct oid base;       /* a chunk stored whole, the first base_len bytes */
	uint32_t base_len;     /* of the last chunk; 0: none */
	int64_t base_time;     /* when the base was stored (monotonic s) */
	uint64_t delta_bytes;  /* suffix bytes stored as deltas since the base */
	bool tail_delta;       /* the last chunk is stored as a delta only */
	pthread_mutex_t fill_lock;
	struct incr_stats tot;
};

static bool bit(const uint64_t *map, uint32_t i)
{
	return map && (map[i / 64] >> (i % 64)) & 1;
}

static void bit_set(uint64_t *map, uint32_t i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static void bit_clear(uint64_t *map, uint32_t i)
{
	map[i / 64] &= ~(1ULL << (i % 64));
}

static uint64_t chunk_start(const struct chunk_vec *v, uint32_t i)
{
	return i ? v->c[i - 1].end : 0;
}

/* The first chunk ending after off (v->n when none). */
static uint32_t chunk_after(const struct chunk_vec *v, uint64_t off)
{
	uint32_t lo = 0, hi = v->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (v->c[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void vec_release(struct chunk_vec *v)
{
	free(v->c);
	free(v->packs);
	free(v->absent);
	memset(v, 0, sizeof(*v));
}

static int vec_add(struct chunk_vec *v, const struct oid *id, uint64_t end, const struct oid *pack,
		   uint64_t pack_off, uint32_t pack_len, bool absent)
{
	struct incr_chunk *c;

	if (v->n == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 64;
		size_t words = (cap + 63) / 64, old = (v->cap + 63) / 64;
		uint64_t *map;

		c = realloc(v->c, cap * sizeof(*c));
		if (!c)
			return t9k_err(-ENOMEM, "out of memory");
		v->c = c;
		map = realloc(v->absent, words * sizeof(*map));
		if (!map)
			return t9k_err(-ENOMEM, "out of memory");
		memset(map + old, 0, (words - old) * sizeof(*map));
		v->absent = map;
		v->cap = cap;
	}
	c = &v->c[v->n];
	*c = (struct incr_chunk){ .id = *id, .end = end };
	if (pack) {
		/* a file's packed chunks come in runs of one pack */
		if (!v->npacks || !oid_eq(&v->packs[v->npacks - 1], pack)) {
			if (v->npacks == v->packs_cap) {
				uint32_t cap = v->packs_cap ? v->packs_cap * 2 : 8;
				struct oid *p = realloc(v->packs, cap * sizeof(*p));

				if (!p)
					return t9k_err(-ENOMEM, "out of memory");
				v->packs = p;
				v->packs_cap = cap;
			}
			v->packs[v->npacks++] = *pack;
		}
		c->pack = v->npacks;
		c->pack_off = pack_off;
		c->pack_len = pack_len;
	}
	if (absent) {
		bit_set(v->absent, v->n);
		v->nabsent++;
	}
	v->n++;
	return 0;
}

/* Appends chunk i of w to v. */
static int vec_copy(struct chunk_vec *v, const struct chunk_vec *w, uint32_t i)
{
	const struct incr_chunk *c = &w->c[i];

	return vec_add(v, &c->id, c->end, c->pack ? &w->packs[c->pack - 1] : NULL, c->pack_off,
		       c->pack_len, bit(w->absent, i));
}

static void to_manifest_chunk(const struct chunk_vec *v, uint32_t i, struct manifest_chunk *mc)
{
	const struct incr_chunk *c = &v->c[i];

	*mc = (struct manifest_chunk){ .id = c->id, .len = (uint32_t)(c->end - chunk_start(v, i)),
				       .loc = MANIFEST_LOC_OBJECT };
	if (c->pack) {
		mc->loc = MANIFEST_LOC_PACK;
		mc->pack = v->packs[c->pack - 1];
		mc->pack_off = c->pack_off;
		mc->pack_len = c->pack_len;
	}
}

static int vec_manifest(const struct chunk_vec *v, uint64_t size, struct manifest *m)
{
	memset(m, 0, sizeof(*m));
	if (v->n && !(m->chunks = calloc(v->n, sizeof(*m->chunks))))
		return t9k_err(-ENOMEM, "out of memory for a manifest of %u chunks", v->n);
	for (uint32_t i = 0; i < v->n; i++)
		to_manifest_chunk(v, i, &m->chunks[i]);
	m->nchunks = v->n;
	m->size = size;
	return 0;
}

/* Makes v the content last stored (of size bytes), with a cleared dirty
 * bitmap; v is taken (even on failure, when it is freed). */
static int commit_vec(struct incr *s, struct chunk_vec *v, uint64_t size)
{
	size_t words = (v->cap + 63) / 64;

	if (s->dirty_cap < v->cap) {
		uint64_t *map = realloc(s->dirty, words * sizeof(*map));

		if (!map) {
			vec_release(v);
			return t9k_err(-ENOMEM, "out of memory");
		}
		s->dirty = map;
		s->dirty_cap = v->cap;
	}
	if (s->dirty)
		memset(s->dirty, 0, ((s->dirty_cap + 63) / 64) * sizeof(*s->dirty));
	vec_release(&s->v);
	s->v = *v;
	*v = (struct chunk_vec){ 0 };
	s->size = s->low = size;
	return 0;
}

/* ---- the state ---- */

int incr_new(const struct cdc_params *p, struct incr **out)
{
	struct incr *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return t9k_err(-ENOMEM, "out of memory");
	s->cdc = *p;
	pthread_mutex_init(&s->fill_lock, NULL);
	*out = s;
	return 0;
}

void incr_free(struct incr *s)
{
	if (!s)
		return;
	vec_release(&s->v);
	free(s->dirty);
	oid_hasher_free(s->th);
	pthread_mutex_destroy(&s->fill_lock);
	free(s);
}

static void tail_forget(struct incr *s)
{
	s->th_ok = false;
	s->th_len = 0;
	s->base_len = 0;
	s->delta_bytes = 0;
	s->tail_delta = false;
}

static int64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int incr_set(struct incr *s, const struct manifest *m, bool absent)
{
	struct chunk_vec v = { 0 };
	uint64_t end = 0;
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i < m->nchunks; i++) {
		const struct manifest_chunk *mc = &m->chunks[i];

		end += mc->len;
		rc = vec_add(&v, &mc->id, end, mc->loc == MANIFEST_LOC_PACK ? &mc->pack : NULL,
			     mc->pack_off, mc->pack_len, absent);
	}
	if (rc == 0 && end != m->size)
		rc = t9k_err(T9K_ECORRUPT, "manifest of %llu bytes holds chunks of %llu",
			     (unsigned long long)m->size, (unsigned long long)end);
	if (rc < 0) {
		vec_release(&v);
		return rc;
	}
	rc = commit_vec(s, &v, end);
	if (rc == 0)
		tail_forget(s);
	return rc;
}

bool incr_complete(const struct incr *s)
{
	return s->v.nabsent == 0;
}

void incr_totals(const struct incr *s, struct incr_stats *out)
{
	*out = s->tot;
}

size_t incr_memory(const struct incr *s)
{
	return sizeof(*s) + (size_t)s->v.cap * sizeof(*s->v.c) +
	       (size_t)s->v.packs_cap * sizeof(*s->v.packs) + 2 * ((s->v.cap + 63) / 64) * 8;
}

int incr_manifest(const struct incr *s, struct manifest *m)
{
	return vec_manifest(&s->v, s->size, m);
}

/* ---- absent chunks ---- */

/* Copies absent chunk i into the spool. */
static int fill_chunk(struct incr *s, int fd, uint32_t i, const struct incr_source *src)
{
	struct manifest_chunk mc;
	struct buf b = BUF_INIT;
	int rc;

	if (!src)
		return t9k_err(-EIO, "a chunk of the file is not in its spool");
	to_manifest_chunk(&s->v, i, &mc);
	rc = src->fetch(src->arg, &mc, &b);
	if (rc == 0 && b.len != mc.len)
		rc = t9k_err(T9K_ECORRUPT, "chunk of %zu bytes, its manifest says %u", b.len, mc.len);
	if (rc == 0) {
		rc = pwrite_full(fd, b.data, b.len, (off_t)chunk_start(&s->v, i));
		if (rc < 0)
			rc = t9k_err(rc, "spool write: %s", strerror(-rc));
	}
	buf_release(&b);
	if (rc == 0) {
		bit_clear(s->v.absent, i);
		s->v.nabsent--;
		s->tot.chunks_filled++;
	}
	return rc;
}

#define FILL_PREFETCH 8

/* Copies in the absent chunks of [off, off + len). */
static int fill_range(struct incr *s, int fd, uint64_t off, uint64_t len,
		      const struct incr_source *src)
{
	uint64_t end = off + len;
	int rc = 0;

	if (!s->v.nabsent || !len)
		return 0;
	for (uint32_t i = chunk_after(&s->v, off); rc == 0 && i < s->v.n && chunk_start(&s->v, i) < end;
	     i++) {
		if (!bit(s->v.absent, i))
			continue;
		if (src && src->prefetch)
			for (uint32_t k = i + 1; k <= i + FILL_PREFETCH && k < s->v.n &&
						 chunk_start(&s->v, k) < end; k++)
				if (bit(s->v.absent, k)) {
					struct manifest_chunk mc;

					to_manifest_chunk(&s->v, k, &mc);
					src->prefetch(src->arg, &mc);
				}
		rc = fill_chunk(s, fd, i, src);
	}
	return rc;
}

int incr_fill(struct incr *s, int fd, uint64_t off, uint64_t len, const struct incr_source *src)
{
	int rc;

	if (!s->v.nabsent)
		return 0;
	pthread_mutex_lock(&s->fill_lock);
	rc = fill_range(s, fd, off, len, src);
	pthread_mutex_unlock(&s->fill_lock);
	return rc;
}

int incr_prepare_write(struct incr *s, int fd, uint64_t off, uint64_t len,
		       const struct incr_source *src)
{
	uint64_t end = off + len;
	int rc = 0;

	if (!len)
		return 0;
	for (uint32_t i = chunk_after(&s->v, off); rc == 0 && i < s->v.n && chunk_start(&s->v, i) < end;
	     i++) {
		uint64_t start = chunk_start(&s->v, i);

		if (bit(s->v.absent, i)) {
			if (off <= start && end >= s->v.c[i].end) {
				bit_clear(s->v.absent, i); /* all overwritten */
				s->v.nabsent--;
			} else {
				rc = fill_chunk(s, fd, i, src);
			}
		}
		if (start < s->low)
			bit_set(s->dirty, i);
	}
	return rc;
}

int incr_prepare_truncate(struct incr *s, int fd, uint64_t size, const struct incr_source *src)
{
	uint32_t i;
	int rc = 0;

	if (size >= s->size)
		return 0; /* what lies beyond the stored size is new anyway */
	i = chunk_after(&s->v, size);
	if (i < s->v.n && bit(s->v.absent, i) && chunk_start(&s->v, i) < size)
		rc = fill_chunk(s, fd, i, src); /* its first bytes stay */
	if (rc < 0)
		return rc;
	for (; i < s->v.n; i++)
		if (bit(s->v.absent, i)) { /* gone: the spool's zeros are right */
			bit_clear(s->v.absent, i);
			s->v.nabsent--;
		}
	if (size < s->low)
		s->low = size;
	return 0;
}

/* ---- storing ---- */

struct cutter {
	struct incr *s;
	int fd;
	const struct incr_io *io;
	uint64_t size;      /* of the new content */
	struct chunk_vec v; /* the new content's chunks */
	uint8_t *buf;       /* buf[k]: byte pos + k of the spool, for k in [lo, hi) */
	uint64_t pos, lo, hi;
	struct incr_stats st;
	/* the new last chunk's state, as struct incr's */
	struct oid_hasher *th;
	uint64_t th_len;
	bool th_ok;
	struct oid base;
	uint32_t base_len;
	int64_t base_time;
	uint64_t delta_bytes;
	bool tail_delta;
	enum { LAST_OLD_LAST, LAST_OLD_OTHER, LAST_CUT } last; /* where the last chunk so far came from */
	/* chunks cut, to be stored once the manifest is known (its store
	 * then runs beside theirs) */
	struct pending {
		struct oid id;
		uint64_t pos, len;
		uint32_t prefix; /* > 0: a delta on the base, of these bytes */
	} *pend;
	size_t npend, pend_cap;
};

static int spool_read(struct cutter *k, uint64_t a, uint64_t b)
{
	int rc = fill_range(k->s, k->fd, k->pos + a, b - a, k->io->src);

	if (rc < 0)
		return rc;
	rc = pread_full(k->fd, k->buf + a, (size_t)(b - a), (off_t)(k->pos + a));
	if (rc >= 0 && (uint64_t)rc != b - a)
		rc = t9k_err(-EIO, "spool read: the spool is shorter than the file");
	else if (rc < 0)
		rc = t9k_err(rc, "spool read: %s", strerror(-rc));
	if (rc >= 0)
		k->st.bytes_cut += b - a;
	return rc < 0 ? rc : 0;
}

/* Makes buf[a..b) hold the spool's bytes (growing what it holds, which
 * stays one range). */
static int window(struct cutter *k, uint64_t a, uint64_t b)
{
	int rc = 0;

	if (a >= b)
		return 0;
	if (k->lo == k->hi) {
		rc = spool_read(k, a, b);
		if (rc == 0) {
			k->lo = a;
			k->hi = b;
		}
		return rc;
	}
	if (a < k->lo) {
		rc = spool_read(k, a, k->lo);
		if (rc == 0)
			k->lo = a;
	}
	if (rc == 0 && b > k->hi) {
		rc = spool_read(k, k->hi, b);
		if (rc == 0)
			k->hi = b;
	}
	return rc;
}

/* Hashes buf[from..len) onto h (a copy of the state of buf[0..from)) and
 * gives the id; keep (may be NULL) gets the state after the bytes up to
 * the last multiple of 64 within len. */
static int hash_on(struct cutter *k, struct oid_hasher *h, uint64_t from, uint64_t len,
		   struct oid_hasher *keep, uint64_t *keep_len, struct oid *id)
{
	uint64_t mid = len & ~(uint64_t)63;
	int rc = 0;

	if (mid < from)
		mid = from;
	if (mid > from)
		rc = oid_hasher_update(h, k->buf + from, (size_t)(mid - from));
	if (rc == 0 && keep) {
		rc = oid_hasher_copy(keep, h);
		*keep_len = mid;
	}
	if (rc == 0 && len > mid)
		rc = oid_hasher_update(h, k->buf + mid, (size_t)(len - mid));
	if (rc == 0)
		rc = oid_hasher_final(h, id);
	return rc;
}

static int put_whole(struct cutter *k, const struct oid *id, uint64_t len)
{
	struct chunk_put_result res;
	int rc = window(k, 0, len);

	if (rc == 0)
		rc = chunk_put_id(k->io->w, k->io->store, id, k->buf, (size_t)len, &res);
	if (rc == 0)
		k->st.bytes_stored += res.stored_bytes;
	return rc;
}

static int pend_add(struct cutter *k, const struct oid *id, uint64_t pos, uint64_t len,
		    uint32_t prefix)
{
	if (k->npend == k->pend_cap) {
		size_t cap = k->pend_cap ? k->pend_cap * 2 : 8;
		struct pending *p = realloc(k->pend, cap * sizeof(*p));

		if (!p)
			return t9k_err(-ENOMEM, "out of memory");
		k->pend = p;
		k->pend_cap = cap;
	}
	k->pend[k->npend++] = (struct pending){ .id = *id, .pos = pos, .len = len, .prefix = prefix };
	return 0;
}

/* Stores the chunks cut: whole, or the last one as a delta on the base. */
static int pend_put(struct cutter *k)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < k->npend; i++) {
		const struct pending *p = &k->pend[i];
		struct chunk_put_result res;

		k->pos = p->pos;
		k->lo = k->hi = 0;
		if (!p->prefix) {
			rc = put_whole(k, &p->id, p->len);
			continue;
		}
		rc = window(k, p->prefix, p->len);
		if (rc == 0)
			rc = chunk_put_delta(k->io->w, k->io->store, &p->id, (uint32_t)p->len, &k->s->base,
					     p->prefix, k->buf + p->prefix, (size_t)(p->len - p->prefix),
					     &res);
		if (rc == 0) {
			k->st.deltas++;
			k->st.bytes_stored += res.stored_bytes;
		}
	}
	return rc;
}

/* The manifest's store on a thread of its own, beside the chunks'. */
struct mput {
	const struct incr_io *io;
	const struct manifest *m;
	int rc;
	char msg[512];
};

static void *mput_main(void *arg)
{
	struct mput *mp = arg;

	mp->rc = mp->io->manifest_put(mp->io->arg, mp->m);
	if (mp->rc < 0) /* messages are per thread */
		snprintf(mp->msg, sizeof(mp->msg), "%s", t9k_errmsg(mp->rc));
	return NULL;
}

/* Stores the chunks cut and (io->manifest_put) the manifest m, at once. */
static int put_all(struct cutter *k, const struct manifest *m)
{
	struct mput mp = { .io = k->io, .m = m };
	bool thread = false;
	pthread_t t;
	int rc;

	if (k->io->manifest_put && k->npend)
		thread = pthread_create(&t, NULL, mput_main, &mp) == 0;
	rc = pend_put(k);
	if (thread) {
		pthread_join(t, NULL);
		if (rc == 0 && mp.rc < 0)
			rc = t9k_err(mp.rc, "%s", mp.msg);
	} else if (rc == 0 && k->io->manifest_put) {
		rc = k->io->manifest_put(k->io->arg, m);
	}
	return rc;
}

/* Cuts and hashes the chunk at k->pos (stored later: pend_put); i is the
 * first old chunk ending after it. resume: it is the old last chunk, unchanged, and the
 * file grew (its cut search and its hash go on from where they ended). */
static int cut_one(struct cutter *k, uint32_t i, bool resume, uint64_t *len_out)
{
	struct incr *s = k->s;
	const struct cdc_params *p = &s->cdc;
	uint64_t avail = k->size - k->pos, win = avail < p->max ? avail : p->max;
	uint64_t len = 0, from = 0, want;
	struct oid_hasher *h = NULL, *keep = NULL;
	struct oid id;
	bool cut = false, last, delta;
	int rc = 0;

	k->lo = k->hi = 0;
	if (resume) {
		uint64_t old = s->size - k->pos; /* < max: it was last */
		uint64_t scan = old > p->min ? old - 1 : p->min;

		from = old ? old - 1 : 0;
		rc = window(k, scan > 64 ? scan - 64 : 0, win);
		if (rc == 0)
			len = cdc_cut_from(p, k->buf, (size_t)win, (size_t)from, &cut);
	} else {
		/* The likeliest cut is the next old boundary: look that far
		 * first (the next chunk may not be in the spool), then on by
		 * avg at a time. */
		want = i < s->v.n ? s->v.c[i].end - k->pos : 2 * (uint64_t)p->avg;
		for (;;) {
			if (want > win)
				want = win;
			rc = window(k, 0, want);
			if (rc < 0)
				break;
			len = cdc_cut_from(p, k->buf, (size_t)want, (size_t)from, &cut);
			if (cut || want == win)
				break;
			from = want - 1;
			want += p->avg;
		}
	}
	if (rc < 0)
		return rc;
	last = k->pos + len == k->size;

	/* the id: from the old last chunk's hash state where there is one */
	if (!(h = oid_hasher_new()) || (last && !(keep = oid_hasher_new()))) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (resume && s->th_ok && s->th_len <= len) {
		rc = oid_hasher_copy(h, s->th);
		if (rc == 0)
			rc = window(k, s->th_len, len);
		if (rc == 0)
			rc = hash_on(k, h, s->th_len, len, keep, &k->th_len, &id);
	} else {
		rc = window(k, 0, len);
		if (rc == 0)
			rc = hash_on(k, h, 0, len, keep, &k->th_len, &id);
	}
	if (rc < 0)
		goto out;

	/* stored whole, or as a delta on the base while the suffixes stored
	 * since add up to less than the base */
	delta = last && resume && s->base_len && s->base_len <= len &&
		s->delta_bytes + (len - s->base_len) <= s->base_len &&
		mono_s() - s->base_time < INCR_BASE_MAX_AGE;
	rc = pend_add(k, &id, k->pos, len, delta ? s->base_len : 0);
	if (rc == 0 && delta) {
		k->base = s->base;
		k->base_len = s->base_len;
		k->base_time = s->base_time;
		k->delta_bytes = s->delta_bytes + (len - s->base_len);
		k->tail_delta = true;
	} else if (rc == 0 && last) {
		k->base = id;
		k->base_len = (uint32_t)len;
		k->base_time = mono_s();
		k->delta_bytes = 0;
		k->tail_delta = false;
	}
	if (rc == 0)
		rc = vec_add(&k->v, &id, k->pos + len, NULL, 0, 0, false);
	if (rc == 0) {
		k->st.chunks_new++;
		*len_out = len;
		k->last = LAST_CUT;
		if (last) {
			oid_hasher_free(k->th);
			k->th = keep;
			keep = NULL;
			k->th_ok = true;
		}
	}
out:
	oid_hasher_free(h);
	oid_hasher_free(keep);
	return rc;
}

/* ---- the rest of the file through the pipeline ---- */

struct pipe_read {
	struct cutter *k;
	uint64_t off;
};

static ssize_t pipe_read_fn(void *arg, void *buf, size_t len)
{
	struct pipe_read *pr = arg;
	uint64_t left = pr->k->size - pr->off;
	ssize_t got;

	if (len > left)
		len = (size_t)left;
	if (!len)
		return 0;
	got = pread_full(pr->k->fd, buf, len, (off_t)pr->off);
	if (got >= 0 && (size_t)got != len)
		got = t9k_err(-EIO, "spool read: the spool is shorter than the file");
	else if (got < 0)
		got = t9k_err((int)got, "spool read: %s", strerror((int)-got));
	if (got > 0) {
		pr->off += (uint64_t)got;
		pr->k->st.bytes_cut += (uint64_t)got;
	}
	return got;
}

static int pipe_emit(void *arg, const struct chunk_loc *c, uint64_t off)
{
	struct cutter *k = arg;

	(void)off;
	return vec_add(&k->v, &c->id, (k->v.n ? k->v.c[k->v.n - 1].end : 0) + c->len,
		       c->packed ? &c->pack : NULL, c->pack_off, c->pack_len, false);
}

static int cut_rest_pipe(struct cutter *k)
{
	struct pipe_read pr = { .k = k, .off = k->pos };
	struct chunk_stats cs;
	const struct incr_chunk *c;
	int rc = fill_range(k->s, k->fd, k->pos, k->size - k->pos, k->io->src);

	if (rc == 0)
		rc = chunk_pipeline_run(k->io->pipe, pipe_read_fn, &pr, pipe_emit, k, &cs);
	if (rc < 0)
		return rc;
	k->st.chunks_new += cs.chunks;
	k->st.bytes_stored += cs.bytes_stored;
	if (!k->v.n || k->v.c[k->v.n - 1].end != k->size)
		return t9k_err(-EIO, "the spool changed while it was stored");
	c = &k->v.c[k->v.n - 1];
	/* the last chunk: no hash state; a base if it is stored whole */
	k->th_ok = false;
	k->last = LAST_CUT;
	k->base_len = 0;
	k->delta_bytes = 0;
	k->tail_delta = false;
	if (!c->pack) {
		k->base = c->id;
		k->base_len = (uint32_t)(c->end - chunk_start(&k->v, k->v.n - 1));
		k->base_time = mono_s();
	}
	return 0;
}

int incr_store(struct incr *s, int fd, uint64_t size, const struct incr_io *io,
	       struct manifest *m, struct incr_stats *st)
{
	struct cutter k = { .s = s, .fd = fd, .io = io, .size = size };
	const struct chunk_vec *old = &s->v;
	uint64_t low = s->low < size ? s->low : size;
	uint32_t i = 0, last_reusable = 0;
	bool any_reusable = false, tail_clean;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!size)
		return t9k_err(-EINVAL, "an empty file is not chunked");
	/* old chunk j is reused where the new content is cut at its start:
	 * its bytes unchanged, and its end a cut point, not the old end of
	 * the file (unless that is the end again) */
#define REUSABLE(j)                                                                         \
	(!bit(s->dirty, (j)) && old->c[(j)].end <= low &&                                   \
	 ((j) + 1 < old->n || size == s->size))
	for (uint32_t j = old->n; j-- > 0;)
		if (REUSABLE(j)) {
			last_reusable = j;
			any_reusable = true;
			break;
		}
	tail_clean = old->n && !bit(s->dirty, old->n - 1) && low >= s->size;
	if (!(k.buf = malloc(s->cdc.max)))
		return t9k_err(-ENOMEM, "out of memory");

	while (rc == 0 && k.pos < size) {
		uint64_t len = 0;

		if (i < old->n && chunk_start(old, i) == k.pos && REUSABLE(i)) {
			for (; rc == 0 && i < old->n && REUSABLE(i); i++) {
				rc = vec_copy(&k.v, old, i);
				k.st.chunks_reused++;
				k.last = i + 1 == old->n ? LAST_OLD_LAST : LAST_OLD_OTHER;
			}
			k.pos = k.v.c[k.v.n - 1].end;
			continue;
		}
		if (io->pipe && size - k.pos >= (io->pipe_min ? io->pipe_min : INCR_PIPE_MIN) &&
		    (!any_reusable || i > last_reusable)) {
			rc = cut_rest_pipe(&k);
			break;
		}
		rc = cut_one(&k, i, i + 1 == old->n && k.pos == chunk_start(old, i) && tail_clean &&
					    size > s->size, &len);
		if (rc == 0)
			k.pos += len;
		while (i < old->n && old->c[i].end <= k.pos)
			i++;
	}
#undef REUSABLE
	if (rc == 0)
		rc = vec_manifest(&k.v, size, m);
	if (rc == 0)
		rc = put_all(&k, m);
	free(k.buf);
	free(k.pend);
	if (rc == 0)
		rc = commit_vec(s, &k.v, size); /* the new content is the one last stored */
	if (rc == 0) {
		if (k.last == LAST_OLD_OTHER) { /* cut short at an old boundary */
			tail_forget(s);
		} else if (k.last == LAST_CUT) {
			oid_hasher_free(s->th);
			s->th = k.th;
			k.th = NULL;
			s->th_ok = k.th_ok;
			s->th_len = k.th_len;
			s->base = k.base;
			s->base_len = k.base_len;
			s->base_time = k.base_time;
			s->delta_bytes = k.delta_bytes;
			s->tail_delta = k.tail_delta;
		}
		k.st.stores = 1;
		s->tot.stores++;
		s->tot.bytes_cut += k.st.bytes_cut;
		s->tot.chunks_reused += k.st.chunks_reused;
		s->tot.chunks_new += k.st.chunks_new;
		s->tot.deltas += k.st.deltas;
		s->tot.bytes_stored += k.st.bytes_stored;
	}
	if (rc < 0)
		manifest_release(m);
	vec_release(&k.v);
	oid_hasher_free(k.th);
	if (st)
		*st = k.st;
	return rc;
}

int incr_settle(struct incr *s, int fd, const struct incr_io *io)
{
	struct cutter k = { .s = s, .fd = fd, .io = io };
	const struct incr_chunk *c;
	uint64_t len;
	int rc;

	if (!s->tail_delta || !s->v.n)
		return 0;
	c = &s->v.c[s->v.n - 1];
	k.pos = chunk_start(&s->v, s->v.n - 1);
	len = c->end - k.pos;
	if (!(k.buf = malloc(len ? len : 1)))
		return t9k_err(-ENOMEM, "out of memory");
	rc = put_whole(&k, &c->id, len);
	free(k.buf);
	if (rc == 0) {
		s->tail_delta = false;
		s->base = c->id;
		s->base_len = (uint32_t)len;
		s->base_time = mono_s();
		s->delta_bytes = 0;
		s->tot.bytes_stored += k.st.bytes_stored;
	}
	return rc;
}

/* ---- the assertion mode ---- */

/* Reads [a, b) of the file into out: the spool's bytes, or absent chunks'
 * from src (not copied in). */
static int peek(struct incr *s, int fd, uint64_t a, uint64_t b, uint8_t *out,
		const struct incr_source *src)
{
	struct buf cb = BUF_INIT;
	int rc = 0;

	while (rc == 0 && a < b) {
		uint32_t i = chunk_after(&s->v, a);
		uint64_t end = i < s->v.n && s->v.c[i].end < b ? s->v.c[i].end : b;

		if (i < s->v.n && bit(s->v.absent, i)) {
			struct manifest_chunk mc;
			uint64_t start = chunk_start(&s->v, i);

			to_manifest_chunk(&s->v, i, &mc);
			buf_reset(&cb);
			rc = src ? src->fetch(src->arg, &mc, &cb) : -EIO;
			if (rc == 0 && cb.len != mc.len)
				rc = t9k_err(T9K_ECORRUPT, "chunk of %zu bytes, its manifest says %u",
					     cb.len, mc.len);
			if (rc == 0)
				memcpy(out, cb.data + (a - start), (size_t)(end - a));
		} else {
			rc = pread_full(fd, out, (size_t)(end - a), (off_t)a);
			rc = rc < 0 ? t9k_err(rc, "spool read: %s", strerror(-rc))
				    : (uint64_t)rc != end - a ? t9k_err(-EIO, "spool read: short") : 0;
		}
		out += end - a;
		a = end;
	}
	buf_release(&cb);
	return rc;
}

int incr_verify(struct incr *s, int fd, const struct incr_source *src)
{
	uint8_t *buf = malloc(s->cdc.max);
	uint64_t pos = 0;
	uint32_t i = 0;
	char h1[OID_HEXSZ + 1], h2[OID_HEXSZ + 1];
	int rc = buf ? 0 : t9k_err(-ENOMEM, "out of memory");

	while (rc == 0 && pos < s->size) {
		uint64_t win = s->size - pos < s->cdc.max ? s->size - pos : s->cdc.max, len;
		struct oid id;

		rc = peek(s, fd, pos, pos + win, buf, src);
		if (rc < 0)
			break;
		len = cdc_cut(&s->cdc, buf, (size_t)win);
		rc = oid_hash(&id, buf, (size_t)len);
		if (rc < 0)
			break;
		if (i >= s->v.n || s->v.c[i].end != pos + len || !oid_eq(&s->v.c[i].id, &id))
			rc = t9k_err(T9K_ECORRUPT,
				     "incremental store differs from a full re-cut at chunk %u: "
				     "[%llu, %llu) %s, re-cut ends at %llu with %s",
				     i, (unsigned long long)chunk_start(&s->v, i),
				     (unsigned long long)(i < s->v.n ? s->v.c[i].end : 0),
				     i < s->v.n ? oid_to_hex(&s->v.c[i].id, h1) : "(none)",
				     (unsigned long long)(pos + len), oid_to_hex(&id, h2));
		pos += len;
		i++;
	}
	if (rc == 0 && i != s->v.n)
		rc = t9k_err(T9K_ECORRUPT, "incremental store has %u chunks, a full re-cut %u", s->v.n,
			     i);
	free(buf);
	return rc;
}
