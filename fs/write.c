/* The write side of a branch mount: files are written into a local
 * spool file, and stored (chunked, deduplicated, compressed:
 * repo_file_store) and staged when they are closed or fsynced.
 *
 * Invariants:
 *   - a file's bytes are its spool when it has one (spool_fd >= 0), else
 *     its stored content (inline bytes, one chunk or a manifest), and size
 *     is theirs;
 *     the first write or truncation copies stored content into a new spool
 *     (copy-up), unless the file is emptied first;
 *   - dirty: the spool or the attributes differ from what is staged;
 *     fs_file_commit clears it only once the entry is durably staged, so
 *     a failed store or stage (service down: EIO) is tried again by the
 *     next flush, fsync or release, by the retry thread, or at unmount;
 *   - spools are O_TMPFILE files under the spool directory: a crash leaves
 *     no garbage, and what was not fsynced or closed is lost, as on a
 *     local file system;
 *   - copy-up is lazy: a chunked file gets a sparse spool of its size and
 *     n->incr (fs/incr.h), which copies a chunk in only when a read, a
 *     partial write or a store needs its bytes (fs_spool_read and the
 *     incr_prepare_* calls before each write and truncation);
 *   - stores are incremental: n->incr remembers the chunks last stored
 *     and what was written since, and a store (fsync, close) cuts, hashes
 *     and stores only from the last boundary before a change until the
 *     cuts meet the old ones again; the manifest is the one a full re-cut
 *     gives (T9KFS_WRITE_CHECK=1 in the mount's environment compares the
 *     two after every store, and fails the store when they differ);
 *   - a file written only by appending from empty (a checkpoint) is
 *     chunked and stored while it is written: once it passes STREAM_MIN a
 *     stream runs a chunk pipeline over the spool, trailing the writes,
 *     so close has little left to do. Any other write or truncation voids
 *     the stream, and close stores from the spool as usual; after a store
 *     the file is stored incrementally (no stream again from its start).
 * Locking: node->gate exclusive for writes, truncation, copy-up and
 * commit, whose staging takes fs->ns_lock inside it (gate, then ns_lock,
 * then fs->lock). A stream's own lock orders its thread's reads of the
 * spool against the appends (whose writer holds the gate). The pipeline
 * slots have fs->pipe_lock.
 */
#include "fs/fs-internal.h"
#include "fs/incr.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/objects.h"
#include "meta/transfer.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_MIN (8u << 20)  /* appended files start streaming at this size */
#define PIPE_THREADS 6         /* workers of a chunk pipeline */
#define PIPE_INFLIGHT 8        /* chunks in flight: a ring of 10 x max chunk */
#define PIPE_PACK_UPLOADS 1    /* with packs: 2 pack buffers per pipeline */

/* n's name now, for messages (names change under fs->lock). */
static const char *name_of(struct fs *fs, const struct fs_node *n, char buf[META_NAME_MAX + 1])
{
	pthread_mutex_lock(&fs->lock);
	memcpy(buf, n->name, n->name_len + 1u);
	pthread_mutex_unlock(&fs->lock);
	return buf;
}

/* ---- chunk pipelines for storing files ---- */

static int pipe_init(struct fs *fs, int i);

static int pipe_take(struct fs *fs, int *slot)
{
	int i;

	pthread_mutex_lock(&fs->pipe_lock);
	for (;;) {
		for (i = 0; i < fs->npipes && fs->pipe_busy[i]; i++)
			;
		if (i < fs->npipes || fs->npipes < (int)(sizeof(fs->pipes) / sizeof(fs->pipes[0])))
			break;
		pthread_cond_wait(&fs->pipe_cv, &fs->pipe_lock);
	}
	fs->pipe_busy[i] = true;
	if (i == fs->npipes)
		fs->npipes++;
	pthread_mutex_unlock(&fs->pipe_lock);
	*slot = i;
	return pipe_init(fs, i);
}

