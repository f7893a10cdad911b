/* Unit tests of garbage collection: the mark set spilling to disk under a
 * small budget (and still answering exactly), retention rules (durations,
 * JSON, which policy a branch gets), the store listing's modification
 * times, and whole runs in process on a file:// store: a deleted branch's
 * objects go, what refs reach stays, a run whose mark set is far past its
 * --max-memory completes, a dry run deletes nothing, two runs never
 * overlap, and a missing object ends a run before any delete. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "meta/gc.h"
#include "meta/markset.h"
#include "meta/repo.h"
#include "meta/retention.h"
#include "meta/transfer.h"
#include "store/chunk.h"
#include "store/store-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void key_of(uint8_t *k, uint64_t i)
{
	k[0] = (uint8_t)(1 + i % 3);
	test_random_bytes(k + 1, MARKSET_KEY - 1, i * 7919 + 13);
}

START_TEST(markset_spills_and_answers_exactly)
{
	enum { N = 60000 };
	struct markset_stats st;
	struct markset *m;
	uint8_t k[MARKSET_KEY];

	/* 64 KiB: about 1,000 keys in memory, 60,000 keys: many runs, merges */
	ck_assert_int_eq(markset_new(NULL, 64 << 10, &m), 0);
	for (uint64_t i = 0; i < N; i++) {
		key_of(k, i);
		ck_assert_int_eq(markset_add(m, k), 1);
	}
	for (uint64_t i = 0; i < N; i += 7) { /* again: known, wherever they went */
		key_of(k, i);
		ck_assert_int_eq(markset_add(m, k), 0);
	}
	for (uint64_t i = 0; i < N; i++) {
		key_of(k, i);
		ck_assert_int_eq(markset_has(m, k), 1);
		key_of(k, i + N);
		ck_assert_int_eq(markset_has(m, k), 0);
	}
	markset_get_stats(m, &st);
	ck_assert_uint_eq(st.keys, N);
	ck_assert_uint_gt(st.spills, 10);
	ck_assert_uint_gt(st.merges, 0);
	ck_assert_uint_le(st.runs, MARKSET_RUNS_MAX);
	ck_assert_uint_gt(st.disk_bytes, 0);
	/* memory stays within the budget while the keys take 30 times it */
	ck_assert_uint_le(st.mem_peak, 64 << 10);
	ck_assert_uint_gt((uint64_t)N * MARKSET_KEY, 30u * (64 << 10));
	markset_free(m);

	/* a key's first byte is its kind: 0 is refused */
	ck_assert_int_eq(markset_new(NULL, 1 << 20, &m), 0);
	memset(k, 0, sizeof(k));
	ck_assert_int_eq(markset_add(m, k), -EINVAL);
	markset_free(m);
}
END_TEST

