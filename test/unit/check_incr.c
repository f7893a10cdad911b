/* Unit tests of incremental stores (fs/incr.c): after random writes,
 * appends, truncations, reads and lazy copy-ups, every store's manifest
 * equals a full re-cut's (same boundaries, same ids), every chunk reads
 * back (deltas too), and small appends store deltas, not whole chunks. */
#include "test/unit/suites.h"

#include "fs/incr.h"
#include "lib/err.h"
#include "store/chunk.h"
#include "store/pack.h"
#include "store/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];
static struct store *st;
static struct chunk_writer *cw;

static void setup(void)
{
	char url[PATH_MAX + 16];

	/* thousands of stores: on tmpfs when there is one, not to wait on
	 * the file store's fsyncs */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0) {
		snprintf(dir, sizeof(dir), "/dev/shm/t9kfs-unit.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(dir));
	} else {
		test_tmpdir(dir, sizeof(dir));
	}
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
	cw = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	ck_assert_ptr_nonnull(cw);
}

static void teardown(void)
{
	chunk_writer_free(cw);
	store_close(st);
	test_rmtree(dir);
}

static int src_fetch(void *arg, const struct manifest_chunk *c, struct buf *out)
{
	struct store *s = arg;

	if (c->loc == MANIFEST_LOC_OBJECT)
		return chunk_get(s, &c->id, out);
	return pack_chunk_get(s, &c->id, &c->pack, c->pack_off, c->pack_len, out);
}

/* Stores the manifest as the mount does (on incr_store's thread beside
 * the chunks): encoded, under meta/<its hash>. */
static int manifest_store(void *arg, const struct manifest *m)
{
	struct buf enc = BUF_INIT;
	char key[CHUNK_KEY_MAX];
	struct oid id;
	int rc = manifest_encode(m, &enc);

	(void)arg;
	if (rc == 0)
		rc = oid_hash(&id, enc.data, enc.len);
	if (rc == 0) {
		chunk_key_ns(CHUNK_NS_META, &id, key);
		rc = store_put_buf(st, key, enc.data, enc.len);
	}
	buf_release(&enc);
	return rc;
}

/* A file as the mount has it: the reference bytes, a spool, a state. */
struct tfile {
	struct cdc_params p;
	uint8_t *ref;
	size_t size, cap;
	int fd;
	struct incr *s;
	struct manifest m;    /* the last store's */
	bool m_current;       /* m is the content now (nothing written since) */
	struct incr_source src;
	struct incr_io io;
	struct chunk_pipeline *pipe;
	uint64_t rng;
	struct incr_stats last;
	unsigned stores;
};

static uint64_t rnd(struct tfile *t)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct tfile *t, uint64_t n)
{
	return n ? rnd(t) % n : 0;
}

