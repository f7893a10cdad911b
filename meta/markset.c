/* The bounded-memory key set of meta/markset.h.
 *
 * Invariants: a key is in at most one place (the table or one run), since
 * add asks every place first; runs are sorted arrays of MARKSET_KEY-byte
 * records in unlinked files and never change once written (a merge writes
 * a new one); the table never holds more than tab_max keys. Memory in use
 * is the table plus, per run, its filter (nbits / 8 bytes) and index (one
 * key per BLOCK records).
 *
 * Locking: m->mu guards everything; it is held across the preads and
 * writes of runs (the callers, gc's walkers, spend their time waiting on
 * the object store, not here).
 */
#include "meta/markset.h"

#include "lib/endian.h"
#include "lib/err.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define K MARKSET_KEY
#define BLOCK 128                 /* records per indexed block */
#define BITS_PER_KEY_MAX 10
#define IO_BUF (64u << 10)

struct run {
	int fd;
	uint64_t n;          /* records */
	uint64_t nbits;      /* filter bits; 0: no filter (every lookup reads) */
	int nhash;
	uint8_t *bits;
	uint8_t *index;      /* first key of each block */
	uint64_t nblocks;
};

struct markset {
	pthread_mutex_t mu;
	char tmpdir[4096];
	size_t budget;
	uint8_t *tab;        /* cap slots of K bytes; slot[0] == 0: empty */
	uint64_t cap, count, tab_max;
	uint64_t cap_max;    /* the table grows (doubling) up to this, then spills */
	struct run runs[MARKSET_RUNS_MAX + 1];
	int nruns;
	uint64_t disk_keys;
	struct markset_stats st;
};

