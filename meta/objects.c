/* Metadata objects through the store, and the decoded-node cache.
 * Locking: mo->lock guards the hash table, the LRU list, every node's refs
 * and the stats; store I/O and decoding run outside it. Two threads missing
 * the same node may both fetch it; the second insert finds the first and
 * drops its own copy. */
#include "meta/objects.h"

#include "lib/err.h"
#include "store/chunk.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NBUCKETS 4096
#define MAX_IDLE_WRITERS 8

struct meta_objects {
	struct store *store;
	size_t cache_max, cache_used;

	pthread_mutex_t lock;
	struct meta_node *buckets[NBUCKETS];
	struct meta_node lru; /* sentinel: lru.lru_next is the most recent */
	struct chunk_writer *idle[MAX_IDLE_WRITERS];
	int nidle;
	struct meta_stats stats;
};

int meta_objects_new(struct store *s, size_t cache_bytes, struct meta_objects **out)
{
	struct meta_objects *mo = calloc(1, sizeof(*mo));

	*out = NULL;
	if (!mo)
		return t9k_err(-ENOMEM, "out of memory");
	mo->store = s;
	mo->cache_max = cache_bytes;
	mo->lru.lru_next = mo->lru.lru_prev = &mo->lru;
	pthread_mutex_init(&mo->lock, NULL);
	*out = mo;
	return 0;
}

static void node_free(struct meta_node *n)
{
	tree_node_release(&n->n);
	buf_release(&n->raw);
	free(n);
}

void meta_objects_free(struct meta_objects *mo)
{
	if (!mo)
		return;
	for (int i = 0; i < NBUCKETS; i++) {
		struct meta_node *n = mo->buckets[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			node_free(n);
		}
	}
	for (int i = 0; i < mo->nidle; i++)
		chunk_writer_free(mo->idle[i]);
	pthread_mutex_destroy(&mo->lock);
	free(mo);
}

struct store *meta_objects_store(struct meta_objects *mo)
{
	return mo->store;
}

static struct chunk_writer *writer_take(struct meta_objects *mo)
{
	struct chunk_writer *w = NULL;

	pthread_mutex_lock(&mo->lock);
	if (mo->nidle)
		w = mo->idle[--mo->nidle];
	pthread_mutex_unlock(&mo->lock);
	return w ? w : chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
}

static void writer_give(struct meta_objects *mo, struct chunk_writer *w)
{
	pthread_mutex_lock(&mo->lock);
	if (mo->nidle < MAX_IDLE_WRITERS) {
		mo->idle[mo->nidle++] = w;
		w = NULL;
	}
	pthread_mutex_unlock(&mo->lock);
	chunk_writer_free(w);
}

int meta_object_put(struct meta_objects *mo, const void *data, size_t len, struct oid *id)
{
	struct chunk_writer *w = writer_take(mo);
	struct chunk_put_result res;
	int rc;

	if (!w)
		return t9k_err(-ENOMEM, "out of memory");
	rc = chunk_put_ns(w, mo->store, CHUNK_NS_META, data, len, &res);
	writer_give(mo, w);
	if (rc < 0)
		return rc;
	*id = res.id;
	pthread_mutex_lock(&mo->lock);
	mo->stats.writes++;
	if (!res.existed) {
		mo->stats.writes_new++;
		mo->stats.bytes_new += len;
	}
	pthread_mutex_unlock(&mo->lock);
	return 0;
}

int meta_object_get(struct meta_objects *mo, const struct oid *id, struct buf *out)
{
	int rc = chunk_get_ns(mo->store, CHUNK_NS_META, id, out);

	if (rc == -ENOENT) {
		char hex[OID_HEXSZ + 1];

		rc = t9k_err(T9K_ENOTFOUND, "metadata object %s not found in store %s",
			     oid_to_hex(id, hex), store_url(mo->store));
	}
	pthread_mutex_lock(&mo->lock);
	mo->stats.reads++;
	pthread_mutex_unlock(&mo->lock);
	return rc;
}

