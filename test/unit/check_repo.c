/* Unit tests of repositories: staging and commit, refs and specs, log,
 * diff, merge, revert, concurrent commits, crash safety, a 1,000,000-file
 * repository, the gc plan, pack_size and the chunk index. Real RocksDB,
 * real file:// store. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "meta/client.h"
#include "meta/repo-internal.h"
#include "meta/service.h"
#include "meta/transfer.h"
#include "store/chunk.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[PATH_MAX];
static char dbdir[PATH_MAX + 8], url[PATH_MAX + 32];
static struct meta_db *db;
static struct repo *r;
static const struct commit_info ci = { .author = "tester", .message = "test commit" };

static void paths_init(void)
{
	if (access("/dev/shm", W_OK) == 0) {
		snprintf(dir, sizeof(dir), "/dev/shm/t9kfs-unit.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(dir));
	} else {
		test_tmpdir(dir, sizeof(dir));
	}
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(url, sizeof(url), "file://%s/store", dir);
}

static void setup(void)
{
	paths_init();
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(repo_create(db, "data", url, NULL, REPO_PACK_SIZE_AUTO, &r), 0);
}

static void teardown(void)
{
	repo_close(r);
	meta_db_close(db);
	test_rmtree(dir);
}

/* An inline file entry with the given text. */
static struct tree_entry file_entry(const char *text)
{
	struct tree_entry e = { 0 };

	e.mode = S_IFREG | 0644;
	e.size = strlen(text);
	e.mtime_ns = 1;
	e.is_inline = true;
	e.data = (const uint8_t *)text;
	e.data_len = (uint32_t)e.size;
	return e;
}

static void stage(struct repo *rr, const char *branch, const char *path, const char *text)
{
	struct tree_entry e;

	if (text)
		e = file_entry(text);
	ck_assert_int_eq(repo_stage(rr, branch, path, text ? &e : NULL), 0);
}

/* Contents of path at spec, or NULL if absent (static buffer). */
static const char *cat(const char *spec, const char *path)
{
	static char out[4097];
	struct tree_entry e;
	struct meta_node *hold;
	struct oid id;

	ck_assert_int_eq(repo_resolve(r, spec, &id), 0);
	if (repo_lookup(r, &id, path, &e, &hold) < 0)
		return NULL;
	ck_assert(e.is_inline);
	memcpy(out, e.data, e.data_len);
	out[e.data_len] = '\0';
	meta_node_put(repo_objects(r), hold);
	return out;
}

static int count_log(void *arg, const struct repo_commit *c)
{
	(void)c;
	++*(int *)arg;
	return 0;
}

static int log_len(const char *spec, bool first_parent)
{
	struct oid id;
	int n = 0;

	ck_assert_int_eq(repo_resolve(r, spec, &id), 0);
	ck_assert_int_eq(repo_log(r, &id, first_parent, 0, count_log, &n), 0);
	return n;
}

struct diff_list {
	char text[4096];
};

static int list_diff(void *arg, const char *path, const struct tree_entry *o,
		     const struct tree_entry *n)
{
	struct diff_list *d = arg;
	size_t l = strlen(d->text);

	snprintf(d->text + l, sizeof(d->text) - l, "%c %s\n", !o ? 'A' : !n ? 'D' : 'M', path);
	return 0;
}

static const char *diff_specs(const char *a, const char *b)
{
	static struct diff_list d;
	struct oid x, y;

	d.text[0] = '\0';
	ck_assert_int_eq(repo_resolve(r, a, &x), 0);
	ck_assert_int_eq(repo_resolve(r, b, &y), 0);
	ck_assert_int_eq(repo_diff(r, &x, &y, list_diff, &d), 0);
	return d.text;
}

START_TEST(stage_commit_log_diff)
{
	struct oid c1, c2;
	struct commit_kv kv[2] = { { "lr", 2, "0.1", 3 }, { "loss", 4, "0.25", 4 } };
	struct commit_info info = ci;
	struct repo_commit rc;

	ck_assert_int_eq(repo_commit(r, "main", &ci, &c1), -ENODATA);
	ck_assert(strstr(t9k_errmsg(-ENODATA), "nothing to commit") != NULL);
	stage(r, "main", "train/cat/1.jpg", "meow");
	stage(r, "main", "train/dog/1.jpg", "woof");
	stage(r, "main", "README", "hello");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c1), 0);
	ck_assert_str_eq(cat("main", "train/cat/1.jpg"), "meow");
	ck_assert_str_eq(cat("main", "README"), "hello");
	ck_assert_ptr_null(cat("main", "train/cow"));
	ck_assert_int_eq(log_len("main", false), 2);

	/* staging is empty after the commit; modify, delete, add */
	stage(r, "main", "README", "hello again");
	stage(r, "main", "train/dog/1.jpg", NULL);
	stage(r, "main", "val/1.jpg", "x");
	{
		struct commit_kv sorted[2] = { kv[1], kv[0] }; /* "loss" < "lr" */

		info.kv = sorted;
		info.nkv = 2;
		ck_assert_int_eq(repo_commit(r, "main", &info, &c2), 0);
	}
	ck_assert_str_eq(diff_specs("main~1", "main"),
			 "M README\nD train/dog/1.jpg\nA val/1.jpg\n");
	ck_assert_str_eq(diff_specs("main", "main~1"),
			 "M README\nA train/dog/1.jpg\nD val/1.jpg\n");
	ck_assert_int_eq(repo_commit_read(r, &c2, &rc), 0);
	ck_assert_uint_eq(rc.c.nkv, 2);
	ck_assert(!memcmp(rc.c.kv[0].key, "loss", 4));
	ck_assert(oid_eq(&rc.c.parents[0], &c1));
	repo_commit_release(&rc);
	/* removing the last file of a directory keeps the directory */
	stage(r, "main", "val/1.jpg", NULL);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c2), 0);
	ck_assert_str_eq(diff_specs("main~1", "main"), "D val/1.jpg\n");
}
END_TEST

static int count_entries(void *arg, const char *path, const struct tree_entry *e)
{
	(void)path, (void)e;
	++*(int *)arg;
	return 0;
}

