/* Parallel fetch of whole files (export, get): manifests and chunks come
 * from the store on a pool of threads and are written at their offsets,
 * so one large file's chunks, or many small files, are in flight at once.
 *
 * Files wait in a FIFO list. A worker takes the oldest work there is: the
 * manifest of a file nobody loads yet, or the next unclaimed chunk of a
 * loaded file; so the earliest files finish first and at most max_files
 * are open. The worker that writes a file's last chunk finishes it (mode,
 * mtime, close) and drops it from the list. After a failure nothing new
 * starts, and fetch_finish removes every file left unfinished, so no
 * partial file remains looking complete.
 * Locking: f->lock guards the list, every file's state and counters and
 * the first error. Store I/O, decoding and writes run outside it; a chunk
 * claimed under the lock is its worker's alone.
 */
#include "meta/fetch.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/repo-internal.h"
#include "store/chunk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FETCH_THREADS_MAX 256
#define FETCH_FILES_MAX 128 /* two descriptors each: well under a 1,024 fd limit */

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
	bool failed;
};

struct fetch {
	struct repo *r;
	pthread_t threads[FETCH_THREADS_MAX];
	int nthreads, max_files;

	pthread_mutex_t lock;
	pthread_cond_t work_cv;  /* work, a failure, or the end: workers wait */
	pthread_cond_t room_cv;  /* a file left the list: fetch_file waits */
	struct fetch_file *head, *tail;
	int nfiles;
	bool closing;            /* no more files will come */
	int err;                 /* first failure */
	char errmsg[512];
};

/* obj is scratch for the stored object, kept by the caller between
 * chunks so that a fetch thread does not allocate (and fault in) a new
 * buffer per chunk. */
static int chunk_read_into(struct repo *r, const struct manifest_chunk *c, struct buf *obj,
			   struct buf *out)
{
	char key[CHUNK_KEY_MAX + 8], hex[OID_HEXSZ + 1];
	uint64_t off = 0, len = STORE_WHOLE;
	int rc;

	buf_reset(obj);
	if (c->loc == MANIFEST_LOC_OBJECT) {
		chunk_key(&c->id, key);
	} else {
		snprintf(key, sizeof(key), "packs/%s", oid_to_hex(&c->pack, hex));
		off = c->pack_off;
		len = c->pack_len;
	}
	rc = store_get(r->store, key, off, len, obj);
	if (rc == -ENOENT && c->loc == MANIFEST_LOC_OBJECT)
		rc = t9k_err(-ENOENT, "chunk %s not found in store %s", oid_to_hex(&c->id, hex),
			     store_url(r->store));
	if (rc == 0)
		rc = chunk_decode(&c->id, obj->data, obj->len, out);
	return rc;
}

int repo_chunk_read(struct repo *r, const struct manifest_chunk *c, struct buf *out)
{
	struct buf obj = BUF_INIT;
	int rc = chunk_read_into(r, c, &obj, out);

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
		if (fchmod(ff->fd, ff->e.mode & 07777) < 0)
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

/* The oldest work, claimed; under f->lock. NULL when there is none now. */
static struct fetch_file *take_locked(struct fetch *f, uint32_t *chunk, uint64_t *off)
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
			*chunk = ff->next_chunk++;
			*off = ff->next_off;
			ff->next_off += ff->m.chunks[*chunk].len;
			ff->running++;
			return ff;
		}
	}
	return NULL;
}

static int run_chunk(struct fetch *f, struct fetch_file *ff, uint32_t i, uint64_t off,
		     struct buf *obj, struct buf *data)
{
	const struct manifest_chunk *c = &ff->m.chunks[i];
	int rc;

	buf_reset(data);
	rc = chunk_read_into(f->r, c, obj, data);
	if (rc == 0 && data->len != c->len)
		rc = t9k_err(T9K_ECORRUPT, "chunk length differs from its manifest");
	if (rc == 0 && (rc = pwrite_full(ff->fd, data->data, data->len, ff->base + (off_t)off)) < 0)
		rc = t9k_err(rc, "write: %s", strerror(-rc));
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
		uint32_t chunk = 0;
		uint64_t off = 0;
		bool finished = false;
		int rc;

		ff = take_locked(f, &chunk, &off);
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
			rc = run_chunk(f, ff, chunk, off, &obj, &data);
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
			pthread_cond_broadcast(&f->work_cv);
		} else {
			ff->done++;
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
