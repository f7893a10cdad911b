/* Unit tests of the store interface on the file:// backend: operations,
 * key layout, errors, and concurrent writers (threads and processes). */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[PATH_MAX];
static char url[2 * PATH_MAX];
static struct store *st;

static void setup(void)
{
	test_tmpdir(dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s/objects", dir);
	ck_assert_int_eq(store_open(url, &st), 0);
}

static void teardown(void)
{
	store_close(st);
	test_rmtree(dir);
}

START_TEST(put_get_head_delete)
{
	struct buf b = BUF_INIT;
	uint64_t size = 0;

	ck_assert_int_eq(store_put_buf(st, "x/hello", "hello, world", 12), 0);
	ck_assert_int_eq(store_head(st, "x/hello", &size), 0);
	ck_assert_uint_eq(size, 12);
	ck_assert_int_eq(store_get(st, "x/hello", 0, STORE_WHOLE, &b), 0);
	ck_assert_str_eq((char *)b.data, "hello, world");
	buf_reset(&b);
	ck_assert_int_eq(store_get(st, "x/hello", 7, 3, &b), 0);
	ck_assert_str_eq((char *)b.data, "wor");
	buf_reset(&b);
	ck_assert_int_eq(store_get(st, "x/hello", 7, 100, &b), 0); /* cut at the end */
	ck_assert_str_eq((char *)b.data, "world");
	buf_reset(&b);
	ck_assert_int_eq(store_get(st, "x/hello", 12, 5, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(store_get(st, "x/hello", 13, 1, &b), -EINVAL);
	/* overwrite replaces the whole object */
	ck_assert_int_eq(store_put_buf(st, "x/hello", "bye", 3), 0);
	buf_reset(&b);
	ck_assert_int_eq(store_get(st, "x/hello", 0, STORE_WHOLE, &b), 0);
	ck_assert_str_eq((char *)b.data, "bye");
	ck_assert_int_eq(store_delete(st, "x/hello"), 0);
	ck_assert_int_eq(store_head(st, "x/hello", NULL), -ENOENT);
	ck_assert_int_eq(store_delete(st, "x/hello"), -ENOENT);
	buf_release(&b);
}
END_TEST

START_TEST(delete_many_concurrency_stats)
{
	const char *keys[] = { "d/one", "d/two", "d/missing" };
	const char *bad[] = { "d/one", "../x" };
	struct store_stats stats;
	uint64_t size;

	ck_assert_int_eq(store_put_buf(st, "d/one", "1", 1), 0);
	ck_assert_int_eq(store_put_buf(st, "d/two", "22", 2), 0);
	ck_assert_int_eq(store_delete_many(st, bad, 2), -EINVAL); /* checked first: nothing gone */
	ck_assert_int_eq(store_head(st, "d/one", &size), 0);
	ck_assert_int_eq(store_delete_many(st, keys, 3), 0);     /* a missing key is no error */
	ck_assert_int_eq(store_head(st, "d/one", NULL), -ENOENT);
	ck_assert_int_eq(store_head(st, "d/two", NULL), -ENOENT);
	ck_assert_int_eq(store_delete_many(st, keys, 0), 0);
	ck_assert_int_ge(store_concurrency(st), 1);
	store_get_stats(st, &stats);
	ck_assert_uint_eq(stats.requests + stats.retries + stats.connects, 0);
}
END_TEST

START_TEST(missing_key_is_a_clear_error)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(store_get(st, "chunks/nothere", 0, STORE_WHOLE, &b), -ENOENT);
	ck_assert(strstr(t9k_errmsg(-ENOENT), "chunks/nothere") != NULL);
	ck_assert(strstr(t9k_errmsg(-ENOENT), "not found") != NULL);
	ck_assert_uint_eq(b.len, 0);
	buf_release(&b);
}
END_TEST

START_TEST(keys_fan_out_and_are_checked)
{
	char path[PATH_MAX + 64];
	struct stat sb;

	ck_assert_int_eq(store_put_buf(st, "chunks/abcdef", "x", 1), 0);
	snprintf(path, sizeof(path), "%s/objects/chunks/ab/abcdef", dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(store_put_buf(st, "k", "y", 1), 0); /* short name */
	snprintf(path, sizeof(path), "%s/objects/k/k", dir);
	ck_assert_int_eq(stat(path, &sb), 0);

	ck_assert_int_eq(store_put_buf(st, "", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put_buf(st, "a//b", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put_buf(st, "a/.hidden", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put_buf(st, "../escape", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put_buf(st, "a/b c", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put_buf(st, "/abs", "x", 1), -EINVAL);
	ck_assert_int_eq(store_put_buf(st, "trailing/", "x", 1), -EINVAL);
	ck_assert(strstr(t9k_errmsg(-EINVAL), "trailing/") != NULL);
}
END_TEST

struct seen {
	int a, b, other;
	uint64_t bytes;
};

static int count_key(const char *key, uint64_t size, void *arg)
{
	struct seen *s = arg;

	if (!strncmp(key, "a/", 2))
		s->a++;
	else if (!strncmp(key, "b/", 2))
		s->b++;
	else
		s->other++;
	s->bytes += size;
	return 0;
}

static int stop_at_first(const char *key, uint64_t size, void *arg)
{
	(void)key, (void)size;
	++*(int *)arg;
	return 7;
}

START_TEST(list_by_prefix)
{
	char key[64];
	struct seen s = { 0 };
	int calls = 0;

	ck_assert_int_eq(store_list(st, "", count_key, &s), 0); /* empty store */
	ck_assert_int_eq(s.a + s.b + s.other, 0);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "a/%04d", i);
		ck_assert_int_eq(store_put_buf(st, key, "12", 2), 0);
		snprintf(key, sizeof(key), "b/%04d", i);
		ck_assert_int_eq(store_put_buf(st, key, "1", 1), 0);
	}
	ck_assert_int_eq(store_put_buf(st, "a/deep/x1", "1", 1), 0);
	ck_assert_int_eq(store_list(st, "a/", count_key, &s), 0);
	ck_assert_int_eq(s.a, 301);
	ck_assert_int_eq(s.b + s.other, 0);
	ck_assert_uint_eq(s.bytes, 601);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_list(st, "a/01", count_key, &s), 0);
	ck_assert_int_eq(s.a, 100); /* a/0100 .. a/0199 */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_list(st, "", count_key, &s), 0);
	ck_assert_int_eq(s.a + s.b, 601);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(store_list(st, "a/deep/", count_key, &s), 0);
	ck_assert_int_eq(s.a, 1);
	ck_assert_int_eq(store_list(st, "b/", stop_at_first, &calls), 7);
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(open_refuses_bad_urls)
{
	char path[PATH_MAX + 32];
	struct store *s2 = NULL;
	FILE *f;

	ck_assert_int_eq(store_open("nothing-here", &s2), T9K_EBADURL);
	ck_assert_int_eq(store_open("ftp://host/x", &s2), T9K_EBADURL);
	ck_assert(strstr(t9k_errmsg(T9K_EBADURL), "unknown scheme") != NULL);
	ck_assert_int_eq(store_open("file://relative/dir", &s2), T9K_EBADURL);
	snprintf(path, sizeof(path), "%s/plainfile", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(url, sizeof(url), "file://%s", path);
	ck_assert_int_eq(store_open(url, &s2), -ENOTDIR);
	ck_assert(strstr(t9k_errmsg(-ENOTDIR), "not a directory") != NULL);
	ck_assert_ptr_null(s2);
	/* a store below a file cannot be written: error names the key */
	snprintf(url, sizeof(url), "file://%s/sub", path);
	ck_assert_int_eq(store_open(url, &s2), -ENOTDIR);
}
END_TEST

static int count_files(const char *d, int *tmp)
{
	struct dirent *de;
	DIR *dd = opendir(d);
	int n = 0;

	ck_assert_ptr_nonnull(dd);
	while ((de = readdir(dd))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, ".tmp-", 5))
			(*tmp)++;
		n++;
	}
	closedir(dd);
	return n;
}

#define RACE_LEN (256u << 10)
#define RACE_ROUNDS 50

static void *race_writer(void *arg)
{
	uint8_t *data = arg;

	for (int i = 0; i < RACE_ROUNDS; i++)
		if (store_put_buf(st, "chunks/racekey", data, RACE_LEN) != 0)
			return (void *)1;
	return NULL;
}

static void check_race_result(const uint8_t *data)
{
	char fan[PATH_MAX + 32];
	struct buf b = BUF_INIT;
	int tmp = 0;

	ck_assert_int_eq(store_get(st, "chunks/racekey", 0, STORE_WHOLE, &b), 0);
	ck_assert_uint_eq(b.len, RACE_LEN);
	ck_assert(!memcmp(b.data, data, RACE_LEN));
	snprintf(fan, sizeof(fan), "%s/objects/chunks/ra", dir);
	ck_assert_int_eq(count_files(fan, &tmp), 1);
	ck_assert_int_eq(tmp, 0);
	buf_release(&b);
}

START_TEST(two_threads_put_same_key)
{
	uint8_t *data = malloc(RACE_LEN);
	pthread_t t1, t2;
	void *r1, *r2;

	test_random_bytes(data, RACE_LEN, 5);
	ck_assert_int_eq(pthread_create(&t1, NULL, race_writer, data), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, race_writer, data), 0);
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	ck_assert_ptr_null(r1);
	ck_assert_ptr_null(r2);
	check_race_result(data);
	free(data);
}
END_TEST

START_TEST(two_processes_put_same_key)
{
	uint8_t *data = malloc(RACE_LEN);
	pid_t pids[2];

	test_random_bytes(data, RACE_LEN, 6);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct store *own;

			/* each process opens the store itself, like two CLIs */
			if (store_open(url, &own) != 0)
				_exit(2);
			for (int r = 0; r < RACE_ROUNDS; r++)
				if (store_put_buf(own, "chunks/racekey", data, RACE_LEN) != 0)
					_exit(1);
			store_close(own);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	check_race_result(data);
	free(data);
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("file");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, put_get_head_delete);
	tcase_add_test(tc, delete_many_concurrency_stats);
	tcase_add_test(tc, missing_key_is_a_clear_error);
	tcase_add_test(tc, keys_fan_out_and_are_checked);
	tcase_add_test(tc, list_by_prefix);
	tcase_add_test(tc, open_refuses_bad_urls);
	tcase_add_test(tc, two_threads_put_same_key);
	tcase_add_test(tc, two_processes_put_same_key);
	suite_add_tcase(s, tc);
	return s;
}
