/* The SDK's C API (sdk/t9kfs.h) against a metadata service started in
 * this process on a unix socket, with a file:// store: every call, its
 * errors as codes with messages, reads of every size and offset against
 * the bytes put, reads from many threads, and handles closed in any order
 * (ASan and LeakSanitizer watch it all under `make test`). */
#include "test/unit/suites.h"

#include "meta/service.h"
#include "sdk/t9kfs.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX], listen_addr[PATH_MAX + 32], tok[128];
static struct meta_service *svc;
static t9kfs_client *cl;

static void setup(void)
{
	char db[PATH_MAX + 16], store[PATH_MAX + 16], tokf[PATH_MAX + 16];
	struct meta_service_opts o = { .db_dir = db, .store_url = store, .nlisten = 1,
				       .token_file = tokf };

	test_tmpdir(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/db", dir);
	snprintf(store, sizeof(store), "file://%s/store", dir);
	snprintf(tokf, sizeof(tokf), "%s/token", dir);
	snprintf(listen_addr, sizeof(listen_addr), "unix:%s/meta.sock", dir);
	o.listen[0] = listen_addr;
	ck_assert_int_eq(meta_token_load(tokf, true, tok, sizeof(tok)), 1);
	ck_assert_int_eq(meta_service_start(&o, &svc), 0);
	setenv("T9KFS_AUTHOR", "unit", 1);
	ck_assert_int_eq(t9kfs_connect(listen_addr, tok, "cache_size=8M,prefetch=4M", &cl), 0);
	ck_assert_int_eq(t9kfs_repo_create(cl, "data", NULL, NULL), 0);
}

static void teardown(void)
{
	t9kfs_client_free(cl);
	meta_service_stop(svc, 1000);
	test_rmtree(dir);
}

/* size bytes of the test's pattern for a seed */
static uint8_t *pattern(size_t size, uint64_t seed)
{
	uint8_t *p = malloc(size ? size : 1);

	ck_assert_ptr_nonnull(p);
	test_random_bytes(p, size, seed);
	return p;
}

static void commit(t9kfs_repo *r, const char *branch, const char *msg)
{
	char id[65];

	ck_assert_msg(t9kfs_commit(r, branch, msg, NULL, NULL, 0, 0, id) == 0, "%s", t9kfs_errmsg());
	ck_assert_uint_eq(strlen(id), 64);
}

START_TEST(connect_errors)
{
	t9kfs_client *c = NULL;
	t9kfs_repo *r = NULL;
	char *json = NULL;
	int rc;

	rc = t9kfs_connect("http://127.0.0.1:9", tok, "timeout=2", &c);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(t9kfs_errmsg(), "127.0.0.1:9"));
	ck_assert_int_eq(t9kfs_connect(listen_addr, tok, "cache_size=lots", &c), T9KFS_EUSAGE);
	ck_assert_ptr_nonnull(strstr(t9kfs_errmsg(), "cache_size"));
	ck_assert_int_eq(t9kfs_connect(listen_addr, tok, "cache=unix:/x,cache_group=a:1", &c),
			 T9KFS_EUSAGE);
	/* a wrong token connects (health needs none) and fails the first request */
	ck_assert_int_eq(t9kfs_connect(listen_addr, "wrong", NULL, &c), 0);
	ck_assert_str_eq(t9kfs_client_server(c), listen_addr);
	ck_assert_int_eq(t9kfs_repo_list(c, &json), -EACCES);
	ck_assert_ptr_null(json);
	ck_assert_ptr_nonnull(strstr(t9kfs_errmsg(), "token"));
	t9kfs_client_free(c);
	/* messages are per call: a success clears the last failure's */
	ck_assert_int_eq(t9kfs_repo_list(cl, &json), 0);
	ck_assert_str_eq(t9kfs_errmsg(), "");
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"data\""));
	t9kfs_free(json);
	ck_assert_int_eq(t9kfs_repo_open(cl, "nope", &r), T9KFS_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9kfs_errmsg(), "nope"));
	ck_assert_int_eq(t9kfs_repo_open(cl, "../x", &r), -EINVAL);
	ck_assert_int_eq(t9kfs_repo_create(cl, "data", NULL, NULL), -EEXIST);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(t9kfs_strerror(T9KFS_ENOTFOUND), "not found");
	ck_assert_int_eq(t9kfs_api_version(), T9KFS_API_VERSION);
}
END_TEST