int meta_manifest_get(struct meta_objects *mo, const struct tree_entry *e, struct manifest *m)
{
	struct buf raw = BUF_INIT;
	int rc;

	memset(m, 0, sizeof(*m));
	if (!S_ISREG(e->mode) || e->is_inline)
		return t9k_err(-EINVAL, "entry has no manifest: not a stored regular file");
	if (e->is_chunk) {
		if (e->size <= META_INLINE_MAX || e->size > META_CHUNK_ENTRY_MAX)
			return t9k_err(T9K_ECORRUPT, "one-chunk entry of %llu bytes is out of range",
				       (unsigned long long)e->size);
		if (!(m->chunks = calloc(1, sizeof(*m->chunks))))
			return t9k_err(-ENOMEM, "out of memory");
		m->size = e->size;
		m->nchunks = 1;
		m->chunks[0] = (struct manifest_chunk){ .id = e->id, .len = (uint32_t)e->size,
							.loc = MANIFEST_LOC_OBJECT };
		return 0;
	}
	rc = meta_object_get(mo, &e->id, &raw);
	if (rc == 0)
		rc = manifest_decode(raw.data, raw.len, m);
	if (rc == 0 && m->size != e->size) {
		rc = t9k_err(T9K_ECORRUPT, "manifest size %llu differs from entry size %llu",
			     (unsigned long long)m->size, (unsigned long long)e->size);
		manifest_release(m);
	}
	buf_release(&raw);
	return rc;
}

int meta_manifest_put(struct meta_objects *mo, const struct manifest *m, struct tree_entry *e)
{
	struct buf enc = BUF_INIT;
	int rc;

	e->is_inline = false;
	e->data = NULL;
	e->data_len = 0;
	e->size = m->size;
	e->is_chunk = m->nchunks == 1 && m->chunks[0].loc == MANIFEST_LOC_OBJECT &&
		      m->size > META_INLINE_MAX && m->size <= META_CHUNK_ENTRY_MAX &&
		      m->chunks[0].len == m->size;
	if (e->is_chunk) {
		e->id = m->chunks[0].id;
		return 0;
	}
	rc = manifest_encode(m, &enc);
	if (rc == 0)
		rc = meta_object_put(mo, enc.data, enc.len, &e->id);
	buf_release(&enc);
	return rc;
}

int meta_manifest_add(void *arg, const struct chunk_loc *c, uint64_t off)
{
	struct manifest_builder *b = arg;
	struct manifest_chunk *mc;

	(void)off;
	if (b->m.nchunks == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;

		mc = realloc(b->m.chunks, cap * sizeof(*mc));
		if (!mc)
			return t9k_err(-ENOMEM, "out of memory");
		b->m.chunks = mc;
		b->cap = cap;
	}
	mc = &b->m.chunks[b->m.nchunks++];
	*mc = (struct manifest_chunk){ .id = c->id, .len = c->len, .loc = MANIFEST_LOC_OBJECT };
	if (c->packed) {
		mc->loc = MANIFEST_LOC_PACK;
		mc->pack = c->pack;
		mc->pack_off = c->pack_off;
		mc->pack_len = c->pack_len;
	}
	b->m.size += c->len;
	return 0;
}

static unsigned bucket_of(const struct oid *id)
{
	return ((unsigned)id->b[0] | (unsigned)id->b[1] << 8) % NBUCKETS;
}

