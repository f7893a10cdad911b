/* Unit tests of import and export: a tree of files of every size class,
 * symlinks, empty directories, modes and mtimes goes in, is committed, and
 * comes back out identical; ranged reads; dedup on re-import; parallel
 * export of many files and of a file into an fd; a chunk missing during an
 * export; files whose chunks sit in packs built by hand (runs read as one
 * range, split, mixed, not contiguous, corrupt, missing); owners,
 * special files and hard links there and back; errors. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/fetch.h"
#include "meta/transfer.h"
#include "store/chunk.h"
#include "store/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* Owners, fifos, sockets, devices and hard links: import records them,
 * export makes them again (owners and devices as root); --no-owner on
 * either side; importing the same tree twice stages the same entries. */
static void node_at(const char *rel, mode_t mode, dev_t dev, uid_t uid, gid_t gid)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", src, rel);
	ck_assert_msg(mknod(p, mode, dev) == 0, "mknod %s: %s", p, strerror(errno));
	ck_assert_int_eq(chmod(p, mode & 07777), 0);
	ck_assert_int_eq(lchown(p, uid, gid), 0);
}

static void link_at(const char *from, const char *to)
{
	char a[PATH_MAX * 2], b[PATH_MAX * 2];

	snprintf(a, sizeof(a), "%s/%s", src, from);
	snprintf(b, sizeof(b), "%s/%s", src, to);
	ck_assert_int_eq(link(a, b), 0);
}

static void owner_at(const char *rel, uid_t uid, gid_t gid, mode_t mode)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", src, rel);
	ck_assert_int_eq(lchown(p, uid, gid), 0);
	if (mode)
		ck_assert_int_eq(chmod(p, mode), 0);
}

/* Both sides: type, mode, owner (unless no_owner: the exporter's), size,
 * rdev, nlink, mtime; names of one inode on one side are one on the other. */
