/* Import, export and ranged reads of files.
 *
 * Import: the calling thread walks the source tree with fd-relative calls
 * (openat/fstatat, so path length never matters) and hands regular files
 * up to the maximum chunk size to a pool of workers through a bounded
 * queue; larger files it cuts itself through the chunk pipeline, whose own
 * workers hash and store. Results gather in a batch that is staged with
 * one synced write per IMPORT_BATCH files.
 * Locking: imp->lock guards the queue, the batch, the stats and the first
 * error; file I/O, hashing and staging run outside it.
 */
#include "meta/transfer.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/fetch.h"
#include "meta/repo-internal.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMPORT_QUEUE 256
#define IMPORT_BATCH 1024

/* ---- storing one file ---- */

/* ---- the pipeline's chunk index ---- */

static int index_lookup(void *arg, const struct oid *id, struct chunk_loc *out)
{
	struct manifest_chunk mc;
	int rc = repo_chunk_index_get(arg, id, &mc);

	if (rc == 0)
		*out = (struct chunk_loc){ .id = mc.id, .len = mc.len, .packed = true, .pack = mc.pack,
					   .pack_off = mc.pack_off, .pack_len = mc.pack_len };
	return rc;
}

static int index_stored(void *arg, const struct chunk_loc *v, size_t n)
{
	struct manifest_builder b = { 0 };
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = meta_manifest_add(&b, &v[i], 0);
	if (rc == 0)
		rc = repo_chunk_index_put(arg, b.m.chunks, n);
	manifest_release(&b.m);
	return rc;
}

int repo_pipeline_opts(struct repo *r, struct chunk_pipeline_opts *po)
{
	chunk_pipeline_opts_init(po);
	po->pack_size = r->info.pack_size;
	/* a lookup is a request to the service for a remote handle */
	po->pack = (struct pack_ops){ .lookup = index_lookup, .stored = index_stored, .arg = r,
				      .lookup_costly = r->db == NULL };
	return cdc_params_init(&po->cdc, r->info.cdc_min, r->info.cdc_avg, r->info.cdc_max);
}

int repo_file_store(struct repo *r, struct chunk_pipeline *p, struct chunk_writer *w, int fd,
		    const struct stat *sb, struct tree_entry *e, uint8_t *inline_buf,
		    struct transfer_stats *st)
{
	struct manifest_builder mb = { 0 };
	uint64_t size = (uint64_t)sb->st_size;
	ssize_t n;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	e->mode = S_IFREG | (sb->st_mode & 07777);
	e->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	if (size <= META_INLINE_MAX) {
		/* read one byte more to notice a file that grew meanwhile */
		uint8_t extra;

		n = read_full(fd, inline_buf, (size_t)size);
		if (n >= 0 && (size_t)n == size && read_full(fd, &extra, 1) != 0)
			n = -EAGAIN;
		if (n < 0)
			return n == -EAGAIN ? t9k_err(-EAGAIN, "file changed while being read")
					    : t9k_err((int)n, "read: %s", strerror((int)-n));
		e->is_inline = true;
		e->data = inline_buf;
		e->data_len = (uint32_t)n;
		e->size = (uint64_t)n;
		if (st)
			st->bytes += (uint64_t)n;
		return 0;
	}
	if (w && size <= r->info.cdc_max) {
		/* Cut here, on the caller's thread: the import workers store many
		 * such files at once, where the pipeline would take them one by one. */
		struct buf data = BUF_INIT;
		struct cdc_params cp;
		uint64_t off = 0;

		rc = cdc_params_init(&cp, r->info.cdc_min, r->info.cdc_avg, r->info.cdc_max);
		if (rc == 0)
			rc = buf_grow(&data, (size_t)size);
		n = rc < 0 ? rc : read_full(fd, data.data, (size_t)size);
		if (n >= 0 && (size_t)n != size)
			n = t9k_err(-EAGAIN, "file changed while being read");
		else if (n < 0 && n != rc)
			n = t9k_err((int)n, "read: %s", strerror((int)-n));
		rc = n < 0 ? (int)n : 0;
		while (rc == 0 && off < size) {
			size_t len = cdc_cut(&cp, data.data + off, (size_t)(size - off));
			struct chunk_put_result res;

			rc = chunk_put(w, r->store, data.data + off, len, &res);
			if (rc == 0)
				rc = meta_manifest_add(&mb, &(struct chunk_loc){ .id = res.id,
										   .len = (uint32_t)len },
						       off);
			if (rc == 0 && st) {
				st->chunks_new += !res.existed;
				st->bytes_stored += res.stored_bytes;
			}
			off += len;
		}
		buf_release(&data);
	} else {
		struct chunk_stats cs;

		rc = chunk_pipeline_run(p, chunk_read_fd, &fd, meta_manifest_add, &mb, &cs);
		if (rc == 0 && st) {
			st->chunks_new += cs.chunks_new;
			st->bytes_stored += cs.bytes_stored;
		}
	}
	/* one chunk becomes a payload-2 entry, more a manifest */
	if (rc == 0)
		rc = meta_manifest_put(r->mo, &mb.m, e);
	if (rc == 0 && st)
		st->bytes += e->size;
	manifest_release(&mb.m);
	return rc;
}