START_TEST(retention_rules)
{
	struct retention rt;
	json_t *j, *back;
	int64_t s;
	char buf[32];

	ck_assert_int_eq(retention_parse_duration("90s", &s), 0);
	ck_assert_int_eq(s, 90);
	ck_assert_int_eq(retention_parse_duration("1d12h", &s), 0);
	ck_assert_int_eq(s, 36 * 3600);
	ck_assert_int_eq(retention_parse_duration("2w", &s), 0);
	ck_assert_int_eq(s, 14 * 86400);
	ck_assert_int_eq(retention_parse_duration("45", &s), 0);
	ck_assert_int_eq(s, 45);
	ck_assert_int_eq(retention_parse_duration("", &s), -EINVAL);
	ck_assert_int_eq(retention_parse_duration("3x", &s), -EINVAL);
	ck_assert_int_eq(retention_parse_duration("1d12", &s), -EINVAL);
	ck_assert_int_eq(retention_parse_duration("-3d", &s), -EINVAL);
	ck_assert_int_eq(retention_parse_duration("999999999999d", &s), -EINVAL);
	ck_assert_str_eq(retention_format_duration(36 * 3600, buf, sizeof(buf)), "1d12h");
	ck_assert_str_eq(retention_format_duration(14 * 86400, buf, sizeof(buf)), "2w");
	ck_assert_str_eq(retention_format_duration(10 * 86400, buf, sizeof(buf)), "10d");
	ck_assert_str_eq(retention_format_duration(0, buf, sizeof(buf)), "0s");

	retention_init(&rt);
	ck_assert(retention_keeps_all(&rt.def));
	ck_assert_int_eq(rt.grace_s, 6 * 3600);
	j = json_pack("{s:i,s:[{s:s,s:i},{s:s,s:i,s:i}]}", "keep_last", 5, "branches", "glob",
		      "ckpt-*", "keep_within_s", 3 * 86400, "glob", "tmp-*", "keep_last", 1,
		      "stale_branches_s", 86400);
	ck_assert_int_eq(retention_from_json(j, &rt), 0);
	json_decref(j);
	ck_assert_int_eq(rt.def.keep_last, 5);
	ck_assert_int_eq(rt.nrules, 2);
	ck_assert_int_eq(retention_policy_for(&rt, "ckpt-7")->keep_within_s, 3 * 86400);
	ck_assert_int_eq(retention_policy_for(&rt, "ckpt-7")->keep_last, RETENTION_UNSET);
	ck_assert_int_eq(retention_policy_for(&rt, "tmp-x")->stale_s, 86400);
	ck_assert_ptr_eq(retention_policy_for(&rt, "main"), &rt.def);
	/* round trip */
	j = retention_to_json(&rt);
	{
		struct retention rt2;

		retention_init(&rt2);
		ck_assert_int_eq(retention_from_json(j, &rt2), 0);
		back = retention_to_json(&rt2);
		ck_assert(json_equal(j, back));
		json_decref(back);
	}
	json_decref(j);
	/* a partial body changes only what it has; null unsets */
	j = json_pack("{s:n}", "keep_last");
	ck_assert_int_eq(retention_from_json(j, &rt), 0);
	json_decref(j);
	ck_assert_int_eq(rt.def.keep_last, RETENTION_UNSET);
	ck_assert_int_eq(rt.nrules, 2);
	/* bad input names the field and changes nothing */
	{
		static const char *const bad[] = {
			"{\"keep_last\": 0}", "{\"keep_last\": \"5\"}", "{\"keep_within_s\": -1}",
			"{\"bogus\": 1}", "{\"branches\": [{\"keep_last\": 1}]}",
			"{\"branches\": [{\"glob\": \"\"}]}",
			"{\"branches\": [{\"glob\": \"a\"}, {\"glob\": \"a\"}]}",
			"{\"grace_s\": 60, \"min_grace_s\": 120}", "[]",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct retention before = rt;

			j = json_loads(bad[i], 0, NULL);
			ck_assert_ptr_nonnull(j);
			ck_assert_msg(retention_from_json(j, &rt) == -EINVAL, "accepted %s", bad[i]);
			ck_assert(!memcmp(&before, &rt, sizeof(rt)));
			json_decref(j);
		}
	}
}
END_TEST

/* ---- runs in process ---- */

static char dir[PATH_MAX];
static char dbdir[PATH_MAX + 8], url[PATH_MAX + 32], storedir[PATH_MAX + 8];
static struct meta_db *db;
static struct repo *r;
static const struct commit_info ci = { .author = "tester", .message = "test" };

static void setup(void)
{
	struct retention rt;

	test_tmpdir(dir, sizeof(dir));
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(storedir, sizeof(storedir), "%s/store", dir);
	snprintf(url, sizeof(url), "file://%s", storedir);
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(repo_create(db, "data", url, NULL, 0, &r), 0);
	retention_init(&rt);
	rt.grace_s = 0;
	rt.min_grace_s = 0;
	ck_assert_int_eq(retention_save(db, "data", &rt), 0);
}

