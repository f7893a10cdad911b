/* Parallel fetch of whole files (export, get): manifests and chunks come
 * from the store on a pool of threads and are written at their offsets,
 * so one large file's chunks, or many small files, are in flight at once.
 *
 * Files wait in a FIFO list. A worker takes the oldest work there is: the
 * manifest of a file nobody loads yet, or the next unclaimed chunks of a
 * loaded file; so the earliest files finish first and at most max_files
 * are open. Chunks that sit back to back in one pack are claimed as a run
 * and read with one ranged request: about FETCH_RANGE_MAX bytes at most,
 * and no more than a thread's share of the bytes queued when the file's
 * manifest came, so that a lone mid-size file still spreads over the
 * threads. Each chunk of a run is then decoded, verified against its id
 * and written on its own; a standalone chunk, or a packed one whose
 * neighbour is elsewhere, is a run of one. The worker that writes a
 * file's last chunk finishes it (mode, mtime, close) and drops it from
 * the list. After a failure nothing new starts, and fetch_finish removes
 * every file left unfinished, so no partial file remains looking complete.
 * Locking: f->lock guards the list, every file's state and counters, the
 * bytes pending and the first error. Store I/O, decoding and writes run
 * outside it; a run claimed under the lock is its worker's alone.
 */
#include "meta/fetch.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/repo-internal.h"
#include "store/chunk.h"
#include "store/pack.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_THREADS_MAX 256
#define FETCH_FILES_MAX 128 /* two descriptors each: well under a 1,024 fd limit */
/* Bytes of a pack read with one request: a run of chunks stops at the
 * first that takes it to this size or beyond, so a range is under it
 * plus one chunk, and a pack of up to twice this size (the ~16 MiB packs)
 * takes two requests. Each GET costs the store ~1-1.5 ms of server CPU
 * whatever its size (Ceph RGW): a 1 GiB file then costs some 130
 * requests instead of ~1,000 (1 MiB chunks), each moving enough bytes
 * that its overhead is small. Larger ranges would save little more and
 * cost memory: each thread keeps one range buffer. */
#define FETCH_RANGE_MAX (8u << 20)

enum file_state { FILE_NEW, FILE_LOADING, FILE_LOADED };

struct fetch_file {
	struct fetch_file *next;
	struct tree_entry e; /* id, size, mode, mtime; no name or inline data */
	int fd, dirfd;       /* dirfd: a dup, FETCH_OWN only, else -1 */
	off_t base;
	int flags;
	char *name, *path;
	enum file_state state;
	struct manifest m;   /* FILE_LOADED */
	uint32_t next_chunk; /* first chunk not claimed */
	uint64_t next_off;   /* its offset in the file */
	uint32_t running;    /* jobs on this file now */
	uint32_t done;       /* chunks written */
	uint64_t run_max;    /* FILE_LOADED: bytes a run reaches at most */
	bool failed;
};

struct fetch {
	struct repo *r;
	pthread_t threads[FETCH_THREADS_MAX];
	int nthreads, max_files;
	int want_threads;        /* set before any thread starts */

	pthread_mutex_t lock;
	pthread_cond_t work_cv;  /* work, a failure, or the end: workers wait */
	pthread_cond_t room_cv;  /* a file left the list: fetch_file waits */
	struct fetch_file *head, *tail;
	int nfiles;
	uint64_t pending;        /* file bytes queued and not yet claimed */
	bool closing;            /* no more files will come */
	int err;                 /* first failure */
	char errmsg[512];
};

/* Reads the stored bytes of chunks c[0..n) into obj with one request:
 * a standalone object (n == 1), or one contiguous range of a pack
 * (packed_after holds between neighbours). obj is scratch kept by the
 * caller between runs, so that a fetch thread does not allocate (and
 * fault in) a new buffer per request. */
static int run_get(struct repo *r, const struct manifest_chunk *c, uint32_t n, struct buf *obj)
{
	char key[CHUNK_KEY_MAX + 8], hex[OID_HEXSZ + 1], chex[OID_HEXSZ + 1];
	uint64_t off = 0, len = STORE_WHOLE;
	int rc;

	assert(n >= 1 && (c->loc == MANIFEST_LOC_PACK || n == 1));
	buf_reset(obj);
	if (c->loc == MANIFEST_LOC_OBJECT) {
		chunk_key(&c->id, key);
	} else {
		pack_key(&c->pack, key);
		off = c[0].pack_off;
		len = c[n - 1].pack_off + c[n - 1].pack_len - off;
	}
	rc = store_get(r->store, key, off, len, obj);
	if (rc == -ENOENT && c->loc == MANIFEST_LOC_OBJECT) {
		/* not stored whole: a delta chunk (store/chunk.h), or absent */
		chunk_key_ns(CHUNK_NS_DELTA, &c->id, key);
		rc = store_get(r->store, key, off, len, obj);
	}
	if (rc == -ENOENT && c->loc == MANIFEST_LOC_OBJECT)
		rc = t9k_err(-ENOENT, "chunk %s not found in store %s", oid_to_hex(&c->id, hex),
			     store_url(r->store));
	else if (rc == -ENOENT)
		rc = t9k_err(-ENOENT, "pack %s (holding chunk %s) not found in store %s",
			     oid_to_hex(&c->pack, hex), oid_to_hex(&c->id, chex), store_url(r->store));
	return rc;
}