START_TEST(files_and_directories_replace_each_other)
{
	struct oid c;
	struct tree_entry d = { 0 };

	stage(r, "main", "a/x", "1");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	/* a file where the head has a directory's child: refused */
	stage(r, "main", "a/x/y", "2");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), -ENOTDIR);
	ck_assert_msg(strstr(t9k_errmsg(-ENOTDIR), "'a/x' is not a directory") != NULL, "%s",
		      t9k_errmsg(-ENOTDIR));
	/* ... unless a/x is removed in the same commit. Staging the removal
	 * drops what was staged below a/x, so a/x/y is staged after it. */
	stage(r, "main", "a/x", NULL);
	{
		int n = 0;

		ck_assert_int_eq(repo_staged(r, "main", "a/", count_entries, &n), 0);
		ck_assert_int_eq(n, 1); /* a/x/y went with the removal */
	}
	stage(r, "main", "a/x/y", "2");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_str_eq(cat("main", "a/x/y"), "2");
	/* a file staged where staged children were: they go, the commit works */
	stage(r, "main", "n/1", "1");
	stage(r, "main", "n/2/3", "1");
	stage(r, "main", "n", "file now");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_str_eq(cat("main", "n"), "file now");
	/* a staged directory entry (a rename in a mount) moves a subtree */
	{
		struct tree_entry e;
		struct meta_node *hold;
		struct oid head;

		ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
		ck_assert_int_eq(repo_lookup(r, &head, "a", &e, &hold), 0);
		d = e;
		meta_node_put(repo_objects(r), hold);
	}
	ck_assert_int_eq(repo_stage(r, "main", "b", &d), 0);
	stage(r, "main", "a", NULL);
	stage(r, "main", "b/z", "3");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_str_eq(cat("main", "b/x/y"), "2");
	ck_assert_str_eq(cat("main", "b/z"), "3");
	ck_assert_ptr_null(cat("main", "a/x/y"));
}
END_TEST

START_TEST(refs_and_specs)
{
	struct oid c1, c2, id;
	char hex[OID_HEXSZ + 1], spec[80];

	stage(r, "main", "f", "1");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c1), 0);
	stage(r, "main", "f", "2");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c2), 0);
	ck_assert_int_eq(repo_tag_create(r, "v1", "main~1"), 0);
	ck_assert_int_eq(repo_tag_create(r, "v1", "main"), -EEXIST);
	ck_assert_int_eq(repo_branch_create(r, "exp", "v1"), 0);
	ck_assert_str_eq(cat("exp", "f"), "1");
	ck_assert_str_eq(cat("v1", "f"), "1");
	ck_assert_int_eq(repo_resolve(r, "main~2", &id), 0);
	ck_assert_int_eq(repo_resolve(r, "main~3", &id), T9K_ENOTFOUND);
	oid_to_hex(&c2, hex);
	snprintf(spec, sizeof(spec), "%.8s", hex);
	ck_assert_int_eq(repo_resolve(r, spec, &id), 0);
	ck_assert(oid_eq(&id, &c2));
	snprintf(spec, sizeof(spec), "%.10s~1", hex);
	ck_assert_int_eq(repo_resolve(r, spec, &id), 0);
	ck_assert(oid_eq(&id, &c1));
	ck_assert_int_eq(repo_resolve(r, "nosuch", &id), T9K_ENOTFOUND);
	ck_assert(strstr(t9k_errmsg(T9K_ENOTFOUND), "'nosuch'") != NULL);
	ck_assert_int_eq(repo_resolve(r, "main~x", &id), -EINVAL);
	ck_assert_int_eq(repo_branch_create(r, "bad/name", "main"), -EINVAL);
	ck_assert_int_eq(repo_branch_create(r, "new", "nosuch"), T9K_ENOTFOUND);
	/* staging belongs to a branch and goes away with it */
	stage(r, "exp", "g", "x");
	ck_assert_int_eq(repo_branch_delete(r, "exp"), 0);
	ck_assert_int_eq(repo_branch_delete(r, "exp"), T9K_ENOTFOUND);
	ck_assert_int_eq(repo_branch_create(r, "exp", "main"), 0);
	ck_assert_int_eq(repo_commit(r, "exp", &ci, &id), -ENODATA);
	ck_assert_int_eq(repo_tag_delete(r, "v1"), 0);
	ck_assert_int_eq(repo_resolve(r, "v1", &id), T9K_ENOTFOUND);
	/* staging needs an existing branch */
	{
		struct tree_entry e = file_entry("x");

		ck_assert_int_eq(repo_stage(r, "ghost", "f", &e), T9K_ENOTFOUND);
	}
}
END_TEST

START_TEST(merge_fast_forward_three_way_and_conflicts)
{
	struct merge_result m;
	struct oid c;

	stage(r, "main", "shared", "base");
	stage(r, "main", "conflict", "base");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "exp", "main"), 0);
	stage(r, "exp", "new-in-exp", "e");
	ck_assert_int_eq(repo_commit(r, "exp", &ci, &c), 0);

	/* main has not moved: fast-forward */
	ck_assert_int_eq(repo_merge(r, "exp", "main", MERGE_FAIL, &ci, &m), 0);
	ck_assert(m.fast_forward);
	ck_assert_str_eq(cat("main", "new-in-exp"), "e");
	ck_assert_int_eq(log_len("main", false), 3);
	merge_result_release(&m);
	ck_assert_int_eq(repo_merge(r, "exp", "main", MERGE_FAIL, &ci, &m), 0);
	ck_assert(m.up_to_date);

	/* both move, different paths: clean three-way merge */
	stage(r, "exp", "exp-only", "1");
	ck_assert_int_eq(repo_commit(r, "exp", &ci, &c), 0);
	stage(r, "main", "main-only", "2");
	stage(r, "main", "shared", NULL);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_merge(r, "exp", "main", MERGE_FAIL, &ci, &m), 0);
	ck_assert(!m.fast_forward && !m.up_to_date);
	ck_assert_str_eq(cat("main", "exp-only"), "1");
	ck_assert_str_eq(cat("main", "main-only"), "2");
	ck_assert_ptr_null(cat("main", "shared"));
	{
		struct repo_commit rc;

		ck_assert_int_eq(repo_commit_read(r, &m.commit, &rc), 0);
		ck_assert_uint_eq(rc.c.nparents, 2);
		repo_commit_release(&rc);
	}
	merge_result_release(&m);

	/* both change one path: a conflict, reported, nothing moves */
	stage(r, "exp", "conflict", "theirs");
	ck_assert_int_eq(repo_commit(r, "exp", &ci, &c), 0);
	stage(r, "main", "conflict", "ours");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_merge(r, "exp", "main", MERGE_FAIL, &ci, &m), T9K_ECONFLICT);
	ck_assert_uint_eq(m.nconflicts, 1);
	ck_assert_str_eq(m.conflicts[0], "conflict");
	merge_result_release(&m);
	{
		struct oid head;

		ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
		ck_assert(oid_eq(&head, &c));
	}
	ck_assert_int_eq(repo_merge(r, "exp", "main", MERGE_OURS, &ci, &m), 0);
	ck_assert_str_eq(cat("main", "conflict"), "ours");
	merge_result_release(&m);
	stage(r, "exp", "conflict", "theirs again");
	ck_assert_int_eq(repo_commit(r, "exp", &ci, &c), 0);
	ck_assert_int_eq(repo_merge(r, "exp", "main", MERGE_THEIRS, &ci, &m), 0);
	ck_assert_str_eq(cat("main", "conflict"), "theirs again");
	merge_result_release(&m);
	ck_assert_int_eq(repo_merge(r, "main", "v9", MERGE_FAIL, &ci, &m), T9K_ENOTFOUND);
}
END_TEST