static void lru_unlink(struct meta_node *n)
{
	n->lru_prev->lru_next = n->lru_next;
	n->lru_next->lru_prev = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_push_front(struct meta_objects *mo, struct meta_node *n)
{
	n->lru_next = mo->lru.lru_next;
	n->lru_prev = &mo->lru;
	mo->lru.lru_next->lru_prev = n;
	mo->lru.lru_next = n;
}

static struct meta_node *lookup_locked(struct meta_objects *mo, const struct oid *id)
{
	for (struct meta_node *n = mo->buckets[bucket_of(id)]; n; n = n->hnext)
		if (oid_eq(&n->id, id))
			return n;
	return NULL;
}

static void unhash_locked(struct meta_objects *mo, struct meta_node *n)
{
	struct meta_node **p = &mo->buckets[bucket_of(&n->id)];

	while (*p != n)
		p = &(*p)->hnext;
	*p = n->hnext;
}

/* Drops unreferenced nodes from the cold end until under the limit.
 * Referenced nodes are skipped: they are freed at their last put. */
static void evict_locked(struct meta_objects *mo, struct meta_node **freelist)
{
	struct meta_node *n = mo->lru.lru_prev;

	while (mo->cache_used > mo->cache_max && n != &mo->lru) {
		struct meta_node *prev = n->lru_prev;

		if (n->refs == 0) {
			lru_unlink(n);
			unhash_locked(mo, n);
			mo->cache_used -= n->raw.len;
			n->hnext = *freelist;
			*freelist = n;
		}
		n = prev;
	}
}

int meta_node_get(struct meta_objects *mo, const struct oid *id, struct meta_node **out)
{
	struct meta_node *n, *have, *freelist = NULL;
	int rc;

	pthread_mutex_lock(&mo->lock);
	n = lookup_locked(mo, id);
	if (n) {
		n->refs++;
		lru_unlink(n);
		lru_push_front(mo, n);
		mo->stats.cache_hits++;
		pthread_mutex_unlock(&mo->lock);
		*out = n;
		return 0;
	}
	pthread_mutex_unlock(&mo->lock);

	n = calloc(1, sizeof(*n));
	if (!n)
		return t9k_err(-ENOMEM, "out of memory");
	n->id = *id;
	rc = meta_object_get(mo, id, &n->raw);
	if (rc == 0) {
		rc = tree_node_decode(n->raw.data, n->raw.len, &n->n);
		if (rc < 0) {
			char hex[OID_HEXSZ + 1];

			t9k_err_wrap(rc, "tree node %s", oid_to_hex(id, hex));
		}
	}
	if (rc < 0) {
		buf_release(&n->raw);
		free(n);
		return rc;
	}

	pthread_mutex_lock(&mo->lock);
	have = lookup_locked(mo, id);
	if (have) { /* another thread won the race */
		have->refs++;
		pthread_mutex_unlock(&mo->lock);
		node_free(n);
		*out = have;
		return 0;
	}
	n->refs = 1;
	n->hnext = mo->buckets[bucket_of(id)];
	mo->buckets[bucket_of(id)] = n;
	lru_push_front(mo, n);
	mo->cache_used += n->raw.len;
	evict_locked(mo, &freelist);
	pthread_mutex_unlock(&mo->lock);
	while (freelist) {
		struct meta_node *next = freelist->hnext;

		node_free(freelist);
		freelist = next;
	}
	*out = n;
	return 0;
}

void meta_node_put(struct meta_objects *mo, struct meta_node *n)
{
	struct meta_node *freelist = NULL;

	if (!n)
		return;
	pthread_mutex_lock(&mo->lock);
	n->refs--;
	evict_locked(mo, &freelist);
	pthread_mutex_unlock(&mo->lock);
	while (freelist) {
		struct meta_node *next = freelist->hnext;

		node_free(freelist);
		freelist = next;
	}
}

int meta_node_write(struct meta_objects *mo, const struct tree_node *n, struct oid *id)
{
	struct buf enc = BUF_INIT;
	int rc = tree_node_encode(n, &enc);

	if (rc == 0)
		rc = meta_object_put(mo, enc.data, enc.len, id);
	buf_release(&enc);
	return rc;
}

void meta_objects_stats(struct meta_objects *mo, struct meta_stats *out)
{
	pthread_mutex_lock(&mo->lock);
	*out = mo->stats;
	pthread_mutex_unlock(&mo->lock);
}

void meta_objects_stats_reset(struct meta_objects *mo)
{
	pthread_mutex_lock(&mo->lock);
	memset(&mo->stats, 0, sizeof(mo->stats));
	pthread_mutex_unlock(&mo->lock);
}
