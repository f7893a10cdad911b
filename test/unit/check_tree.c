/* Unit tests of prolly-tree directories: build, lookup, iteration,
 * canonical shape, O(changes) updates and diffs that skip equal subtrees. */
#include "test/unit/suites.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "meta/objects.h"
#include "meta/tree.h"
#include "store/chunk.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static struct store *st;
static struct meta_objects *mo;

static void setup(void)
{
	char url[PATH_MAX + 16];

	/* many small objects: keep them in memory when we can */
	if (access("/dev/shm", W_OK) == 0) {
		snprintf(dir, sizeof(dir), "/dev/shm/t9kfs-unit.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(dir));
	} else {
		test_tmpdir(dir, sizeof(dir));
	}
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
	ck_assert_int_eq(meta_objects_new(st, 64u << 20, &mo), 0);
}

static void teardown(void)
{
	meta_objects_free(mo);
	store_close(st);
	test_rmtree(dir);
}

/* Names "f00000001" ... in sorted order for i ascending. */
struct names {
	char (*v)[16];
	size_t n;
};

static void names_init(struct names *nm, size_t n)
{
	nm->v = malloc(n * sizeof(*nm->v));
	nm->n = n;
	for (size_t i = 0; i < n; i++)
		snprintf(nm->v[i], sizeof(nm->v[i]), "f%08zu", i);
}

static void file_edit(struct tree_edit *e, const char *name, uint64_t ver)
{
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->name_len = (uint16_t)strlen(name);
	e->entry.name = e->name;
	e->entry.name_len = e->name_len;
	e->entry.mode = S_IFREG | 0644;
	e->entry.size = 1000 + ver;
	e->entry.mtime_ns = (int64_t)ver;
	oid_hash(&e->entry.id, name, e->name_len); /* any id will do */
	e->entry.id.b[31] ^= (uint8_t)ver;
}

static void build(struct names *nm, size_t n, struct oid *root)
{
	struct tree_edit *ed = calloc(n, sizeof(*ed));
	uint64_t count = 0;

	for (size_t i = 0; i < n; i++)
		file_edit(&ed[i], nm->v[i], 0);
	ck_assert_int_eq(tree_apply(mo, NULL, ed, n, root, &count), 0);
	ck_assert_uint_eq(count, n);
	free(ed);
}

START_TEST(build_lookup_iterate)
{
	struct names nm;
	struct oid root;
	struct tree_iter *it;
	struct tree_entry e;
	struct meta_node *hold;
	size_t seen = 0;
	int rc;

	names_init(&nm, 20000);
	build(&nm, nm.n, &root);
	ck_assert_int_eq(tree_iter_new(mo, &root, NULL, 0, &it), 0);
	while ((rc = tree_iter_next(it, &e)) == 1) {
		ck_assert_uint_lt(seen, nm.n);
		ck_assert_int_eq(e.name_len, strlen(nm.v[seen]));
		ck_assert(!memcmp(e.name, nm.v[seen], e.name_len));
		seen++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(seen, nm.n);
	tree_iter_free(it);
	for (size_t i = 0; i < nm.n; i += 997) {
		ck_assert_int_eq(tree_lookup(mo, &root, nm.v[i], strlen(nm.v[i]), &e, &hold), 0);
		ck_assert_uint_eq(e.size, 1000);
		meta_node_put(mo, hold);
	}
	ck_assert_int_eq(tree_lookup(mo, &root, "nope", 4, &e, &hold), T9K_ENOTFOUND);
	ck_assert_int_eq(tree_lookup(mo, &root, "zzz", 3, &e, &hold), T9K_ENOTFOUND);
	/* iteration resumes after a name, present or not */
	ck_assert_int_eq(tree_iter_new(mo, &root, nm.v[12345], 9, &it), 0);
	ck_assert_int_eq(tree_iter_next(it, &e), 1);
	ck_assert(!memcmp(e.name, nm.v[12346], 9));
	tree_iter_free(it);
	ck_assert_int_eq(tree_iter_new(mo, &root, "f00012345x", 10, &it), 0);
	ck_assert_int_eq(tree_iter_next(it, &e), 1);
	ck_assert(!memcmp(e.name, nm.v[12346], 9));
	tree_iter_free(it);
	ck_assert_int_eq(tree_iter_new(mo, &root, "zzz", 3, &it), 0);
	ck_assert_int_eq(tree_iter_next(it, &e), 0);
	tree_iter_free(it);
	free(nm.v);
}
END_TEST

/* The same set of entries gives the same root, however it was built. */
START_TEST(shape_is_canonical)
{
	size_t n = 5000;
	struct names nm;
	struct oid direct, stepwise, empty, e2;
	struct tree_edit *ed = calloc(n, sizeof(*ed));
	uint64_t count;

	names_init(&nm, n);
	build(&nm, n, &direct);
	/* in 10 batches of every 10th name, then back out a batch of junk */
	ck_assert_int_eq(tree_empty(mo, &stepwise), 0);
	for (size_t b = 0; b < 10; b++) {
		size_t k = 0;

		for (size_t i = 9 - b; i < n; i += 10)
			file_edit(&ed[k++], nm.v[i], 0);
		ck_assert_int_eq(tree_apply(mo, &stepwise, ed, k, &stepwise, &count), 0);
	}
	ck_assert(oid_eq(&direct, &stepwise));
	/* modify then restore entries: back to the same id */
	for (size_t i = 0; i < 50; i++)
		file_edit(&ed[i], nm.v[i * 97], 1);
	ck_assert_int_eq(tree_apply(mo, &stepwise, ed, 50, &stepwise, NULL), 0);
	ck_assert(!oid_eq(&direct, &stepwise));
	for (size_t i = 0; i < 50; i++)
		file_edit(&ed[i], nm.v[i * 97], 0);
	ck_assert_int_eq(tree_apply(mo, &stepwise, ed, 50, &stepwise, NULL), 0);
	ck_assert(oid_eq(&direct, &stepwise));
	/* delete everything: the empty directory */
	for (size_t i = 0; i < n; i++) {
		ed[i].name = nm.v[i];
		ed[i].name_len = 9;
		ed[i].del = true;
	}
	ck_assert_int_eq(tree_apply(mo, &direct, ed, n, &e2, &count), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(tree_empty(mo, &empty), 0);
	ck_assert(oid_eq(&e2, &empty));
	/* deleting absent names changes nothing */
	ck_assert_int_eq(tree_apply(mo, &empty, ed, 10, &e2, NULL), 0);
	ck_assert(oid_eq(&e2, &empty));
	free(ed);
	free(nm.v);
}
END_TEST

struct diff_count {
	size_t added, removed, modified;
};

static int count_diff(void *arg, const struct tree_entry *o, const struct tree_entry *n)
{
	struct diff_count *d = arg;

	if (!o)
		d->added++;
	else if (!n)
		d->removed++;
	else
		d->modified++;
	return 0;
}

/* 1,000,000 entries in one directory: 10 changes write few nodes and a
 * diff reads few. Objects are counted, not seconds. */
START_TEST(big_directory_changes_are_cheap)
{
	size_t n = 1000000;
	struct names nm;
	struct oid a, b;
	struct tree_edit ed[12];
	struct meta_stats ms;
	struct meta_objects *fresh;
	struct diff_count d = { 0 };
	uint64_t count;

	names_init(&nm, n);
	build(&nm, n, &a);
	/* 10 changes: 4 modified, 3 added, 3 removed, spread out; sorted */
	char extra[3][16];

	memset(ed, 0, sizeof(ed));
	for (int i = 0; i < 10; i++) {
		size_t at = (size_t)i * 99991 + 17;

		if (i % 3 == 1) {
			snprintf(extra[i / 3], sizeof(extra[0]), "%sx", nm.v[at]);
			file_edit(&ed[i], extra[i / 3], 0); /* sorts right after nm.v[at] */
		} else if (i % 3 == 2) {
			ed[i].name = nm.v[at];
			ed[i].name_len = 9;
			ed[i].del = true;
		} else {
			file_edit(&ed[i], nm.v[at], 7);
		}
	}
	meta_objects_stats_reset(mo);
	ck_assert_int_eq(tree_apply(mo, &a, ed, 10, &b, &count), 0);
	ck_assert_uint_eq(count, n + 3 - 3);
	meta_objects_stats(mo, &ms);
	ck_assert_uint_le(ms.writes_new, 64);
	ck_assert_uint_lt(ms.bytes_new, 2u << 20);

	/* a cold cache: every node read is counted */
	ck_assert_int_eq(meta_objects_new(st, 64u << 20, &fresh), 0);
	ck_assert_int_eq(tree_diff(fresh, &a, &b, count_diff, &d), 0);
	meta_objects_stats(fresh, &ms);
	ck_assert_uint_eq(d.added, 3);
	ck_assert_uint_eq(d.removed, 3);
	ck_assert_uint_eq(d.modified, 4);
	ck_assert_uint_le(ms.reads, 200);
	meta_objects_free(fresh);
	free(nm.v);
}
END_TEST

/* Random batches of changes against a model: the tree matches it. */
START_TEST(random_edits_match_a_model)
{
	size_t n = 3000;
	struct names nm;
	uint8_t *present = calloc(n, 1), *ver = calloc(n, 1);
	struct tree_edit *ed = calloc(n, sizeof(*ed));
	struct oid root, rebuilt;
	uint64_t x = 12345, count;

	names_init(&nm, n);
	ck_assert_int_eq(tree_empty(mo, &root), 0);
	for (int round = 0; round < 40; round++) {
		size_t k = 0, live = 0;
		struct diff_count d = { 0 };
		struct oid before = root;
		size_t want_add = 0, want_del = 0, want_mod = 0;

		for (size_t i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			if ((x >> 33) % 7)
				continue;
			if (present[i] && (x >> 40) % 2) {
				ed[k].name = nm.v[i];
				ed[k].name_len = 9;
				ed[k].del = true;
				ed[k].entry.name = NULL;
				present[i] = 0;
				want_del++;
			} else {
				want_add += !present[i];
				want_mod += present[i];
				file_edit(&ed[k], nm.v[i], ++ver[i]);
				present[i] = 1;
			}
			k++;
		}
		ck_assert_int_eq(tree_apply(mo, &root, ed, k, &root, &count), 0);
		for (size_t i = 0; i < n; i++)
			live += present[i];
		ck_assert_uint_eq(count, live);
		ck_assert_int_eq(tree_diff(mo, &before, &root, count_diff, &d), 0);
		ck_assert_uint_eq(d.added, want_add);
		ck_assert_uint_eq(d.removed, want_del);
		ck_assert_uint_eq(d.modified, want_mod);
	}
	/* the incremental result equals a build from scratch */
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (present[i])
			file_edit(&ed[k++], nm.v[i], ver[i]);
	ck_assert_int_eq(tree_apply(mo, NULL, ed, k, &rebuilt, NULL), 0);
	ck_assert(oid_eq(&root, &rebuilt));
	free(present);
	free(ver);
	free(ed);
	free(nm.v);
}
END_TEST

START_TEST(bad_edits_are_refused)
{
	struct tree_edit ed[2];
	struct oid root;

	file_edit(&ed[0], "b", 0);
	file_edit(&ed[1], "a", 0);
	ck_assert_int_eq(tree_apply(mo, NULL, ed, 2, &root, NULL), -EINVAL);
	ck_assert(strstr(t9k_errmsg(-EINVAL), "sorted") != NULL);
	file_edit(&ed[0], "a/b", 0);
	ck_assert_int_eq(tree_apply(mo, NULL, ed, 1, &root, NULL), -EINVAL);
	file_edit(&ed[0], "..", 0);
	ck_assert_int_eq(tree_apply(mo, NULL, ed, 1, &root, NULL), -EINVAL);
}
END_TEST

/* meta_manifest_put picks the payload; meta_manifest_get, the one getter
 * of readers, synthesizes payload 2 without the store and fetches
 * payload 0. */
START_TEST(manifest_get_both_payloads)
{
	struct manifest_chunk two[2] = {
		{ .id.b = { 1 }, .len = 3000, .loc = MANIFEST_LOC_OBJECT },
		{ .id.b = { 2 }, .len = 3000, .loc = MANIFEST_LOC_OBJECT },
	};
	struct manifest one_m = { .size = 5000, .nchunks = 1, .chunks = two }, two_m = {
		.size = 6000, .nchunks = 2, .chunks = two }, got;
	struct tree_entry e = { .mode = S_IFREG | 0644 };
	struct meta_stats ms;
	char key[CHUNK_KEY_MAX];
	uint64_t size;

	/* one chunk over the inline limit: payload 2, nothing stored */
	two[0].len = 5000;
	meta_objects_stats_reset(mo);
	ck_assert_int_eq(meta_manifest_put(mo, &one_m, &e), 0);
	ck_assert(e.is_chunk && !e.is_inline);
	ck_assert(oid_eq(&e.id, &two[0].id));
	ck_assert_uint_eq(e.size, 5000);
	meta_objects_stats(mo, &ms);
	ck_assert_uint_eq(ms.writes, 0);
	ck_assert_int_eq(meta_manifest_get(mo, &e, &got), 0);
	meta_objects_stats(mo, &ms);
	ck_assert_uint_eq(ms.reads, 0);
	ck_assert_uint_eq(got.size, 5000);
	ck_assert_uint_eq(got.nchunks, 1);
	ck_assert(oid_eq(&got.chunks[0].id, &two[0].id));
	ck_assert_uint_eq(got.chunks[0].len, 5000);
	ck_assert_uint_eq(got.chunks[0].loc, MANIFEST_LOC_OBJECT);
	manifest_release(&got);
	/* the chunk is not in this store, and it was never asked for */
	chunk_key(&e.id, key);
	ck_assert_int_eq(store_head(st, key, &size), -ENOENT);

	/* a chunk of a pack, or of a size that must be inline: a manifest */
	two[0].len = 4000;
	one_m.size = 4000;
	ck_assert_int_eq(meta_manifest_put(mo, &one_m, &e), 0);
	ck_assert(!e.is_chunk);
	meta_objects_stats(mo, &ms);
	ck_assert_uint_eq(ms.writes, 1);

	/* several chunks: a manifest object, fetched back */
	two[0].len = 3000;
	ck_assert_int_eq(meta_manifest_put(mo, &two_m, &e), 0);
	ck_assert(!e.is_chunk);
	ck_assert_uint_eq(e.size, 6000);
	meta_objects_stats(mo, &ms);
	ck_assert_uint_eq(ms.writes, 2);
	ck_assert_int_eq(meta_manifest_get(mo, &e, &got), 0);
	meta_objects_stats(mo, &ms);
	ck_assert_uint_eq(ms.reads, 1);
	ck_assert_uint_eq(got.nchunks, 2);
	ck_assert(oid_eq(&got.chunks[1].id, &two[1].id));
	manifest_release(&got);

	/* payload 0 checks the size; a missing manifest is not found */
	e.size = 6001;
	ck_assert_int_eq(meta_manifest_get(mo, &e, &got), T9K_ECORRUPT);
	ck_assert_ptr_null(got.chunks);
	e.id.b[0] ^= 1;
	e.size = 6000;
	ck_assert_int_eq(meta_manifest_get(mo, &e, &got), T9K_ENOTFOUND);
	/* a payload-2 entry out of range is refused, not synthesized */
	e.is_chunk = true;
	e.size = META_INLINE_MAX;
	ck_assert_int_eq(meta_manifest_get(mo, &e, &got), T9K_ECORRUPT);
	e.mode = S_IFDIR | 0755;
	ck_assert_int_eq(meta_manifest_get(mo, &e, &got), -EINVAL);
}
END_TEST

/* A file stored with a manifest by an older binary (payload 0) and
 * imported again unchanged as payload 2 keeps its old entry: the tree does
 * not change. Other bytes, or another mtime, replace it. */
START_TEST(same_bytes_keep_the_old_payload)
{
	struct manifest_chunk c = { .id.b = { 9 }, .len = 5000, .loc = MANIFEST_LOC_OBJECT };
	struct manifest m = { .size = 5000, .nchunks = 1, .chunks = &c };
	struct tree_edit ed;
	struct tree_entry got;
	struct meta_node *hold;
	struct buf enc = BUF_INIT;
	struct oid r1, r2;

	file_edit(&ed, "img.jpg", 0);
	ed.entry.size = 5000;
	ck_assert_int_eq(manifest_encode(&m, &enc), 0);
	ck_assert_int_eq(meta_object_put(mo, enc.data, enc.len, &ed.entry.id), 0);
	buf_release(&enc);
	ck_assert_int_eq(tree_apply(mo, NULL, &ed, 1, &r1, NULL), 0);

	ed.entry.is_chunk = true;
	ed.entry.id = c.id;
	ck_assert_int_eq(tree_apply(mo, &r1, &ed, 1, &r2, NULL), 0);
	ck_assert(oid_eq(&r1, &r2));

	ed.entry.mtime_ns = 7;
	ck_assert_int_eq(tree_apply(mo, &r1, &ed, 1, &r2, NULL), 0);
	ck_assert(!oid_eq(&r1, &r2));

	ed.entry.mtime_ns = 0;
	ed.entry.id.b[0] = 10;
	ck_assert_int_eq(tree_apply(mo, &r1, &ed, 1, &r2, NULL), 0);
	ck_assert(!oid_eq(&r1, &r2));
	ck_assert_int_eq(tree_lookup(mo, &r2, "img.jpg", 7, &got, &hold), 0);
	ck_assert(got.is_chunk && got.id.b[0] == 10);
	meta_node_put(mo, hold);
}
END_TEST

Suite *tree_suite(void)
{
	Suite *s = suite_create("tree");
	TCase *tc = tcase_create("prolly");

	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, build_lookup_iterate);
	tcase_add_test(tc, shape_is_canonical);
	tcase_add_test(tc, random_edits_match_a_model);
	tcase_add_test(tc, bad_edits_are_refused);
	tcase_add_test(tc, manifest_get_both_payloads);
	tcase_add_test(tc, same_bytes_keep_the_old_payload);
	tcase_add_test(tc, big_directory_changes_are_cheap);
	suite_add_tcase(s, tc);
	return s;
}