static uint64_t key_hash(const uint8_t *k)
{
	uint64_t h = get_le64(k + 1) ^ ((uint64_t)k[0] * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t run_mem(const struct run *r)
{
	return r->nbits / 8 + r->nblocks * K;
}

static void mem_update(struct markset *m)
{
	uint64_t b = m->cap * K;

	for (int i = 0; i < m->nruns; i++)
		b += run_mem(&m->runs[i]);
	m->st.mem_bytes = b;
	if (b > m->st.mem_peak)
		m->st.mem_peak = b;
}

int markset_new(const char *tmpdir, size_t budget, struct markset **out)
{
	struct markset *m;
	const char *dir = tmpdir;

	*out = NULL;
	if (budget < MARKSET_MIN_BUDGET)
		budget = MARKSET_MIN_BUDGET;
	if (!dir || !*dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	m = calloc(1, sizeof(*m));
	if (!m)
		return t9k_err(-ENOMEM, "out of memory");
	snprintf(m->tmpdir, sizeof(m->tmpdir), "%s", dir);
	m->budget = budget;
	/* up to half the budget for the table, the rest for the runs'
	 * filters; it starts small and doubles */
	m->cap_max = 1024;
	while (m->cap_max * 2 * K <= budget / 2)
		m->cap_max *= 2;
	m->cap = 1024;
	m->tab_max = m->cap * 3 / 4;
	m->tab = calloc(m->cap, K);
	if (!m->tab) {
		free(m);
		return t9k_err(-ENOMEM, "out of memory for a mark set of %zu bytes", budget);
	}
	pthread_mutex_init(&m->mu, NULL);
	mem_update(m);
	*out = m;
	return 0;
}

static void run_release(struct run *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->bits);
	free(r->index);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void markset_free(struct markset *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nruns; i++)
		run_release(&m->runs[i]);
	free(m->tab);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static int tmp_open(struct markset *m)
{
	char tmpl[4200];
	int fd = open(m->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	snprintf(tmpl, sizeof(tmpl), "%s/t9kfs-marks.XXXXXX", m->tmpdir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return t9k_err(-errno, "mark set: creating a temporary file in %s: %s", m->tmpdir,
			       strerror(errno));
	unlink(tmpl);
	return fd;
}

/* ---- the table ---- */

/* The slot of key, or the empty slot where it would go. */
static uint8_t *tab_slot(struct markset *m, const uint8_t *key)
{
	uint64_t i = key_hash(key) & (m->cap - 1);

	for (;;) {
		uint8_t *s = m->tab + i * K;

		if (s[0] == 0 || !memcmp(s, key, K))
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, K);
}

/* ---- runs ---- */

static void bloom_bits(const uint8_t *key, uint64_t nbits, int nhash, uint64_t *out)
{
	uint64_t h1 = key_hash(key), h2 = get_le64(key + 9) | 1;

	for (int i = 0; i < nhash; i++)
		out[i] = (h1 + (uint64_t)i * h2) % nbits;
}

static void bloom_add(struct run *r, const uint8_t *key)
{
	uint64_t b[8];

	if (!r->nbits)
		return;
	bloom_bits(key, r->nbits, r->nhash, b);
	for (int i = 0; i < r->nhash; i++)
		r->bits[b[i] / 8] |= (uint8_t)(1u << (b[i] % 8));
}

static bool bloom_maybe(const struct run *r, const uint8_t *key)
{
	uint64_t b[8];

	if (!r->nbits)
		return true;
	bloom_bits(key, r->nbits, r->nhash, b);
	for (int i = 0; i < r->nhash; i++)
		if (!(r->bits[b[i] / 8] & (1u << (b[i] % 8))))
			return false;
	return true;
}

/* Bits a key for filters when disk will hold keys keys: what the budget
 * left after the table and the indexes allows, at most BITS_PER_KEY_MAX. */
static unsigned bits_per_key(struct markset *m, uint64_t keys)
{
	uint64_t fixed = m->cap_max * K + (keys / BLOCK + MARKSET_RUNS_MAX + 1) * K;
	uint64_t left = m->budget > fixed ? m->budget - fixed : 0;
	uint64_t bpk = keys ? left * 8 / keys : BITS_PER_KEY_MAX;

	return bpk > BITS_PER_KEY_MAX ? BITS_PER_KEY_MAX : bpk < 2 ? 0 : (unsigned)bpk;
}

/* Allocates r's filter and index for n keys at bpk bits a key. */
static int run_alloc(struct run *r, uint64_t n, unsigned bpk)
{
	r->n = n;
	r->nblocks = (n + BLOCK - 1) / BLOCK;
	r->nbits = bpk ? (n * bpk + 63) / 64 * 64 : 0;
	r->nhash = bpk ? (int)(bpk * 69 / 100) : 0;
	if (r->nhash < 1)
		r->nhash = 1;
	if (r->nhash > 8)
		r->nhash = 8;
	r->bits = r->nbits ? calloc(r->nbits / 8, 1) : NULL;
	r->index = malloc(r->nblocks ? r->nblocks * K : 1);
	if ((r->nbits && !r->bits) || !r->index)
		return t9k_err(-ENOMEM, "out of memory for a mark set's filter");
	return 0;
}

/* Records key number i of r (in order) in its filter and index. */
static void run_note(struct run *r, uint64_t i, const uint8_t *key)
{
	bloom_add(r, key);
	if (i % BLOCK == 0)
		memcpy(r->index + (i / BLOCK) * K, key, K);
}

/* 1 when r holds key. */
static int run_has(struct markset *m, struct run *r, const uint8_t *key)
{
	uint8_t blk[BLOCK * K];
	uint64_t lo = 0, hi = r->nblocks, b, n;
	ssize_t got;

	if (!r->n || !bloom_maybe(r, key))
		return 0;
	/* the last block whose first key is <= key */
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;

		if (memcmp(r->index + mid * K, key, K) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	b = lo;
	if (memcmp(r->index + b * K, key, K) > 0)
		return 0;
	n = r->n - b * BLOCK < BLOCK ? r->n - b * BLOCK : BLOCK;
	got = pread_full(r->fd, blk, n * K, (off_t)(b * BLOCK * K));
	m->st.reads++;
	if (got < 0 || (uint64_t)got != n * K)
		return t9k_err(got < 0 ? (int)got : -EIO, "mark set: reading a run: %s",
			       got < 0 ? strerror((int)-got) : "short read");
	lo = 0;
	hi = n;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		int c = memcmp(blk + mid * K, key, K);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Sequential reader of a run for a merge. */
struct reader {
	struct run *r;
	uint8_t *buf;
	uint64_t pos, have, at; /* record index of buf[0], records in buf, next in buf */
};

static int reader_next(struct reader *rd, const uint8_t **key)
{
	if (rd->at == rd->have) {
		uint64_t left = rd->r->n - (rd->pos + rd->have), want = IO_BUF / K;
		ssize_t got;

		rd->pos += rd->have;
		rd->have = rd->at = 0;
		if (left == 0) {
			*key = NULL;
			return 0;
		}
		if (want > left)
			want = left;
		got = pread_full(rd->r->fd, rd->buf, want * K, (off_t)(rd->pos * K));
		if (got < 0 || (uint64_t)got != want * K)
			return t9k_err(got < 0 ? (int)got : -EIO, "mark set: reading a run for a merge");
		rd->have = want;
	}
	*key = rd->buf + rd->at++ * K;
	return 0;
}

/* Merges every run into one (keys are unique across runs). */
static int merge_runs(struct markset *m)
{
	struct reader rd[MARKSET_RUNS_MAX + 1] = { 0 };
	const uint8_t *cur[MARKSET_RUNS_MAX + 1];
	struct run out = { .fd = -1 };
	uint8_t *obuf = malloc(IO_BUF);
	uint64_t total = 0, i = 0, off = 0;
	size_t olen = 0;
	int rc = 0;

	for (int k = 0; k < m->nruns; k++)
		total += m->runs[k].n;
	/* the old filters and indexes go first (a merge reads runs in order):
	 * the new ones are built in their place, within the budget */
	for (int k = 0; k < m->nruns; k++) {
		free(m->runs[k].bits);
		free(m->runs[k].index);
		m->runs[k].bits = m->runs[k].index = NULL;
		m->runs[k].nbits = m->runs[k].nblocks = 0;
	}
	if (!obuf)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0 && (out.fd = tmp_open(m)) < 0)
		rc = out.fd;
	if (rc == 0)
		rc = run_alloc(&out, total, bits_per_key(m, total));
	for (int k = 0; rc == 0 && k < m->nruns; k++) {
		rd[k].r = &m->runs[k];
		rd[k].buf = malloc(IO_BUF);
		if (!rd[k].buf)
			rc = t9k_err(-ENOMEM, "out of memory");
		else
			rc = reader_next(&rd[k], &cur[k]);
	}
	while (rc == 0) {
		int best = -1;

		for (int k = 0; k < m->nruns; k++)
			if (cur[k] && (best < 0 || memcmp(cur[k], cur[best], K) < 0))
				best = k;
		if (best < 0)
			break;
		memcpy(obuf + olen, cur[best], K);
		olen += K;
		run_note(&out, i++, cur[best]);
		if (olen + K > IO_BUF) {
			rc = pwrite_full(out.fd, obuf, olen, (off_t)off);
			if (rc < 0)
				rc = t9k_err(rc, "mark set: writing a merged run: %s", strerror(-rc));
			off += olen;
			olen = 0;
		}
		if (rc == 0)
			rc = reader_next(&rd[best], &cur[best]);
	}
	if (rc == 0 && olen && (rc = pwrite_full(out.fd, obuf, olen, (off_t)off)) < 0)
		rc = t9k_err(rc, "mark set: writing a merged run: %s", strerror(-rc));
	for (int k = 0; k < m->nruns; k++)
		free(rd[k].buf);
	free(obuf);
	if (rc < 0) {
		run_release(&out);
		return rc;
	}
	for (int k = 0; k < m->nruns; k++)
		run_release(&m->runs[k]);
	m->runs[0] = out;
	m->nruns = 1;
	m->st.merges++;
	return 0;
}

/* Writes the table out as a run and empties it. */
static int spill(struct markset *m)
{
	struct run *r = &m->runs[m->nruns];
	uint64_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	/* compact the used slots to the front, then sort them in place */
	for (uint64_t i = 0; i < m->cap; i++) {
		uint8_t *s = m->tab + i * K;

		if (s[0] == 0)
			continue;
		if (n != i)
			memcpy(m->tab + n * K, s, K);
		n++;
	}
	qsort(m->tab, n, K, cmp_key);
	{
		/* a run past the budget, or one too many, is merged at once: it
		 * needs no filter of its own meanwhile */
		unsigned bpk = bits_per_key(m, m->disk_keys + n);
		uint64_t after = m->st.mem_bytes + (n / BLOCK + 1) * K + n * bpk / 8;

		if (m->nruns + 1 > MARKSET_RUNS_MAX || after > m->budget)
			bpk = 0;
		rc = r->fd = tmp_open(m);
		if (rc >= 0)
			rc = run_alloc(r, n, bpk);
	}
	if (rc >= 0) {
		rc = write_full(r->fd, m->tab, n * K);
		if (rc < 0)
			rc = t9k_err(rc, "mark set: writing %llu keys to %s: %s",
				     (unsigned long long)n, m->tmpdir, strerror(-rc));
	}
	if (rc < 0) {
		run_release(r);
		return rc;
	}
	for (uint64_t i = 0; i < n; i++)
		run_note(r, i, m->tab + i * K);
	memset(m->tab, 0, m->cap * K);
	m->count = 0;
	m->nruns++;
	m->disk_keys += n;
	m->st.spills++;
	m->st.disk_bytes = m->disk_keys * K;
	/* too many runs, or one without its filter: merge into one */
	if (m->nruns > MARKSET_RUNS_MAX || (r->n && !r->nbits))
		rc = merge_runs(m);
	mem_update(m);
	return rc;
}

/* Doubles the table; -ENOMEM leaves it as it was. */
static int grow(struct markset *m)
{
	uint8_t *old = m->tab, *n = calloc(m->cap * 2, K);
	uint64_t ocap = m->cap;

	if (!n)
		return -ENOMEM;
	m->tab = n;
	m->cap *= 2;
	m->tab_max = m->cap * 3 / 4;
	for (uint64_t i = 0; i < ocap; i++)
		if (old[i * K])
			memcpy(tab_slot(m, old + i * K), old + i * K, K);
	free(old);
	mem_update(m);
	return 0;
}

static int has_locked(struct markset *m, const uint8_t *key)
{
	int rc = tab_slot(m, key)[0] != 0;

	for (int i = m->nruns - 1; rc == 0 && i >= 0; i--)
		rc = run_has(m, &m->runs[i], key);
	return rc;
}

int markset_add(struct markset *m, const uint8_t key[MARKSET_KEY])
{
	int rc;

	if (key[0] == 0)
		return t9k_err(-EINVAL, "mark set: a key's first byte must not be 0");
	pthread_mutex_lock(&m->mu);
	rc = has_locked(m, key);
	if (rc == 0) {
		memcpy(tab_slot(m, key), key, K);
		m->count++;
		m->st.keys++;
		rc = 1;
		if (m->count >= m->tab_max) {
			int s = m->cap < m->cap_max ? grow(m) : -ENOMEM;

			if (s < 0)
				s = spill(m); /* at the budget (or no memory to grow) */
			if (s < 0)
				rc = s;
		}
	} else if (rc == 1) {
		rc = 0;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int markset_has(struct markset *m, const uint8_t key[MARKSET_KEY])
{
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = has_locked(m, key);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void markset_get_stats(struct markset *m, struct markset_stats *out)
{
	pthread_mutex_lock(&m->mu);
	*out = m->st;
	out->runs = (uint64_t)m->nruns;
	pthread_mutex_unlock(&m->mu);
}