/* Decodes and verifies chunk c[i] of a run read by run_get into obj, and
 * appends its plaintext to out; on failure out is left as it was. */
static int run_decode(struct repo *r, const struct manifest_chunk *c, uint32_t i,
		      const struct buf *obj, struct buf *out)
{
	const uint8_t *p = obj->data;
	size_t len = obj->len, start = out->len;
	char hex[OID_HEXSZ + 1], phex[OID_HEXSZ + 1];
	int rc;

	if (c[i].loc == MANIFEST_LOC_PACK) {
		uint64_t at = c[i].pack_off - c[0].pack_off;

		if (at > obj->len || c[i].pack_len > obj->len - at)
			return t9k_err(T9K_ECORRUPT, "chunk %s is cut short: pack %s ends at %" PRIu64,
				       oid_to_hex(&c[i].id, hex), oid_to_hex(&c[i].pack, phex),
				       c[0].pack_off + obj->len);
		p += at;
		len = c[i].pack_len;
	}
	if (c[i].loc == MANIFEST_LOC_OBJECT && chunk_delta_base(p, len, NULL))
		rc = chunk_delta_decode(r->store, &c[i].id, p, len, out);
	else
		rc = chunk_decode(&c[i].id, p, len, out);
	if (rc == 0 && out->len - start != c[i].len) {
		rc = t9k_err(T9K_ECORRUPT, "chunk %s holds %zu bytes, its manifest says %" PRIu32,
			     oid_to_hex(&c[i].id, hex), out->len - start, c[i].len);
		out->len = start;
		out->data[start] = 0;
	}
	return rc;
}

int repo_chunk_read(struct repo *r, const struct manifest_chunk *c, struct buf *out)
{
	struct buf obj = BUF_INIT;
	int rc = run_get(r, c, 1, &obj);

	if (rc == 0)
		rc = run_decode(r, c, 0, &obj, out);
	buf_release(&obj);
	return rc;
}

static void file_free(struct fetch_file *ff)
{
	if (!ff)
		return;
	manifest_release(&ff->m);
	free(ff->name);
	free(ff->path);
	free(ff);
}

/* Records the first failure (its message from this thread); under f->lock. */
static void fail_locked(struct fetch *f, int rc)
{
	if (f->err)
		return;
	f->err = rc;
	snprintf(f->errmsg, sizeof(f->errmsg), "%s", t9k_errmsg(rc));
	pthread_cond_broadcast(&f->work_cv);
	pthread_cond_broadcast(&f->room_cv);
}

static void unlink_list_locked(struct fetch *f, struct fetch_file *ff)
{
	struct fetch_file **pp = &f->head, *prev = NULL;

	while (*pp != ff) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = ff->next;
	if (f->tail == ff)
		f->tail = prev;
	f->nfiles--;
	pthread_cond_broadcast(&f->room_cv);
	pthread_cond_broadcast(&f->work_cv); /* the end may have come */
}

/* Closes a file: complete (mode, mtime) or removed. 0 or a failure. */
static int file_close(struct fetch_file *ff, bool complete)
{
	int rc = 0;

	if (!(ff->flags & FETCH_OWN))
		return 0;
	if (complete) {
		int64_t ns = ff->e.mtime_ns;
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { ns / 1000000000, ns % 1000000000 } };

		if (ts[1].tv_nsec < 0) {
			ts[1].tv_nsec += 1000000000;
			ts[1].tv_sec--;
		}
		if ((ff->flags & FETCH_OWNER) && ff->e.has_owner &&
		    fchown(ff->fd, ff->e.uid, ff->e.gid) < 0)
			rc = t9k_err(-errno, "chown '%s' to %u:%u: %s", ff->path, ff->e.uid,
				     ff->e.gid, strerror(errno));
		else if (fchmod(ff->fd, ff->e.mode & 07777) < 0)
			rc = t9k_err(-errno, "chmod '%s': %s", ff->path, strerror(errno));
		else if (futimens(ff->fd, ts) < 0)
			rc = t9k_err(-errno, "cannot set the time of '%s': %s", ff->path,
				     strerror(errno));
	}
	if (close(ff->fd) < 0 && rc == 0 && complete)
		rc = t9k_err(-errno, "writing '%s': %s", ff->path, strerror(errno));
	ff->fd = -1;
	if ((rc < 0 || !complete) && unlinkat(ff->dirfd, ff->name, 0) < 0 && errno != ENOENT)
		t9k_log(T9K_LOG_WARN, "cannot remove the incomplete file '%s': %s", ff->path,
			strerror(errno));
	close(ff->dirfd);
	ff->dirfd = -1;
	return rc;
}