/* Creates slot i's pipeline and writer on first use (the slot is ours). */
static int pipe_init(struct fs *fs, int i)
{
	struct chunk_pipeline_opts po;
	int rc = 0;

	if (!fs->pipes[i]) {
		rc = repo_pipeline_opts(fs->r, &po);
		/* storing is bound by the store's latency (an fsync per chunk on
		 * file://, a request on s3://) more than by CPUs: more in flight */
		po.threads = PIPE_THREADS;
		po.inflight = PIPE_INFLIGHT;
		po.pack_uploads = PIPE_PACK_UPLOADS;
		if (rc == 0)
			rc = chunk_pipeline_new(fs->store, &po, &fs->pipes[i]);
	}
	if (rc == 0 && !fs->writers[i] && !(fs->writers[i] = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT)))
		rc = t9k_err(-ENOMEM, "out of memory");
	return rc;
}

/* A free pipeline slot, or -1 when all are busy (never waits). */
static int pipe_try_take(struct fs *fs)
{
	int i, slot = -1;

	pthread_mutex_lock(&fs->pipe_lock);
	for (i = 0; i < fs->npipes && fs->pipe_busy[i]; i++)
		;
	if (i < fs->npipes || fs->npipes < (int)(sizeof(fs->pipes) / sizeof(fs->pipes[0]))) {
		fs->pipe_busy[i] = true;
		if (i == fs->npipes)
			fs->npipes++;
		slot = i;
	}
	pthread_mutex_unlock(&fs->pipe_lock);
	return slot;
}

static void pipe_give(struct fs *fs, int slot)
{
	pthread_mutex_lock(&fs->pipe_lock);
	fs->pipe_busy[slot] = false;
	pthread_cond_signal(&fs->pipe_cv);
	pthread_mutex_unlock(&fs->pipe_lock);
}

/* ---- streams: chunking a growing spool ---- */

struct fs_stream {
	struct fs *fs;
	int fd;                        /* the spool (read with pread only) */
	int slot;                      /* the pipeline it runs on */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	uint64_t avail;                /* [lock] spool bytes written so far */
	uint64_t consumed;             /* [lock] bytes handed to the pipeline */
	bool end, broken;              /* [lock] */
	int rc;                        /* the run's result, after the join */
	struct manifest_builder mb;    /* the run's chunks (its thread only) */
};

static ssize_t stream_read(void *arg, void *buf, size_t len)
{
	struct fs_stream *st = arg;
	uint64_t off, n;
	ssize_t got;

	pthread_mutex_lock(&st->lock);
	while (!st->broken && !st->end && st->consumed >= st->avail)
		pthread_cond_wait(&st->cv, &st->lock);
	if (st->broken) {
		pthread_mutex_unlock(&st->lock);
		return -ECANCELED;
	}
	off = st->consumed;
	n = st->avail - off < len ? st->avail - off : len;
	st->consumed += n;
	pthread_mutex_unlock(&st->lock);
	if (n == 0)
		return 0; /* the end */
	got = pread_full(st->fd, buf, (size_t)n, (off_t)off);
	if (got >= 0 && (uint64_t)got != n)
		got = -EIO;
	return got < 0 ? t9k_err((int)got, "spool read: %s", strerror((int)-got)) : got;
}

static void *stream_main(void *arg)
{
	struct fs_stream *st = arg;
	struct chunk_stats cs;

	st->rc = chunk_pipeline_run(st->fs->pipes[st->slot], stream_read, st, meta_manifest_add, &st->mb,
					&cs);
	return NULL;
}

/* Starts chunking n's spool from its start, if a pipeline is free. Under
 * n->gate (exclusive), with the spool holding size appended bytes. */