START_TEST(put_commit_read)
{
	static const size_t sizes[] = { 0, 1, 4096, 4097, 100 << 10, (9 << 20) + 17 };
	const char *keys[] = { "lr", "note" }, *vals[] = { "0.1", "first" };
	t9kfs_repo *r;
	t9kfs_ref *ref;
	char id[65], id2[65], *json;

	ck_assert_int_eq(t9kfs_repo_open(cl, "data", &r), 0);
	ck_assert_str_eq(t9kfs_repo_name(r), "data");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char path[64];
		uint8_t *p = pattern(sizes[i], i);

		snprintf(path, sizeof(path), "/d/f%zu.bin", i);
		ck_assert_msg(t9kfs_put_bytes(r, "main", path, p, sizes[i]) == 0, "%s",
			      t9kfs_errmsg());
		free(p);
	}
	{
		char local[PATH_MAX + 16];
		FILE *f;

		snprintf(local, sizeof(local), "%s/local.txt", dir);
		f = fopen(local, "w");
		ck_assert_ptr_nonnull(f);
		fputs("local file\n", f);
		fclose(f);
		chmod(local, 0600);
		ck_assert_int_eq(t9kfs_put_file(r, "main", "top.txt", local), 0);
		ck_assert_int_eq(t9kfs_put_file(r, "main", "x", "/nonexistent"), -ENOENT);
		ck_assert_int_eq(t9kfs_put_file(r, "main", "x", dir), -EINVAL);
	}
	ck_assert_int_eq(t9kfs_put_bytes(r, "nobranch", "a", "x", 1), T9KFS_ENOTFOUND);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "", "x", 1), T9KFS_EUSAGE);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "a/../b", "x", 1), -EINVAL);
	ck_assert_int_eq(t9kfs_staged(r, "main", &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"path\":\"top.txt\""));
	t9kfs_free(json);
	ck_assert_int_eq(t9kfs_commit(r, "main", "v1", keys, vals, 2, 0, id), 0);
	ck_assert_int_eq(t9kfs_commit(r, "main", "again", NULL, NULL, 0, 0, NULL), -ENODATA);
	ck_assert_int_eq(t9kfs_commit(r, "main", "empty", NULL, NULL, 0, T9KFS_ALLOW_EMPTY, id2), 0);
	ck_assert_str_ne(id, id2);
	ck_assert_int_eq(t9kfs_tag_create(r, "v1", id), 0);
	ck_assert_int_eq(t9kfs_tag_create(r, "v1", id), -EEXIST);

	ck_assert_int_eq(t9kfs_ref_open(r, "v1", &ref), 0);
	ck_assert_str_eq(t9kfs_ref_commit(ref), id);
	ck_assert_str_eq(t9kfs_ref_spec(ref), "v1");
	ck_assert_int_eq(t9kfs_ref_is_branch(ref), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char path[64], cid[65];
		uint8_t *p = pattern(sizes[i], i), *got = malloc(sizes[i] + 10);
		uint32_t mode;
		uint64_t size;
		int64_t mtime;
		t9kfs_file *f;

		snprintf(path, sizeof(path), "d/f%zu.bin", i);
		ck_assert_int_eq(t9kfs_stat(ref, path, &mode, &size, &mtime, cid), 0);
		ck_assert(S_ISREG(mode));
		ck_assert_uint_eq(mode & 07777, 0644);
		ck_assert_uint_eq(size, sizes[i]);
		ck_assert_int_gt(mtime, 0);
		ck_assert_uint_eq(strlen(cid), sizes[i] <= 4096 ? 0 : 64);
		ck_assert_int_eq(t9kfs_open(ref, path, &f), 0);
		ck_assert_uint_eq(t9kfs_file_size(f), sizes[i]);
		/* whole, then pieces at odd offsets, then past the end */
		ck_assert_int_eq(t9kfs_pread(f, got, sizes[i] + 10, 0), (int64_t)sizes[i]);
		ck_assert(memcmp(got, p, sizes[i]) == 0);
		for (uint64_t off = 0; off < sizes[i]; off += sizes[i] / 7 + 1) {
			size_t len = (size_t)(sizes[i] - off < 70000 ? sizes[i] - off : 70000);

			ck_assert_int_eq(t9kfs_pread(f, got, len, off), (int64_t)len);
			ck_assert(memcmp(got, p + off, len) == 0);
		}
		ck_assert_int_eq(t9kfs_pread(f, got, 10, sizes[i]), 0);
		ck_assert_int_eq(t9kfs_pread(f, got, 10, sizes[i] + 1000), 0);
		t9kfs_close(f);
		free(p);
		free(got);
	}
	{
		uint32_t mode;

		ck_assert_int_eq(t9kfs_stat(ref, "top.txt", &mode, NULL, NULL, NULL), 0);
		ck_assert_uint_eq(mode & 07777, 0600);
		ck_assert_int_eq(t9kfs_stat(ref, "", &mode, NULL, NULL, NULL), 0);
		ck_assert(S_ISDIR(mode));
		ck_assert_int_eq(t9kfs_stat(ref, "/d/", &mode, NULL, NULL, NULL), 0);
		ck_assert(S_ISDIR(mode));
	}
	ck_assert_int_eq(t9kfs_show(r, "v1", &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"lr\":\"0.1\""));
	ck_assert_ptr_nonnull(strstr(json, "\"author\":\"unit <admin>\""));
	t9kfs_free(json);
	ck_assert_int_eq(t9kfs_log(r, "main", 2, &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"message\":\"empty\""));
	ck_assert_ptr_nonnull(strstr(json, "\"more\":true"));
	t9kfs_free(json);
	ck_assert_int_eq(t9kfs_diff(r, "main~2", "v1", &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"path\":\"d/f5.bin\",\"change\":\"added\""));
	t9kfs_free(json);
	t9kfs_ref_close(ref);
	t9kfs_repo_close(r);
}
END_TEST

