/* FastCDC cut-point search.
 *
 * Gear hash: fp = (fp << 1) + gear[byte]. After the shift, bit 63 of fp
 * depends on the last 64 bytes, bit 0 only on the last one, so the masks
 * test the top bits: a cut is where the top k bits are zero (probability
 * 2^-k), which makes the hash window 64 bytes wide.
 *
 * The gear table is 256 values from splitmix64 with a fixed seed. It is part
 * of the on-disk format in effect: changing it moves every boundary and
 * loses dedup against data chunked before, so it never changes.
 */
#include "store/cdc.h"

#include "lib/err.h"

#include <errno.h>
#include <pthread.h>

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_init(void)
{
	uint64_t x = 0x74396b6673636463ULL; /* "t9kfscdc" */

	for (int i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
}

static int log2u(uint32_t v)
{
	int n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

static uint64_t top_bits(int k)
{
	return k <= 0 ? 0 : k >= 64 ? ~0ULL : ~0ULL << (64 - k);
}

int cdc_params_init(struct cdc_params *p, uint32_t min, uint32_t avg, uint32_t max)
{
	int bits;

	if (avg == 0 || (avg & (avg - 1)))
		return t9k_err(-EINVAL, "chunk average size %u is not a power of two", avg);
	if (min < CDC_MIN_LIMIT || max > CDC_MAX_LIMIT)
		return t9k_err(-EINVAL, "chunk sizes must lie within %u bytes .. %u MiB",
			       CDC_MIN_LIMIT, CDC_MAX_LIMIT >> 20);
	if (!(min < avg && avg < max))
		return t9k_err(-EINVAL, "chunk sizes need min < avg < max (got %u, %u, %u)",
			       min, avg, max);
	pthread_once(&gear_once, gear_init);
	bits = log2u(avg);
	p->min = min;
	p->avg = avg;
	p->max = max;
	p->mask_s = top_bits(bits + 2);
	p->mask_l = top_bits(bits - 2);
	return 0;
}

size_t cdc_cut(const struct cdc_params *p, const uint8_t *data, size_t len)
{
	size_t i, n = len < p->max ? len : p->max;
	size_t normal = p->avg < n ? p->avg : n;
	uint64_t fp = 0;

	if (n <= p->min)
		return n;
	/* Cut points are found from min on, so skipping the hash over the
	 * first min bytes is free; start 64 bytes early to fill the window. */
	i = p->min > 64 ? p->min - 64 : 0;
	for (; i < p->min; i++)
		fp = (fp << 1) + gear[data[i]];
	for (; i < normal; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & p->mask_s))
			return i + 1;
	}
	for (; i < n; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & p->mask_l))
			return i + 1;
	}
	return n;
}

size_t cdc_cut_from(const struct cdc_params *p, const uint8_t *data, size_t len, size_t from,
		    bool *cut)
{
	size_t i, n = len < p->max ? len : p->max;
	size_t normal = p->avg < n ? p->avg : n;
	bool dummy;
	uint64_t fp = 0;

	if (!cut)
		cut = &dummy;
	*cut = n == p->max;
	if (n <= p->min)
		return n;
	if (from < p->min)
		from = p->min;
	if (from >= n)
		return n;
	/* A check at position i >= min sees only data[i - 63 .. i]: the
	 * shifts have pushed everything older out of the 64-bit hash. */
	for (i = from - 64; i < from; i++)
		fp = (fp << 1) + gear[data[i]];
	for (; i < normal; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & p->mask_s)) {
			*cut = true;
			return i + 1;
		}
	}
	for (; i < n; i++) {
		fp = (fp << 1) + gear[data[i]];
		if (!(fp & p->mask_l)) {
			*cut = true;
			return i + 1;
		}
	}
	return n;
}