static void teardown(void)
{
	gc_shutdown(db);
	repo_close(r);
	meta_db_close(db);
	test_rmtree(dir);
}

/* Stages n one-chunk files of 5,000 bytes under prefix (seeded). */
static void stage_files(const char *branch, const char *prefix, int n, uint64_t seed)
{
	struct chunk_writer *w = chunk_writer_new(0);
	struct repo_stage_item *items = calloc((size_t)n, sizeof(*items));
	struct tree_entry *es = calloc((size_t)n, sizeof(*es));
	char (*paths)[64] = calloc((size_t)n, 64);
	static uint8_t data[5000];

	for (int i = 0; i < n; i++) {
		struct chunk_put_result res;

		test_random_bytes(data, sizeof(data), seed + (uint64_t)i);
		ck_assert_int_eq(chunk_put(w, repo_store(r), data, sizeof(data), &res), 0);
		es[i].mode = S_IFREG | 0644;
		es[i].size = sizeof(data);
		es[i].is_chunk = true;
		es[i].id = res.id;
		snprintf(paths[i], 64, "%s/d%d/f%d", prefix, i % 17, i);
		items[i].path = paths[i];
		items[i].entry = &es[i];
	}
	ck_assert_int_eq(repo_stage_batch(r, branch, items, (size_t)n), 0);
	chunk_writer_free(w);
	free(items);
	free(es);
	free(paths);
}

static int count_one(const char *key, uint64_t size, void *arg)
{
	(void)key, (void)size;
	(*(size_t *)arg)++;
	return 0;
}

static size_t count(const char *prefix)
{
	size_t n = 0;

	ck_assert_int_eq(store_list(repo_store(r), prefix, count_one, &n), 0);
	return n;
}

/* Runs gc to its end; the result (a new reference). */
static json_t *run_gc(bool dry, uint64_t mem)
{
	struct gc_opts o = { .dry_run = dry, .grace_s = RETENTION_UNSET, .max_memory = mem };
	json_t *st, *last;
	uint64_t id;

	ck_assert_int_eq(gc_start(db, "data", &o, &id), 0);
	gc_wait(db, "data", id);
	ck_assert_int_eq(gc_status(db, "data", &st), 0);
	last = json_incref(json_object_get(st, "last"));
	json_decref(st);
	ck_assert_ptr_nonnull(last);
	ck_assert_int_eq(json_integer_value(json_object_get(last, "id")), (json_int_t)id);
	return last;
}

static int64_t jget(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	if (b)
		v = json_object_get(v, b);
	return json_integer_value(v);
}

START_TEST(deleted_branch_goes_reachable_stays)
{
	struct oid c;
	json_t *res;
	size_t before;

	stage_files("main", "keep", 300, 1);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "b", "main"), 0);
	stage_files("b", "gone", 200, 100000);
	ck_assert_int_eq(repo_commit(r, "b", &ci, &c), 0);
	/* staged on main but never committed: kept too */
	stage_files("main", "staged", 50, 200000);
	before = count("chunks/");
	ck_assert_uint_eq(before, 550);

	/* a dry run deletes nothing and says what would go */
	res = run_gc(true, 0);
	ck_assert(json_is_true(json_object_get(res, "ok")));
	ck_assert_int_eq(jget(res, "would_delete", "objects"), 0);
	json_decref(res);
	ck_assert_int_eq(repo_branch_delete(r, "b"), 0);
	res = run_gc(true, 0);
	ck_assert_int_ge(jget(res, "would_delete", "objects"), 200);
	json_decref(res);
	ck_assert_uint_eq(count("chunks/"), before);

	/* the real one: b's 200 chunks, its commit and trees go */
	res = run_gc(false, 0);
	ck_assert_msg(json_is_true(json_object_get(res, "ok")), "%s",
		      json_string_value(json_object_get(res, "error")));
	ck_assert_int_eq(jget(json_object_get(res, "deleted"), "chunks", "objects"), 200);
	ck_assert_int_gt(jget(json_object_get(res, "deleted"), "meta", "objects"), 2);
	ck_assert_uint_eq(count("chunks/"), 350);
	json_decref(res);
	/* and everything main reaches still reads */
	{
		struct buf got = BUF_INIT;
		struct tree_entry e;
		struct meta_node *hold;
		struct oid head;

		ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
		ck_assert_int_eq(repo_lookup(r, &head, "keep/d3/f3", &e, &hold), 0);
		ck_assert_int_eq(repo_file_read(r, &e, 0, 5000, &got), 0);
		ck_assert_uint_eq(got.len, 5000);
		meta_node_put(repo_objects(r), hold);
		buf_release(&got);
	}
	/* a second run finds nothing more */
	res = run_gc(false, 0);
	ck_assert_int_eq(jget(res, "deleted", "objects"), 0);
	json_decref(res);
}
END_TEST