START_TEST(revert_undoes_a_commit)
{
	struct merge_result m;
	struct oid c, bad;
	char hex[OID_HEXSZ + 1];

	stage(r, "main", "a", "1");
	stage(r, "main", "b", "1");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	stage(r, "main", "a", "2");
	stage(r, "main", "b", NULL);
	stage(r, "main", "c", "new");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &bad), 0);
	stage(r, "main", "d", "later");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_revert(r, "main", oid_to_hex(&bad, hex), &ci, &m), 0);
	ck_assert_str_eq(cat("main", "a"), "1");
	ck_assert_str_eq(cat("main", "b"), "1");
	ck_assert_ptr_null(cat("main", "c"));
	ck_assert_str_eq(cat("main", "d"), "later");
	merge_result_release(&m);
	/* reverting a change that was changed again since: conflict */
	stage(r, "main", "d", "changed");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_revert(r, "main", "main~2", &ci, &m), T9K_ECONFLICT);
	ck_assert_uint_eq(m.nconflicts, 1);
	merge_result_release(&m);
}
END_TEST

START_TEST(reset_drops_staged_changes)
{
	struct oid c;

	stage(r, "main", "keep/a", "1");
	stage(r, "main", "drop/a", "1");
	stage(r, "main", "drop/b", "1");
	ck_assert_int_eq(repo_reset(r, "main", "drop/"), 2);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_ptr_nonnull(cat("main", "keep/a"));
	ck_assert_ptr_null(cat("main", "drop/a"));
	stage(r, "main", "x", "1");
	ck_assert_int_eq(repo_reset(r, "main", ""), 1);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), -ENODATA);
}
END_TEST

/* An entry naming an object the store lacks is refused, with the rest of
 * its batch: a commit could otherwise point at nothing. */
START_TEST(staging_needs_the_named_object)
{
	struct tree_entry ok = file_entry("inline"), bad = { 0 };
	struct repo_stage_item items[3] = {
		{ .path = "a", .entry = &ok }, { .path = "big", .entry = &bad }, { .path = "c" },
	};
	int n = 0;

	bad.mode = S_IFREG | 0644;
	bad.size = 100000;
	memset(bad.id.b, 0x5a, sizeof(bad.id.b));
	ck_assert_int_eq(repo_stage_batch(r, "main", items, 3), T9K_ENOTFOUND);
	ck_assert_int_eq(repo_staged(r, "main", "", count_entries, &n), 0);
	ck_assert_int_eq(n, 0);
	bad.mode = S_IFDIR | 0755;
	ck_assert_int_eq(repo_stage(r, "main", "big", &bad), T9K_ENOTFOUND);

	/* once the object is stored, the same batch stages */
	bad.mode = S_IFREG | 0644;
	ck_assert_int_eq(meta_object_put(r->mo, "some manifest", 13, &bad.id), 0);
	ck_assert_int_eq(repo_stage_batch(r, "main", items, 3), 0);
	ck_assert_int_eq(repo_staged(r, "main", "", count_entries, &n), 0);
	ck_assert_int_eq(n, 3);
}
END_TEST

/* pack_size: 0 by default on file://, 16 MiB (at least the largest chunk)
 * on s3://; explicit values in range persist, others are refused. */
START_TEST(pack_size_default_and_range)
{
	const uint32_t cdc[3] = { 64u << 10, 256u << 10, 1u << 20 };
	struct repo *r2;

	ck_assert_uint_eq(repo_info(r)->pack_size, 0);
	ck_assert_uint_eq(repo_pack_size_default(url, 4u << 20), 0);
	ck_assert_uint_eq(repo_pack_size_default("s3://bucket/data", 4u << 20), 16u << 20);
	ck_assert_uint_eq(repo_pack_size_default("s3://bucket/data", 32u << 20), 32u << 20);
	ck_assert_uint_eq(repo_pack_size_default("S3x://bucket", 4u << 20), 0);

	ck_assert_int_eq(repo_create(db, "small", url, NULL, 1u << 20, &r2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "pack size 1048576 is out of range"));
	ck_assert_int_eq(repo_create(db, "big", url, NULL, (1ll << 30) + 1, &r2), -EINVAL);
	ck_assert_int_eq(repo_create(db, "neg", url, NULL, -2, &r2), -EINVAL);
	ck_assert_int_eq(meta_repo_get(db, "small", &(struct meta_repo){ 0 }), T9K_ENOTFOUND);

	/* at least the repository's own largest chunk */
	ck_assert_int_eq(repo_create(db, "p1", url, cdc, 1u << 20, &r2), 0);
	ck_assert_uint_eq(repo_info(r2)->pack_size, 1u << 20);
	repo_close(r2);
	ck_assert_int_eq(repo_create(db, "p2", url, NULL, 1ll << 30, &r2), 0);
	repo_close(r2);
	ck_assert_int_eq(repo_create(db, "p0", url, NULL, 0, &r2), 0);
	repo_close(r2);
	ck_assert_int_eq(repo_open(db, "p1", &r2), 0);
	ck_assert_uint_eq(repo_info(r2)->pack_size, 1u << 20);
	repo_close(r2);
	ck_assert_int_eq(repo_open(db, "p2", &r2), 0);
	ck_assert_uint_eq(repo_info(r2)->pack_size, 1u << 30);
	repo_close(r2);
	ck_assert_int_eq(repo_open(db, "p0", &r2), 0);
	ck_assert_uint_eq(repo_info(r2)->pack_size, 0);
	repo_close(r2);
}
END_TEST