static void expect_same(const char *rel, bool no_owner)
{
	char a[PATH_MAX * 2], b[PATH_MAX * 2];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "%s/%s", src, rel);
	snprintf(b, sizeof(b), "%s/%s", dst, rel);
	ck_assert_int_eq(lstat(a, &sa), 0);
	ck_assert_msg(lstat(b, &sb) == 0, "missing in export: %s", rel);
	ck_assert_uint_eq(sa.st_mode, sb.st_mode);
	ck_assert_uint_eq(no_owner ? geteuid() : sa.st_uid, sb.st_uid);
	ck_assert_uint_eq(no_owner ? getegid() : sa.st_gid, sb.st_gid);
	ck_assert_uint_eq(sa.st_rdev, sb.st_rdev);
	ck_assert_uint_eq(sa.st_nlink, sb.st_nlink);
	if (!S_ISDIR(sa.st_mode)) {
		ck_assert_int_eq(sa.st_size, sb.st_size);
		ck_assert_int_eq(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
		ck_assert_int_eq(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	}
}

static const char *const v2_names[] = {
	"d", "d/f2", "f", "g", "h1", "d/h2", "p", "s", "c", "b", "l", "l2", "loner",
};

START_TEST(owners_specials_links_round_trip)
{
	struct import_opts o = { .threads = 2 };
	struct transfer_stats st;
	struct meta_node *hold;
	struct tree_entry e;
	struct oid c, root1;
	char p[PATH_MAX * 2];

	if (geteuid() != 0)
		return; /* owners and devices need root (make test runs as root) */
	ck_assert_int_eq(mkdir(src, 0755), 0);
	snprintf(p, sizeof(p), "%s/d", src);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file("f", 100, 1, 0644);
	write_file("h1", 3u << 20, 2, 0600); /* fetched in parallel on export */
	write_file("loner", 10, 3, 0644);
	link_at("f", "d/f2");
	link_at("f", "g");
	link_at("h1", "d/h2");
	owner_at("f", 1000, 100, 04755);
	owner_at("h1", 7, 8, 0);
	owner_at("d", 7, 8, 02750);
	node_at("p", S_IFIFO | 0640, 0, 5, 5);
	node_at("s", S_IFSOCK | 0755, 0, 0, 6);
	node_at("c", S_IFCHR | 0666, makedev(1, 3), 0, 0);
	node_at("b", S_IFBLK | 0660, makedev(7, 200), 0, 6);
	snprintf(p, sizeof(p), "%s/l", src);
	ck_assert_int_eq(symlink("f", p), 0);
	link_at("l", "l2");
	owner_at("l", 9, 9, 0);
	snprintf(p, sizeof(p), "%s/loner", src); /* a name whose other is outside */
	{
		char out[PATH_MAX * 2];

		snprintf(out, sizeof(out), "%s/outside", dir);
		ck_assert_int_eq(link(p, out), 0);
	}

	ck_assert_int_eq(repo_import(r, "main", src, "", &o, &st), 0);
	ck_assert_uint_eq(st.specials, 4);
	ck_assert_uint_eq(st.links, 3 + 2 + 2);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_lookup(r, &c, "d/f2", &e, &hold), 0);
	ck_assert(e.has_owner && e.uid == 1000 && e.gid == 100 && e.mode == (S_IFREG | 04755));
	ck_assert(e.link_id && e.nlink == 3);
	meta_node_put(repo_objects(r), hold);
	ck_assert_int_eq(repo_lookup(r, &c, "loner", &e, &hold), 0);
	ck_assert(!e.link_id && e.nlink == 0); /* its other name is not in the tree */
	meta_node_put(repo_objects(r), hold);
	ck_assert_int_eq(repo_lookup(r, &c, "b", &e, &hold), 0);
	ck_assert(S_ISBLK(e.mode) && e.dev_major == 7 && e.dev_minor == 200 && e.gid == 6);
	meta_node_put(repo_objects(r), hold);
	ck_assert_int_eq(repo_lookup(r, &c, "d", &e, &hold), 0);
	ck_assert(e.has_owner && e.uid == 7 && e.has_subdirs && e.subdirs == 0);
	meta_node_put(repo_objects(r), hold);
	{
		struct repo_commit rc;

		ck_assert_int_eq(repo_commit_read(r, &c, &rc), 0);
		root1 = rc.c.root;
		repo_commit_release(&rc);
	}

	/* as root: everything back, links as links */
	ck_assert_int_eq(repo_export(r, &c, "", dst, NULL, NULL, &st), 0);
	ck_assert_uint_eq(st.specials, 4);
	ck_assert_uint_eq(st.links, 2 + 1 + 1);
	for (size_t i = 0; i < sizeof(v2_names) / sizeof(v2_names[0]); i++)
		if (strcmp(v2_names[i], "loner"))
			expect_same(v2_names[i], false);
	{
		struct stat a, b2;

		snprintf(p, sizeof(p), "%s/f", dst);
		ck_assert_int_eq(lstat(p, &a), 0);
		snprintf(p, sizeof(p), "%s/d/f2", dst);
		ck_assert_int_eq(lstat(p, &b2), 0);
		ck_assert_uint_eq(a.st_ino, b2.st_ino);
		snprintf(p, sizeof(p), "%s/loner", dst);
		ck_assert_int_eq(lstat(p, &a), 0);
		ck_assert_uint_eq(a.st_nlink, 1);
	}
	test_rmtree(dst);

	/* --no-owner: the exporter's own */
	{
		struct export_opts eo = { .no_owner = true };

		ck_assert_int_eq(repo_export_ex(r, &c, "", dst, &eo, NULL), 0);
		for (size_t i = 0; i < sizeof(v2_names) / sizeof(v2_names[0]); i++)
			if (strcmp(v2_names[i], "loner"))
				expect_same(v2_names[i], true);
	}

	/* the same tree again: the same entries (link groups included) */
	ck_assert_int_eq(repo_import(r, "main", src, "", &o, &st), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	{
		struct repo_commit rc;

		ck_assert_int_eq(repo_commit_read(r, &c, &rc), 0);
		ck_assert(oid_eq(&root1, &rc.c.root));
		repo_commit_release(&rc);
	}
	/* --no-owner on import: no owners stored */
	o.no_owner = true;
	ck_assert_int_eq(repo_import(r, "main", src, "again", &o, &st), 0);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_lookup(r, &c, "again/f", &e, &hold), 0);
	ck_assert(!e.has_owner && e.link_id && e.nlink == 3);
	meta_node_put(repo_objects(r), hold);
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

/* ---- packed chunks ---- */

/* Files whose chunks sit in packs ("packs/<hex>", chunk objects back to
 * back), built by hand the way a pack writer lays them out. */
#define PACKS_MAX 6

/* One chunk of a hand-built file: pack 0 is a standalone "chunks/<id>",
 * 1..PACKS_MAX a pack where it follows the pack's previous chunk, after
 * gap junk bytes (so it is not contiguous with that one); zeros makes it
 * compressible (zstd), else it is random (raw). */
struct piece {
	uint32_t len;
	int pack;
	uint32_t gap;
	bool zeros;
};

struct packed_file {
	uint8_t *data;
	size_t size;
	struct manifest m;
	struct oid packs[PACKS_MAX + 1];
};

static void pack_key_of(const struct packed_file *pf, int k, char key[PACK_KEY_MAX])
{
	pack_key(&pf->packs[k], key);
}

/* Stores the chunks and packs of a file cut as p[0..n) and stages it at
 * path; pf gets its bytes and manifest (packed_file_release frees them). */
static void build_packed(const char *path, const struct piece *p, size_t n, uint64_t seed,
			 struct packed_file *pf)
{
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	struct buf packs[PACKS_MAX + 1];
	struct tree_entry e = { 0 };
	size_t pos = 0;

	ck_assert_ptr_nonnull(w);
	memset(pf, 0, sizeof(*pf));
	for (int k = 0; k <= PACKS_MAX; k++)
		buf_init(&packs[k]);
	for (size_t i = 0; i < n; i++)
		pf->size += p[i].len;
	pf->data = malloc(pf->size);
	pf->m.chunks = calloc(n, sizeof(*pf->m.chunks));
	ck_assert(pf->data && pf->m.chunks);
	test_random_bytes(pf->data, pf->size, seed);
	pf->m.size = pf->size;
	pf->m.nchunks = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		struct manifest_chunk *c = &pf->m.chunks[i];
		struct buf *pk = &packs[p[i].pack];
		struct iovec iov[2];
		uint8_t codec;

		ck_assert(p[i].pack >= 0 && p[i].pack <= PACKS_MAX);
		if (p[i].zeros)
			memset(pf->data + pos, 0, p[i].len);
		c->len = p[i].len;
		ck_assert_int_eq(oid_hash(&c->id, pf->data + pos, c->len), 0);
		ck_assert_int_eq(chunk_encode(w, pf->data + pos, c->len, iov, &codec), 0);
		ck_assert_int_eq(codec, p[i].zeros ? CHUNK_ZSTD : CHUNK_RAW);
		if (p[i].pack == 0) {
			char key[CHUNK_KEY_MAX];

			c->loc = MANIFEST_LOC_OBJECT;
			chunk_key(&c->id, key);
			ck_assert_int_eq(store_put(repo_store(r), key, iov, 2), 0);
		} else {
			uint8_t junk[64];

			ck_assert_uint_le(p[i].gap, sizeof(junk));
			memset(junk, 0xa5, sizeof(junk));
			ck_assert_int_eq(buf_add(pk, junk, p[i].gap), 0);
			c->loc = MANIFEST_LOC_PACK;
			c->pack_off = pk->len;
			c->pack_len = (uint32_t)(iov[0].iov_len + iov[1].iov_len);
			ck_assert_int_eq(buf_add(pk, iov[0].iov_base, iov[0].iov_len), 0);
			ck_assert_int_eq(buf_add(pk, iov[1].iov_base, iov[1].iov_len), 0);
		}
		pos += c->len;
	}
	for (int k = 1; k <= PACKS_MAX; k++) {
		char key[PACK_KEY_MAX];

		if (!packs[k].len)
			continue;
		/* any 32 bytes name a pack (the writer draws them at random) */
		ck_assert_int_eq(oid_hash(&pf->packs[k], packs[k].data, packs[k].len), 0);
		pack_key_of(pf, k, key);
		ck_assert_int_eq(store_put_buf(repo_store(r), key, packs[k].data, packs[k].len), 0);
	}
	for (size_t i = 0; i < n; i++)
		if (p[i].pack)
			pf->m.chunks[i].pack = pf->packs[p[i].pack];
	ck_assert_int_eq(meta_manifest_put(repo_objects(r), &pf->m, &e), 0);
	ck_assert(!e.is_chunk);
	e.mode = S_IFREG | 0644;
	e.mtime_ns = 1234567890123456789;
	ck_assert_int_eq(repo_stage(r, "main", path, &e), 0);
	for (int k = 0; k <= PACKS_MAX; k++)
		buf_release(&packs[k]);
	chunk_writer_free(w);
}