/* ---- import ---- */

struct staged_file {
	char *path;
	struct tree_entry e;
	bool dir_attrs;
	uint8_t data[]; /* inline bytes */
};

struct job {
	int fd;
	char *path;
	struct stat sb;
};

struct importer {
	struct repo *r;
	const char *branch;
	struct oid head;
	pthread_mutex_t lock;
	pthread_cond_t cv;       /* queue changed */
	struct job queue[IMPORT_QUEUE];
	size_t qhead, qlen;
	int busy, stop, nthreads;
	struct staged_file *batch[IMPORT_BATCH];
	size_t nbatch;
	int err;                  /* first failure */
	char errmsg[512];
	struct transfer_stats st;
};

static void fail(struct importer *imp, int rc)
{
	pthread_mutex_lock(&imp->lock);
	if (!imp->err) {
		imp->err = rc;
		snprintf(imp->errmsg, sizeof(imp->errmsg), "%s", t9k_errmsg(rc));
	}
	imp->stop = 1;
	pthread_cond_broadcast(&imp->cv);
	pthread_mutex_unlock(&imp->lock);
}

static int flush_batch(struct importer *imp, struct staged_file **v, size_t n)
{
	struct repo_stage_item items[IMPORT_BATCH];
	int rc;

	for (size_t i = 0; i < n; i++) {
		items[i].path = v[i]->path;
		items[i].entry = &v[i]->e;
		items[i].dir_attrs = v[i]->dir_attrs;
	}
	rc = n ? repo_stage_batch(imp->r, imp->branch, items, n) : 0;
	for (size_t i = 0; i < n; i++) {
		free(v[i]->path);
		free(v[i]);
	}
	return rc;
}

/* Adds a result; stages the batch when it is full. Takes path. */
static int add_result(struct importer *imp, char *path, const struct tree_entry *e,
		      const struct transfer_stats *delta)
{
	struct staged_file *sf = malloc(sizeof(*sf) + (e->is_inline ? e->data_len : 0));
	struct staged_file *full[IMPORT_BATCH];
	size_t nfull = 0;

	if (!sf) {
		free(path);
		return t9k_err(-ENOMEM, "out of memory");
	}
	sf->path = path;
	sf->e = *e;
	sf->dir_attrs = S_ISDIR(e->mode);
	if (e->is_inline) {
		memcpy(sf->data, e->data, e->data_len);
		sf->e.data = sf->data;
	}
	pthread_mutex_lock(&imp->lock);
	imp->batch[imp->nbatch++] = sf;
	if (imp->nbatch == IMPORT_BATCH) {
		memcpy(full, imp->batch, sizeof(full));
		nfull = imp->nbatch;
		imp->nbatch = 0;
	}
	if (delta) {
		imp->st.files += delta->files;
		imp->st.symlinks += delta->symlinks;
		imp->st.dirs += delta->dirs;
		imp->st.bytes += delta->bytes;
		imp->st.chunks_new += delta->chunks_new;
		imp->st.bytes_stored += delta->bytes_stored;
	}
	pthread_mutex_unlock(&imp->lock);
	return flush_batch(imp, full, nfull);
}