static void stream_start(struct fs *fs, struct fs_node *n, uint64_t size)
{
	struct fs_stream *st = calloc(1, sizeof(*st));
	char name[META_NAME_MAX + 1];
	int err;

	if (!st)
		return;
	st->fs = fs;
	st->fd = n->spool_fd;
	st->avail = size;
	st->slot = pipe_try_take(fs);
	err = st->slot < 0 ? -EBUSY : pipe_init(fs, st->slot);
	if (err < 0) {
		t9k_log(T9K_LOG_DEBUG, "'%s': not chunked while written: %s", name_of(fs, n, name),
			err == -EBUSY ? "no free pipeline" : t9k_errmsg(err));
		if (st->slot >= 0)
			pipe_give(fs, st->slot);
		free(st);
		return; /* stored at close instead */
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cv, NULL);
	err = pthread_create(&st->thread, NULL, stream_main, st);
	if (err) {
		pipe_give(fs, st->slot);
		pthread_mutex_destroy(&st->lock);
		pthread_cond_destroy(&st->cv);
		free(st);
		return;
	}
	n->stream = st;
	t9k_log(T9K_LOG_DEBUG, "'%s': chunking while written (pipeline %d)", name_of(fs, n, name),
		st->slot);
}

/* Ends the stream (broken: drop what it did) and frees it; returns its
 * result, with the chunks in *m when it covered all size bytes. */
static int stream_finish(struct fs *fs, struct fs_node *n, bool broken, uint64_t size,
			 struct manifest *m)
{
	struct fs_stream *st = n->stream;
	char name[META_NAME_MAX + 1];
	int rc;

	if (!st)
		return -ENOENT;
	pthread_mutex_lock(&st->lock);
	st->end = true;
	st->broken |= broken;
	broken = st->broken;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	pipe_give(fs, st->slot);
	rc = broken ? -ECANCELED : st->rc;
	if (rc == 0 && st->mb.m.size != size)
		rc = -ECANCELED;
	t9k_log(T9K_LOG_DEBUG, "'%s': stream ended: %s, %llu bytes in %u chunks", name_of(fs, n, name),
		rc == 0 ? "used" : broken ? "voided" : "failed", (unsigned long long)st->mb.m.size, st->mb.m.nchunks);
	if (rc == 0 && m) {
		*m = st->mb.m;
		st->mb.m = (struct manifest){ 0 };
	}
	manifest_release(&st->mb.m);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cv);
	free(st);
	n->stream = NULL;
	return rc;
}

void fs_stream_stop(struct fs *fs, struct fs_node *n)
{
	if (n->stream)
		stream_finish(fs, n, true, 0, NULL);
}

/* A write at off is about to happen to a spool of size bytes: only an
 * append keeps the stream (and the file streamable). */
static void stream_note_write(struct fs *fs, struct fs_node *n, uint64_t off, uint64_t size)
{
	if (off == size)
		return;
	n->appending = false;
	fs_stream_stop(fs, n);
}

/* The append of [off, end) is in the spool. */
static void stream_note_written(struct fs *fs, struct fs_node *n, uint64_t end)
{
	struct fs_stream *st = n->stream;

	if (!st) {
		if (n->appending && end >= STREAM_MIN && fs->rw)
			stream_start(fs, n, end);
		return;
	}
	pthread_mutex_lock(&st->lock);
	st->avail = end;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->lock);
}

/* Stores the stream's chunks as n's content: the manifest (none for a
 * single chunk: meta_manifest_put), then *e. */
static int write_state_new(struct fs *fs, struct fs_node *n);

static int stream_store(struct fs *fs, struct fs_node *n, uint64_t size, struct tree_entry *e)
{
	struct manifest m;
	int rc = stream_finish(fs, n, false, size, &m);

	if (rc < 0)
		return rc;
	memset(e, 0, sizeof(*e));
	e->mode = S_IFREG;
	rc = meta_manifest_put(fs->mo, &m, e);
	/* what the next store starts from (the spool holds all of it) */
	if (rc == 0 && write_state_new(fs, n) == 0 && incr_set(n->incr, &m, false) < 0) {
		incr_free(n->incr);
		n->incr = NULL;
	}
	manifest_release(&m);
	return rc;
}

/* ---- spools ---- */