START_TEST(listing_and_errors)
{
	const char *want[] = { "a", "a/b", "a/b/c.txt", "a/d.txt", "e.txt" };
	t9kfs_repo *r;
	t9kfs_ref *ref;
	t9kfs_dir *d;
	t9kfs_file *f;
	const char *path;
	uint32_t mode;
	uint64_t size;
	char *s;
	int n = 0, rc;

	ck_assert_int_eq(t9kfs_repo_open(cl, "data", &r), 0);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "a/b/c.txt", "c", 1), 0);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "a/d.txt", "dd", 2), 0);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "e.txt", "eee", 3), 0);
	commit(r, "main", "tree");
	ck_assert_int_eq(t9kfs_ref_open(r, "main", &ref), 0);
	ck_assert_int_eq(t9kfs_ref_is_branch(ref), 1);

	ck_assert_int_eq(t9kfs_dir_open(ref, "", T9KFS_RECURSIVE, &d), 0);
	while ((rc = t9kfs_dir_next(d, &path, &mode, &size, NULL)) == 1) {
		ck_assert_int_lt(n, 5);
		ck_assert_str_eq(path, want[n]);
		ck_assert(S_ISDIR(mode) == (n < 2));
		n++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(t9kfs_dir_next(d, &path, NULL, NULL, NULL), 0);
	t9kfs_dir_close(d);
	ck_assert_int_eq(t9kfs_dir_open(ref, "a", 0, &d), 0);
	ck_assert_int_eq(t9kfs_dir_next(d, &path, NULL, &size, NULL), 1);
	ck_assert_str_eq(path, "b");
	ck_assert_uint_eq(size, 1); /* a directory's size is its entry count */
	ck_assert_int_eq(t9kfs_dir_next(d, &path, NULL, &size, NULL), 1);
	ck_assert_str_eq(path, "d.txt");
	ck_assert_uint_eq(size, 2);
	ck_assert_int_eq(t9kfs_dir_next(d, &path, NULL, NULL, NULL), 0);
	t9kfs_dir_close(d);

	ck_assert_int_eq(t9kfs_dir_open(ref, "e.txt", 0, &d), -ENOTDIR);
	ck_assert_int_eq(t9kfs_dir_open(ref, "zz", 0, &d), T9KFS_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9kfs_errmsg(), "'zz' not found in data@"));
	ck_assert_int_eq(t9kfs_stat(ref, "a/nope", NULL, NULL, NULL, NULL), T9KFS_ENOTFOUND);
	ck_assert_int_eq(t9kfs_stat(ref, "e.txt/x", NULL, NULL, NULL, NULL) < 0, 1);
	ck_assert_int_eq(t9kfs_open(ref, "a", &f), -EISDIR);
	ck_assert_int_eq(t9kfs_readlink(ref, "e.txt", &s), -EINVAL);
	ck_assert_ptr_null(s);
	{
		t9kfs_ref *none = ref;

		ck_assert_int_eq(t9kfs_ref_open(r, "nobranch", &none), T9KFS_ENOTFOUND);
		ck_assert_ptr_null(none);
		t9kfs_ref_close(none);
	}

	/* removal and reset of staged changes */
	ck_assert_int_eq(t9kfs_remove(r, "main", "a"), 0);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "new.txt", "n", 1), 0);
	ck_assert_int_eq(t9kfs_reset(r, "main", "new.txt"), 1);
	ck_assert_int_eq(t9kfs_remove(r, "main", "/"), T9KFS_EUSAGE);
	commit(r, "main", "rm a");
	t9kfs_ref_close(ref);
	ck_assert_int_eq(t9kfs_ref_open(r, "main", &ref), 0);
	ck_assert_int_eq(t9kfs_stat(ref, "a", NULL, NULL, NULL, NULL), T9KFS_ENOTFOUND);
	ck_assert_int_eq(t9kfs_stat(ref, "new.txt", NULL, NULL, NULL, NULL), T9KFS_ENOTFOUND);
	ck_assert_int_eq(t9kfs_stat(ref, "e.txt", NULL, NULL, NULL, NULL), 0);
	t9kfs_ref_close(ref);

	/* branches */
	ck_assert_int_eq(t9kfs_branch_create(r, "exp", NULL), 0);
	ck_assert_int_eq(t9kfs_branch_create(r, "exp", "main"), -EEXIST);
	ck_assert_int_eq(t9kfs_branch_create(r, "bad/name", "main"), -EINVAL);
	ck_assert_int_eq(t9kfs_refs(r, "branch/", &s), 0);
	ck_assert_ptr_nonnull(strstr(s, "\"name\":\"branch/exp\""));
	ck_assert_ptr_null(strstr(s, "tag/"));
	t9kfs_free(s);
	ck_assert_int_eq(t9kfs_branch_delete(r, "exp"), 0);
	ck_assert_int_eq(t9kfs_branch_delete(r, "exp"), T9KFS_ENOTFOUND);
	ck_assert_int_eq(t9kfs_tag_delete(r, "nope"), T9KFS_ENOTFOUND);
	t9kfs_repo_close(r);
	ck_assert_int_eq(t9kfs_repo_delete(cl, "data"), 0);
	ck_assert_int_eq(t9kfs_repo_open(cl, "data", &r), T9KFS_ENOTFOUND);
}
END_TEST

