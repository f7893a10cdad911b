/* libFuzzer target for the cache protocol's decoders (cache/proto.h):
 * arbitrary bytes must be rejected cleanly, and a GET request that
 * decodes must re-encode to exactly the input, flags included. The first
 * byte picks the decoder; for GET the second is the frame's flags (with
 * PROTO_F_LOC the items carry locations). */
#include "cache/proto.h"
#include "cache/rdma.h"
#include "lib/buf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proto_get g;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_hdr h;
	struct proto_chunk c;
	struct proto_item it;
	struct cache_rdma_endpoint ep;
	struct buf b = BUF_INIT;
	char url[PROTO_URL_MAX + 1];
	uint8_t role;

	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0:
		if (size > PROTO_HDR_SIZE)
			proto_hdr_decode(data + 1, &h);
		break;
	case 1:
		if (size < 2 || proto_get_decode(data + 2, size - 2, data[1], &g) < 0)
			break;
		memcpy(url, g.url, g.url_len);
		url[g.url_len] = '\0';
		if (proto_get_encode(&b, data[1], url, g.items, g.n) < 0 ||
		    b.len != size - 2 + PROTO_HDR_SIZE || b.data[3] != data[1] ||
		    memcmp(b.data + PROTO_HDR_SIZE, data + 2, size - 2))
			abort(); /* not canonical */
		break;
	case 2:
		proto_hello_decode(data + 1, size - 1, &role);
		break;
	case 3:
		proto_drop_decode(data + 1, size - 1, &it);
		break;
	case 4:
		if (size - 1 >= PROTO_CHUNK_HDR)
			proto_chunk_decode(data + 1, size - 1, &c);
		break;
	default:
		cache_rdma_ep_decode(data + 1, size - 1, &ep);
		break;
	}
	buf_release(&b);
	return 0;
}
