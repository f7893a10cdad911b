/* Unit tests of lib/: byte buffers, object ids, size parsing, errors. */
#include "test/unit/suites.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/oid.h"
#include "lib/util.h"

#include <errno.h>
#include <string.h>

START_TEST(buf_grows_and_stays_terminated)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_addf(&b, "%d,", i), 0);
	ck_assert_uint_eq(b.len, strlen((char *)b.data));
	ck_assert(!strncmp((char *)b.data, "0,1,2,", 6));
	ck_assert_int_eq(buf_add(&b, "\0x", 2), 0);
	ck_assert_uint_eq(b.data[b.len], 0);
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.data[0], 0);
	buf_release(&b);
	ck_assert_ptr_null(b.data);
	buf_release(&b); /* twice is harmless */
}
END_TEST

START_TEST(oid_known_answer_and_hex)
{
	/* FIPS 180-2 example: SHA-256("abc") */
	static const char abc[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	char hex[OID_HEXSZ + 1];
	struct oid a, b;
	struct oid_hasher *h = oid_hasher_new();

	ck_assert_int_eq(oid_hash(&a, "abc", 3), 0);
	ck_assert_str_eq(oid_to_hex(&a, hex), abc);
	ck_assert_int_eq(oid_from_hex(&b, abc), 0);
	ck_assert(oid_eq(&a, &b));
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(oid_hasher_update(h, "a", 1), 0);
	ck_assert_int_eq(oid_hasher_update(h, "bc", 2), 0);
	ck_assert_int_eq(oid_hasher_final(h, &b), 0);
	ck_assert(oid_eq(&a, &b));
	oid_hasher_free(h);
}
END_TEST

START_TEST(oid_rejects_malformed_hex)
{
	struct oid o;

	ck_assert_int_eq(oid_from_hex(&o, "abc"), -EINVAL);
	ck_assert(strstr(t9k_errmsg(-EINVAL), "64 hex digits") != NULL);
	ck_assert_int_eq(oid_from_hex(&o, "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
			 -EINVAL);
	ck_assert_int_eq(oid_from_hex(&o, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"),
			 -EINVAL);
	ck_assert_int_eq(oid_from_hex(&o, ""), -EINVAL);
}
END_TEST

START_TEST(oidset_keeps_each_id_once_while_growing)
{
	struct oidset s = { 0 };
	struct oid id;

	/* 3000 ids: two growths past the first 1024 slots */
	for (int i = 0; i < 3000; i++) {
		ck_assert_int_eq(oid_hash(&id, &i, sizeof(i)), 0);
		ck_assert_int_eq(oidset_add(&s, &id), 1);
	}
	for (int i = 0; i < 3000; i++) {
		ck_assert_int_eq(oid_hash(&id, &i, sizeof(i)), 0);
		ck_assert_int_eq(oidset_add(&s, &id), 0);
	}
	ck_assert_uint_eq(s.n, 3000);
	oidset_release(&s);
	ck_assert_uint_eq(s.n, 0);
	oidset_release(&s); /* twice is fine */
}
END_TEST

START_TEST(sizes_parse_with_units)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(parse_size("256K", &v), 0);
	ck_assert_uint_eq(v, 256 << 10);
	ck_assert_int_eq(parse_size("1MiB", &v), 0);
	ck_assert_uint_eq(v, 1 << 20);
	ck_assert_int_eq(parse_size("2G", &v), 0);
	ck_assert_uint_eq(v, 2ULL << 30);
	ck_assert_int_eq(parse_size("", &v), -EINVAL);
	ck_assert_int_eq(parse_size("-1", &v), -EINVAL);
	ck_assert_int_eq(parse_size("12Q", &v), -EINVAL);
	ck_assert_int_eq(parse_size("99999999999999999999", &v), -EINVAL);
	ck_assert_int_eq(parse_size("99999999999T", &v), -EINVAL);
}
END_TEST

START_TEST(errors_wrap_and_clear)
{
	ck_assert_int_eq(t9k_err(-ENOENT, "thing %d missing", 7), -ENOENT);
	ck_assert_str_eq(t9k_errmsg(-ENOENT), "thing 7 missing");
	t9k_err_wrap(-ENOENT, "while doing %s", "x");
	ck_assert_str_eq(t9k_errmsg(-ENOENT), "while doing x: thing 7 missing");
	t9k_err_clear();
	ck_assert_str_eq(t9k_errmsg(-ENOENT), strerror(ENOENT));
	ck_assert_str_eq(t9k_errmsg(T9K_ECORRUPT), "corrupt object");
}
END_TEST

Suite *lib_suite(void)
{
	Suite *s = suite_create("lib");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, buf_grows_and_stays_terminated);
	tcase_add_test(tc, oid_known_answer_and_hex);
	tcase_add_test(tc, oid_rejects_malformed_hex);
	tcase_add_test(tc, oidset_keeps_each_id_once_while_growing);
	tcase_add_test(tc, sizes_parse_with_units);
	tcase_add_test(tc, errors_wrap_and_clear);
	suite_add_tcase(s, tc);
	return s;
}