START_TEST(small_memory_spills_and_completes)
{
	struct oid c;
	json_t *res;

	stage_files("main", "a", 3000, 7);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "x", "main"), 0);
	stage_files("x", "b", 1000, 90000);
	ck_assert_int_eq(repo_commit(r, "x", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_delete(r, "x"), 0);
	/* 256 KiB: the marks (3,000 chunks + trees, 33 bytes each) spill */
	res = run_gc(false, 256 << 10);
	ck_assert_msg(json_is_true(json_object_get(res, "ok")), "%s",
		      json_string_value(json_object_get(res, "error")));
	ck_assert_int_gt(jget(res, "mark_set", "spills"), 0);
	ck_assert_int_le(jget(res, "mark_set", "mem_peak"), 192 << 10);
	ck_assert_int_eq(jget(json_object_get(res, "deleted"), "chunks", "objects"), 1000);
	ck_assert_uint_eq(count("chunks/"), 3000);
	json_decref(res);
}
END_TEST

START_TEST(one_run_at_a_time_and_errors_delete_nothing)
{
	struct gc_opts o = { .grace_s = RETENTION_UNSET };
	char key[CHUNK_KEY_MAX], path[PATH_MAX + 200];
	struct tree_entry e;
	struct meta_node *hold;
	struct oid c, head;
	uint64_t id, id2;
	json_t *res;
	size_t before;

	stage_files("main", "a", 400, 3);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "x", "main"), 0);
	stage_files("x", "b", 100, 5000);
	ck_assert_int_eq(repo_commit(r, "x", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_delete(r, "x"), 0);

	/* a second start while one runs is refused */
	ck_assert_int_eq(gc_start(db, "data", &o, &id), 0);
	ck_assert_int_eq(gc_start(db, "data", &o, &id2), -EBUSY);
	ck_assert_msg(strstr(t9k_errmsg(-EBUSY), "already running"), "%s", t9k_errmsg(-EBUSY));
	gc_wait(db, "data", id);

	/* grace below the floor, memory below the least */
	o.grace_s = 0;
	{
		struct retention rt;

		ck_assert_int_eq(retention_load(db, "data", &rt), 0);
		rt.min_grace_s = 60;
		rt.grace_s = 3600;
		ck_assert_int_eq(retention_save(db, "data", &rt), 0);
		ck_assert_int_eq(gc_start(db, "data", &o, &id), -EINVAL);
		ck_assert_msg(strstr(t9k_errmsg(-EINVAL), "below"), "%s", t9k_errmsg(-EINVAL));
		rt.min_grace_s = 0;
		rt.grace_s = 0;
		ck_assert_int_eq(retention_save(db, "data", &rt), 0);
	}
	o.max_memory = 1000;
	ck_assert_int_eq(gc_start(db, "data", &o, &id), -EINVAL);

	/* a reachable object missing: the walk fails, nothing is deleted */
	stage_files("main", "c", 50, 9000);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "y", "main"), 0);
	stage_files("y", "d", 30, 19000);
	ck_assert_int_eq(repo_commit(r, "y", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_delete(r, "y"), 0);
	ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
	ck_assert_int_eq(repo_lookup(r, &head, "c/d5", &e, &hold), 0);
	meta_node_put(repo_objects(r), hold);
	chunk_key_ns(CHUNK_NS_META, &e.id, key);
	snprintf(path, sizeof(path), "%s/meta/%.2s/%s", storedir, key + 5, key + 5);
	ck_assert_int_eq(unlink(path), 0);
	before = count("");
	res = run_gc(false, 0);
	ck_assert(!json_is_true(json_object_get(res, "ok")));
	ck_assert_msg(strstr(json_string_value(json_object_get(res, "error")),
			     "stopped before deleting anything"), "%s",
		      json_string_value(json_object_get(res, "error")));
	ck_assert_int_eq(jget(res, "deleted", "objects"), 0);
	ck_assert_uint_eq(count(""), before);
	json_decref(res);
}
END_TEST