static void *import_worker(void *arg)
{
	struct importer *imp = arg;
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	uint8_t *inl = malloc(META_INLINE_MAX);

	pthread_mutex_lock(&imp->lock);
	for (;;) {
		struct transfer_stats d = { .files = 1 };
		struct tree_entry e;
		struct job j;
		int rc;

		while (!imp->stop && imp->qlen == 0)
			pthread_cond_wait(&imp->cv, &imp->lock);
		if (imp->qlen == 0)
			break;
		j = imp->queue[imp->qhead];
		imp->qhead = (imp->qhead + 1) % IMPORT_QUEUE;
		imp->qlen--;
		imp->busy++;
		pthread_cond_broadcast(&imp->cv);
		pthread_mutex_unlock(&imp->lock);

		t9k_err_clear();
		if (!w || !inl)
			rc = t9k_err(-ENOMEM, "out of memory");
		else if (imp->err)
			rc = 0; /* drain quietly after a failure */
		else
			rc = repo_file_store(imp->r, NULL, w, j.fd, &j.sb, &e, inl, &d);
		close(j.fd);
		if (rc == 0 && !imp->err) {
			rc = add_result(imp, j.path, &e, &d);
			j.path = NULL;
		} else if (rc < 0) {
			t9k_err_wrap(rc, "'%s'", j.path);
		}
		free(j.path);
		if (rc < 0)
			fail(imp, rc);
		pthread_mutex_lock(&imp->lock);
		imp->busy--;
		pthread_cond_broadcast(&imp->cv);
	}
	pthread_mutex_unlock(&imp->lock);
	chunk_writer_free(w);
	free(inl);
	return NULL;
}

/* Queues a small file for the workers; takes fd and path. */
static int enqueue(struct importer *imp, int fd, char *path, const struct stat *sb)
{
	pthread_mutex_lock(&imp->lock);
	while (!imp->stop && imp->qlen == IMPORT_QUEUE)
		pthread_cond_wait(&imp->cv, &imp->lock);
	if (imp->stop) {
		pthread_mutex_unlock(&imp->lock);
		close(fd);
		free(path);
		return imp->err ? imp->err : -ECANCELED;
	}
	imp->queue[(imp->qhead + imp->qlen) % IMPORT_QUEUE] = (struct job){ fd, path, *sb };
	imp->qlen++;
	pthread_cond_signal(&imp->cv);
	pthread_mutex_unlock(&imp->lock);
	return 0;
}

struct walk {
	struct importer *imp;
	struct chunk_pipeline *p;
	const struct import_opts *o;
	uint8_t inl[META_INLINE_MAX];
	double last_progress;
};

static void maybe_progress(struct walk *w, bool force)
{
	struct transfer_stats copy;
	double t = now_sec();

	if (!w->o || !w->o->progress || (!force && t - w->last_progress < 0.25))
		return;
	w->last_progress = t;
	pthread_mutex_lock(&w->imp->lock);
	copy = w->imp->st;
	pthread_mutex_unlock(&w->imp->lock);
	w->o->progress(w->o->arg, &copy);
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + (la > 0), b, lb + 1);
	return s;
}

static int import_entry(struct walk *w, int dirfd, const char *name, const char *rpath);

