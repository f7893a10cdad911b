/* Unit tests of the chunk layer and the streaming pipeline: round trips,
 * verification on read, dedup, concurrent writers, error propagation. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "store/chunk.h"
#include "store/pack.h"
#include "store/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static struct store *st;

static void setup(void)
{
	char url[PATH_MAX + 16];

	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
}

static void teardown(void)
{
	store_close(st);
	test_rmtree(dir);
}

static void fill_text(uint8_t *d, size_t len)
{
	static const char *const words[] = { "tensor ", "gradient ", "epoch ", "batch\n",
					     "loss=0.25 ", "imagenet ", "label:cat ", "shard " };
	uint8_t r[1];
	size_t i = 0;
	uint64_t seed = 1;

	while (i < len) {
		const char *w;

		test_random_bytes(r, 1, seed++);
		w = words[r[0] % 8];
		for (; *w && i < len; w++)
			d[i++] = (uint8_t)*w;
	}
}

static void object_path(const struct oid *id, char *path, size_t size)
{
	char hex[OID_HEXSZ + 1];

	oid_to_hex(id, hex);
	snprintf(path, size, "%s/objects/chunks/%.2s/%s", dir, hex, hex);
}

/* A chunk read into a fixed, page-aligned buffer, as the mount's chunk
 * cache lends its arena (the file store may read it with O_DIRECT):
 * the plaintext, nothing past it; a buffer without room fails with
 * -ENOBUFS rather than being reallocated. */
static void fixed_get(const struct oid *id, const uint8_t *data, size_t len)
{
	size_t cap = ((len + CHUNK_HDR_SIZE + 1 + 4095) & ~(size_t)4095) + 4096;
	struct buf fx = BUF_INIT, small = BUF_INIT;
	uint8_t *mem = aligned_alloc(4096, cap);

	ck_assert_ptr_nonnull(mem);
	memset(mem, 0xee, cap);
	fx.data = mem;
	fx.cap = cap;
	fx.fixed = 1;
	fx.data[0] = 0;
	ck_assert_int_eq(chunk_get(st, id, &fx), 0);
	ck_assert_ptr_eq(fx.data, mem);
	ck_assert_uint_eq(fx.len, len);
	ck_assert(!memcmp(fx.data, data, len));
	ck_assert_uint_eq(fx.data[len], 0);
	buf_release(&fx); /* forgets, never frees, lent bytes */
	ck_assert_ptr_null(fx.data);
	if (len > 8) {
		small.data = mem;
		small.cap = 8;
		small.fixed = 1;
		ck_assert_int_eq(chunk_get(st, id, &small), -ENOBUFS);
		ck_assert_ptr_eq(small.data, mem);
		ck_assert_uint_eq(small.len, 0);
	}
	free(mem);
}

static void round_trip(const uint8_t *data, size_t len, uint8_t want_codec)
{
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	struct chunk_put_result r, again;
	struct buf out = BUF_INIT;
	char path[PATH_MAX + 128];
	struct stat sb;

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(chunk_put(w, st, data, len, &r), 0);
	ck_assert(!r.existed);
	ck_assert_uint_eq(r.codec, want_codec);
	object_path(&r.id, path, sizeof(path));
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq((uint64_t)sb.st_size, r.stored_bytes);
	if (want_codec == CHUNK_ZSTD)
		ck_assert_uint_lt(r.stored_bytes, len / 2);
	else
		ck_assert_uint_eq(r.stored_bytes, len + CHUNK_HDR_SIZE);
	ck_assert_int_eq(chunk_get(st, &r.id, &out), 0);
	ck_assert_uint_eq(out.len, len);
	ck_assert(!memcmp(out.data, data, len));
	/* appended after what the buffer holds (decoded in place there) */
	ck_assert_int_eq(chunk_get(st, &r.id, &out), 0);
	ck_assert_uint_eq(out.len, 2 * len);
	ck_assert(!memcmp(out.data + len, data, len));
	ck_assert_uint_eq(out.data[out.len], 0);
	fixed_get(&r.id, data, len);
	ck_assert_int_eq(chunk_put(w, st, data, len, &again), 0); /* dedup */
	ck_assert(again.existed);
	ck_assert(oid_eq(&again.id, &r.id));
	buf_release(&out);
	chunk_writer_free(w);
}