/* A manifest of the one-chunk files stage_files wrote with seeds
 * seed..seed+n-1, stored; e is a file entry naming it. */
static void manifest_of(uint64_t seed, int n, struct tree_entry *e)
{
	struct manifest m = { .nchunks = (uint32_t)n };
	struct buf enc = BUF_INIT;
	static uint8_t data[5000];

	m.chunks = calloc((size_t)n, sizeof(*m.chunks));
	for (int i = 0; i < n; i++) {
		test_random_bytes(data, sizeof(data), seed + (uint64_t)i);
		oid_hash(&m.chunks[i].id, data, sizeof(data));
		m.chunks[i].len = sizeof(data);
		m.chunks[i].loc = MANIFEST_LOC_OBJECT;
		m.size += sizeof(data);
	}
	memset(e, 0, sizeof(*e));
	e->mode = S_IFREG | 0644;
	e->size = m.size;
	ck_assert_int_eq(manifest_encode(&m, &enc), 0);
	ck_assert_int_eq(meta_object_put(repo_objects(r), enc.data, enc.len, &e->id), 0);
	buf_release(&enc);
	free(m.chunks);
}

static const char *phase_of(void)
{
	static char ph[64];
	json_t *st;

	ck_assert_int_eq(gc_status(db, "data", &st), 0);
	snprintf(ph, sizeof(ph), "%s", json_string_value(json_object_get(json_object_get(st, "run"),
									  "phase")) ?: "");
	json_decref(st);
	return ph;
}

/* A writer stages, mid-sweep, a manifest naming chunks the run planned to
 * delete: the guard marks them and the sweep leaves them. After the run,
 * a manifest naming a chunk it deleted is refused (the window). */
START_TEST(guards_during_and_after_a_run)
{
	struct gc_opts o = { .grace_s = RETENTION_UNSET };
	struct tree_entry m1, m2;
	struct buf got = BUF_INIT;
	struct meta_node *hold;
	struct tree_entry e;
	struct oid c, head;
	uint64_t id;
	json_t *st;

	stage_files("main", "a", 30, 1);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "x", "main"), 0);
	stage_files("x", "b", 20, 50000); /* chunks of seeds 50000..50019 */
	ck_assert_int_eq(repo_commit(r, "x", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_delete(r, "x"), 0);

	setenv("T9KFS_GC_TEST_PAUSE_MS", "1500", 1);
	setenv("T9KFS_GC_TEST_BATCH", "5", 1);
	ck_assert_int_eq(gc_start(db, "data", &o, &id), 0);
	unsetenv("T9KFS_GC_TEST_PAUSE_MS");
	unsetenv("T9KFS_GC_TEST_BATCH");
	while (strcmp(phase_of(), "deleting"))
		usleep(20000);
	/* in the pause before the first batch: the first 10 are staged again */
	manifest_of(50000, 10, &m1);
	ck_assert_int_eq(repo_stage(r, "main", "again", &m1), 0);
	gc_wait(db, "data", id);
	ck_assert_int_eq(gc_status(db, "data", &st), 0);
	ck_assert(json_is_true(json_object_get(json_object_get(st, "last"), "ok")));
	ck_assert_int_eq(jget(json_object_get(json_object_get(st, "last"), "deleted"), "chunks",
			      "objects"), 10);
	ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(st, "last"), "guarded")),
			 11);
	json_decref(st);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
	ck_assert_int_eq(repo_lookup(r, &head, "again", &e, &hold), 0);
	ck_assert_int_eq(repo_file_read(r, &e, 0, e.size, &got), 0);
	ck_assert_uint_eq(got.len, 50000);
	meta_node_put(repo_objects(r), hold);
	buf_release(&got);

	/* the run is over: one of the chunks it deleted, in a new manifest */
	manifest_of(50015, 1, &m2);
	ck_assert_int_eq(repo_stage(r, "main", "late", &m2), T9K_ENOTFOUND);
	ck_assert_msg(strstr(t9k_errmsg(T9K_ENOTFOUND), "was removed by a gc run"), "%s",
		      t9k_errmsg(T9K_ENOTFOUND));
}
END_TEST

