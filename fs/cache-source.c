/* The chunk source through the cache daemon or a cache group, with the
 * store behind it (fs/cache-source.h). One failure in 1000 is logged, so
 * a dead daemon under a busy reader does not flood the log. */
#include "fs/cache-source.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

struct fs_cache_source {
	struct cache_client *cc;
	struct fs_chunk_source store;
	atomic_ullong fallbacks;
};

int fs_cache_item(const struct manifest_chunk *mc, struct proto_item *it)
{
	_Static_assert((int)PROTO_LOC_OBJECT == (int)MANIFEST_LOC_OBJECT &&
		       (int)PROTO_LOC_PACK == (int)MANIFEST_LOC_PACK,
		       "cache and manifest locations differ");
	if (mc->loc != MANIFEST_LOC_OBJECT && mc->loc != MANIFEST_LOC_PACK)
		return t9k_err(-EINVAL, "chunk location %u", mc->loc);
	*it = (struct proto_item){ .id = mc->id, .len = mc->len, .loc = mc->loc };
	if (mc->loc == MANIFEST_LOC_PACK) {
		it->pack = mc->pack;
		it->pack_off = mc->pack_off;
		it->pack_len = mc->pack_len;
	}
	return 0;
}

int fs_cache_source_set_group(void *arg, const char *list)
{
	struct fs_cache_source *cs = arg;

	return cache_client_set_group(cs->cc, list); /* logs the change */
}

/* The cache first; the store when the cache fails (a daemon from before
 * packs fails packed chunks with -ENOTSUP). */
static int cache_fetch(void *ctx, const struct manifest_chunk *mc, struct buf *out)
{
	struct fs_cache_source *cs = ctx;
	size_t before = out->len;
	char hex[OID_HEXSZ + 1];
	struct proto_item it;
	int rc = fs_cache_item(mc, &it);

	if (rc == 0)
		rc = cache_client_get(cs->cc, &it, out);
	if (rc == 0)
		return 0;
	out->len = before;
	if (atomic_fetch_add(&cs->fallbacks, 1) % 1000 == 0)
		t9k_log(T9K_LOG_WARN, "chunk %.16s: %s; reading the store instead",
			oid_to_hex(&mc->id, hex), t9k_errmsg(rc));
	return cs->store.fetch(cs->store.ctx, mc, out);
}

int fs_cache_source_new(const struct cache_client_opts *o, struct store *st, bool probe,
			struct fs_cache_source **out)
{
	struct fs_cache_source *cs = calloc(1, sizeof(*cs));
	struct buf b = BUF_INIT;
	int rc;

	*out = NULL;
	if (!cs)
		return t9k_err(-ENOMEM, "out of memory");
	rc = cache_client_new(o, &cs->cc);
	if (rc == 0 && probe && o->local) /* a daemon that is not there is a mistake, say it now */
		rc = cache_client_stats(cs->cc, 0, &b);
	buf_release(&b);
	if (rc == 0)
		rc = fs_chunk_source_store(st, &cs->store);
	if (rc < 0) {
		fs_cache_source_free(cs);
		return rc;
	}
	*out = cs;
	return 0;
}

void fs_cache_source(struct fs_cache_source *cs, struct fs_chunk_source *out)
{
	*out = (struct fs_chunk_source){ .fetch = cache_fetch, .free = NULL, .ctx = cs };
}

unsigned long long fs_cache_source_fallbacks(struct fs_cache_source *cs)
{
	return atomic_load(&cs->fallbacks);
}

void fs_cache_source_free(struct fs_cache_source *cs)
{
	if (!cs)
		return;
	cache_client_free(cs->cc);
	free(cs);
}
