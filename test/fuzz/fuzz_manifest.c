/* libFuzzer target for manifest_decode: arbitrary bytes must be rejected
 * cleanly, and whatever decodes must re-encode to exactly the input. */
#include "lib/buf.h"
#include "meta/object.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m;
	struct buf b = BUF_INIT;

	if (manifest_decode(data, size, &m) < 0)
		return 0;
	if (manifest_encode(&m, &b) < 0 || b.len != size || memcmp(b.data, data, size))
		abort(); /* not canonical: two encodings of one manifest */
	buf_release(&b);
	manifest_release(&m);
	return 0;
}
