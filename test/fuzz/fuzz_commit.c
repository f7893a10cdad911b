/* libFuzzer target for commit_decode: arbitrary bytes must be rejected
 * cleanly, and whatever decodes must re-encode to exactly the input. */
#include "lib/buf.h"
#include "meta/object.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct commit c;
	struct buf b = BUF_INIT;

	if (commit_decode(data, size, &c) < 0)
		return 0;
	if (commit_encode(&c, &b) < 0 || b.len != size || memcmp(b.data, data, size))
		abort(); /* not canonical: two encodings of one commit */
	buf_release(&b);
	commit_release(&c);
	return 0;
}