/* The listing's modification times, on file:// and in an S3 reply. */
static int64_t seen_mtime;

static int mtime_one(const struct store_obj *o, void *arg)
{
	(void)arg;
	seen_mtime = o->mtime_ns;
	return 0;
}

START_TEST(listing_times)
{
	struct store *s = repo_store(r);
	struct timespec ts;
	int64_t ns;

	ck_assert_int_eq(store_put_buf(s, "x/key1", "abc", 3), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ck_assert_int_eq(store_list_ex(s, "x/", mtime_one, NULL), 0);
	ck_assert_int_le(seen_mtime, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	ck_assert_int_gt(seen_mtime, ((int64_t)ts.tv_sec - 60) * 1000000000);

	ck_assert_int_eq(s3_parse_iso8601("2024-01-01T00:00:00.000Z", 24, &ns), 0);
	ck_assert_int_eq(ns, 1704067200LL * 1000000000);
	ck_assert_int_eq(s3_parse_iso8601("2000-02-29T12:34:56.5Z", 22, &ns), 0);
	ck_assert_int_eq(ns, 951827696LL * 1000000000 + 500000000);
	ck_assert_int_eq(s3_parse_iso8601("2024-13-01T00:00:00Z", 20, &ns), -EINVAL);
	ck_assert_int_eq(s3_parse_iso8601("2024-01-01 00:00:00Z", 20, &ns), -EINVAL);
	ck_assert_int_eq(s3_parse_iso8601("2024-01-01T00:00:00", 19, &ns), -EINVAL);
	{
		const char *page = "<ListBucketResult><IsTruncated>false</IsTruncated>"
				   "<Contents><Key>a</Key><LastModified>2024-01-01T00:00:00.000Z"
				   "</LastModified><Size>1</Size></Contents>"
				   "<Contents><Key>b</Key><Size>1</Size></Contents>"
				   "</ListBucketResult>";
		struct buf token = BUF_INIT;
		bool trunc;

		/* the last entry has no time: unknown, which gc keeps */
		ck_assert_int_eq(s3_xml_list_ex(page, strlen(page), mtime_one, NULL, &trunc, &token), 0);
		ck_assert_int_eq(seen_mtime, STORE_MTIME_UNKNOWN);
		buf_release(&token);
	}
}
END_TEST

Suite *gc_suite(void)
{
	Suite *s = suite_create("gc");
	TCase *tc = tcase_create("markset");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, markset_spills_and_answers_exactly);
	tcase_add_test(tc, retention_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("runs");
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, deleted_branch_goes_reachable_stays);
	tcase_add_test(tc, small_memory_spills_and_completes);
	tcase_add_test(tc, one_run_at_a_time_and_errors_delete_nothing);
	tcase_add_test(tc, guards_during_and_after_a_run);
	tcase_add_test(tc, listing_times);
	suite_add_tcase(s, tc);
	return s;
}
