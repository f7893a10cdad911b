/* libFuzzer target for tree_node_decode (versions 1 and 2), and
 * tree_entry_decode in both layouts on the same bytes: malformed input is rejected cleanly, and whatever decodes must
 * re-encode to exactly the bytes it came from. */
#include "lib/buf.h"
#include "meta/object.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tree_node n;
	struct tree_entry e;
	struct buf b = BUF_INIT;
	int used;

	if (tree_node_decode(data, size, &n) == 0) {
		if (tree_node_encode(&n, &b) < 0 || b.len != size || memcmp(b.data, data, size))
			abort(); /* not canonical: two encodings of one node */
		tree_node_release(&n);
	}
	/* A lone entry (the staging area's value) may be followed by more;
	 * either layout (tree version 1 or 2). */
	for (int v = META_TREE_V1; v <= META_TREE_V2; v++) {
		used = tree_entry_decode(data, size, v, &e);
		if (used < 0)
			continue;
		buf_reset(&b);
		if (used == 0 || (size_t)used > size || tree_entry_encode(&e, v, &b) < 0 ||
		    b.len != (size_t)used || memcmp(b.data, data, b.len))
			abort();
	}
	buf_release(&b);
	return 0;
}
