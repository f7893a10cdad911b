/* Content-defined chunking: FastCDC (Xia et al., USENIX ATC'16) with a
 * 64-bit gear hash and normalized chunking (level 2).
 *
 * A cut point depends only on the bytes around it, so inserting or deleting
 * bytes moves the boundaries near the edit and leaves the others where they
 * were: that is what makes versions of a file share chunks.
 *
 * Usage: cdc_params_init(&p, min, avg, max) then, over a window of data,
 * n = cdc_cut(&p, data, len) is the length of the next chunk (n == len when
 * no cut point was found before len; callers pass at least p.max bytes
 * unless at end of input).
 */
#ifndef T9K_CDC_H
#define T9K_CDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CDC_MIN_DEFAULT (256u << 10)
#define CDC_AVG_DEFAULT (1u << 20)
#define CDC_MAX_DEFAULT (4u << 20)
#define CDC_MIN_LIMIT 64u          /* smallest allowed min */
#define CDC_MAX_LIMIT (64u << 20)  /* largest allowed max */

struct cdc_params {
	uint32_t min, avg, max;
	uint64_t mask_s; /* stricter mask before avg: fewer early cuts */
	uint64_t mask_l; /* looser mask after avg: cut soon after */
};

/* Checks min < avg < max, avg a power of two, min >= CDC_MIN_LIMIT,
 * max <= CDC_MAX_LIMIT; returns 0 or -EINVAL with a message. */
int cdc_params_init(struct cdc_params *p, uint32_t min, uint32_t avg, uint32_t max);

size_t cdc_cut(const struct cdc_params *p, const uint8_t *data, size_t len);

/* The same cut as cdc_cut(p, data, len) when the caller knows that no cut
 * point lies before position from: an earlier cdc_cut of a prefix of these
 * bytes, data[0..k) with k < p->max, returned k, which makes from = k - 1
 * safe (the last position is checked again: a cut found exactly at the
 * end looks the same as none). Reads only data[from - 64 .. len) (from
 * min - 64 when from is below min), so a growing chunk's cut is found
 * again in the time of the bytes it gained. *cut (may be NULL) says
 * whether the length returned ends at a cut point (the hash matched, or
 * max) rather than where data ends: then it is the cut of any longer
 * data with these first bytes too, so a chunk can be cut from a window
 * shorter than max (0 and from = 0: the plain cdc_cut, told apart). */
size_t cdc_cut_from(const struct cdc_params *p, const uint8_t *data, size_t len, size_t from,
		    bool *cut);

#endif