/* Field by field: the struct has padding. */
static bool chunk_eq(const struct manifest_chunk *a, const struct manifest_chunk *b)
{
	return oid_eq(&a->id, &b->id) && a->len == b->len && a->loc == b->loc &&
	       oid_eq(&a->pack, &b->pack) && a->pack_off == b->pack_off && a->pack_len == b->pack_len;
}

static struct manifest_chunk packed(const struct oid *pack, int n, uint64_t off, uint32_t slen)
{
	struct manifest_chunk c = { .len = 1000 + (uint32_t)n, .loc = MANIFEST_LOC_PACK,
				    .pack = *pack, .pack_off = off, .pack_len = slen };

	memset(c.id.b, n, sizeof(c.id.b));
	return c;
}

static void pack_store(const struct oid *pack, size_t size)
{
	char key[80], hex[OID_HEXSZ + 1];
	char *data = calloc(1, size);

	ck_assert_ptr_nonnull(data);
	snprintf(key, sizeof(key), "packs/%s", oid_to_hex(pack, hex));
	ck_assert_int_eq(store_put_buf(repo_store(r), key, data, size), 0);
	free(data);
}

static int index_has(const struct manifest_chunk *c)
{
	struct manifest_chunk got;
	int rc = repo_chunk_index_get(r, &c->id, &got);

	if (rc == 0)
		ck_assert(chunk_eq(&got, c));
	return rc;
}

/* Entries are recorded only once one HEAD showed the pack holds every
 * range; a refused batch records nothing. */
START_TEST(chunk_index_needs_the_pack)
{
	struct oid pack, pack2;
	struct manifest_chunk v[3], bad[2];

	memset(pack.b, 0xab, sizeof(pack.b));
	memset(pack2.b, 0xcd, sizeof(pack2.b));
	v[0] = packed(&pack, 1, 0, 100);
	v[1] = packed(&pack, 2, 100, 400);
	v[2] = packed(&pack, 3, 500, 500);

	/* the pack is not stored yet */
	ck_assert_int_eq(repo_chunk_index_put(r, v, 3), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "is not in the store"));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(index_has(&v[i]), -ENOENT);

	/* stored, but one byte short of the last range */
	pack_store(&pack, 999);
	ck_assert_int_eq(repo_chunk_index_put(r, v, 3), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "is 999 bytes"));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(index_has(&v[i]), -ENOENT);

	/* entries that cannot be right are refused before any HEAD */
	bad[0] = v[0];
	bad[1] = packed(&pack2, 4, 0, 100);
	ck_assert_int_eq(repo_chunk_index_put(r, bad, 2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "another pack"));
	bad[1] = packed(&pack, 4, 0, 12);
	ck_assert_int_eq(repo_chunk_index_put(r, bad, 2), -EINVAL);
	bad[1] = packed(&pack, 4, UINT64_MAX - 10, 100);
	ck_assert_int_eq(repo_chunk_index_put(r, bad, 2), -EINVAL);
	bad[1] = packed(&pack, 4, 0, 100);
	bad[1].len = 0;
	ck_assert_int_eq(repo_chunk_index_put(r, bad, 2), -EINVAL);
	bad[1] = packed(&pack, 4, 0, 100);
	bad[1].loc = MANIFEST_LOC_OBJECT;
	ck_assert_int_eq(repo_chunk_index_put(r, bad, 2), -EINVAL);
	ck_assert_int_eq(index_has(&v[0]), -ENOENT);
	ck_assert_int_eq(repo_chunk_index_put(r, v, 0), 0);

	pack_store(&pack, 1000);
	ck_assert_int_eq(repo_chunk_index_put(r, v, 3), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(index_has(&v[i]), 0);
	ck_assert_int_eq(index_has(&bad[1]), -ENOENT);

	/* a deleted repository takes its entries along */
	repo_close(r);
	ck_assert_int_eq(meta_repo_delete(db, "data"), 0);
	ck_assert_int_eq(repo_create(db, "data", url, NULL, REPO_PACK_SIZE_AUTO, &r), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(index_has(&v[i]), -ENOENT);
}
END_TEST

/* A remote handle records and finds entries through a real service, in
 * requests of at most REPO_CHUNK_INDEX_BATCH_MAX entries; the service
 * checks the pack in its own store. */
START_TEST(chunk_index_through_the_service)
{
	enum { N = REPO_CHUNK_INDEX_BATCH_MAX + 904 };
	char db2[PATH_MAX + 16], store2[PATH_MAX + 16], sock[PATH_MAX + 16], tokf[PATH_MAX + 16];
	char listen[PATH_MAX + 32], tok[128];
	struct meta_service_opts o = { .db_dir = db2, .store_url = store2, .nlisten = 1,
				       .token_file = tokf };
	struct manifest_chunk *v = calloc(N, sizeof(*v)), got;
	struct meta_service *svc;
	struct meta_client *c;
	struct repo *rr;
	struct oid pack;
	json_t *body;

	ck_assert_ptr_nonnull(v);
	snprintf(db2, sizeof(db2), "%s/db2", dir);
	snprintf(store2, sizeof(store2), "file://%s/store2", dir);
	snprintf(sock, sizeof(sock), "%s/meta.sock", dir);
	snprintf(tokf, sizeof(tokf), "%s/token", dir);
	snprintf(listen, sizeof(listen), "unix:%s", sock);
	o.listen[0] = listen;
	ck_assert_int_eq(meta_token_load(tokf, true, tok, sizeof(tok)), 1);
	ck_assert_int_eq(meta_service_start(&o, &svc), 0);
	ck_assert_int_eq(meta_client_new(listen, tok, &c), 0);
	body = json_pack("{s:s}", "name", "remote");
	ck_assert_int_eq(meta_client_call(c, "POST", "/repos", body, NULL), 0);
	json_decref(body);
	ck_assert_int_eq(meta_client_open_repo(c, "remote", &rr), 0);
	ck_assert_uint_eq(repo_info(rr)->pack_size, 0);

	memset(pack.b, 0x77, sizeof(pack.b));
	for (int i = 0; i < N; i++) {
		v[i] = (struct manifest_chunk){ .len = 1 + (uint32_t)i, .loc = MANIFEST_LOC_PACK,
						.pack = pack, .pack_off = 20 * (uint64_t)i,
						.pack_len = 20 };
		memset(v[i].id.b, 0x42, sizeof(v[i].id.b));
		memcpy(v[i].id.b, &i, sizeof(i));
	}
	ck_assert_int_eq(repo_chunk_index_put(rr, v, N), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "is not in the store"));
	ck_assert_int_eq(repo_chunk_index_get(rr, &v[0].id, &got), -ENOENT);

	{
		char key[80], hex[OID_HEXSZ + 1];
		char *data = calloc(N, 20);

		ck_assert_ptr_nonnull(data);
		snprintf(key, sizeof(key), "packs/%s", oid_to_hex(&pack, hex));
		ck_assert_int_eq(store_put_buf(repo_store(rr), key, data, (size_t)N * 20), 0);
		free(data);
	}
	ck_assert_int_eq(repo_chunk_index_put(rr, v, N), 0);
	for (int i = 0; i < N; i += N / 7) {
		ck_assert_int_eq(repo_chunk_index_get(rr, &v[i].id, &got), 0);
		ck_assert(chunk_eq(&got, &v[i]));
	}
	ck_assert_int_eq(repo_chunk_index_get(rr, &v[N - 1].id, &got), 0);
	ck_assert(chunk_eq(&got, &v[N - 1]));
	ck_assert_int_eq(repo_chunk_index_get(rr, &pack, &got), -ENOENT);

	repo_close(rr);
	meta_client_free(c);
	meta_service_stop(svc, 1000);
	free(v);
}
END_TEST