static void packed_file_release(struct packed_file *pf)
{
	free(pf->data);
	manifest_release(&pf->m);
}

/* The exported file rel under dst holds exactly pf's bytes. */
static void check_exported(const char *rel, const struct packed_file *pf)
{
	char p[PATH_MAX * 2];
	uint8_t *got = malloc(pf->size + 1);
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dst, rel);
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert_int_eq(read_full(fd, got, pf->size + 1), (ssize_t)pf->size);
	ck_assert_msg(!memcmp(got, pf->data, pf->size), "%s differs", rel);
	close(fd);
	free(got);
}

/* Fetches file path at commit c with a fetch of its own of threads
 * workers into a scratch file; returns the fetch's result and, on
 * success, checks the bytes. threads 1 makes every run as long as
 * FETCH_RANGE_MAX allows (a thread's share is everything queued). */
static int fetch_with(const struct oid *c, const char *path, int threads,
		      const struct packed_file *pf)
{
	char p[PATH_MAX * 2];
	struct meta_node *hold;
	struct tree_entry e;
	struct fetch *f = NULL;
	uint8_t *got;
	int fd, rc;

	ck_assert_int_eq(repo_lookup(r, c, path, &e, &hold), 0);
	snprintf(p, sizeof(p), "%s/fetched", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fetch_new(r, threads, &f), 0);
	rc = fetch_file(f, &e, fd, 0, -1, NULL, path, 0);
	rc = fetch_finish(f, rc);
	fetch_free(f);
	if (rc == 0) {
		got = malloc(pf->size + 1);
		ck_assert_int_eq(pread_full(fd, got, pf->size + 1, 0), (ssize_t)pf->size);
		ck_assert_msg(!memcmp(got, pf->data, pf->size), "%s differs (%d threads)", path,
			      threads);
		free(got);
	}
	close(fd);
	meta_node_put(repo_objects(r), hold);
	return rc;
}

