/* The pack writer: chunks are copied, in the order they are added, into the
 * open pack buffer; a full pack is sealed and stored by one of a few upload
 * threads while the adder fills the next buffer.
 *
 * Buffers: at most uploads + 1 exist (the open one and one per upload),
 * reused for the writer's life, so their pages are faulted in once. A
 * buffer is either open (only the adder touches it, no lock), queued or
 * being uploaded (only its upload thread), or free.
 * Locking: pw->lock guards the queue, the free list, the buffer count, busy, err
 * and stop; the adder waits on idle for a free buffer (and flush for the
 * end of every upload), upload threads wait on work.
 */
#include "store/pack.h"

#include "lib/err.h"
#include "store/chunk.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PACK_UPLOADS_MAX 64

struct pbuf {
	struct oid id;
	uint8_t *data;
	size_t len, cap;
	struct chunk_loc *locs;
	size_t nlocs, caplocs;
	struct pbuf *next; /* in the queue or the free list */
};

struct pack_writer {
	struct store *s;
	uint32_t size;
	struct pack_ops ops;
	struct pbuf *open; /* the adder's */

	pthread_mutex_t lock;
	pthread_cond_t work; /* queued packs, or stop */
	pthread_cond_t idle; /* a buffer came free */
	struct pbuf *qhead, *qtail, *free;
	int nbufs, maxbufs, busy;
	bool stop;
	int err;
	char errmsg[512];
	pthread_t threads[PACK_UPLOADS_MAX];
	int nthreads;
};

void pack_key(const struct oid *pack, char key[PACK_KEY_MAX])
{
	memcpy(key, "packs/", 6);
	oid_to_hex(pack, key + 6);
}

int pack_chunk_get(struct store *s, const struct oid *id, const struct oid *pack, uint64_t off,
		   uint32_t stored_len, struct buf *out)
{
	char key[PACK_KEY_MAX], hex[OID_HEXSZ + 1];
	size_t start = out->len;
	int rc;

	/* the range is read where its plaintext goes (chunk_decode_tail) */
	pack_key(pack, key);
	rc = store_get(s, key, off, stored_len, out);
	if (rc == -ENOENT)
		rc = t9k_err(-ENOENT, "pack %s (holding chunk %s) not found in store %s", key + 6,
			     oid_to_hex(id, hex), store_url(s));
	else if (rc == 0 && out->len - start != stored_len)
		rc = t9k_err(T9K_ECORRUPT, "chunk %s: %s has %zu bytes at %llu, not %u",
			     oid_to_hex(id, hex), key, out->len - start, (unsigned long long)off,
			     stored_len);
	if (rc == 0)
		return chunk_decode_tail(id, out, start);
	if (out->data) {
		out->len = start;
		out->data[start] = 0;
	}
	return rc;
}

static void pbuf_free(struct pbuf *b)
{
	if (b) {
		free(b->data);
		free(b->locs);
		free(b);
	}
}

