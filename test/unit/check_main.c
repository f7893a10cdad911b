/* Unit-test runner: all module suites in one Check runner, so `make test`
 * ends with one summary line. Helpers shared by the suites live here. */
#include "test/unit/suites.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void test_tmpdir(char *path, size_t size)
{
	const char *base = getenv("TMPDIR");

	snprintf(path, size, "%s/t9kfs-unit.XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(path));
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

void test_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_random_bytes(uint8_t *out, size_t len, uint64_t seed)
{
	uint64_t x = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		for (size_t j = 0; j < 8 && i + j < len; j++)
			out[i + j] = (uint8_t)(z >> (8 * j));
	}
}

int main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	int failed;

	srunner_add_suite(sr, cdc_suite());
	srunner_add_suite(sr, store_suite());
	srunner_add_suite(sr, s3_suite());
	srunner_add_suite(sr, chunk_suite());
	srunner_add_suite(sr, incr_suite());
	srunner_add_suite(sr, object_suite());
	srunner_add_suite(sr, db_suite());
	srunner_add_suite(sr, tree_suite());
	srunner_add_suite(sr, repo_suite());
	srunner_add_suite(sr, transfer_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, cache_suite());
	srunner_add_suite(sr, members_suite());
	srunner_add_suite(sr, csi_suite());
	srunner_add_suite(sr, yaml_suite());
	srunner_add_suite(sr, sdk_suite());
	srunner_add_suite(sr, console_suite());
	srunner_add_suite(sr, authz_suite());
	srunner_add_suite(sr, gc_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