struct reader {
	t9kfs_file *f;
	const uint8_t *want;
	size_t size;
	int seed, bad;
};

static void *read_main(void *arg)
{
	struct reader *rd = arg;
	uint8_t *buf = malloc(1 << 20);
	uint64_t x = (uint64_t)rd->seed * 7919;

	for (int i = 0; i < 60 && buf; i++) {
		uint64_t off, len;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		off = (x >> 16) % rd->size;
		len = 1 + (x >> 40) % (1 << 20);
		if (i % 3 == 0) /* sequential stretches too, for the read-ahead */
			off = (uint64_t)i * (256 << 10) % rd->size;
		if (len > rd->size - off)
			len = rd->size - off;
		if (t9kfs_pread(rd->f, buf, len, off) != (int64_t)len ||
		    memcmp(buf, rd->want + off, len))
			rd->bad++;
	}
	free(buf);
	return NULL;
}

/* Many threads on one file; the repo, the ref and the client closed
 * first: the file keeps what it needs. */
START_TEST(threads_and_close_order)
{
	enum { SIZE = 24 << 20, THREADS = 6 };
	uint8_t *p = pattern(SIZE, 42);
	struct reader rd[THREADS];
	pthread_t th[THREADS];
	t9kfs_repo *r;
	t9kfs_ref *ref;
	t9kfs_file *f;

	ck_assert_int_eq(t9kfs_repo_open(cl, "data", &r), 0);
	ck_assert_int_eq(t9kfs_put_bytes(r, "main", "big.bin", p, SIZE), 0);
	commit(r, "main", "big");
	ck_assert_int_eq(t9kfs_ref_open(r, "main", &ref), 0);
	ck_assert_int_eq(t9kfs_open(ref, "big.bin", &f), 0);
	t9kfs_ref_close(ref);
	t9kfs_repo_close(r);
	t9kfs_client_free(cl);
	cl = NULL;
	for (int i = 0; i < THREADS; i++) {
		rd[i] = (struct reader){ .f = f, .want = p, .size = SIZE, .seed = i + 1 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, read_main, &rd[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(rd[i].bad, 0);
	}
	t9kfs_close(f);
	free(p);
}
END_TEST

Suite *sdk_suite(void)
{
	Suite *s = suite_create("sdk");
	TCase *tc = tcase_create("api");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, connect_errors);
	tcase_add_test(tc, put_commit_read);
	tcase_add_test(tc, listing_and_errors);
	tcase_add_test(tc, threads_and_close_order);
	suite_add_tcase(s, tc);
	return s;
}