struct committer {
	int id;
	int landed;
	struct oid ids[64];
	int rc;
};

static void *commit_loop(void *arg)
{
	struct committer *cm = arg;
	char path[64];

	for (int i = 0; i < 25 && cm->rc == 0; i++) {
		struct tree_entry e = file_entry("data");
		struct oid id;
		int rc;

		snprintf(path, sizeof(path), "t%d/f%03d", cm->id, i);
		cm->rc = repo_stage(r, "main", path, &e);
		if (cm->rc)
			break;
		rc = repo_commit(r, "main", &ci, &id);
		if (rc == 0)
			cm->ids[cm->landed++] = id;
		else if (rc != -ENODATA) /* the other thread committed ours */
			cm->rc = rc;
	}
	return NULL;
}

struct idlist {
	struct oid v[256];
	int n;
};

static int collect_ids(void *arg, const struct repo_commit *c)
{
	struct idlist *l = arg;

	if (l->n < 256)
		l->v[l->n++] = c->id;
	return 0;
}

static int count_staged(const char *path, const void *val, size_t len, void *arg)
{
	(void)path, (void)val, (void)len;
	++*(int *)arg;
	return 0;
}

START_TEST(concurrent_commits_lose_nothing)
{
	struct committer a = { .id = 1 }, b = { .id = 2 };
	struct idlist all = { .n = 0 };
	pthread_t ta, tb;
	struct oid head;
	int staged = 0;

	pthread_create(&ta, NULL, commit_loop, &a);
	pthread_create(&tb, NULL, commit_loop, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	/* every commit that landed is in the history, every file in the head */
	ck_assert_int_eq(repo_resolve(r, "main", &head), 0);
	ck_assert_int_eq(repo_log(r, &head, false, 0, collect_ids, &all), 0);
	ck_assert_int_eq(all.n, 1 + a.landed + b.landed);
	for (int k = 0; k < 2; k++) {
		struct committer *cm = k ? &b : &a;

		for (int i = 0; i < cm->landed; i++) {
			int found = 0;

			for (int j = 0; j < all.n; j++)
				found |= oid_eq(&all.v[j], &cm->ids[i]);
			ck_assert(found);
		}
		for (int i = 0; i < 25; i++) {
			char path[64];

			snprintf(path, sizeof(path), "t%d/f%03d", cm->id, i);
			ck_assert_ptr_nonnull(cat("main", path));
		}
	}
	ck_assert_int_eq(meta_stage_list(db, "data", "main", "", count_staged, &staged), 0);
	ck_assert_int_eq(staged, 0);
}
END_TEST

/* Every key reachable from the refs must exist in the store. */
static int key_exists(void *arg, const char *key)
{
	++*(size_t *)arg;
	return store_head(repo_store(r), key, NULL);
}

/* A child commits in a loop and is killed with SIGKILL at some point;
 * every ref must then point at a commit whose whole tree is readable. */
START_TEST(kill_during_commits_leaves_consistent_refs)
{
	int fds[2], status;
	size_t keys = 0;
	char byte;
	pid_t pid;

	paths_init();
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct meta_db *cdb;
		struct repo *cr;

		close(fds[0]);
		if (meta_db_open(dbdir, &cdb) ||
		    repo_create(cdb, "data", url, NULL, REPO_PACK_SIZE_AUTO, &cr))
			_exit(2);
		for (int i = 0;; i++) {
			char path[64];
			struct tree_entry e = file_entry("payload");
			struct oid id;

			snprintf(path, sizeof(path), "d%d/f%d", i % 7, i);
			if (repo_stage(cr, "main", path, &e) || repo_commit(cr, "main", &ci, &id))
				_exit(3);
			if (i == 10 && write(fds[1], "x", 1) != 1)
				_exit(4);
		}
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &byte, 1), 1); /* 10 commits in */
	usleep(20000 + (unsigned)(getpid() % 7) * 3000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	close(fds[0]);

	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(repo_open(db, "data", &r), 0);
	ck_assert_int_ge(log_len("main", false), 12);
	ck_assert_int_eq(repo_gc_reachable(r, key_exists, &keys), 0);
	ck_assert_uint_gt(keys, 12);
	/* and the branch can move on */
	{
		struct oid id;

		stage(r, "main", "after", "crash");
		ck_assert_int_eq(repo_commit(r, "main", &ci, &id), 0);
	}
	teardown();
}
END_TEST

