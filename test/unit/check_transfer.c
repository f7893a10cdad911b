/* Unit tests of import and export: a tree of files of every size class,
 * symlinks, empty directories, modes and mtimes goes in, is committed, and
 * comes back out identical; ranged reads; dedup on re-import; parallel
 * export of many files and of a file into an fd; a chunk missing during an
 * export; errors. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/fetch.h"
#include "meta/transfer.h"
#include "store/chunk.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX], src[PATH_MAX + 8], dst[PATH_MAX + 8];
static struct meta_db *db;
static struct repo *r;
static const struct commit_info ci = { .author = "t", .message = "import" };

static void setup(void)
{
	char dbdir[PATH_MAX + 8], url[PATH_MAX + 32];

	test_tmpdir(dir, sizeof(dir));
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(url, sizeof(url), "file://%s/store", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	ck_assert_int_eq(meta_db_open(dbdir, &db), 0);
	ck_assert_int_eq(repo_create(db, "data", url, NULL, REPO_PACK_SIZE_AUTO, &r), 0);
}

static void teardown(void)
{
	repo_close(r);
	meta_db_close(db);
	test_rmtree(dir);
}

static void write_file(const char *rel, size_t size, uint64_t seed, mode_t mode)
{
	char path[PATH_MAX * 2];
	uint8_t *d = malloc(size + 1);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", src, rel);
	test_random_bytes(d, size, seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, d, size), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	free(d);
}

static void make_tree(void)
{
	char p[PATH_MAX * 2];
	struct timespec ts[2] = { { 1000, 0 }, { 1234567890, 123456789 } };

	ck_assert_int_eq(mkdir(src, 0755), 0);
	snprintf(p, sizeof(p), "%s/sub", src);
	ck_assert_int_eq(mkdir(p, 0750), 0);
	snprintf(p, sizeof(p), "%s/sub/deeper", src);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/empty", src);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file("zero", 0, 1, 0644);
	write_file("small", 100, 2, 0600);
	write_file("inline-max", META_INLINE_MAX, 3, 0644);
	write_file("one-chunk", 100000, 4, 0755);
	write_file("sub/big", 3u << 20, 5, 0644);
	write_file("sub/deeper/just-over", META_INLINE_MAX + 1, 6, 0640);
	snprintf(p, sizeof(p), "%s/link", src);
	ck_assert_int_eq(symlink("sub/big", p), 0);
	snprintf(p, sizeof(p), "%s/small", src);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static int compare_one(const char *path, const struct stat *sa, int flag, struct FTW *ftw)
{
	char other[PATH_MAX * 2];
	struct stat sb;

	(void)flag, (void)ftw;
	snprintf(other, sizeof(other), "%s%s", dst, path + strlen(src));
	ck_assert_msg(lstat(other, &sb) == 0, "missing in export: %s", other);
	ck_assert_uint_eq(sa->st_mode, sb.st_mode);
	if (S_ISDIR(sa->st_mode))
		return 0;
	ck_assert_int_eq(sa->st_size, sb.st_size);
	ck_assert_int_eq(sa->st_mtim.tv_sec, sb.st_mtim.tv_sec);
	ck_assert_int_eq(sa->st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	if (S_ISLNK(sa->st_mode)) {
		char a[PATH_MAX], b[PATH_MAX];
		ssize_t na = readlink(path, a, sizeof(a)), nb = readlink(other, b, sizeof(b));

		ck_assert(na == nb && !memcmp(a, b, (size_t)na));
	} else {
		size_t n = (size_t)sa->st_size;
		uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
		int fa = open(path, O_RDONLY), fb = open(other, O_RDONLY);

		ck_assert_int_eq(read_full(fa, a, n), (ssize_t)n);
		ck_assert_int_eq(read_full(fb, b, n), (ssize_t)n);
		ck_assert(!memcmp(a, b, n));
		close(fa);
		close(fb);
		free(a);
		free(b);
	}
	return 0;
}

START_TEST(import_commit_export_round_trip)
{
	struct import_opts o = { .threads = 2 };
	struct transfer_stats st;
	struct oid c;

	make_tree();
	ck_assert_int_eq(repo_import(r, "main", src, "data", &o, &st), 0);
	ck_assert_uint_eq(st.files, 6);
	ck_assert_uint_eq(st.symlinks, 1);
	ck_assert_uint_eq(st.bytes, 100 + META_INLINE_MAX + 100000 + (3u << 20) + META_INLINE_MAX + 1);
	ck_assert_uint_gt(st.chunks_new, 3);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	/* files of one chunk name it (payload 2); bigger ones a manifest */
	{
		static const struct { const char *path; bool chunk, inl; } want[] = {
			{ "data/one-chunk", true, false },
			{ "data/sub/deeper/just-over", true, false },
			{ "data/inline-max", false, true },
			{ "data/sub/big", false, false },
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			struct meta_node *hold;
			struct tree_entry e;

			ck_assert_int_eq(repo_lookup(r, &c, want[i].path, &e, &hold), 0);
			ck_assert_msg(e.is_chunk == want[i].chunk && e.is_inline == want[i].inl,
				      "%s: chunk %d inline %d", want[i].path, e.is_chunk, e.is_inline);
			meta_node_put(repo_objects(r), hold);
		}
	}
	ck_assert_int_eq(repo_export(r, &c, "data", dst, NULL, NULL, &st), 0);
	ck_assert_uint_eq(st.files, 6);
	/* export carries every type, byte, mode and mtime of the source */
	ck_assert_int_eq(nftw(src, compare_one, 16, FTW_PHYS), 0);
	/* and the export holds nothing the source did not */
	{
		char tmp[PATH_MAX * 2];

		memcpy(tmp, src, sizeof(src));
		memcpy(src, dst, sizeof(dst));
		memcpy(dst, tmp, sizeof(src));
		ck_assert_int_eq(nftw(src, compare_one, 16, FTW_PHYS), 0);
		memcpy(dst, src, sizeof(dst));
		memcpy(src, tmp, sizeof(src));
	}
	/* exporting onto an existing path is refused */
	ck_assert_int_eq(repo_export(r, &c, "data", dst, NULL, NULL, NULL), -EEXIST);
	/* importing the same tree again stores no new chunk */
	ck_assert_int_eq(repo_import(r, "main", src, "copy", &o, &st), 0);
	ck_assert_uint_eq(st.chunks_new, 0);
}
END_TEST

