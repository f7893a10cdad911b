/* The in-memory chunk cache of the file system and its prefetch threads.
 *
 * Invariants: an entry is in the hash table from the moment its fetch
 * starts (state LOADING) until it is evicted or its fetch fails, so two
 * readers of one chunk fetch it once. used counts the bytes of every
 * entry in the table (LOADING ones by their manifest length); eviction
 * drops READY entries nobody holds, oldest first, until used fits max.
 * Entries held by readers or still loading cannot be dropped, so used
 * may pass max by at most what is in flight (threads and readers times a
 * chunk). Data is verified by the source before an entry becomes READY.
 *
 * Buffers: an entry's bytes are read straight into the buffer it keeps
 * (the store's object lands there and is decoded in place), a run of an
 * arena of transparent huge pages reserved for the cache's size. Chunk
 * bytes are written once (the read), read twice (the hash, the reply),
 * and spread over the whole cache: with 4 KiB pages each of those passes
 * misses the TLB every page, which costs more than the copy itself (6x
 * on the project VM), and every fresh page faults once. A buffer the
 * arena has no run for (fragmentation) is malloc'd, as are tiny ones.
 *
 * Locking: c->lock guards the table, the LRU list, every entry's refs and
 * state, the prefetch queue, the arena and the stats. Fetches run
 * without it; waiters sleep on c->done, the prefetch threads on c->work.
 */
#include "fs/chunks.h"

#include "lib/err.h"
#include "lib/log.h"
#include "store/chunk.h"
#include "store/pack.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NBUCKETS 4096
#define QUEUE_MAX 256
#define THREADS_MAX 64

enum { CH_LOADING, CH_READY };

struct centry {
	struct fs_chunk pub; /* first: fs_chunk pointers are entry pointers */
	int refs;            /* readers, plus one while in the table */
	int state;
	int err;             /* the fetch's result, for waiters */
	bool in_table;
	uint8_t *bytes;
	size_t cap;          /* bytes' allocation */
	uint64_t served;     /* bytes of it given to the kernel (fs_chunks_put_read) */
	struct centry *hnext, *lru_prev, *lru_next;
};

struct fs_chunks {
	struct fs_chunk_source src;
	uint64_t max, used;
	pthread_mutex_t lock;
	pthread_cond_t done;  /* some fetch finished */
	pthread_cond_t work;  /* the queue has work, or stop */
	struct centry *tab[NBUCKETS];
	struct centry lru;    /* sentinel: lru.lru_next is the most recent */
	struct manifest_chunk queue[QUEUE_MAX];
	int qhead, qlen;
	bool stop;
	int nthreads;
	pthread_t threads[THREADS_MAX];
	struct fs_chunks_stats st;
	uint8_t *arena;      /* 2 MiB aligned, units * UNIT bytes; NULL: none */
	size_t units;
	uint64_t *used_bits; /* a bit per unit */
	void *map;
	size_t map_len;
};

/* ---- chunk buffers: a huge-page arena ---- */

#define UNIT (16u << 10)      /* arena granule; smaller chunks are malloc'd */
#define HUGE_PAGE (2u << 20)

/* Reserves the arena: address space for what the cache holds and what
 * fetches in flight add, backed by memory only once touched. Without it
 * (mmap failed) every buffer is malloc'd. */