static int spool_open(struct fs *fs)
{
	int fd = open(fs->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/spool.XXXXXX", fs->spool_dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		return t9k_err(-errno, "cannot create a spool file in %s: %s", fs->spool_dir,
			       strerror(errno));
	return fd;
}

/* ---- incremental state (fs/incr.h) ---- */

static int src_fetch(void *arg, const struct manifest_chunk *c, struct buf *out)
{
	struct fs *fs = arg;
	struct fs_chunk *ch;
	int rc = fs_chunks_get(fs->chunks, c, &ch);

	if (rc < 0)
		return rc;
	rc = buf_add(out, ch->data, ch->len);
	fs_chunks_put(fs->chunks, ch);
	return rc < 0 ? t9k_err(rc, "out of memory") : 0;
}

static void src_prefetch(void *arg, const struct manifest_chunk *c)
{
	struct fs *fs = arg;

	fs_chunks_prefetch(fs->chunks, c);
}

/* Absent chunks come from the mount's chunk cache. */
static struct incr_source source_of(struct fs *fs)
{
	return (struct incr_source){ .fetch = src_fetch, .prefetch = src_prefetch, .arg = fs };
}

/* Gives n an empty state (nothing stored) if it has none. Under n->gate. */
static int write_state_new(struct fs *fs, struct fs_node *n)
{
	const struct meta_repo *ri = repo_info(fs->r);
	struct cdc_params p;
	int rc;

	if (n->incr)
		return 0;
	rc = cdc_params_init(&p, ri->cdc_min, ri->cdc_avg, ri->cdc_max);
	if (rc == 0)
		rc = incr_new(&p, &n->incr);
	return rc;
}

void fs_write_state_free(struct fs_node *n)
{
	incr_free(n->incr);
	n->incr = NULL;
}

static bool write_check(void)
{
	static int on = -1;

	if (on < 0) { /* (a benign race: every thread reads the same) */
		const char *v = getenv("T9KFS_WRITE_CHECK");

		on = v && *v && strcmp(v, "0") != 0;
	}
	return on;
}

ssize_t fs_spool_read(struct fs *fs, struct fs_node *n, int fd, void *buf, size_t len, off_t off)
{
	if (n->incr && !incr_complete(n->incr)) {
		struct incr_source src = source_of(fs);
		int rc = incr_fill(n->incr, fd, (uint64_t)off, len, &src);

		if (rc < 0)
			return rc;
	}
	return pread_full(fd, buf, len, off);
}

/* Gives a new spool fd n's stored content: inline bytes are copied, a
 * chunked file's are left in the store (the spool is sparse, n->incr
 * knows every chunk as absent). Under n->gate (exclusive). */
static int copy_up(struct fs *fs, struct fs_node *n, int fd)
{
	struct fs_manifest *fm = NULL;
	uint8_t inl[META_INLINE_MAX];
	struct manifest m;
	uint32_t len = 0;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (!n->has_content || (n->is_inline && !n->data_len)) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	if (n->is_inline) {
		len = n->data_len < sizeof(inl) ? n->data_len : sizeof(inl);
		memcpy(inl, n->data, len);
	}
	pthread_mutex_unlock(&fs->lock);
	if (len) {
		rc = write_full(fd, inl, len);
		return rc < 0 ? t9k_err(rc, "spool write: %s", strerror(-rc)) : 0;
	}
	rc = fs_manifest_get(fs, n, &fm);
	if (rc < 0 || !fm)
		return rc;
	m = (struct manifest){ .size = fm->size, .nchunks = fm->n, .chunks = fm->chunks };
	if (ftruncate(fd, (off_t)fm->size) < 0)
		rc = t9k_err(-errno, "spool truncate: %s", strerror(errno));
	if (rc == 0)
		rc = write_state_new(fs, n);
	if (rc == 0)
		rc = incr_set(n->incr, &m, true);
	if (rc < 0)
		fs_write_state_free(n);
	fs_manifest_put(fs, fm);
	return rc;
}