static int count_keys(void *arg, const char *key)
{
	size_t *n = arg;

	n[0]++;
	n[strncmp(key, "chunks/", 7) ? 1 : 2]++;
	return 0;
}

START_TEST(gc_plan_lists_reachable_objects)
{
	struct tree_entry e = { .mode = S_IFREG | 0644, .size = 10 };
	struct manifest m = { .size = 10, .nchunks = 1 };
	struct manifest_chunk ch = { .len = 10, .loc = MANIFEST_LOC_OBJECT };
	struct buf enc = BUF_INIT;
	size_t n[3] = { 0 };
	struct oid c;

	oid_hash(&ch.id, "0123456789", 10);
	m.chunks = &ch;
	ck_assert_int_eq(manifest_encode(&m, &enc), 0);
	ck_assert_int_eq(meta_object_put(repo_objects(r), enc.data, enc.len, &e.id), 0);
	buf_release(&enc);
	ck_assert_int_eq(repo_stage(r, "main", "dir/file", &e), 0);
	ck_assert_int_eq(repo_stage(r, "main", "dir/copy", &e), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_branch_create(r, "b2", "main"), 0);
	ck_assert_int_eq(repo_gc_reachable(r, count_keys, n), 0);
	/* 2 commits, root tree, empty tree, dir tree, manifest; 1 chunk, once */
	ck_assert_uint_eq(n[2], 1);
	ck_assert_uint_eq(n[1], 6);
}
END_TEST

/* Payload 2: staging checks the chunk (not a manifest), gc reaches the
 * chunk and no manifest, and the same bytes as payload 0 diff as modified. */
START_TEST(one_chunk_entries)
{
	static uint8_t data[5000];
	struct tree_entry e = { .mode = S_IFREG | 0644, .size = sizeof(data), .is_chunk = true };
	struct tree_entry m0 = { .mode = S_IFREG | 0644 };
	struct manifest_chunk ch = { .len = sizeof(data), .loc = MANIFEST_LOC_OBJECT };
	struct manifest m = { .size = sizeof(data), .nchunks = 1, .chunks = &ch };
	struct chunk_writer *w = chunk_writer_new(1);
	struct chunk_put_result res;
	struct buf enc = BUF_INIT, got = BUF_INIT;
	struct meta_node *hold;
	struct tree_entry look;
	size_t n[3] = { 0 };
	struct oid c1, c2;

	test_random_bytes(data, sizeof(data), 5);
	oid_hash(&e.id, data, sizeof(data));
	/* a metadata object of the same id is not the chunk */
	ck_assert_int_eq(chunk_put_ns(w, repo_store(r), CHUNK_NS_META, data, sizeof(data), &res), 0);
	ck_assert_int_eq(repo_stage(r, "main", "one", &e), T9K_ENOTFOUND);
	ck_assert_msg(strstr(t9k_errmsg(T9K_ENOTFOUND), "cannot stage 'one'"), "%s",
		      t9k_errmsg(T9K_ENOTFOUND));
	ck_assert_int_eq(chunk_put(w, repo_store(r), data, sizeof(data), &res), 0);
	ck_assert(oid_eq(&res.id, &e.id));
	ck_assert_int_eq(repo_stage(r, "main", "one", &e), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c1), 0);
	ck_assert_int_eq(repo_lookup(r, &c1, "one", &look, &hold), 0);
	ck_assert(look.is_chunk && oid_eq(&look.id, &e.id));
	meta_node_put(repo_objects(r), hold);
	ck_assert_int_eq(repo_file_read(r, &e, 10, 100, &got), 0);
	ck_assert_uint_eq(got.len, 100);
	ck_assert(!memcmp(got.data, data + 10, 100));

	/* gc: 2 commits, root tree, empty tree; the chunk; no manifest */
	ck_assert_int_eq(repo_gc_reachable(r, count_keys, n), 0);
	ck_assert_uint_eq(n[2], 1);
	ck_assert_uint_eq(n[1], 4);

	/* the same bytes behind a manifest: reported as modified */
	ch.id = e.id;
	ck_assert_int_eq(manifest_encode(&m, &enc), 0);
	ck_assert_int_eq(meta_object_put(repo_objects(r), enc.data, enc.len, &m0.id), 0);
	m0.size = sizeof(data);
	ck_assert_int_eq(repo_stage(r, "main", "one", &m0), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c2), 0);
	ck_assert_str_eq(diff_specs("main~1", "main"), "M one\n");
	buf_release(&enc);
	buf_release(&got);
	chunk_writer_free(w);
}
END_TEST

struct key_list {
	char keys[16][CHUNK_KEY_MAX + 8];
	size_t n;
};

static int list_keys(void *arg, const char *key)
{
	struct key_list *l = arg;

	ck_assert_uint_lt(l->n, 16);
	snprintf(l->keys[l->n++], sizeof(l->keys[0]), "%s", key);
	return 0;
}

static bool listed(const struct key_list *l, const char *ns, const struct oid *id)
{
	char key[CHUNK_KEY_MAX];

	chunk_key_ns(ns, id, key);
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->keys[i], key))
			return true;
	return false;
}

/* A chunk stored as a delta only (store/chunk.h: a branch mount's small
 * appends): staged as a payload-2 entry and in a manifest, read back by
 * every reader, and the gc plan keeps the delta and its base. */