#define NPIECES(a) (sizeof(a) / sizeof((a)[0]))
#define PK(len, pack) { (len), (pack), 0, false }
#define PKZ(len, pack) { (len), (pack), 0, true }        /* compressible */
#define PKG(len, pack, gap) { (len), (pack), (gap), false } /* after a gap */

/* Packed files of every layout export byte for byte, through export's
 * own fetch and through fetches of 1 and 3 threads. */
START_TEST(export_packed_chunks)
{
	/* 21 MiB over two packs: pack 1 (13 MiB) is split, pack 2 follows */
	static const struct piece two_packs[] = {
		PK(1u << 20, 1), PK(900000, 1), PKZ(1300000, 1), PK(1u << 20, 1),
		PK(1u << 20, 1), PK(2u << 20, 1), PK(700000, 1), PKZ(1u << 20, 1),
		PK(1u << 20, 1), PK(1500000, 1), PK(1u << 20, 1), PK(300000, 1),
		PK(1u << 20, 2), PKZ(1u << 20, 2), PK(1u << 20, 2), PK(1200000, 2),
		PK(1u << 20, 2), PK(800000, 2), PK(1u << 20, 2), PK(1u << 20, 2),
	};
	/* one 30 MiB pack of 3 MiB chunks: several ranges of ~8 MiB */
	static const struct piece one_big_pack[] = {
		PK(3u << 20, 3), PK(3u << 20, 3), PKZ(3u << 20, 3), PK(3u << 20, 3),
		PK(3u << 20, 3), PK(3u << 20, 3), PK(3u << 20, 3), PK(3u << 20, 3),
		PK(3u << 20, 3), PK(3u << 20, 3),
	};
	/* standalone chunks between packed runs, first and last too */
	static const struct piece mixed[] = {
		PK(600000, 0), PK(1u << 20, 4), PK(1u << 20, 4), PKZ(500000, 0),
		PK(1u << 20, 4), PKZ(700000, 4), PK(1u << 20, 4), PK(400000, 0),
		PK(1u << 20, 5), PK(300000, 0),
	};
	/* packed but not contiguous: gaps, and alternating packs */
	static const struct piece apart[] = {
		PK(1u << 20, 6), PKG(1u << 20, 6, 1), PKG(1u << 20, 6, 64), PK(1u << 20, 6),
		{ 1u << 20, 6, 13, true }, PK(800000, 5), PK(1u << 20, 6), PK(900000, 5),
		PK(1u << 20, 6), PKG(1u << 20, 6, 7),
	};
	/* a file of one chunk, packed: a manifest all the same */
	static const struct piece alone[] = { PK(200000, 1) };
	static const struct { const char *path; const struct piece *p; size_t n; } files[] = {
		{ "two-packs", two_packs, NPIECES(two_packs) },
		{ "one-big-pack", one_big_pack, NPIECES(one_big_pack) },
		{ "mixed", mixed, NPIECES(mixed) },
		{ "apart", apart, NPIECES(apart) },
		{ "alone", alone, NPIECES(alone) },
	};
	struct packed_file pf[NPIECES(files)];
	struct transfer_stats st;
	struct buf got = BUF_INIT;
	struct meta_node *hold;
	struct tree_entry e;
	struct oid c;

	for (size_t i = 0; i < NPIECES(files); i++)
		build_packed(files[i].path, files[i].p, files[i].n, 300 + i, &pf[i]);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(repo_export(r, &c, "", dst, NULL, NULL, &st), 0);
	ck_assert_uint_eq(st.files, NPIECES(files));
	for (size_t i = 0; i < NPIECES(files); i++) {
		check_exported(files[i].path, &pf[i]);
		ck_assert_int_eq(fetch_with(&c, files[i].path, 1, &pf[i]), 0);
		ck_assert_int_eq(fetch_with(&c, files[i].path, 3, &pf[i]), 0);
	}
	/* ranged reads take one packed chunk at a time */
	ck_assert_int_eq(repo_lookup(r, &c, "mixed", &e, &hold), 0);
	ck_assert_int_eq(repo_file_read(r, &e, 500000, 3000000, &got), 0);
	ck_assert_uint_eq(got.len, 3000000);
	ck_assert(!memcmp(got.data, pf[2].data + 500000, got.len));
	meta_node_put(repo_objects(r), hold);
	buf_release(&got);
	for (size_t i = 0; i < NPIECES(files); i++)
		packed_file_release(&pf[i]);
}
END_TEST