START_TEST(ranged_reads_cross_chunks)
{
	size_t size = 3u << 20;
	uint8_t *want = malloc(size);
	struct buf got = BUF_INIT;
	struct tree_entry e;
	struct meta_node *hold;
	struct oid c;
	const uint64_t offs[][2] = { { 0, 10 }, { 262143, 2 }, { 1000000, 2000000 },
				     { size - 5, 100 }, { size, 10 }, { 12345, 0 } };

	make_tree();
	test_random_bytes(want, size, 5);
	ck_assert_int_eq(repo_import(r, "main", src, "", NULL, NULL), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_lookup(r, &c, "sub/big", &e, &hold), 0);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint64_t off = offs[i][0], len = offs[i][1];
		uint64_t n = off >= size ? 0 : (len < size - off ? len : size - off);

		buf_reset(&got);
		ck_assert_int_eq(repo_file_read(r, &e, off, len, &got), 0);
		ck_assert_uint_eq(got.len, n);
		ck_assert(!n || !memcmp(got.data, want + off, n));
	}
	meta_node_put(repo_objects(r), hold);
	buf_release(&got);
	free(want);
}
END_TEST

static int count_staged(void *arg, const char *path, const struct tree_entry *e)
{
	(void)path, (void)e;
	++*(int *)arg;
	return 0;
}