START_TEST(delta_chunks)
{
	static uint8_t data[6000];
	struct tree_entry e = { .mode = S_IFREG | 0644, .size = sizeof(data), .is_chunk = true };
	struct tree_entry m0 = { .mode = S_IFREG | 0644, .size = 2 * sizeof(data) };
	struct manifest_chunk ch[2] = { { .len = sizeof(data), .loc = MANIFEST_LOC_OBJECT },
					{ .len = sizeof(data), .loc = MANIFEST_LOC_OBJECT } };
	struct manifest m = { .size = 2 * sizeof(data), .nchunks = 2, .chunks = ch };
	struct chunk_writer *w = chunk_writer_new(1);
	struct chunk_put_result res;
	struct buf enc = BUF_INIT, got = BUF_INIT;
	struct key_list keys = { .n = 0 };
	struct oid base, c1;

	test_random_bytes(data, sizeof(data), 9);
	/* the base: the first 4,000 bytes and more, stored whole */
	ck_assert_int_eq(chunk_put(w, repo_store(r), data, 4500, &res), 0);
	base = res.id;
	oid_hash(&e.id, data, sizeof(data));
	ck_assert_int_eq(chunk_put_delta(w, repo_store(r), &e.id, sizeof(data), &base, 4000,
					 data + 4000, sizeof(data) - 4000, &res), 0);
	ck_assert_int_eq(repo_stage(r, "main", "one", &e), 0);
	ck_assert_int_eq(repo_file_read(r, &e, 3990, 20, &got), 0);
	ck_assert(got.len == 20 && !memcmp(got.data, data + 3990, 20));
	buf_reset(&got);
	ck_assert_int_eq(chunk_get(repo_store(r), &e.id, &got), 0);
	ck_assert(got.len == sizeof(data) && !memcmp(got.data, data, sizeof(data)));
	/* behind a manifest too, the chunk twice */
	ch[0].id = ch[1].id = e.id;
	ck_assert_int_eq(manifest_encode(&m, &enc), 0);
	ck_assert_int_eq(meta_object_put(repo_objects(r), enc.data, enc.len, &m0.id), 0);
	ck_assert_int_eq(repo_stage(r, "main", "two", &m0), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c1), 0);
	buf_reset(&got);
	ck_assert_int_eq(repo_file_read(r, &m0, 5990, 20, &got), 0);
	ck_assert(got.len == 20 && !memcmp(got.data, data + 5990, 10) &&
		  !memcmp(got.data + 10, data, 10));

	/* gc: the delta and its base, not a whole chunk that is not there */
	ck_assert_int_eq(repo_gc_reachable(r, list_keys, &keys), 0);
	ck_assert(listed(&keys, CHUNK_NS_DELTA, &e.id));
	ck_assert(listed(&keys, CHUNK_NS_DATA, &base));
	ck_assert(!listed(&keys, CHUNK_NS_DATA, &e.id));
	/* once stored whole as well, both */
	ck_assert_int_eq(chunk_put(w, repo_store(r), data, sizeof(data), &res), 0);
	keys.n = 0;
	ck_assert_int_eq(repo_gc_reachable(r, list_keys, &keys), 0);
	ck_assert(listed(&keys, CHUNK_NS_DELTA, &e.id) && listed(&keys, CHUNK_NS_DATA, &e.id));

	/* a delta whose base is gone is an error naming both, never data */
	ck_assert_int_eq(chunk_put_delta(w, repo_store(r), &c1, 100, &c1, 0, data, 100, &res), 0);
	buf_reset(&got);
	ck_assert_int_eq(chunk_get(repo_store(r), &c1, &got), -ENOENT);
	ck_assert_msg(strstr(t9k_errmsg(-ENOENT), "the base of delta chunk"), "%s",
		      t9k_errmsg(-ENOENT));
	buf_release(&enc);
	buf_release(&got);
	chunk_writer_free(w);
}
END_TEST

/* Tree version 2 through staging and commit: owners, special files, a
 * hard-link group, directory owners by attributes, subdirectory counts;
 * staged values of version 1 entries keep their old layout. */
static struct tree_entry look_up(struct oid *c, const char *path, struct meta_node **hold)
{
	struct tree_entry e;

	ck_assert_int_eq(repo_lookup(r, c, path, &e, hold), 0);
	return e;
}

START_TEST(owners_specials_links_subdirs)
{
	struct tree_entry f = file_entry("owned"), p = { .mode = S_IFIFO | 0640, .has_owner = true,
							 .uid = 1000, .gid = 100 };
	struct tree_entry dev = { .mode = S_IFCHR | 0666, .dev_major = 1, .dev_minor = 3 };
	struct tree_entry h = file_entry("linked"), da = { .mode = S_IFDIR | 02750,
							   .has_owner = true, .uid = 7, .gid = 8 };
	struct repo_stage_item items[] = {
		{ "a/f", &f, false }, { "a/p", &p, false }, { "a/dev", &dev, false },
		{ "a/h1", &h, false }, { "b/h2", &h, false }, { "a", &da, true },
	};
	struct meta_node *hold;
	struct tree_entry e;
	void *val;
	size_t len;
	struct oid c, legacy, root;

	f.has_owner = true;
	f.uid = 1000;
	f.gid = 1000;
	h.link_id = 0xfeedULL;
	h.nlink = 2;
	ck_assert_int_eq(repo_stage_batch(r, "main", items, 6), 0);
	stage(r, "main", "a/sub/x", "x");
	stage(r, "main", "plain", "v1");
	/* the staged bytes: version 1 entries as before, 'e' and 'a' else */
	ck_assert_int_eq(meta_stage_get(db, "data", "main", "plain", &val, &len), 0);
	ck_assert_int_eq(((char *)val)[0], 'E');
	free(val);
	ck_assert_int_eq(meta_stage_get(db, "data", "main", "a/f", &val, &len), 0);
	ck_assert_int_eq(((char *)val)[0], 'e');
	free(val);
	ck_assert_int_eq(meta_stage_get(db, "data", "main", "a", &val, &len), 0);
	ck_assert_int_eq(((char *)val)[0], 'a');
	free(val);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);

	e = look_up(&c, "a/f", &hold);
	ck_assert(e.has_owner && e.uid == 1000 && e.gid == 1000);
	meta_node_put(repo_objects(r), hold);
	e = look_up(&c, "a/p", &hold);
	ck_assert(S_ISFIFO(e.mode) && e.has_owner && e.uid == 1000 && e.gid == 100 && e.size == 0);
	meta_node_put(repo_objects(r), hold);
	e = look_up(&c, "a/dev", &hold);
	ck_assert(S_ISCHR(e.mode) && !e.has_owner && e.dev_major == 1 && e.dev_minor == 3);
	meta_node_put(repo_objects(r), hold);
	e = look_up(&c, "b/h2", &hold);
	ck_assert(e.link_id == 0xfeedULL && e.nlink == 2 && e.is_inline);
	meta_node_put(repo_objects(r), hold);
	e = look_up(&c, "a", &hold);
	ck_assert_uint_eq(e.mode, S_IFDIR | 02750);
	ck_assert(e.has_owner && e.uid == 7 && e.gid == 8);
	ck_assert(e.has_subdirs && e.subdirs == 1 && e.size == 5);
	meta_node_put(repo_objects(r), hold);
	e = look_up(&c, "b", &hold);
	ck_assert(e.has_subdirs && e.subdirs == 0 && !e.has_owner);
	meta_node_put(repo_objects(r), hold);
	ck_assert_str_eq(cat("main", "plain"), "v1");

	/* counts follow directories coming and going; owners stay */
	stage(r, "main", "a/sub", NULL);
	stage(r, "main", "a/s2/y", "y");
	stage(r, "main", "a/s3/z", "z");
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	e = look_up(&c, "a", &hold);
	ck_assert(e.has_subdirs && e.subdirs == 2 && e.has_owner && e.uid == 7);
	meta_node_put(repo_objects(r), hold);
	ck_assert_str_eq(diff_specs("main~1", "main"), "A a/s2/y\nA a/s3/z\nD a/sub/x\n");

	/* an owner change is a change of the entry */
	f.uid = 0;
	ck_assert_int_eq(repo_stage(r, "main", "a/f", &f), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_str_eq(diff_specs("main~1", "main"), "M a/f\n");

	/* a directory written without a count (version 1) stays without */
	{
		struct tree_entry old = { .mode = S_IFDIR | 0755 };
		struct tree_edit ed = { .name = "legacy", .name_len = 6 };
		struct path_edit pe = { .path = "legacy/new/f", .entry = &f };

		ck_assert_int_eq(tree_empty(repo_objects(r), &old.id), 0);
		ed.entry = old;
		ed.entry.name = "legacy";
		ed.entry.name_len = 6;
		ck_assert_int_eq(tree_apply(repo_objects(r), NULL, &ed, 1, &legacy, NULL), 0);
		ck_assert_int_eq(repo_apply_paths(r, &legacy, &pe, 1, 5, &root), 0);
		ck_assert_int_eq(tree_lookup(repo_objects(r), &root, "legacy", 6, &e, &hold), 0);
		ck_assert(!e.has_subdirs && e.size == 1);
		ck_assert_int_eq(tree_lookup(repo_objects(r), &e.id, "new", 3, &e, &hold), 0);
		ck_assert(e.has_subdirs && e.subdirs == 0 && e.size == 1);
		meta_node_put(repo_objects(r), hold);
	}
}
END_TEST

