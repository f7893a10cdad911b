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

#endif