START_TEST(bad_imports_stage_nothing)
{
	char p[PATH_MAX * 2];
	int n = 0;

	ck_assert_int_eq(repo_import(r, "main", "/nonexistent/dir", "", NULL, NULL), -ENOENT);
	ck_assert(strstr(t9k_errmsg(-ENOENT), "/nonexistent/dir") != NULL);
	make_tree();
	snprintf(p, sizeof(p), "%s/small", src);
	ck_assert_int_eq(repo_import(r, "main", p, "", NULL, NULL), -ENOTDIR);
	ck_assert_int_eq(repo_import(r, "main", src, "../up", NULL, NULL), -EINVAL);
	ck_assert_int_eq(repo_import(r, "main", src, "/abs", NULL, NULL), -EINVAL);
	ck_assert_int_eq(repo_import(r, "nobranch", src, "", NULL, NULL), T9K_ENOTFOUND);
	ck_assert_int_eq(repo_staged(r, "main", "", count_staged, &n), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* More files than the fetch keeps open, of 0..3 chunks each (file:// runs
 * one fetch thread per CPU, at least FETCH_FILES_PER_THREAD files each). */
START_TEST(export_many_files_in_parallel)
{
	static const size_t sizes[] = { 5000, 300000, 1u << 20, (5u << 20) + 7, 70000, 9u << 20 };
	struct import_opts o = { .threads = 3 };
	struct transfer_stats st;
	char p[PATH_MAX * 2];
	struct oid c;

	ck_assert_int_eq(mkdir(src, 0755), 0);
	for (int i = 0; i < 60; i++) {
		snprintf(p, sizeof(p), "f%02d", i);
		write_file(p, sizes[i % 6], 100 + (uint64_t)i, i % 2 ? 0644 : 0600);
	}
	ck_assert_int_eq(repo_import(r, "main", src, "", &o, &st), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_export(r, &c, "", dst, NULL, NULL, &st), 0);
	ck_assert_uint_eq(st.files, 60);
	ck_assert_int_eq(nftw(src, compare_one, 16, FTW_PHYS), 0);
}
END_TEST

/* A large file into an fd that already holds bytes: appended after them. */
START_TEST(file_to_fd_in_parallel_after_existing_bytes)
{
	size_t size = 9u << 20;
	uint8_t *want = malloc(size), *got = malloc(size + 3);
	char p[PATH_MAX * 2];
	struct meta_node *hold;
	struct tree_entry e;
	struct oid c;
	int fd;

	make_tree();
	write_file("nine", size, 77, 0644);
	test_random_bytes(want, size, 77);
	ck_assert_int_eq(repo_import(r, "main", src, "", NULL, NULL), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_lookup(r, &c, "nine", &e, &hold), 0);
	snprintf(p, sizeof(p), "%s/out", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, "hdr", 3), 0);
	ck_assert_int_eq(repo_file_to_fd(r, &e, fd), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)size + 3);
	ck_assert_int_eq(pread_full(fd, got, size + 3, 0), (ssize_t)size + 3);
	ck_assert(!memcmp(got, "hdr", 3) && !memcmp(got + 3, want, size));
	close(fd);
	meta_node_put(repo_objects(r), hold);
	free(want);
	free(got);
}
END_TEST

/* A chunk missing from the store: export fails naming the file, and the
 * file is not left behind half written. */
START_TEST(export_missing_chunk_removes_the_file)
{
	char key[CHUNK_KEY_MAX], p[PATH_MAX * 2];
	struct buf raw = BUF_INIT;
	struct manifest m = { 0 };
	struct meta_node *hold;
	struct tree_entry e;
	struct stat sb;
	struct oid c;
	int rc;

	make_tree();
	ck_assert_int_eq(repo_import(r, "main", src, "", NULL, NULL), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_lookup(r, &c, "sub/big", &e, &hold), 0);
	ck_assert_int_eq(meta_manifest_get(repo_objects(r), &e, &m), 0);
	ck_assert_uint_ge(m.nchunks, 2);
	chunk_key(&m.chunks[1].id, key);
	ck_assert_int_eq(store_delete(repo_store(r), key), 0);
	rc = repo_export(r, &c, "", dst, NULL, NULL, NULL);
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_msg(strstr(t9k_errmsg(rc), "sub/big") && strstr(t9k_errmsg(rc), "not found"),
		      "%s", t9k_errmsg(rc));
	snprintf(p, sizeof(p), "%s/sub/big", dst);
	ck_assert_int_eq(lstat(p, &sb), -1);
	ck_assert_int_eq(errno, ENOENT);
	manifest_release(&m);
	buf_release(&raw);
	meta_node_put(repo_objects(r), hold);
}
END_TEST

Suite *transfer_suite(void)
{
	Suite *s = suite_create("transfer");
	TCase *tc = tcase_create("transfer");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, import_commit_export_round_trip);
	tcase_add_test(tc, ranged_reads_cross_chunks);
	tcase_add_test(tc, bad_imports_stage_nothing);
	tcase_add_test(tc, export_many_files_in_parallel);
	tcase_add_test(tc, file_to_fd_in_parallel_after_existing_bytes);
	tcase_add_test(tc, export_missing_chunk_removes_the_file);
	suite_add_tcase(s, tc);
	return s;
}