static int import_dir(struct walk *w, int fd, const char *rpath)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat sb;
	int rc = 0;

	if (!d) {
		rc = t9k_err(-errno, "cannot read directory '%s': %s", *rpath ? rpath : ".",
			     strerror(errno));
		close(fd);
		return rc;
	}
	if (fstat(dirfd(d), &sb) < 0)
		rc = t9k_err(-errno, "cannot stat '%s': %s", rpath, strerror(errno));
	while (rc == 0 && !w->imp->stop && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = import_entry(w, dirfd(d), de->d_name, rpath);
	}
	if (rc == 0 && errno)
		rc = t9k_err(-errno, "cannot read directory '%s': %s", rpath, strerror(errno));
	closedir(d);
	if (rc == 0 && *rpath) {
		/* the directory's own mode and mtime; its contents stay as they are */
		struct tree_entry e = { .mode = S_IFDIR | (sb.st_mode & 07777) };
		char *p = strdup(rpath);

		e.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		rc = p ? add_result(w->imp, p, &e, NULL) : t9k_err(-ENOMEM, "out of memory");
	}
	return rc;
}

static int import_entry(struct walk *w, int dirfd, const char *name, const char *rpath)
{
	struct importer *imp = w->imp;
	char *path = join(rpath, name);
	struct stat sb;
	int fd, rc = 0;

	if (!path)
		return t9k_err(-ENOMEM, "out of memory");
	if (strlen(path) > REPO_PATH_MAX) {
		rc = t9k_err(-ENAMETOOLONG, "path too long: '%.100s...'", path);
		goto out;
	}
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = t9k_err(-errno, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = t9k_err(-errno, "cannot open directory '%s': %s", path, strerror(errno));
			goto out;
		}
		pthread_mutex_lock(&imp->lock);
		imp->st.dirs++;
		pthread_mutex_unlock(&imp->lock);
		rc = import_dir(w, fd, path);
	} else if (S_ISLNK(sb.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		struct tree_entry e = { .mode = S_IFLNK | 0777, .is_inline = true };
		struct transfer_stats d = { .symlinks = 1 };

		if (n < 0 || (size_t)n >= sizeof(target)) {
			rc = t9k_err(n < 0 ? -errno : -ENAMETOOLONG, "cannot read symlink '%s'", path);
			goto out;
		}
		e.data = (const uint8_t *)target;
		e.data_len = (uint32_t)n;
		e.size = (uint64_t)n;
		e.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		rc = add_result(imp, path, &e, &d);
		path = NULL;
	} else if (S_ISREG(sb.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = t9k_err(-errno, "cannot open '%s': %s", path, strerror(errno));
			goto out;
		}
		if ((uint64_t)sb.st_size <= imp->r->info.cdc_max) {
			rc = enqueue(imp, fd, path, &sb);
			path = NULL;
		} else {
			struct transfer_stats d = { .files = 1 };
			struct tree_entry e;

			rc = repo_file_store(imp->r, w->p, NULL, fd, &sb, &e, w->inl, &d);
			close(fd);
			if (rc < 0) {
				t9k_err_wrap(rc, "'%s'", path);
			} else {
				rc = add_result(imp, path, &e, &d); /* takes path */
				path = NULL;
			}
		}
	} else {
		t9k_log(T9K_LOG_WARN, "import: skipping '%s': not a file, directory or symlink", path);
		pthread_mutex_lock(&imp->lock);
		imp->st.skipped++;
		pthread_mutex_unlock(&imp->lock);
	}
	maybe_progress(w, false);
out:
	free(path);
	return rc;
}