/* The export of a file failed: rc is code, the message names the file
 * and what, and the file is not left behind. */
static void check_export_fails(const struct oid *c, const char *rel, int code, const char *what)
{
	char p[PATH_MAX * 2];
	struct stat sb;
	int rc;

	test_rmtree(dst);
	rc = repo_export(r, c, "", dst, NULL, NULL, NULL);
	ck_assert_int_eq(rc, code);
	ck_assert_msg(strstr(t9k_errmsg(rc), rel) && strstr(t9k_errmsg(rc), what), "%s",
		      t9k_errmsg(rc));
	snprintf(p, sizeof(p), "%s/%s", dst, rel);
	ck_assert_int_eq(lstat(p, &sb), -1);
	ck_assert_int_eq(errno, ENOENT);
}

/* A bad byte inside a range read at once fails the file naming that
 * chunk; so does a pack cut short inside a range. */
START_TEST(export_packed_corrupt_chunk_names_it)
{
	static const struct piece p[] = {
		PK(512u << 10, 1), PK(512u << 10, 1), PKZ(512u << 10, 1), PK(512u << 10, 1),
		PK(512u << 10, 1), PK(512u << 10, 1), PK(512u << 10, 1), PK(512u << 10, 1),
	};
	char key[PACK_KEY_MAX], hex[OID_HEXSZ + 1];
	struct buf pack = BUF_INIT;
	struct packed_file pf;
	struct oid c;
	int rc;

	build_packed("f", p, NPIECES(p), 400, &pf);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	ck_assert_int_eq(fetch_with(&c, "f", 1, &pf), 0);
	pack_key_of(&pf, 1, key);
	ck_assert_int_eq(store_get(repo_store(r), key, 0, STORE_WHOLE, &pack), 0);

	/* chunk 5's payload: the middle of the one range a thread reads */
	pack.data[pf.m.chunks[5].pack_off + CHUNK_HDR_SIZE + 1000] ^= 0x40;
	ck_assert_int_eq(store_put_buf(repo_store(r), key, pack.data, pack.len), 0);
	oid_to_hex(&pf.m.chunks[5].id, hex);
	check_export_fails(&c, "f", T9K_ECORRUPT, hex);
	rc = fetch_with(&c, "f", 1, &pf);
	ck_assert_int_eq(rc, T9K_ECORRUPT);
	ck_assert_msg(strstr(t9k_errmsg(rc), hex), "%s", t9k_errmsg(rc));

	/* the pack ends inside chunk 6 */
	pack.data[pf.m.chunks[5].pack_off + CHUNK_HDR_SIZE + 1000] ^= 0x40;
	ck_assert_int_eq(store_put_buf(repo_store(r), key, pack.data,
				       pf.m.chunks[6].pack_off + 100), 0);
	oid_to_hex(&pf.m.chunks[6].id, hex);
	rc = fetch_with(&c, "f", 1, &pf);
	ck_assert_int_eq(rc, T9K_ECORRUPT);
	ck_assert_msg(strstr(t9k_errmsg(rc), hex) && strstr(t9k_errmsg(rc), "cut short"), "%s",
		      t9k_errmsg(rc));

	buf_release(&pack);
	packed_file_release(&pf);
}
END_TEST