/* Gives n a spool holding its content (or nothing, when empty), under
 * n->gate (exclusive). */
static int ensure_spool(struct fs *fs, struct fs_node *n, bool empty)
{
	int fd, rc;

	pthread_mutex_lock(&fs->lock);
	fd = n->spool_fd;
	pthread_mutex_unlock(&fs->lock);
	if (fd >= 0) {
		if (empty) {
			fs_stream_stop(fs, n);
			if (n->incr && (rc = incr_prepare_truncate(n->incr, fd, 0, NULL)) < 0)
				return rc;
			if (ftruncate(fd, 0) < 0)
				return t9k_err(-errno, "spool truncate: %s", strerror(errno));
			n->appending = true;
		}
		return 0;
	}
	fd = spool_open(fs);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&fs->lock);
	n->appending = empty || n->size == 0;
	pthread_mutex_unlock(&fs->lock);
	fs_write_state_free(n);
	rc = empty ? 0 : copy_up(fs, n, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&fs->lock);
	n->spool_fd = fd;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

void fs_file_settle(struct fs *fs, struct fs_node *n)
{
	char name[META_NAME_MAX + 1];
	int slot = -1, rc;

	if (!n->incr || n->spool_fd < 0 || n->dirty)
		return;
	rc = pipe_take(fs, &slot);
	if (rc == 0) {
		struct incr_io io = { .store = fs->store, .w = fs->writers[slot] };

		rc = incr_settle(n->incr, n->spool_fd, &io);
	}
	if (slot >= 0)
		pipe_give(fs, slot);
	if (rc < 0) /* still readable: the delta is durable */
		t9k_log(T9K_LOG_WARN, "'%s': its last chunk stays a delta: %s", name_of(fs, n, name),
			t9k_errmsg(rc));
}

struct manifest_put_arg {
	struct fs *fs;
	struct tree_entry *e;
};

static int manifest_put(void *arg, const struct manifest *m)
{
	struct manifest_put_arg *a = arg;

	return meta_manifest_put(a->fs->mo, m, a->e);
}

/* Stores n's spool, size bytes: inline, or chunked by n->incr from what
 * it last stored. Under n->gate (exclusive). */
static int spool_store(struct fs *fs, struct fs_node *n, int fd, uint64_t size,
		       struct tree_entry *e, uint8_t *inl)
{
	struct incr_source src = source_of(fs);
	char name[META_NAME_MAX + 1];
	struct manifest m = { 0 };
	struct incr_stats st;
	int slot = -1, rc;

	memset(e, 0, sizeof(*e));
	e->mode = S_IFREG;
	if (size <= META_INLINE_MAX) {
		ssize_t got = fs_spool_read(fs, n, fd, inl, (size_t)size, 0);

		if (got >= 0 && (uint64_t)got != size)
			got = t9k_err(-EIO, "spool read: the spool is shorter than the file");
		else if (got < 0)
			got = t9k_err((int)got, "spool read: %s", strerror((int)-got));
		if (got < 0)
			return (int)got;
		e->is_inline = true;
		e->data = inl;
		e->data_len = (uint32_t)size;
		e->size = size;
		fs_write_state_free(n); /* stored inline: no chunks to start from */
		return 0;
	}
	rc = write_state_new(fs, n);
	if (rc == 0)
		rc = pipe_take(fs, &slot);
	if (rc == 0) {
		struct manifest_put_arg a = { fs, e };
		struct incr_io io = { .store = fs->store, .w = fs->writers[slot],
				      .pipe = fs->pipes[slot], .src = &src,
				      .manifest_put = manifest_put, .arg = &a };

		rc = incr_store(n->incr, fd, size, &io, &m, &st);
	}
	if (slot >= 0)
		pipe_give(fs, slot);
	if (rc == 0 && write_check())
		rc = incr_verify(n->incr, fd, &src);
	if (rc == 0 && T9K_LOG_DEBUG <= t9k_log_threshold) {
		struct incr_stats tot;

		incr_totals(n->incr, &tot);
		t9k_log(T9K_LOG_DEBUG,
			"'%s': stored %llu bytes: %llu chunks reused, %llu cut (%llu as deltas), "
			"%llu bytes read from the spool, %llu stored; %llu chunks copied in, "
			"%zu bytes of state",
			name_of(fs, n, name), (unsigned long long)size,
			(unsigned long long)st.chunks_reused, (unsigned long long)st.chunks_new,
			(unsigned long long)st.deltas, (unsigned long long)st.bytes_cut,
			(unsigned long long)st.bytes_stored, (unsigned long long)tot.chunks_filled,
			incr_memory(n->incr));
	}
	manifest_release(&m);
	/* from here on the next store starts from this one: no stream again
	 * from the start of the file */
	n->appending = false;
	return rc;
}