int repo_import(struct repo *r, const char *branch, const char *src, const char *prefix,
		const struct import_opts *o, struct transfer_stats *st)
{
	struct importer *imp = calloc(1, sizeof(*imp));
	struct walk *w = calloc(1, sizeof(*w));
	struct chunk_pipeline_opts po;
	pthread_t threads[64];
	struct stat sb;
	int rc = 0, fd = -1, conc;

	if (!imp || !w) {
		free(imp);
		free(w);
		return t9k_err(-ENOMEM, "out of memory");
	}
	imp->r = r;
	imp->branch = branch;
	w->imp = imp;
	w->o = o;
	pthread_mutex_init(&imp->lock, NULL);
	pthread_cond_init(&imp->cv, NULL);
	/* check everything before staging anything */
	rc = meta_ref_name_check(branch);
	if (rc == 0) {
		bool is_branch = false;

		rc = repo_resolve_ex(r, branch, &imp->head, &is_branch);
		if (rc == 0 && !is_branch)
			rc = t9k_err(T9K_ENOTFOUND, "branch '%s' not found in repository '%s'", branch,
				     r->info.name);
	}
	if (rc == 0 && *prefix)
		rc = meta_path_check(prefix);
	if (rc == 0 && (fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = t9k_err(-errno, "cannot open directory '%s': %s", src, strerror(errno));
	if (rc == 0 && fstat(fd, &sb) < 0)
		rc = t9k_err(-errno, "cannot stat '%s': %s", src, strerror(errno));
	if (rc == 0)
		rc = repo_pipeline_opts(r, &po);
	/* A remote store wants more requests in flight than there are CPUs. */
	conc = store_concurrency(r->store);
	if (conc < cpu_count())
		conc = 0; /* the CPU-bound defaults are right */
	po.threads = o && o->threads ? o->threads : conc;
	if (rc == 0)
		rc = chunk_pipeline_new(r->store, &po, &w->p);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	imp->nthreads = o && o->threads ? o->threads : conc ? conc : cpu_count();
	if (imp->nthreads > 64)
		imp->nthreads = 64;
	for (int i = 0; i < imp->nthreads; i++) {
		int err = pthread_create(&threads[i], NULL, import_worker, imp);

		if (err) {
			imp->nthreads = i;
			fail(imp, t9k_err(-err, "cannot start import workers: %s", strerror(err)));
			close(fd);
			fd = -1;
			break;
		}
	}
	if (fd >= 0) {
		rc = import_dir(w, fd, prefix);
		if (rc < 0 && rc != -ECANCELED)
			fail(imp, rc);
	}
	/* let the workers finish the queue, then stop them */
	pthread_mutex_lock(&imp->lock);
	while (imp->qlen || imp->busy)
		pthread_cond_wait(&imp->cv, &imp->lock);
	imp->stop = 1;
	pthread_cond_broadcast(&imp->cv);
	pthread_mutex_unlock(&imp->lock);
	for (int i = 0; i < imp->nthreads; i++)
		pthread_join(threads[i], NULL);
	rc = imp->err;
	if (rc == 0) {
		rc = flush_batch(imp, imp->batch, imp->nbatch); /* frees the batch */
		imp->nbatch = 0;
	} else {
		rc = t9k_err(rc, "%s", imp->errmsg);
	}
	maybe_progress(w, true);
out:
	for (size_t i = 0; i < imp->nbatch; i++) {
		free(imp->batch[i]->path);
		free(imp->batch[i]);
	}
	if (st)
		*st = imp->st;
	chunk_pipeline_free(w->p);
	pthread_mutex_destroy(&imp->lock);
	pthread_cond_destroy(&imp->cv);
	free(w);
	free(imp);
	return rc;
}

/* ---- reading files ---- */

int repo_file_read(struct repo *r, const struct tree_entry *e, uint64_t off, uint64_t len,
		   struct buf *out)
{
	struct buf chunk = BUF_INIT;
	struct manifest m = { 0 };
	uint64_t pos = 0;
	int rc = 0;

	if (!S_ISREG(e->mode) && !S_ISLNK(e->mode))
		return t9k_err(-EISDIR, "not a file");
	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = e->size - off;
	if (e->is_inline)
		return buf_add(out, e->data + off, (size_t)len);
	rc = meta_manifest_get(r->mo, e, &m);
	for (uint32_t i = 0; rc == 0 && i < m.nchunks && len; i++) {
		uint64_t clen = m.chunks[i].len;

		if (pos + clen > off) {
			uint64_t from = off - pos, n = clen - from < len ? clen - from : len;

			buf_reset(&chunk);
			rc = repo_chunk_read(r, &m.chunks[i], &chunk);
			if (rc == 0)
				rc = buf_add(out, chunk.data + from, (size_t)n);
			off += n;
			len -= n;
		}
		pos += clen;
	}
	manifest_release(&m);
	buf_release(&chunk);
	return rc;
}

/* Large files into a regular file go through a fetch (chunks in parallel,
 * written at their offsets from the fd's position); the rest in order. */
int repo_file_to_fd(struct repo *r, const struct tree_entry *e, int fd)
{
	struct buf chunk = BUF_INIT;
	struct manifest m = { 0 };
	struct stat sb;
	int rc, fl;

	if (e->is_inline)
		return write_full(fd, e->data, e->data_len) < 0
			       ? t9k_err(-errno, "write: %s", strerror(errno)) : 0;
	if (e->size >= r->info.cdc_max && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (fl = fcntl(fd, F_GETFL)) >= 0 && !(fl & O_APPEND)) {
		off_t base = lseek(fd, 0, SEEK_CUR);
		int threads = store_concurrency(r->store);
		uint64_t chunks = e->size / (r->info.cdc_avg ? r->info.cdc_avg : 1) + 1;
		struct fetch *f = NULL;

		if (base < 0)
			return t9k_err(-errno, "seek: %s", strerror(errno));
		if ((uint64_t)threads > chunks)
			threads = (int)chunks;
		rc = fetch_new(r, threads, &f);
		if (rc == 0) {
			rc = fetch_file(f, e, fd, base, -1, NULL, "", 0);
			rc = fetch_finish(f, rc);
		}
		fetch_free(f);
		if (rc == 0 && lseek(fd, base + (off_t)e->size, SEEK_SET) < 0)
			rc = t9k_err(-errno, "seek: %s", strerror(errno));
		return rc;
	}
	rc = meta_manifest_get(r->mo, e, &m);
	for (uint32_t i = 0; rc == 0 && i < m.nchunks; i++) {
		buf_reset(&chunk);
		rc = repo_chunk_read(r, &m.chunks[i], &chunk);
		if (rc == 0 && (rc = write_full(fd, chunk.data, chunk.len)) < 0)
			rc = t9k_err(rc, "write: %s", strerror(-rc));
	}
	manifest_release(&m);
	buf_release(&chunk);
	return rc;
}

/* ---- export ---- */

struct exporter {
	struct repo *r;
	struct fetch *f; /* writes the files that are not inline */
	transfer_progress_fn progress;
	void *arg;
	double last;
	struct transfer_stats st;
};

static int set_times(int dirfd, const char *name, int64_t mtime_ns, int flags)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { mtime_ns / 1000000000, mtime_ns % 1000000000 } };

	if (ts[1].tv_nsec < 0) {
		ts[1].tv_nsec += 1000000000;
		ts[1].tv_sec--;
	}
	return utimensat(dirfd, name, ts, flags) < 0 ? -errno : 0;
}