static int fresh_id(struct oid *id)
{
	size_t got = 0;

	while (got < sizeof(id->b)) {
		ssize_t n = getrandom(id->b + got, sizeof(id->b) - got, 0);

		if (n < 0 && errno != EINTR)
			return t9k_err(-errno, "getrandom: %s", strerror(errno));
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

/* Stores one sealed pack and reports it; returns 0 or a failure. */
static int upload(struct pack_writer *pw, struct pbuf *b)
{
	struct iovec iov = { .iov_base = b->data, .iov_len = b->len };
	char key[PACK_KEY_MAX];
	int rc;

	pack_key(&b->id, key);
	rc = store_put(pw->s, key, &iov, 1);
	if (rc == 0 && pw->ops.stored)
		rc = pw->ops.stored(pw->ops.arg, b->locs, b->nlocs);
	return rc;
}

static void *upload_main(void *arg)
{
	struct pack_writer *pw = arg;

	pthread_mutex_lock(&pw->lock);
	for (;;) {
		struct pbuf *b;
		int rc;

		while (!pw->stop && !pw->qhead)
			pthread_cond_wait(&pw->work, &pw->lock);
		if (!pw->qhead)
			break; /* stop, and nothing is left to store */
		b = pw->qhead;
		pw->qhead = b->next;
		if (!pw->qhead)
			pw->qtail = NULL;
		pw->busy++;
		pthread_mutex_unlock(&pw->lock);

		t9k_err_clear();
		rc = upload(pw, b);

		pthread_mutex_lock(&pw->lock);
		pw->busy--;
		if (rc < 0 && !pw->err) {
			pw->err = rc;
			snprintf(pw->errmsg, sizeof(pw->errmsg), "%s", t9k_errmsg(rc));
		}
		b->next = pw->free;
		pw->free = b;
		pthread_cond_broadcast(&pw->idle);
	}
	pthread_mutex_unlock(&pw->lock);
	return NULL;
}

int pack_writer_new(struct store *s, uint32_t size, int uploads, const struct pack_ops *ops,
		    struct pack_writer **out)
{
	struct pack_writer *pw;
	int rc;

	*out = NULL;
	if (size == 0 || size > PACK_SIZE_MAX)
		return t9k_err(-EINVAL, "pack size %u is out of range (1..%u)", size, PACK_SIZE_MAX);
	if (uploads < 1)
		uploads = 1;
	if (uploads > PACK_UPLOADS_MAX)
		uploads = PACK_UPLOADS_MAX;
	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return t9k_err(-ENOMEM, "out of memory");
	pw->s = s;
	pw->size = size;
	if (ops)
		pw->ops = *ops;
	pw->maxbufs = uploads + 1;
	pthread_mutex_init(&pw->lock, NULL);
	pthread_cond_init(&pw->work, NULL);
	pthread_cond_init(&pw->idle, NULL);
	for (; pw->nthreads < uploads; pw->nthreads++) {
		rc = pthread_create(&pw->threads[pw->nthreads], NULL, upload_main, pw);
		if (rc) {
			pack_writer_free(pw);
			return t9k_err(-rc, "cannot start pack uploads: %s", strerror(rc));
		}
	}
	*out = pw;
	return 0;
}

void pack_writer_free(struct pack_writer *pw)
{
	struct pbuf *b;

	if (!pw)
		return;
	pthread_mutex_lock(&pw->lock);
	pw->stop = true;
	pthread_cond_broadcast(&pw->work);
	pthread_mutex_unlock(&pw->lock);
	for (int i = 0; i < pw->nthreads; i++)
		pthread_join(pw->threads[i], NULL);
	pbuf_free(pw->open);
	while ((b = pw->free)) {
		pw->free = b->next;
		pbuf_free(b);
	}
	pthread_mutex_destroy(&pw->lock);
	pthread_cond_destroy(&pw->work);
	pthread_cond_destroy(&pw->idle);
	free(pw);
}

/* Makes pw->open a fresh, empty pack: a free buffer, a new one while
 * fewer than maxbufs exist, else waits for an upload to end. */
static int open_pack(struct pack_writer *pw)
{
	struct pbuf *b = NULL;

	pthread_mutex_lock(&pw->lock);
	while (!pw->free && pw->nbufs >= pw->maxbufs)
		pthread_cond_wait(&pw->idle, &pw->lock);
	if (pw->free) {
		b = pw->free;
		pw->free = b->next;
	} else if ((b = calloc(1, sizeof(*b)))) {
		pw->nbufs++;
	}
	pthread_mutex_unlock(&pw->lock);
	if (b && !b->data && (b->data = malloc(pw->size)))
		b->cap = pw->size;
	if (!b || !b->data) {
		if (b) { /* stays with the writer, to be freed with it */
			pthread_mutex_lock(&pw->lock);
			b->next = pw->free;
			pw->free = b;
			pthread_mutex_unlock(&pw->lock);
		}
		return t9k_err(-ENOMEM, "out of memory");
	}
	b->len = 0;
	b->nlocs = 0;
	b->next = NULL;
	pw->open = b;
	return fresh_id(&b->id);
}

static void seal(struct pack_writer *pw)
{
	struct pbuf *b = pw->open;

	pw->open = NULL;
	pthread_mutex_lock(&pw->lock);
	if (pw->qtail)
		pw->qtail->next = b;
	else
		pw->qhead = b;
	pw->qtail = b;
	pthread_cond_signal(&pw->work);
	pthread_mutex_unlock(&pw->lock);
}

static int first_failure(struct pack_writer *pw, bool clear)
{
	char msg[sizeof(pw->errmsg)];
	int rc;

	pthread_mutex_lock(&pw->lock);
	rc = pw->err;
	memcpy(msg, pw->errmsg, sizeof(msg));
	if (clear)
		pw->err = 0;
	pthread_mutex_unlock(&pw->lock);
	return rc < 0 ? t9k_err(rc, "%s", msg) : 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return t9k_err(-ENOMEM, "out of memory");
	*p = q;
	*cap = n;
	return 0;
}

int pack_writer_add(struct pack_writer *pw, const struct iovec *iov, int n, struct chunk_loc *loc)
{
	struct pbuf *b;
	size_t total = 0;
	int rc = first_failure(pw, false);

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (rc == 0 && (total == 0 || total > UINT32_MAX))
		rc = t9k_err(-EINVAL, "a packed object of %zu bytes", total);
	if (rc == 0 && pw->open && pw->open->len > 0 && pw->open->len + total > pw->size)
		seal(pw);
	if (rc == 0 && !pw->open)
		rc = open_pack(pw);
	if (rc < 0)
		return rc;
	b = pw->open;
	/* the first chunk of a pack may be larger than the pack size */
	if ((rc = grow((void **)&b->data, &b->cap, b->len + total, 1)) < 0 ||
	    (rc = grow((void **)&b->locs, &b->caplocs, b->nlocs + 1, sizeof(*b->locs))) < 0)
		return rc;
	loc->packed = true;
	loc->pack = b->id;
	loc->pack_off = b->len;
	loc->pack_len = (uint32_t)total;
	for (int i = 0; i < n; i++) {
		memcpy(b->data + b->len, iov[i].iov_base, iov[i].iov_len);
		b->len += iov[i].iov_len;
	}
	b->locs[b->nlocs++] = *loc;
	return 0;
}

int pack_writer_flush(struct pack_writer *pw)
{
	if (pw->open && pw->open->len > 0)
		seal(pw);
	pthread_mutex_lock(&pw->lock);
	while (pw->qhead || pw->busy)
		pthread_cond_wait(&pw->idle, &pw->lock);
	pthread_mutex_unlock(&pw->lock);
	return first_failure(pw, true);
}
