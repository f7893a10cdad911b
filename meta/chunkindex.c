/* The repository's chunk index: chunk id -> its range in a pack object, so
 * writers reuse a chunk already packed instead of storing it again.
 * Entries are recorded only after one HEAD of the pack has shown that it
 * holds every range, so no entry points at a missing object. Local handles
 * use RocksDB (meta/db.h); remote ones go through the service. */
#include "meta/repo-internal.h"

#include "lib/err.h"
#include "meta/gc.h"
#include "store/chunk.h"
#include "store/pack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int repo_chunk_index_get(struct repo *r, const struct oid *id, struct manifest_chunk *out)
{
	struct meta_chunk_loc loc;
	int rc;

	if (!r->db) {
		if (!r->remote.chunk_index_get)
			return t9k_err(-ENOTSUP, "repository '%s': no chunk index on this handle",
				       r->info.name);
		return r->remote.chunk_index_get(r->remote.ctx, r->info.name, id, out);
	}
	rc = meta_chunk_index_get(r->db, r->info.name, id, &loc);
	if (rc == 0) /* a running gc keeps the pack, or it is gone: a miss */
		rc = gc_guard_pack(r, &loc.pack);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->id = loc.id;
	out->len = loc.len;
	out->loc = MANIFEST_LOC_PACK;
	out->pack = loc.pack;
	out->pack_off = loc.offset;
	out->pack_len = loc.stored_len;
	return 0;
}

/* Every entry is a well-formed range of the one pack; *end gets the end of
 * the furthest range. */
static int entries_check(const struct manifest_chunk *v, size_t n, uint64_t *end)
{
	char hex[OID_HEXSZ + 1];

	*end = 0;
	for (size_t i = 0; i < n; i++) {
		const struct manifest_chunk *c = &v[i];

		oid_to_hex(&c->id, hex);
		if (c->loc != MANIFEST_LOC_PACK)
			return t9k_err(-EINVAL, "chunk index entry %zu (%s) is not in a pack", i, hex);
		if (!oid_eq(&c->pack, &v[0].pack))
			return t9k_err(-EINVAL, "chunk index entry %zu (%s) is in another pack than entry 0",
				       i, hex);
		if (c->len == 0 || c->len > META_CHUNK_ENTRY_MAX)
			return t9k_err(-EINVAL, "chunk index entry %zu (%s) has length %" PRIu32
					       ": want 1 to %u", i, hex, c->len, META_CHUNK_ENTRY_MAX);
		/* a stored chunk is its header and at least one payload byte */
		if (c->pack_len <= CHUNK_HDR_SIZE)
			return t9k_err(-EINVAL, "chunk index entry %zu (%s) has a stored length of %" PRIu32
					       " bytes: too short for a chunk", i, hex, c->pack_len);
		if (c->pack_off > UINT64_MAX - c->pack_len)
			return t9k_err(-EINVAL, "chunk index entry %zu (%s): offset %" PRIu64
					       " + stored length overflows", i, hex, c->pack_off);
		if (c->pack_off + c->pack_len > *end)
			*end = c->pack_off + c->pack_len;
	}
	return 0;
}

/* The pack is in the store and at least end bytes long. */
static int pack_check(struct repo *r, const struct oid *pack, uint64_t end)
{
	char key[PACK_KEY_MAX];
	uint64_t size = 0;
	int rc;

	pack_key(pack, key);
	rc = store_head(r->store, key, &size);
	if (rc == -ENOENT)
		return t9k_err(T9K_ENOTFOUND, "pack %s is not in the store of repository '%s' "
				"(upload it first)", key + 6, r->info.name);
	if (rc < 0)
		return t9k_err_wrap(rc, "checking pack %s", key + 6);
	if (size < end)
		return t9k_err(-EINVAL, "pack %s is %" PRIu64 " bytes, but a chunk range ends at %" PRIu64,
			       key + 6, size, end);
	return 0;
}

int repo_chunk_index_put(struct repo *r, const struct manifest_chunk *v, size_t n)
{
	struct meta_chunk_loc *locs;
	uint64_t end;
	int rc;

	if (n == 0)
		return 0;
	rc = entries_check(v, n, &end);
	if (rc < 0)
		return rc;
	if (!r->db) {
		if (!r->remote.chunk_index_put)
			return t9k_err(-ENOTSUP, "repository '%s': no chunk index on this handle",
				       r->info.name);
		for (size_t i = 0; rc == 0 && i < n; i += REPO_CHUNK_INDEX_BATCH_MAX)
			rc = r->remote.chunk_index_put(r->remote.ctx, r->info.name, v + i,
						       n - i < REPO_CHUNK_INDEX_BATCH_MAX
							       ? n - i : REPO_CHUNK_INDEX_BATCH_MAX);
		return rc;
	}
	rc = pack_check(r, &v[0].pack, end);
	if (rc < 0)
		return rc;
	locs = calloc(n, sizeof(*locs));
	if (!locs)
		return t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		locs[i].id = v[i].id;
		locs[i].pack = v[i].pack;
		locs[i].offset = v[i].pack_off;
		locs[i].stored_len = v[i].pack_len;
		locs[i].len = v[i].len;
	}
	rc = meta_chunk_index_put(r->db, r->info.name, locs, n);
	free(locs);
	return rc;
}