START_TEST(random_and_compressible_round_trip)
{
	size_t len = 1u << 20;
	uint8_t *d = malloc(len);

	test_random_bytes(d, len, 11);
	round_trip(d, len, CHUNK_RAW);
	fill_text(d, len);
	round_trip(d, len, CHUNK_ZSTD);
	round_trip((const uint8_t *)"", 0, CHUNK_RAW);
	round_trip((const uint8_t *)"tiny", 4, CHUNK_RAW);
	free(d);
}
END_TEST

/* Stores a chunk, damages its object with fn, and expects T9K_ECORRUPT. */
static void expect_corrupt(const uint8_t *data, size_t len, void (*damage)(const char *path))
{
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	struct chunk_put_result r;
	struct buf out = BUF_INIT;
	char path[PATH_MAX + 128], hex[OID_HEXSZ + 1];

	ck_assert_int_eq(chunk_put(w, st, data, len, &r), 0);
	object_path(&r.id, path, sizeof(path));
	damage(path);
	ck_assert_int_eq(chunk_get(st, &r.id, &out), T9K_ECORRUPT);
	ck_assert(strstr(t9k_errmsg(T9K_ECORRUPT), oid_to_hex(&r.id, hex)) != NULL);
	ck_assert_uint_eq(out.len, 0); /* never data */
	buf_release(&out);
	chunk_writer_free(w);
	unlink(path);
}

static void flip_middle_byte(const char *path)
{
	int fd = open(path, O_RDWR);
	struct stat sb;
	uint8_t c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_eq(pread(fd, &c, 1, sb.st_size / 2), 1);
	c ^= 0x01;
	ck_assert_int_eq(pwrite(fd, &c, 1, sb.st_size / 2), 1);
	close(fd);
}

static void truncate_half(const char *path)
{
	struct stat sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
}

static void truncate_header(const char *path)
{
	ck_assert_int_eq(truncate(path, 5), 0);
}

START_TEST(damaged_objects_are_detected)
{
	size_t len = 300000;
	uint8_t *d = malloc(len);

	test_random_bytes(d, len, 12);
	expect_corrupt(d, len, flip_middle_byte);
	expect_corrupt(d, len, truncate_half);
	expect_corrupt(d, len, truncate_header);
	fill_text(d, len);
	expect_corrupt(d, len, flip_middle_byte);
	expect_corrupt(d, len, truncate_half);
	free(d);
}
END_TEST

START_TEST(missing_chunk_is_a_clear_error)
{
	struct buf out = BUF_INIT;
	struct oid id;

	oid_hash(&id, "never stored", 12);
	ck_assert_int_eq(chunk_get(st, &id, &out), -ENOENT);
	ck_assert(strstr(t9k_errmsg(-ENOENT), "not found") != NULL);
	buf_release(&out);
}
END_TEST

struct put_arg {
	const uint8_t *data;
	size_t len;
	struct oid id;
	int rc;
};

static void *put_many(void *arg)
{
	struct put_arg *a = arg;
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	struct chunk_put_result r;
	char key[CHUNK_KEY_MAX];

	for (int i = 0; i < 30 && a->rc == 0; i++) {
		a->rc = chunk_put(w, st, a->data, a->len, &r);
		a->id = r.id;
		chunk_key(&r.id, key);
		if (a->rc == 0)
			store_delete(st, key); /* race the next put against the other thread */
	}
	if (a->rc == 0)
		a->rc = chunk_put(w, st, a->data, a->len, &r);
	chunk_writer_free(w);
	return NULL;
}

START_TEST(two_threads_put_same_chunk)
{
	size_t len = 512u << 10;
	uint8_t *d = malloc(len);
	struct put_arg a = { d, len, { { 0 } }, 0 }, b = a;
	struct buf out = BUF_INIT;
	pthread_t t1, t2;

	fill_text(d, len);
	pthread_create(&t1, NULL, put_many, &a);
	pthread_create(&t2, NULL, put_many, &b);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_int_eq(chunk_get(st, &a.id, &out), 0);
	ck_assert_uint_eq(out.len, len);
	ck_assert(!memcmp(out.data, d, len));
	buf_release(&out);
	free(d);
}
END_TEST

struct mem_reader {
	const uint8_t *data;
	size_t len, pos, step;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct mem_reader *m = arg;
	size_t n = m->len - m->pos;