static void arena_init(struct fs_chunks *c, uint64_t bytes)
{
	size_t units = (size_t)((bytes + bytes / 4 + (16u << 20) + HUGE_PAGE - 1) / HUGE_PAGE *
				(HUGE_PAGE / UNIT));
	size_t len = units * UNIT + HUGE_PAGE;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_NORESERVE, -1, 0);

	if (map == MAP_FAILED)
		return;
	c->used_bits = calloc((units + 63) / 64, sizeof(uint64_t));
	if (!c->used_bits) {
		munmap(map, len);
		return;
	}
	c->map = map;
	c->map_len = len;
	c->arena = (uint8_t *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	c->units = units;
	(void)madvise(c->arena, units * UNIT, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
}

static bool unit_used(const struct fs_chunks *c, size_t i)
{
	return c->used_bits[i / 64] >> (i % 64) & 1;
}

static void units_mark(struct fs_chunks *c, size_t from, size_t k, bool used)
{
	for (size_t i = from; i < from + k; i++) {
		if (used)
			c->used_bits[i / 64] |= 1ull << (i % 64);
		else
			c->used_bits[i / 64] &= ~(1ull << (i % 64));
	}
}

/* need bytes from the arena, or NULL: no arena, too small to be worth a
 * unit, or no free run that long. First fit, lowest address first: memory
 * freed a moment ago is taken again before memory never touched (a first
 * touch costs a page clear, and in a VM the host's fault). Under c->lock. */
static void *arena_alloc(struct fs_chunks *c, size_t need, size_t *cap)
{
	size_t k = (need + UNIT - 1) / UNIT, run = 0, start = 0;

	if (!c->arena || need < UNIT / 4 || k > c->units)
		return NULL;
	for (size_t i = 0; i < c->units; i++) {
		if (i % 64 == 0 && c->used_bits[i / 64] == UINT64_MAX) {
			i += 63;
			run = 0;
			continue;
		}
		if (unit_used(c, i)) {
			run = 0;
			continue;
		}
		if (run++ == 0)
			start = i;
		if (run == k) {
			units_mark(c, start, k, true);
			*cap = k * UNIT;
			return c->arena + start * UNIT;
		}
	}
	return NULL;
}

/* Frees a chunk buffer of cap bytes, from the arena or malloc. Under
 * c->lock. */
static void buf_free(struct fs_chunks *c, void *p, size_t cap)
{
	uint8_t *b = p;

	if (c->arena && b >= c->arena && b < c->arena + c->units * UNIT)
		units_mark(c, (size_t)(b - c->arena) / UNIT, cap / UNIT, false);
	else
		free(p);
}

/* ---- the store as a source ---- */

static int store_fetch(void *ctx, const struct manifest_chunk *mc, struct buf *out)
{
	struct store *s = ctx;
	int rc;

	if (mc->loc == MANIFEST_LOC_OBJECT)
		rc = chunk_get(s, &mc->id, out);
	else
		rc = pack_chunk_get(s, &mc->id, &mc->pack, mc->pack_off, mc->pack_len, out);
	return rc == -ENOENT ? t9k_err(-EIO, "%s", t9k_errmsg(rc)) : rc;
}

int fs_chunk_source_store(struct store *s, struct fs_chunk_source *out)
{
	*out = (struct fs_chunk_source){ .fetch = store_fetch, .free = NULL, .ctx = s };
	return 0;
}

/* ---- table and LRU, all under c->lock ---- */

static size_t bucket(const struct oid *id)
{
	size_t h;

	memcpy(&h, id->b, sizeof(h));
	return h % NBUCKETS;
}

static struct centry *find(struct fs_chunks *c, const struct oid *id)
{
	for (struct centry *e = c->tab[bucket(id)]; e; e = e->hnext)
		if (oid_eq(&e->pub.id, id))
			return e;
	return NULL;
}

static void lru_unlink(struct centry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_prev = e->lru_next = e;
}

static void lru_front(struct fs_chunks *c, struct centry *e)
{
	lru_unlink(e);
	e->lru_next = c->lru.lru_next;
	e->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

static void table_remove(struct fs_chunks *c, struct centry *e)
{
	struct centry **pp = &c->tab[bucket(&e->pub.id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	e->in_table = false;
	c->used -= e->pub.len;
}

static void entry_unref(struct fs_chunks *c, struct centry *e)
{
	if (--e->refs == 0) {
		buf_free(c, e->bytes, e->cap);
		free(e);
	}
}

/* Drops idle READY entries, oldest first, until need more bytes fit. */
static void evict(struct fs_chunks *c, uint64_t need)
{
	struct centry *e = c->lru.lru_prev;

	while (c->used + need > c->max && e != &c->lru) {
		struct centry *prev = e->lru_prev;

		if (e->state == CH_READY && e->refs == 1) {
			table_remove(c, e);
			entry_unref(c, e);
			c->st.evicted++;
		}
		e = prev;
	}
}

static struct centry *insert_loading(struct fs_chunks *c, const struct manifest_chunk *mc)
{
	struct centry *e = calloc(1, sizeof(*e));
	size_t b = bucket(&mc->id);

	if (!e)
		return NULL;
	e->pub.id = mc->id;
	e->pub.len = mc->len;
	e->state = CH_LOADING;
	e->refs = 1; /* the table's */
	e->in_table = true;
	e->lru_prev = e->lru_next = e;
	e->hnext = c->tab[b];
	c->tab[b] = e;
	lru_front(c, e);
	c->used += mc->len;
	return e;
}

/* Fetches e's bytes without the lock held, then publishes them. Called
 * with the lock held and one reference on e; returns with the lock held. */
static int load(struct fs_chunks *c, struct centry *e, const struct manifest_chunk *mc)
{
	/* room for the stored object of a raw chunk (read, then decoded in
	 * place) and buf's NUL; a fixed buffer, so a source never reallocs
	 * arena memory */
	size_t need = (size_t)mc->len + CHUNK_HDR_SIZE + 1;
	struct buf b = BUF_INIT;
	int rc = 0;

	b.data = arena_alloc(c, need, &b.cap);
	pthread_mutex_unlock(&c->lock);
	if (b.data) {
		b.fixed = 1;
		b.data[0] = 0;
		rc = c->src.fetch(c->src.ctx, mc, &b);
		if (rc == -ENOBUFS) { /* more than a chunk could be: let the source say what */
			pthread_mutex_lock(&c->lock);
			buf_free(c, b.data, b.cap);
			pthread_mutex_unlock(&c->lock);
			buf_init(&b);
		}
	}
	if (!b.data)
		rc = c->src.fetch(c->src.ctx, mc, &b);
	if (rc == 0 && b.len != mc->len)
		rc = t9k_err(-EIO, "chunk length %zu differs from its manifest's %u", b.len, mc->len);
	if (rc < 0) {
		char hex[OID_HEXSZ + 1];

		t9k_log(T9K_LOG_ERROR, "chunk %s: %s", oid_to_hex(&mc->id, hex), t9k_errmsg(rc));
	}
	pthread_mutex_lock(&c->lock);
	if (rc == 0) {
		e->cap = b.cap;
		e->bytes = b.data;
		e->pub.data = e->bytes;
		e->state = CH_READY;
	} else {
		buf_free(c, b.data, b.cap);
		e->err = rc;
		e->state = CH_READY;
		if (e->in_table) {
			table_remove(c, e);
			entry_unref(c, e);
		}
	}
	pthread_cond_broadcast(&c->done);
	return rc;
}

int fs_chunks_get(struct fs_chunks *c, const struct manifest_chunk *mc, struct fs_chunk **out)
{
	struct centry *e;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	e = find(c, &mc->id);
	if (e) {
		e->refs++;
		lru_front(c, e);
		if (e->state == CH_READY)
			c->st.hits++;
		while (e->state == CH_LOADING)
			pthread_cond_wait(&c->done, &c->lock);
		rc = e->bytes ? 0 : e->err ? e->err : -EIO;
		if (rc < 0)
			rc = t9k_err(rc, "chunk fetch failed: %s", t9k_strerror(rc));
	} else {
		c->st.misses++;
		evict(c, mc->len);
		e = insert_loading(c, mc);
		if (!e) {
			pthread_mutex_unlock(&c->lock);
			return t9k_err(-ENOMEM, "out of memory");
		}
		e->refs++;
		rc = load(c, e, mc);
	}
	if (rc < 0)
		entry_unref(c, e);
	else
		*out = &e->pub;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void fs_chunks_put_read(struct fs_chunks *c, struct fs_chunk *ch, size_t bytes)
{
	struct centry *e = (struct centry *)ch;

	if (!ch)
		return;
	pthread_mutex_lock(&c->lock);
	e->served += bytes;
	if (e->served >= e->pub.len && e->in_table && e->refs == 2 && e->state == CH_READY) {
		table_remove(c, e);
		e->refs--; /* the table's; ours goes below */
		c->st.dropped++;
	}
	entry_unref(c, e);
	pthread_mutex_unlock(&c->lock);
}

void fs_chunks_put(struct fs_chunks *c, struct fs_chunk *ch)
{
	if (!ch)
		return;
	pthread_mutex_lock(&c->lock);
	entry_unref(c, (struct centry *)ch);
	if (c->used > c->max)
		evict(c, 0);
	pthread_mutex_unlock(&c->lock);
}

void fs_chunks_prefetch(struct fs_chunks *c, const struct manifest_chunk *mc)
{
	pthread_mutex_lock(&c->lock);
	if (!c->stop && c->qlen < QUEUE_MAX && c->nthreads && !find(c, &mc->id)) {
		bool queued = false;

		for (int i = 0; i < c->qlen && !queued; i++)
			queued = oid_eq(&c->queue[(c->qhead + i) % QUEUE_MAX].id, &mc->id);
		if (!queued) {
			c->queue[(c->qhead + c->qlen) % QUEUE_MAX] = *mc;
			c->qlen++;
			pthread_cond_signal(&c->work);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

static void *prefetch_main(void *arg)
{
	struct fs_chunks *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct manifest_chunk mc;
		struct centry *e;

		while (!c->stop && c->qlen == 0)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->stop)
			break;
		mc = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % QUEUE_MAX;
		c->qlen--;
		if (find(c, &mc.id))
			continue;
		evict(c, mc.len);
		if (c->used + mc.len > c->max)
			continue; /* no room: readers would only evict it again */
		e = insert_loading(c, &mc);
		if (!e)
			continue;
		e->refs++;
		c->st.prefetched++;
		load(c, e, &mc);
		entry_unref(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int fs_chunks_new(const struct fs_chunk_source *src, uint64_t cache_bytes, int threads,
		  struct fs_chunks **out)
{
	struct fs_chunks *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return t9k_err(-ENOMEM, "out of memory");
	c->src = *src;
	c->max = cache_bytes;
	arena_init(c, cache_bytes);
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->done, NULL);
	pthread_cond_init(&c->work, NULL);
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
	for (int i = 0; i < threads; i++) {
		int err = pthread_create(&c->threads[i], NULL, prefetch_main, c);

		if (err) {
			fs_chunks_free(c);
			return t9k_err(-err, "cannot start prefetch threads: %s", strerror(err));
		}
		c->nthreads++;
	}
	*out = c;
	return 0;
}

void fs_chunks_free(struct fs_chunks *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	for (int i = 0; i < NBUCKETS; i++) {
		struct centry *e = c->tab[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			buf_free(c, e->bytes, e->cap);
			free(e);
		}
	}
	if (c->map)
		munmap(c->map, c->map_len);
	free(c->used_bits);
	if (c->src.free)
		c->src.free(c->src.ctx);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->done);
	pthread_cond_destroy(&c->work);
	free(c);
}

void fs_chunks_stats(struct fs_chunks *c, struct fs_chunks_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->bytes_cached = c->used;
	pthread_mutex_unlock(&c->lock);
}

/* ---- read-ahead of sequential readers ---- */

uint32_t fs_chunk_at(const uint64_t *ends, uint32_t n, uint64_t off)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ends[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void fs_chunks_read_ahead(struct fs_chunks *c, struct fs_readahead *ra, pthread_mutex_t *lock,
			  const struct manifest_chunk *chunks, const uint64_t *ends, uint32_t n,
			  uint64_t size, uint64_t off, uint64_t end, uint64_t max_bytes)
{
	uint64_t from = 0, to = 0;
	bool seq;

	if (lock)
		pthread_mutex_lock(lock);
	seq = off + FS_SEQ_SLACK >= ra->next_off && off <= ra->next_off + FS_SEQ_SLACK;
	ra->seq = seq ? ra->seq + 1 : 0;
	if (!seq) {
		ra->prefetched = 0;
		ra->next_off = end;
	} else if (end > ra->next_off) {
		ra->next_off = end;
	}
	if (ra->seq >= 2 && max_bytes) {
		uint64_t window = (uint64_t)FS_PREFETCH_STEP << (ra->seq < 5 ? ra->seq : 5);

		if (window > max_bytes)
			window = max_bytes;
		from = ra->prefetched > end ? ra->prefetched : end;
		to = end + window < size ? end + window : size;
		if (to > from)
			ra->prefetched = to;
	}
	if (lock)
		pthread_mutex_unlock(lock);
	if (to <= from)
		return;
	for (uint32_t i = fs_chunk_at(ends, n, from); i < n && ends[i] - chunks[i].len < to; i++)
		fs_chunks_prefetch(c, &chunks[i]);
}