static int spool_new(void)
{
	int fd = open(dir, O_TMPFILE | O_RDWR, 0600);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static void ref_grow(struct tfile *t, size_t size)
{
	if (size > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;

		while (cap < size)
			cap *= 2;
		t->ref = realloc(t->ref, cap);
		ck_assert_ptr_nonnull(t->ref);
		t->cap = cap;
	}
	if (size > t->size)
		memset(t->ref + t->size, 0, size - t->size);
}

static void tfile_init(struct tfile *t, uint32_t min, uint32_t avg, uint32_t max, uint64_t seed,
		       bool pipe, uint32_t pack_size)
{
	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(cdc_params_init(&t->p, min, avg, max), 0);
	t->rng = seed;
	t->fd = spool_new();
	ck_assert_int_eq(incr_new(&t->p, &t->s), 0);
	t->src = (struct incr_source){ .fetch = src_fetch, .arg = st };
	t->io = (struct incr_io){ .store = st, .w = cw, .src = &t->src };
	if (seed % 2) /* the manifest stored beside the chunks */
		t->io.manifest_put = manifest_store;
	if (pipe) {
		struct chunk_pipeline_opts o;

		chunk_pipeline_opts_init(&o);
		o.cdc = t->p;
		o.threads = 2;
		o.pack_size = pack_size;
		ck_assert_int_eq(chunk_pipeline_new(st, &o, &t->pipe), 0);
		t->io.pipe = t->pipe;
		t->io.pipe_min = 16 * (uint64_t)max;
	}
}

static void tfile_release(struct tfile *t)
{
	incr_free(t->s);
	close(t->fd);
	free(t->ref);
	manifest_release(&t->m);
	chunk_pipeline_free(t->pipe);
}

/* Bytes to write: random, or copied from elsewhere in the file (so that
 * chunks repeat), or text. */
static void gen(struct tfile *t, uint8_t *d, size_t len)
{
	uint64_t kind = below(t, 4);

	if (kind == 0 && t->size > len) {
		memcpy(d, t->ref + below(t, t->size - len), len);
	} else if (kind == 1) {
		for (size_t i = 0; i < len; i++)
			d[i] = (uint8_t)"step loss=0.25 lr=1e-3\n"[(i + t->stores) % 23];
	} else {
		test_random_bytes(d, len, rnd(t));
	}
}

static void op_write(struct tfile *t, uint64_t off, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(d);
	gen(t, d, len);
	ck_assert_int_eq(incr_prepare_write(t->s, t->fd, off, len, &t->src), 0);
	ck_assert_int_eq(pwrite(t->fd, d, len, (off_t)off), (ssize_t)len);
	ref_grow(t, off + len);
	memcpy(t->ref + off, d, len);
	if (off + len > t->size)
		t->size = off + len;
	t->m_current = false;
	free(d);
}

static void op_truncate(struct tfile *t, uint64_t size)
{
	ck_assert_int_eq(incr_prepare_truncate(t->s, t->fd, size, &t->src), 0);
	ck_assert_int_eq(ftruncate(t->fd, (off_t)size), 0);
	ref_grow(t, size);
	t->size = size;
	t->m_current = false;
}

static void op_read(struct tfile *t, uint64_t off, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	if (off > t->size)
		off = t->size;
	if (len > t->size - off)
		len = t->size - off;
	ck_assert_int_eq(incr_fill(t->s, t->fd, off, len, &t->src), 0);
	ck_assert_int_eq(pread(t->fd, d, len, (off_t)off), (ssize_t)len);
	ck_assert(memcmp(d, t->ref + off, len) == 0);
	free(d);
}

/* The manifest a full re-cut of the reference bytes gives, compared. */
static void check_full_recut(struct tfile *t, const struct manifest *m)
{
	uint64_t off = 0;
	uint32_t i = 0;

	ck_assert_uint_eq(m->size, t->size);
	while (off < t->size) {
		size_t len = cdc_cut(&t->p, t->ref + off, t->size - off);
		struct oid id;

		ck_assert_int_eq(oid_hash(&id, t->ref + off, len), 0);
		ck_assert_msg(i < m->nchunks, "store %u: %u chunks, a full re-cut has more", t->stores,
			      m->nchunks);
		ck_assert_msg(m->chunks[i].len == len && oid_eq(&m->chunks[i].id, &id),
			      "store %u: chunk %u at %llu differs from a full re-cut (%u vs %zu bytes)",
			      t->stores, i, (unsigned long long)off, m->chunks[i].len, len);
		off += len;
		i++;
	}
	ck_assert_uint_eq(i, m->nchunks);
}

/* Every chunk of m reads back from the store as the reference's bytes. */
static void check_readback(struct tfile *t, const struct manifest *m)
{
	struct buf b = BUF_INIT;
	uint64_t off = 0;

	for (uint32_t i = 0; i < m->nchunks; i++) {
		buf_reset(&b);
		ck_assert_int_eq(src_fetch(st, &m->chunks[i], &b), 0);
		ck_assert_uint_eq(b.len, m->chunks[i].len);
		ck_assert(memcmp(b.data, t->ref + off, b.len) == 0);
		off += b.len;
	}
	buf_release(&b);
}

/* Stores and compares with a full re-cut; check 1: also the assertion
 * mode's own comparison (incr_verify), 2: also reads every chunk back. */
static void op_store(struct tfile *t, int check)
{
	struct manifest m;

	if (!t->size)
		return; /* the mount keeps empty (and tiny) files inline */
	t->stores++;
	ck_assert_int_eq(incr_store(t->s, t->fd, t->size, &t->io, &m, &t->last), 0);
	check_full_recut(t, &m);
	if (check >= 1)
		ck_assert_int_eq(incr_verify(t->s, t->fd, &t->src), 0);
	if (check >= 2)
		check_readback(t, &m);
	manifest_release(&t->m);
	t->m = m;
	t->m_current = true;
}

/* Closed and opened again: a new sparse spool, every chunk absent. */
static void op_reopen(struct tfile *t)
{
	if (!t->m_current)
		return;
	close(t->fd);
	t->fd = spool_new();
	ck_assert_int_eq(ftruncate(t->fd, (off_t)t->size), 0);
	incr_free(t->s);
	ck_assert_int_eq(incr_new(&t->p, &t->s), 0);
	ck_assert_int_eq(incr_set(t->s, &t->m, true), 0);
	ck_assert(t->size == 0 || !incr_complete(t->s));
}

static void random_op(struct tfile *t, uint64_t scale)
{
	uint64_t r = below(t, 100), max = t->p.max;

	if (r < 30) /* overwrite inside */
		op_write(t, below(t, t->size + 1), 1 + below(t, below(t, 4) ? 300 : 2 * max));
	else if (r < 45) /* small append */
		op_write(t, t->size, 1 + below(t, 120));
	else if (r < 50) /* large append */
		op_write(t, t->size, 1 + below(t, 8 * max));
	else if (r < 53) /* beyond the end: a hole */
		op_write(t, t->size + below(t, 3 * max), 1 + below(t, 500));
	else if (r < 58) /* truncate down */
		op_truncate(t, below(t, t->size + 1));
	else if (r < 60) /* extend */
		op_truncate(t, t->size + below(t, 2 * max));
	else if (r < 65)
		op_read(t, below(t, t->size + 1), 1 + below(t, 3 * max));
	else if (r < 68) {
		op_store(t, 0);
		op_reopen(t);
	} else if (r < 88)
		op_store(t, below(t, 8) == 0 ? 2 : 0);
	else /* many writes between stores */
		for (int i = 0; i < 5; i++)
			op_write(t, below(t, t->size + 1), 1 + below(t, 64));
	if (t->size > scale) /* keep files about their size */
		op_truncate(t, scale / 2 + below(t, scale / 2));
}

/* Thousands of random cases on files of a few hundred chunks (1 KiB
 * chunks: the shape of a few-hundred-MiB file with the default sizes). */
START_TEST(random_edits_equal_full_recut)
{
	const int cases = 1500;

	for (int c = 0; c < cases; c++) {
		struct tfile t;
		uint64_t scale = 4096u << (c % 7); /* 4 KiB .. 256 KiB */

		tfile_init(&t, 256, 1024, 4096, 1000 + (uint64_t)c, c % 4 == 0, c % 8 == 0 ? 65536 : 0);
		op_write(&t, 0, below(&t, scale));
		if (c % 2) { /* starts from a stored file, opened again */
			op_store(&t, 0);
			op_reopen(&t);
		}
		for (int i = 0; i < 30; i++)
			random_op(&t, scale);
		op_store(&t, 2);
		tfile_release(&t);
	}
}
END_TEST

/* Small appends with a store after each: the last chunk goes on from its
 * hash state and is stored as deltas; few bytes are read or written. */
START_TEST(small_appends_store_deltas)
{
	struct tfile t;
	uint64_t cut = 0, stored = 0, deltas = 0;
	const int n = 400;

	tfile_init(&t, 64 << 10, 256 << 10, 1 << 20, 7, false, 0);
	op_write(&t, 0, 2u << 20);
	op_store(&t, 0);
	for (int i = 0; i < n; i++) {
		op_write(&t, t.size, 40 + below(&t, 40));
		op_store(&t, i % 50 == 0 ? 2 : 0);
		cut += t.last.bytes_cut;
		stored += t.last.bytes_stored;
		deltas += t.last.deltas;
		ck_assert_uint_le(t.last.chunks_new, 2);
	}
	check_readback(&t, &t.m);
	/* most stores are deltas, and neither reads nor writes whole chunks */
	ck_assert_uint_ge(deltas, n * 3 / 4);
	ck_assert_uint_lt(cut / n, 64u << 10);
	ck_assert_uint_lt(stored / n, 64u << 10);
	tfile_release(&t);
}
END_TEST

/* After a lazy copy-up, an append and a store copy in the last chunk
 * only; a write in the middle copies in the chunks it touches only. */
START_TEST(lazy_copy_up_fills_what_it_needs)
{
	struct tfile t;
	struct incr_stats tot;

	tfile_init(&t, 64 << 10, 256 << 10, 1 << 20, 8, false, 0);
	op_write(&t, 0, 32u << 20);
	op_store(&t, 0);
	op_reopen(&t);
	op_write(&t, t.size, 100);
	op_store(&t, 0);
	incr_totals(t.s, &tot);
	ck_assert_uint_eq(tot.chunks_filled, 1);
	op_write(&t, 10u << 20, 4096);
	op_store(&t, 0);
	incr_totals(t.s, &tot);
	ck_assert_uint_le(tot.chunks_filled, 4);
	ck_assert(!incr_complete(t.s));
	op_read(&t, 0, t.size);
	ck_assert(incr_complete(t.s));
	tfile_release(&t);
}
END_TEST

/* Default chunk sizes on larger files: a few MiB up to 256 MiB. */
START_TEST(default_sizes_large_files)
{
	const uint64_t sizes[] = { 3u << 20, 24u << 20, 256u << 20 };

	for (int c = 0; c < 3; c++) {
		struct tfile t;
		int ops = c < 2 ? 40 : 8;

		tfile_init(&t, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT, CDC_MAX_DEFAULT, 50 + (uint64_t)c,
			   true, 0);
		t.io.pipe_min = 0; /* the default: 32 MiB */
		op_write(&t, 0, sizes[c]);
		op_store(&t, 0);
		for (int i = 0; i < ops; i++) {
			uint64_t r = below(&t, 6);

			if (r == 0)
				op_write(&t, below(&t, t.size), 1 + below(&t, 8192));
			else if (r == 1)
				op_write(&t, t.size, 1 + below(&t, 200));
			else if (r == 2 && c < 2 && t.size > (4u << 20))
				op_truncate(&t, t.size - below(&t, 3u << 20));
			else if (r == 3 && i % 4 == 0)
				op_reopen(&t);
			else
				op_store(&t, 0);
		}
		op_store(&t, c < 2 ? 2 : 1);
		tfile_release(&t);
	}
}
END_TEST

Suite *incr_suite(void)
{
	Suite *s = suite_create("incr");
	TCase *tc = tcase_create("incr");

	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, small_appends_store_deltas);
	tcase_add_test(tc, lazy_copy_up_fills_what_it_needs);
	tcase_add_test(tc, random_edits_equal_full_recut);
	tcase_add_test(tc, default_sizes_large_files);
	suite_add_tcase(s, tc);
	return s;
}