/* 1,000,000 files, in one directory or 1,000 x 1,000: a commit of 10
 * changes writes few objects, and a diff reads few. Counts, not seconds. */
static void big_repo(int two_level)
{
	size_t n = 1000000;
	struct path_edit *pe = calloc(n, sizeof(*pe));
	char (*paths)[32] = malloc(n * sizeof(*paths));
	struct tree_entry e = file_entry("tiny");
	struct meta_stats ms;
	struct meta_objects *fresh;
	struct repo_commit head;
	struct oid root, c0, c1, id;
	struct diff_list d;

	for (size_t i = 0; i < n; i++) {
		if (two_level)
			snprintf(paths[i], sizeof(paths[i]), "d%03zu/f%06zu", i / 1000, i);
		else
			snprintf(paths[i], sizeof(paths[i]), "f%07zu", i);
		pe[i].path = paths[i];
		pe[i].entry = &e;
	}
	ck_assert_int_eq(repo_resolve(r, "main", &c0), 0);
	ck_assert_int_eq(repo_commit_read(r, &c0, &head), 0);
	ck_assert_int_eq(repo_apply_paths(r, &head.c.root, pe, n, 1, &root), 0);
	repo_commit_release(&head);
	ck_assert_int_eq(repo_write_commit(r, &root, &c0, 1, &ci, &id), 0);
	ck_assert_int_eq(repo_branch_move(r, "main", &c0, &id), 0);
	c0 = id;

	for (int i = 0; i < 10; i++) {
		const char *text = i % 2 ? "changed" : NULL;

		stage(r, "main", paths[(size_t)i * 99989 + 7], text);
	}
	meta_objects_stats_reset(repo_objects(r));
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c1), 0);
	meta_objects_stats(repo_objects(r), &ms);
	ck_assert_uint_le(ms.writes_new, 64);
	ck_assert_uint_lt(ms.bytes_new, 2u << 20);

	ck_assert_int_eq(meta_objects_new(repo_store(r), 64u << 20, &fresh), 0);
	{
		struct meta_objects *saved = r->mo;

		r->mo = fresh; /* a cold cache: every object read is counted */
		d.text[0] = '\0';
		ck_assert_int_eq(repo_diff(r, &c0, &c1, list_diff, &d), 0);
		meta_objects_stats(fresh, &ms);
		r->mo = saved;
	}
	ck_assert_uint_le(ms.reads, 200);
	{
		int lines = 0;

		for (const char *p = d.text; *p; p++)
			lines += *p == '\n';
		ck_assert_int_eq(lines, 10);
	}
	meta_objects_free(fresh);
	free(paths);
	free(pe);
}

START_TEST(million_files_one_directory)
{
	big_repo(0);
}
END_TEST

START_TEST(million_files_two_levels)
{
	big_repo(1);
}
END_TEST

Suite *repo_suite(void)
{
	Suite *s = suite_create("repo");
	TCase *tc = tcase_create("repo");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, stage_commit_log_diff);
	tcase_add_test(tc, files_and_directories_replace_each_other);
	tcase_add_test(tc, refs_and_specs);
	tcase_add_test(tc, merge_fast_forward_three_way_and_conflicts);
	tcase_add_test(tc, revert_undoes_a_commit);
	tcase_add_test(tc, reset_drops_staged_changes);
	tcase_add_test(tc, staging_needs_the_named_object);
	tcase_add_test(tc, one_chunk_entries);
	tcase_add_test(tc, owners_specials_links_subdirs);
	tcase_add_test(tc, pack_size_default_and_range);
	tcase_add_test(tc, chunk_index_needs_the_pack);
	tcase_add_test(tc, chunk_index_through_the_service);
	tcase_add_test(tc, concurrent_commits_lose_nothing);
	tcase_add_test(tc, gc_plan_lists_reachable_objects);
	tcase_add_test(tc, delta_chunks);
	tcase_add_test(tc, million_files_one_directory);
	tcase_add_test(tc, million_files_two_levels);
	suite_add_tcase(s, tc);
	tc = tcase_create("crash");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, kill_during_commits_leaves_consistent_refs);
	suite_add_tcase(s, tc);
	return s;
}