/* ---- storing and staging ---- */

int fs_file_commit(struct fs *fs, struct fs_node *n)
{
	char path[REPO_PATH_MAX + 1], name[META_NAME_MAX + 1];
	uint8_t inl[META_INLINE_MAX];
	struct fs_stage b = { 0 };
	struct tree_entry e;
	bool dirty, unlinked, has;
	int fd, rc = 0;
	struct stat sb;

	if (!fs->rw)
		return 0;
	pthread_rwlock_wrlock(&n->gate);
	memset(&sb, 0, sizeof(sb));
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&fs->lock);
	dirty = n->dirty;
	unlinked = n->unlinked;
	fd = n->spool_fd;
	has = n->has_content;
	sb.st_mode = n->mode;
	sb.st_size = (off_t)n->size;
	sb.st_mtim.tv_sec = (time_t)(n->mtime_ns / 1000000000);
	sb.st_mtim.tv_nsec = (long)(n->mtime_ns % 1000000000);
	if (dirty && !unlinked && fd < 0 && has) {
		bool attrs;

		fs_node_entry_locked(n, &e, &attrs);
		if (e.is_inline) {
			if (e.data_len)
				memcpy(inl, e.data, e.data_len);
			e.data = inl;
		}
	}
	if (unlinked)
		n->dirty = false;
	pthread_mutex_unlock(&fs->lock);
	if (unlinked)
		fs_stream_stop(fs, n);
	if (!dirty || unlinked)
		goto out;
	if (fd >= 0 && n->stream && stream_store(fs, n, (uint64_t)sb.st_size, &e) == 0) {
		/* chunked while it was written */
		n->appending = false;
	} else if (fd >= 0) {
		rc = spool_store(fs, n, fd, (uint64_t)sb.st_size, &e, inl);
		if (rc < 0)
			goto out;
	} else if (!has) {
		e = (struct tree_entry){ .mode = S_IFREG, .is_inline = true, .data = inl };
	}
	pthread_mutex_lock(&fs->ns_lock);
	rc = fs_link_complete(fs, n); /* a linked file is staged at every name */
	if (rc < 0) {
		pthread_mutex_unlock(&fs->ns_lock);
		goto out;
	}
	pthread_mutex_lock(&fs->lock);
	rc = fs_node_path_locked(n, path, sizeof(path));
	if (rc == -ENOENT) { /* removed meanwhile: nothing to stage */
		n->dirty = false;
		rc = 0;
		pthread_mutex_unlock(&fs->lock);
		pthread_mutex_unlock(&fs->ns_lock);
		goto out;
	}
	e.mode = n->mode; /* attributes as they are now */
	e.mtime_ns = n->mtime_ns;
	fs_node_entry_meta_locked(n, &e);
	if (rc == 0)
		rc = fs_stage_names_locked(fs, &b, n, &e, NULL, NULL, 0);
	if (rc == 0)
		rc = fs_stage_dir_attrs_locked(&b, n->parent);
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0)
		rc = fs_stage_send(fs, &b);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0)
		rc = fs_node_set_content_locked(fs, n, &e);
	if (rc == 0) {
		n->dirty = false;
		fs_stage_done_locked(&b);
		rc = fs_ov_attach_locked(fs, n, true);
		if (rc == 0)
			rc = fs_attach_names_locked(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_unlock(&fs->ns_lock);
	fs_stage_release(fs, &b);
out:
	pthread_rwlock_unlock(&n->gate);
	if (rc < 0)
		t9k_err_wrap(rc, "storing '%s'", name_of(fs, n, name));
	return rc;
}

void fs_file_commit_all(struct fs *fs, bool closed_only)
{
	struct fs_node **v = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->ino_nb; i++)
		for (struct fs_node *x = fs->ino_tab[i]; x; x = x->ino_next) {
			if (!(x->dirty || x->stream) || (closed_only && x->nopen))
				continue; /* (unlinked ones too: that ends their stream) */
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct fs_node **nv = realloc(v, nc * sizeof(*nv));

				if (!nv)
					break;
				v = nv;
				cap = nc;
			}
			x->refs++;
			v[n++] = x;
		}
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++) {
		int rc = fs_file_commit(fs, v[i]);

		if (rc < 0 && !closed_only)
			t9k_log(T9K_LOG_ERROR, "unmount: %s: changes are lost", t9k_errmsg(rc));
		if (rc < 0 && closed_only) {
			pthread_mutex_lock(&fs->lock);
			fs->retry = true;
			pthread_mutex_unlock(&fs->lock);
		}
		fs_node_put(fs, v[i]);
	}
	free(v);
}