/* b follows a in the same pack, so one ranged read covers both. */
static bool packed_after(const struct manifest_chunk *a, const struct manifest_chunk *b)
{
	return a->loc == MANIFEST_LOC_PACK && b->loc == MANIFEST_LOC_PACK &&
	       oid_eq(&a->pack, &b->pack) && b->pack_off == a->pack_off + a->pack_len;
}

/* The oldest work, claimed; under f->lock. NULL when there is none now.
 * Chunk work is the run of *n chunks from *chunk, at *off in the file: as
 * many as packed_after chains until the run reaches ff->run_max bytes,
 * at least one. */
static struct fetch_file *take_locked(struct fetch *f, uint32_t *chunk, uint32_t *n,
				      uint64_t *off)
{
	if (f->err)
		return NULL;
	for (struct fetch_file *ff = f->head; ff; ff = ff->next) {
		if (ff->state == FILE_NEW) {
			ff->state = FILE_LOADING;
			ff->running++;
			*chunk = UINT32_MAX;
			return ff;
		}
		if (ff->state == FILE_LOADED && ff->next_chunk < ff->m.nchunks) {
			const struct manifest_chunk *c = ff->m.chunks;
			uint32_t i = ff->next_chunk;
			uint64_t bytes = c[i].pack_len, plain = c[i].len;

			while (i + 1 < ff->m.nchunks && packed_after(&c[i], &c[i + 1]) &&
			       bytes < ff->run_max) {
				i++;
				bytes += c[i].pack_len;
				plain += c[i].len;
			}
			*chunk = ff->next_chunk;
			*n = i + 1 - ff->next_chunk;
			*off = ff->next_off;
			ff->next_chunk = i + 1;
			ff->next_off += plain;
			f->pending -= plain < f->pending ? plain : f->pending;
			ff->running++;
			return ff;
		}
	}
	return NULL;
}

/* Reads a claimed run, then verifies and writes each chunk of it. */
static int run_chunks(struct fetch *f, struct fetch_file *ff, uint32_t first, uint32_t n,
		      uint64_t off, struct buf *obj, struct buf *data)
{
	const struct manifest_chunk *c = &ff->m.chunks[first];
	int rc = run_get(f->r, c, n, obj);

	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		buf_reset(data);
		rc = run_decode(f->r, c, i, obj, data);
		if (rc == 0 &&
		    (rc = pwrite_full(ff->fd, data->data, data->len, ff->base + (off_t)off)) < 0)
			rc = t9k_err(rc, "write: %s", strerror(-rc));
		off += c[i].len;
	}
	return rc;
}

static void *fetch_worker(void *arg)
{
	struct fetch *f = arg;
	struct buf data = BUF_INIT, obj = BUF_INIT;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct fetch_file *ff;
		struct manifest m = { 0 };
		uint32_t chunk = 0, n = 0;
		uint64_t off = 0;
		bool finished = false;
		int rc;

		ff = take_locked(f, &chunk, &n, &off);
		if (!ff) {
			if (f->err || (f->closing && !f->head))
				break;
			pthread_cond_wait(&f->work_cv, &f->lock);
			continue;
		}
		pthread_mutex_unlock(&f->lock);

		t9k_err_clear();
		if (chunk == UINT32_MAX) {
			rc = meta_manifest_get(f->r->mo, &ff->e, &m);
		} else {
			rc = run_chunks(f, ff, chunk, n, off, &obj, &data);
		}
		if (rc < 0)
			t9k_err_wrap(rc, "'%s'", ff->path);

		pthread_mutex_lock(&f->lock);
		ff->running--;
		if (rc < 0) {
			ff->failed = true;
			manifest_release(&m);
			fail_locked(f, rc);
		} else if (chunk == UINT32_MAX) {
			ff->m = m;
			ff->state = FILE_LOADED;
			/* A thread's share of what is queued now, this file
			 * included: a lone mid-size file still spreads over
			 * every thread, in runs of equal size. */
			ff->run_max = f->pending / (uint64_t)f->want_threads;
			if (ff->run_max > FETCH_RANGE_MAX)
				ff->run_max = FETCH_RANGE_MAX;
			pthread_cond_broadcast(&f->work_cv);
		} else {
			ff->done += n;
		}
		if (!ff->failed && ff->state == FILE_LOADED && ff->done == ff->m.nchunks &&
		    ff->running == 0) {
			unlink_list_locked(f, ff);
			finished = true;
		}
		if (finished) {
			pthread_mutex_unlock(&f->lock);
			rc = file_close(ff, true);
			file_free(ff);
			pthread_mutex_lock(&f->lock);
			if (rc < 0)
				fail_locked(f, rc);
		}
	}
	pthread_mutex_unlock(&f->lock);
	buf_release(&data);
	buf_release(&obj);
	return NULL;
}

