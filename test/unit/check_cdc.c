/* Unit tests of FastCDC: size bounds, stability under edits, determinism. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "store/cdc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BIG (64u << 20)

/* Cuts data into chunks; returns the number of boundaries written to cuts
 * (absolute end offsets) and checks every chunk's size against p. */
static size_t cut_all(const struct cdc_params *p, const uint8_t *data, size_t len,
		      uint64_t *cuts, size_t maxcuts)
{
	size_t off = 0, n = 0;

	while (off < len) {
		size_t c = cdc_cut(p, data + off, len - off);

		ck_assert_uint_gt(c, 0);
		ck_assert_uint_le(c, p->max);
		if (off + c < len) /* only the last chunk may be short */
			ck_assert_uint_ge(c, p->min);
		off += c;
		ck_assert_uint_lt(n, maxcuts);
		cuts[n++] = off;
	}
	return n;
}

static int contains(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid] == x)
			return 1;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

START_TEST(insert_one_byte_moves_few_boundaries)
{
	struct cdc_params p;
	uint8_t *a = malloc(BIG), *b = malloc(BIG + 1);
	size_t maxcuts = BIG / CDC_MIN_DEFAULT + 2, na, nb, changed = 0, added = 0;
	uint64_t *ca = calloc(maxcuts, 8), *cb = calloc(maxcuts, 8);
	const size_t at = 1000 + (size_t)_i * 333333; /* near the start */

	ck_assert_int_eq(cdc_params_init(&p, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT, CDC_MAX_DEFAULT), 0);
	test_random_bytes(a, BIG, 42);
	memcpy(b, a, at);
	b[at] = 0x5a;
	memcpy(b + at + 1, a + at, BIG - at);
	na = cut_all(&p, a, BIG, ca, maxcuts);
	nb = cut_all(&p, b, BIG + 1, cb, maxcuts);
	for (size_t i = 0; i < nb; i++)
		if (cb[i] > at)
			cb[i]--; /* same position in a's coordinates */
	for (size_t i = 0; i < na; i++)
		changed += !contains(cb, nb, ca[i]);
	for (size_t i = 0; i < nb; i++)
		added += !contains(ca, na, cb[i]);
	ck_assert_uint_le(changed, 3);
	ck_assert_uint_le(added, 3);
	/* and the average lands near the configured one */
	ck_assert_uint_ge(BIG / na, CDC_AVG_DEFAULT / 2);
	ck_assert_uint_le(BIG / na, CDC_AVG_DEFAULT * 2);
	free(a), free(b), free(ca), free(cb);
}
END_TEST

START_TEST(bounds_hold_on_any_data)
{
	struct cdc_params p;
	size_t len = 8u << 20, maxcuts = len / 2048 + 2;
	uint8_t *d = malloc(len);
	uint64_t *cuts = calloc(maxcuts, 8);

	ck_assert_int_eq(cdc_params_init(&p, 2048, 8192, 32768), 0);
	test_random_bytes(d, len, 7);
	cut_all(&p, d, len, cuts, maxcuts);
	memset(d, 0, len); /* no cut point anywhere: every chunk is max */
	ck_assert_uint_eq(cut_all(&p, d, len, cuts, maxcuts), len / 32768);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)("the quick brown fox "[i % 20]);
	cut_all(&p, d, len, cuts, maxcuts);
	/* lengths below min are one chunk */
	ck_assert_uint_eq(cdc_cut(&p, d, 100), 100);
	ck_assert_uint_eq(cdc_cut(&p, d, 0), 0);
	free(d), free(cuts);
}
END_TEST

START_TEST(cuts_are_deterministic)
{
	struct cdc_params p;
	size_t len = 4u << 20;
	uint8_t *d = malloc(len);
	uint64_t c1[512], c2[512];
	size_t n1, n2;

	ck_assert_int_eq(cdc_params_init(&p, 4096, 16384, 65536), 0);
	test_random_bytes(d, len, 99);
	n1 = cut_all(&p, d, len, c1, 512);
	n2 = cut_all(&p, d, len, c2, 512);
	ck_assert_uint_eq(n1, n2);
	ck_assert(!memcmp(c1, c2, n1 * 8));
	free(d);
}
END_TEST

START_TEST(bad_params_are_refused)
{
	struct cdc_params p;

	ck_assert_int_eq(cdc_params_init(&p, 4096, 10000, 65536), -EINVAL);
	ck_assert(strstr(t9k_errmsg(-EINVAL), "power of two") != NULL);
	ck_assert_int_eq(cdc_params_init(&p, 65536, 16384, 262144), -EINVAL);
	ck_assert_int_eq(cdc_params_init(&p, 4096, 16384, 16384), -EINVAL);
	ck_assert_int_eq(cdc_params_init(&p, 16, 64, 128), -EINVAL);
	ck_assert_int_eq(cdc_params_init(&p, 1 << 20, 1 << 24, 1 << 27), -EINVAL);
	ck_assert_int_eq(cdc_params_init(&p, 64, 128, 256), 0);
}
END_TEST

Suite *cdc_suite(void)
{
	Suite *s = suite_create("cdc");
	TCase *tc = tcase_create("fastcdc");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, insert_one_byte_moves_few_boundaries, 0, 2);
	tcase_add_test(tc, bounds_hold_on_any_data);
	tcase_add_test(tc, cuts_are_deterministic);
	tcase_add_test(tc, bad_params_are_refused);
	suite_add_tcase(s, tc);
	return s;
}