int fs_file_truncate(struct fs *fs, struct fs_node *n, uint64_t size)
{
	int rc = ensure_spool(fs, n, size == 0), fd;

	if (rc < 0)
		return rc;
	if (size) {
		fs_stream_stop(fs, n);
		n->appending = false;
	}
	pthread_mutex_lock(&fs->lock);
	fd = n->spool_fd;
	pthread_mutex_unlock(&fs->lock);
	if (n->incr) {
		struct incr_source src = source_of(fs);

		rc = incr_prepare_truncate(n->incr, fd, size, &src);
		if (rc < 0)
			return rc;
	}
	if (ftruncate(fd, (off_t)size) < 0)
		return t9k_err(-errno, "spool truncate: %s", strerror(errno));
	pthread_mutex_lock(&fs->lock);
	n->size = size;
	n->mtime_ns = n->ctime_ns = fs_now_ns();
	n->dirty = true;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/* ---- writing ---- */

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_file *fh = (struct fs_file *)(uintptr_t)fi->fh;
	struct fs_node *n = fh->node;
	bool killed;
	ssize_t w = 0;
	int rc;

	(void)ino;
	if (!fs->rw) {
		fs_reply_err(req, -EROFS);
		return;
	}
	pthread_rwlock_wrlock(&n->gate);
	rc = ensure_spool(fs, n, false);
	if (rc == 0 && n->incr) {
		struct incr_source src = source_of(fs);

		rc = incr_prepare_write(n->incr, n->spool_fd, (uint64_t)off, size, &src);
	}
	if (rc == 0) {
		stream_note_write(fs, n, (uint64_t)off, n->size);
		w = pwrite(n->spool_fd, buf, size, off);
		if (w < 0)
			rc = t9k_err(-errno, "spool write: %s", strerror(errno));
	}
	if (rc == 0) {
		uint64_t end;

		pthread_mutex_lock(&fs->lock);
		if ((uint64_t)off + (uint64_t)w > n->size)
			n->size = (uint64_t)off + (uint64_t)w;
		end = n->size;
		n->mtime_ns = n->ctime_ns = fs_now_ns();
		n->dirty = true;
		pthread_mutex_unlock(&fs->lock);
		stream_note_written(fs, n, end);
	} else {
		fs_stream_stop(fs, n);
		n->appending = false;
	}
	pthread_rwlock_unlock(&n->gate);
	killed = rc == 0 && fs_kill_sgid(fs, req, n);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_write(req, (size_t)w);
	if (killed) /* the kernel's cached mode has the bit */
		fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
}