/* A pack missing from the store: the export fails saying so, naming the
 * pack and the file, and removes the file. */
START_TEST(export_missing_pack_says_so)
{
	static const struct piece p[] = {
		PK(1u << 20, 0), PK(1u << 20, 1), PK(1u << 20, 1), PK(1u << 20, 2), PK(1u << 20, 2),
	};
	char key[PACK_KEY_MAX], hex[OID_HEXSZ + 1], msg[64 + OID_HEXSZ];
	struct packed_file pf;
	struct oid c;

	build_packed("sub/f", p, NPIECES(p), 500, &pf);
	ck_assert_int_eq(repo_commit(r, "main", &ci, &c), 0);
	pack_key_of(&pf, 2, key);
	ck_assert_int_eq(store_delete(repo_store(r), key), 0);
	snprintf(msg, sizeof(msg), "pack %s", oid_to_hex(&pf.packs[2], hex));
	check_export_fails(&c, "sub/f", -ENOENT, msg);
	ck_assert(strstr(t9k_errmsg(-ENOENT), "not found"));
	packed_file_release(&pf);
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
	tcase_add_test(tc, owners_specials_links_round_trip);
	tcase_add_test(tc, file_to_fd_in_parallel_after_existing_bytes);
	tcase_add_test(tc, export_missing_chunk_removes_the_file);
	tcase_add_test(tc, export_packed_chunks);
	tcase_add_test(tc, export_packed_corrupt_chunk_names_it);
	tcase_add_test(tc, export_missing_pack_says_so);
	suite_add_tcase(s, tc);
	return s;
}