	if (n > len)
		n = len;
	if (n > m->step) /* short reads, like a pipe */
		n = m->step;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

struct manifest {
	struct oid ids[4096];
	uint32_t lens[4096];
	uint64_t next_off;
	int n, fail_at;
};

static int collect(void *arg, const struct chunk_loc *c, uint64_t off)
{
	struct manifest *m = arg;
	const struct oid *id = &c->id;
	uint32_t len = c->len;

	ck_assert_uint_eq(off, m->next_off); /* in stream order, contiguous */
	if (m->n == m->fail_at)
		return t9k_err(-ECANCELED, "stop requested by test");
	ck_assert_int_lt(m->n, 4096);
	m->ids[m->n] = *id;
	m->lens[m->n++] = len;
	m->next_off += len;
	return 0;
}

static void run_pipeline(const uint8_t *d, size_t len, int threads, struct manifest *m,
			 struct chunk_stats *cs)
{
	struct chunk_pipeline_opts o;
	struct chunk_pipeline *p;
	struct mem_reader r = { d, len, 0, 100000 };

	chunk_pipeline_opts_init(&o);
	ck_assert_int_eq(cdc_params_init(&o.cdc, 16384, 65536, 262144), 0);
	o.threads = threads;
	ck_assert_int_eq(chunk_pipeline_new(st, &o, &p), 0);
	memset(m, 0, sizeof(*m));
	m->fail_at = -1;
	ck_assert_int_eq(chunk_pipeline_run(p, mem_read, &r, collect, m, cs), 0);
	chunk_pipeline_free(p);
}

START_TEST(pipeline_round_trip_and_dedup)
{
	size_t len = 24u << 20;
	uint8_t *d = malloc(len);
	struct manifest *m = malloc(sizeof(*m));
	struct chunk_stats cs;
	struct buf out = BUF_INIT;

	test_random_bytes(d, len / 2, 13);
	fill_text(d + len / 2, len / 2);
	run_pipeline(d, len, 2, m, &cs);
	ck_assert_uint_eq(cs.bytes, len);
	ck_assert_uint_eq(cs.chunks, (uint64_t)m->n);
	ck_assert_uint_eq(cs.chunks_new, cs.chunks);
	ck_assert_uint_lt(cs.bytes_stored, len); /* the text half compressed */
	for (int i = 0; i < m->n; i++)
		ck_assert_int_eq(chunk_get(st, &m->ids[i], &out), 0);
	ck_assert_uint_eq(out.len, len);
	ck_assert(!memcmp(out.data, d, len));
	/* the same stream again stores nothing new, with one worker too */
	run_pipeline(d, len, 1, m, &cs);
	ck_assert_uint_eq(cs.chunks_new, 0);
	ck_assert_uint_eq(cs.bytes_stored, 0);
	/* an empty stream has no chunks */
	run_pipeline(d, 0, 2, m, &cs);
	ck_assert_int_eq(m->n, 0);
	buf_release(&out);
	free(m);
	free(d);
}
END_TEST

START_TEST(pipeline_stops_on_errors)
{
	size_t len = 8u << 20;
	uint8_t *d = malloc(len);
	struct manifest *m = calloc(1, sizeof(*m));
	struct chunk_pipeline_opts o;
	struct chunk_pipeline *p;
	struct mem_reader r = { d, len, 0, len };
	struct store *bad;
	char url[PATH_MAX + 32], path[PATH_MAX + 16];
	FILE *f;
	int rc;

	test_random_bytes(d, len, 14);
	chunk_pipeline_opts_init(&o);
	ck_assert_int_eq(cdc_params_init(&o.cdc, 16384, 65536, 262144), 0);

	/* the consumer refuses the 5th chunk: no chunk after it is emitted */
	ck_assert_int_eq(chunk_pipeline_new(st, &o, &p), 0);
	m->fail_at = 4;
	ck_assert_int_eq(chunk_pipeline_run(p, mem_read, &r, collect, m, NULL), -ECANCELED);
	ck_assert_int_eq(m->n, 4);
	chunk_pipeline_free(p);

	/* a store that cannot be written: the error reaches the caller */
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(url, sizeof(url), "file://%s/objects2", dir);
	ck_assert_int_eq(store_open(url, &bad), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	/* replace the store's directory by a plain file under its name */
	ck_assert_int_eq(rename(path, url + 7), 0);
	ck_assert_int_eq(chunk_pipeline_new(bad, &o, &p), 0);
	memset(m, 0, sizeof(*m));
	m->fail_at = -1;
	r.pos = 0;
	rc = chunk_pipeline_run(p, mem_read, &r, collect, m, NULL);
	ck_assert_int_lt(rc, 0);
	ck_assert(strstr(t9k_errmsg(rc), "objects2") != NULL);
	ck_assert_int_eq(m->n, 0);
	chunk_pipeline_free(p);
	store_close(bad);
	free(m);
	free(d);
}
END_TEST

/* ---- packs ---- */

/* A chunk index in memory, for the pack tests: filled by ops.stored,
 * read by ops.lookup. */
struct mem_index {
	struct chunk_loc v[4096];
	int n, lookups, stored_calls, fail_stored;
	pthread_mutex_t lock;
};

static int idx_lookup(void *arg, const struct oid *id, struct chunk_loc *out)
{
	struct mem_index *x = arg;
	int rc = -ENOENT;

	pthread_mutex_lock(&x->lock);
	x->lookups++;
	for (int i = 0; i < x->n && rc; i++)
		if (oid_eq(&x->v[i].id, id)) {
			*out = x->v[i];
			rc = 0;
		}
	pthread_mutex_unlock(&x->lock);
	return rc;
}

static int idx_stored(void *arg, const struct chunk_loc *v, size_t n)
{
	struct mem_index *x = arg;
	char key[PACK_KEY_MAX];
	uint64_t size;

	if (x->fail_stored)
		return t9k_err(-EIO, "index refused by test");
	/* called once the pack is in the store, holding every range */
	pack_key(&v[0].pack, key);
	ck_assert_int_eq(store_head(st, key, &size), 0);
	pthread_mutex_lock(&x->lock);
	x->stored_calls++;
	for (size_t i = 0; i < n; i++) {
		ck_assert(v[i].packed && oid_eq(&v[i].pack, &v[0].pack));
		ck_assert_uint_le(v[i].pack_off + v[i].pack_len, size);
		ck_assert_int_lt(x->n, 4096);
		x->v[x->n++] = v[i];
	}
	pthread_mutex_unlock(&x->lock);
	return 0;
}

struct loc_list {
	struct chunk_loc v[4096];
	uint64_t next_off;
	int n;
};

static int collect_loc(void *arg, const struct chunk_loc *c, uint64_t off)
{
	struct loc_list *l = arg;

	ck_assert_uint_eq(off, l->next_off);
	ck_assert_int_lt(l->n, 4096);
	l->v[l->n++] = *c;
	l->next_off += c->len;
	return 0;
}

static int count_key(const char *key, uint64_t size, void *arg)
{
	(void)key;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

static int count_packs(void)
{
	int n = 0;

	ck_assert_int_eq(store_list(st, "packs/", count_key, &n), 0);
	return n;
}

static int pack_run(const uint8_t *d, size_t len, int threads, struct mem_index *x,
		    struct loc_list *l, struct chunk_stats *cs)
{
	struct chunk_pipeline_opts o;
	struct chunk_pipeline *p;
	struct mem_reader r = { d, len, 0, 100000 };
	int rc;

	chunk_pipeline_opts_init(&o);
	ck_assert_int_eq(cdc_params_init(&o.cdc, 16384, 65536, 262144), 0);
	o.threads = threads;
	o.pack_size = 1u << 20;
	o.pack_uploads = 2;
	o.pack = (struct pack_ops){ .lookup = idx_lookup, .stored = idx_stored, .arg = x };
	ck_assert_int_eq(chunk_pipeline_new(st, &o, &p), 0);
	memset(l, 0, sizeof(*l));
	rc = chunk_pipeline_run(p, mem_read, &r, collect_loc, l, cs);
	chunk_pipeline_free(p);
	return rc;
}

START_TEST(pipeline_packs_chunks_in_stream_order)
{
	size_t len = 6u << 20;
	uint8_t *d = malloc(len);
	struct mem_index *x = calloc(1, sizeof(*x));
	struct loc_list *l = malloc(sizeof(*l));
	struct chunk_stats cs;
	struct buf obj = BUF_INIT, out = BUF_INIT;
	char key[PACK_KEY_MAX];
	int packs, npacks = 1;

	pthread_mutex_init(&x->lock, NULL);
	test_random_bytes(d, len - (1u << 20), 21);
	fill_text(d + len - (1u << 20), 1u << 20); /* compressed chunks too */
	ck_assert_int_eq(pack_run(d, len, 3, x, l, &cs), 0);
	ck_assert_uint_eq(cs.chunks, (uint64_t)l->n);
	ck_assert_uint_eq(cs.chunks_new, cs.chunks);
	ck_assert_int_eq(x->n, l->n); /* every chunk reported stored */
	for (int i = 0; i < l->n; i++) {
		const struct chunk_loc *c = &l->v[i];

		ck_assert(c->packed);
		/* in stream order: each chunk right after the one before it,
		 * or at the start of the next pack */
		if (i > 0 && oid_eq(&c->pack, &l->v[i - 1].pack)) {
			ck_assert_uint_eq(c->pack_off, l->v[i - 1].pack_off + l->v[i - 1].pack_len);
		} else {
			ck_assert_uint_eq(c->pack_off, 0);
			npacks += i > 0;
		}
		ck_assert_uint_le(c->pack_off + c->pack_len, (1u << 20) + 262144 + CHUNK_HDR_SIZE);
		pack_key(&c->pack, key);
		buf_reset(&obj);
		ck_assert_int_eq(store_get(st, key, c->pack_off, c->pack_len, &obj), 0);
		ck_assert_int_eq(chunk_decode(&c->id, obj.data, obj.len, &out), 0);
	}
	ck_assert_uint_eq(out.len, len);
	ck_assert(!memcmp(out.data, d, len));
	ck_assert_uint_lt(cs.bytes_stored, len); /* the text compressed */
	packs = count_packs();
	ck_assert_int_eq(packs, npacks);
	ck_assert_int_ge(packs, 5);
	ck_assert_int_eq(x->stored_calls, packs);

	/* the same stream again: every chunk found in the index, no new pack */
	ck_assert_int_eq(pack_run(d, len, 1, x, l, &cs), 0);
	ck_assert_uint_eq(cs.chunks_new, 0);
	ck_assert_uint_eq(cs.bytes_stored, 0);
	ck_assert_int_eq(count_packs(), packs);
	for (int i = 0; i < l->n; i++)
		ck_assert(l->v[i].packed);

	/* a failure to record the index fails the run, with its message */
	x->fail_stored = 1;
	d[0] ^= 1;
	ck_assert_int_eq(pack_run(d, len, 2, x, l, &cs), -EIO);
	ck_assert(strstr(t9k_errmsg(-EIO), "index refused by test") != NULL);

	buf_release(&obj);
	buf_release(&out);
	pthread_mutex_destroy(&x->lock);
	free(l);
	free(x);
	free(d);
}
END_TEST

START_TEST(pack_writer_oversized_chunk_and_bad_input)
{
	struct pack_writer *pw;
	struct chunk_loc loc = { 0 };
	uint8_t big[3000], small[10];
	struct iovec iov = { big, sizeof(big) };
	struct buf got = BUF_INIT;
	char key[PACK_KEY_MAX];

	ck_assert_int_eq(pack_writer_new(st, 0, 1, NULL, &pw), -EINVAL);
	ck_assert_int_eq(pack_writer_new(st, 1000, 1, NULL, &pw), 0);
	test_random_bytes(big, sizeof(big), 3);
	memset(small, 7, sizeof(small));
	/* a first object larger than the pack size still fits its pack */
	ck_assert_int_eq(pack_writer_add(pw, &iov, 1, &loc), 0);
	ck_assert_uint_eq(loc.pack_off, 0);
	ck_assert_uint_eq(loc.pack_len, sizeof(big));
	iov = (struct iovec){ small, sizeof(small) };
	struct chunk_loc loc2 = { 0 };
	ck_assert_int_eq(pack_writer_add(pw, &iov, 1, &loc2), 0);
	ck_assert(!oid_eq(&loc.pack, &loc2.pack)); /* the next one starts a pack */
	iov.iov_len = 0;
	ck_assert_int_eq(pack_writer_add(pw, &iov, 1, &loc2), -EINVAL);
	ck_assert_int_eq(pack_writer_flush(pw), 0);
	pack_key(&loc.pack, key);
	ck_assert_int_eq(store_get(st, key, 0, STORE_WHOLE, &got), 0);
	ck_assert_uint_eq(got.len, sizeof(big));
	ck_assert(!memcmp(got.data, big, sizeof(big)));
	pack_writer_free(pw);
	buf_release(&got);
}
END_TEST

Suite *chunk_suite(void)
{
	Suite *s = suite_create("chunk");
	TCase *tc = tcase_create("chunk");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, random_and_compressible_round_trip);
	tcase_add_test(tc, damaged_objects_are_detected);
	tcase_add_test(tc, missing_chunk_is_a_clear_error);
	tcase_add_test(tc, two_threads_put_same_chunk);
	tcase_add_test(tc, pipeline_round_trip_and_dedup);
	tcase_add_test(tc, pipeline_stops_on_errors);
	tcase_add_test(tc, pipeline_packs_chunks_in_stream_order);
	tcase_add_test(tc, pack_writer_oversized_chunk_and_bad_input);
	suite_add_tcase(s, tc);
	return s;
}