static int export_entry(struct exporter *x, int dirfd, const struct tree_entry *e, const char *name,
			const char *path);

static int export_tree(struct exporter *x, int dirfd, const struct oid *tree, const char *path)
{
	struct tree_iter *it;
	struct tree_entry e;
	int rc = tree_iter_new(x->r->mo, tree, NULL, 0, &it);

	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		char name[META_NAME_MAX + 1], *sub;

		memcpy(name, e.name, e.name_len);
		name[e.name_len] = '\0';
		sub = join(path, name);
		rc = sub ? export_entry(x, dirfd, &e, name, sub) : t9k_err(-ENOMEM, "out of memory");
		free(sub);
	}
	tree_iter_free(it);
	return rc;
}

static int export_entry(struct exporter *x, int dirfd, const struct tree_entry *e, const char *name,
			const char *path)
{
	int fd, rc = 0;

	if (S_ISDIR(e->mode)) {
		if (mkdirat(dirfd, name, 0700) < 0)
			return t9k_err(-errno, "cannot create directory '%s': %s", path, strerror(errno));
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return t9k_err(-errno, "cannot open '%s': %s", path, strerror(errno));
		rc = export_tree(x, fd, &e->id, path);
		if (rc == 0 && fchmod(fd, e->mode & 07777) < 0)
			rc = t9k_err(-errno, "chmod '%s': %s", path, strerror(errno));
		close(fd);
		x->st.dirs++;
	} else if (S_ISLNK(e->mode)) {
		char target[PATH_MAX];

		if (!e->is_inline || e->data_len >= sizeof(target))
			return t9k_err(T9K_ECORRUPT, "symlink '%s' has no inline target", path);
		memcpy(target, e->data, e->data_len);
		target[e->data_len] = '\0';
		if (symlinkat(target, dirfd, name) < 0)
			return t9k_err(-errno, "cannot create symlink '%s': %s", path, strerror(errno));
		x->st.symlinks++;
	} else {
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return t9k_err(-errno, "cannot create '%s': %s", path, strerror(errno));
		x->st.files++;
		x->st.bytes += e->size;
		if (!e->is_inline) { /* the fetch sets mode and time, closes or removes it */
			rc = fetch_file(x->f, e, fd, 0, dirfd, name, path, FETCH_OWN);
			goto progress;
		}
		rc = repo_file_to_fd(x->r, e, fd);
		if (rc < 0)
			t9k_err_wrap(rc, "'%s'", path);
		if (rc == 0 && fchmod(fd, e->mode & 07777) < 0)
			rc = t9k_err(-errno, "chmod '%s': %s", path, strerror(errno));
		if (close(fd) < 0 && rc == 0)
			rc = t9k_err(-errno, "writing '%s': %s", path, strerror(errno));
	}
	if (rc == 0 && (rc = set_times(dirfd, name, e->mtime_ns, AT_SYMLINK_NOFOLLOW)) < 0)
		rc = t9k_err(rc, "cannot set the time of '%s': %s", path, strerror(-rc));
progress:
	if (x->progress && now_sec() - x->last > 0.25) {
		x->last = now_sec();
		x->progress(x->arg, &x->st);
	}
	return rc;
}