int fetch_new(struct repo *r, int threads, struct fetch **out)
{
	struct fetch *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return t9k_err(-ENOMEM, "out of memory");
	if (threads <= 0)
		threads = store_concurrency(r->store);
	if (threads < 1)
		threads = 1;
	if (threads > FETCH_THREADS_MAX)
		threads = FETCH_THREADS_MAX;
	f->r = r;
	f->want_threads = threads;
	f->max_files = FETCH_FILES_PER_THREAD * threads;
	if (f->max_files > FETCH_FILES_MAX)
		f->max_files = FETCH_FILES_MAX;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->work_cv, NULL);
	pthread_cond_init(&f->room_cv, NULL);
	for (int i = 0; i < threads; i++) {
		int err = pthread_create(&f->threads[i], NULL, fetch_worker, f);

		if (err) {
			int rc = t9k_err(-err, "cannot start fetch threads: %s", strerror(err));

			fetch_finish(f, rc);
			fetch_free(f);
			return rc;
		}
		f->nthreads++;
	}
	*out = f;
	return 0;
}

int fetch_file(struct fetch *f, const struct tree_entry *e, int fd, off_t base, int dirfd,
	       const char *name, const char *path, int flags)
{
	struct fetch_file *ff = calloc(1, sizeof(*ff));
	int rc = 0;

	if (ff) {
		ff->fd = fd;
		ff->dirfd = -1;
		ff->base = base;
		ff->flags = flags;
		ff->e = *e;
		ff->e.name = NULL;
		ff->e.name_len = 0;
		ff->e.data = NULL;
		ff->e.data_len = 0;
		ff->name = strdup(name ? name : "");
		ff->path = strdup(path ? path : "");
		if ((flags & FETCH_OWN) && (ff->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) < 0)
			rc = t9k_err(-errno, "cannot create '%s': %s", path, strerror(errno));
	}
	if (!ff || !ff->name || !ff->path)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0 && e->is_inline)
		rc = t9k_err(-EINVAL, "'%s': inline files are not fetched", path);
	if (rc < 0) {
		if (ff && ff->dirfd >= 0)
			(void)file_close(ff, false);
		else if (flags & FETCH_OWN)
			close(fd);
		file_free(ff);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	while (!f->err && f->nfiles >= f->max_files)
		pthread_cond_wait(&f->room_cv, &f->lock);
	if (f->err) {
		rc = f->err;
		pthread_mutex_unlock(&f->lock);
		(void)file_close(ff, false);
		file_free(ff);
		return t9k_err(rc, "%s", f->errmsg);
	}
	if (f->tail)
		f->tail->next = ff;
	else
		f->head = ff;
	f->tail = ff;
	f->nfiles++;
	f->pending += ff->e.size;
	pthread_cond_signal(&f->work_cv);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int fetch_finish(struct fetch *f, int rc)
{
	struct fetch_file *left;

	pthread_mutex_lock(&f->lock);
	if (rc < 0 && !f->err) {
		f->err = rc; /* stops the workers; the caller keeps its message */
		f->errmsg[0] = '\0';
	}
	f->closing = true;
	pthread_cond_broadcast(&f->work_cv);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	f->nthreads = 0;
	/* Only after a failure: files whose every chunk was not written. */
	left = f->head;
	f->head = f->tail = NULL;
	f->nfiles = 0;
	while (left) {
		struct fetch_file *next = left->next;

		(void)file_close(left, false);
		file_free(left);
		left = next;
	}
	if (rc < 0)
		return rc;
	if (f->err)
		return t9k_err(f->err, "%s", f->errmsg);
	return 0;
}

void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->work_cv);
	pthread_cond_destroy(&f->room_cv);
	free(f);
}
