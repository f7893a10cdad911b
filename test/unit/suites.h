/* The Check suites of the unit-test runner, one per module, and helpers
 * the suites share (a private temp dir per test, deterministic bytes). */
#ifndef T9K_TEST_SUITES_H
#define T9K_TEST_SUITES_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *lib_suite(void);
Suite *store_suite(void);
Suite *s3_suite(void);
Suite *cdc_suite(void);
Suite *chunk_suite(void);
Suite *object_suite(void);
Suite *db_suite(void);
Suite *tree_suite(void);
Suite *repo_suite(void);
Suite *transfer_suite(void);
Suite *json_suite(void);
Suite *cache_suite(void);
Suite *members_suite(void);
Suite *csi_suite(void);
Suite *yaml_suite(void);
Suite *sdk_suite(void);
Suite *console_suite(void);
Suite *authz_suite(void);
Suite *gc_suite(void);
Suite *incr_suite(void);

/* Creates a fresh directory under $TMPDIR for one test; fills path. */
void test_tmpdir(char *path, size_t size);
/* Removes a directory tree (rm -rf). */
void test_rmtree(const char *path);
/* Deterministic pseudo-random bytes (splitmix64 from seed). */
void test_random_bytes(uint8_t *out, size_t len, uint64_t seed);

#endif