int repo_export(struct repo *r, const struct oid *commit, const char *path, const char *dst,
		transfer_progress_fn progress, void *arg, struct transfer_stats *st)
{
	struct exporter x = { .r = r, .progress = progress, .arg = arg };
	struct meta_node *hold;
	struct tree_entry e;
	char *parent = strdup(dst), *slash;
	const char *base;
	int dirfd, rc;

	if (!parent)
		return t9k_err(-ENOMEM, "out of memory");
	rc = repo_lookup(r, commit, path, &e, &hold);
	if (rc < 0)
		goto out;
	while (strlen(parent) > 1 && parent[strlen(parent) - 1] == '/')
		parent[strlen(parent) - 1] = '\0';
	slash = strrchr(parent, '/');
	base = slash ? slash + 1 : parent;
	if (slash == parent)
		dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash)
		*slash = '\0', dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = t9k_err(-errno, "cannot open the directory of '%s': %s", dst, strerror(errno));
	} else {
		if (faccessat(dirfd, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			rc = t9k_err(-EEXIST, "'%s' already exists", dst);
		else
			rc = fetch_new(r, 0, &x.f);
		if (rc == 0) {
			rc = export_entry(&x, dirfd, &e, base, dst);
			rc = fetch_finish(x.f, rc);
		}
		fetch_free(x.f);
		if (rc == 0 && fsync(dirfd) < 0 && errno != EINVAL)
			rc = t9k_err(-errno, "sync '%s': %s", dst, strerror(errno));
		close(dirfd);
	}
	meta_node_put(r->mo, hold);
	if (progress)
		progress(arg, &x.st);
out:
	if (st)
		*st = x.st;
	free(parent);
	return rc;
}
