/* Open files of a mount: open, close, flush and fsync, reads through the
 * chunk cache with sequential read-ahead, and attribute changes.
 *
 * Reads: a file with a spool (being written on a branch mount) is read
 * from the spool under node->gate (shared); other files from their
 * inline bytes or, through their manifest, from the chunk cache
 * (fs/chunks.h), replying with iovecs that point into the cached chunks
 * (no copy). A reader whose reads follow each other (within FS_SEQ_SLACK of
 * the last end) is sequential: after two such reads the chunks ahead of
 * it are queued for the prefetch threads, the window doubling from
 * FS_PREFETCH_STEP up to o.prefetch_bytes (fs_chunks_read_ahead).
 * Close: the store and staging of fs/write.c. A writer's close(2) (FLUSH)
 * reports their failure; release tries again and logs.
 * Attributes: mode, owner and mtime are staged (a file's with its next
 * store); atime and ctime live in the node only.
 * Locking: node->gate as in fs/write.c; fh->lock guards only the
 * read-ahead state of one open file. Chunk reads need no gate: a
 * manifest, once held, is immutable.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- open and close ---- */

static void file_close(struct fs *fs, struct fs_file *fh);

int fs_file_open(struct fs *fs, struct fs_node *n, int flags, struct fuse_file_info *fi)
{
	struct fs_file *fh = calloc(1, sizeof(*fh));

	if (!fh)
		return t9k_err(-ENOMEM, "out of memory");
	fh->node = n;
	fh->flags = flags;
	pthread_mutex_init(&fh->lock, NULL);
	pthread_mutex_lock(&fs->lock);
	n->nopen++;
	n->nwriters += (flags & O_ACCMODE) != O_RDONLY;
	pthread_mutex_unlock(&fs->lock);
	fi->fh = (uint64_t)(uintptr_t)fh;
	/* The kernel's cached pages stay valid: stored content never changes,
	 * and a branch mount's files change only through this kernel. */
	fi->keep_cache = 1;
	return 0;
}


void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	int rc = 0;

	if (fs->no_open) { /* the kernel opens without us from now on */
		fs_node_put(fs, n);
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (!n)
		rc = -ENOENT;
	else if (S_ISDIR(n->mode))
		rc = -EISDIR;
	else if (writing && !fs->rw)
		rc = -EROFS;
	if (rc == 0 && (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
		pthread_rwlock_wrlock(&n->gate);
		rc = fs_file_truncate(fs, n, 0);
		pthread_rwlock_unlock(&n->gate);
	}
	if (rc == 0)
		rc = fs_file_open(fs, n, fi->flags, fi);
	if (rc < 0) {
		fs_node_put(fs, n);
		fs_reply_err(req, rc);
		return;
	}
	if (fuse_reply_open(req, fi) < 0) /* interrupted: no release will come */
		file_close(fs, (struct fs_file *)(uintptr_t)fi->fh);
}

/* The end of an open file: stores what it wrote, and drops the spool once
 * nobody has the file open (the stored content serves reads from then). */
static void file_close(struct fs *fs, struct fs_file *fh)
{
	struct fs_node *n = fh->node;
	bool last;
	int rc = fs_file_commit(fs, n);

	if (rc < 0)
		t9k_log(T9K_LOG_ERROR, "close: %s (kept; tried again in a while)", t9k_errmsg(rc));
	pthread_mutex_lock(&fs->lock);
	if (rc < 0)
		fs->retry = true;
	n->nwriters -= (fh->flags & O_ACCMODE) != O_RDONLY;
	last = --n->nopen == 0;
	pthread_mutex_unlock(&fs->lock);
	if (last) {
		pthread_rwlock_wrlock(&n->gate);
		if (n->nopen == 0)
			fs_file_settle(fs, n);
		pthread_mutex_lock(&fs->lock);
		if (n->nopen == 0 && !n->dirty && n->spool_fd >= 0) {
			close(n->spool_fd);
			n->spool_fd = -1;
			fs_write_state_free(n);
		}
		pthread_mutex_unlock(&fs->lock);
		pthread_rwlock_unlock(&n->gate);
	}
	pthread_mutex_destroy(&fh->lock);
	free(fh);
	fs_node_put(fs, n);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (fi->fh) /* none when opened without us (fs->no_open) */
		file_close(fuse_req_userdata(req), (struct fs_file *)(uintptr_t)fi->fh);
	fs_reply_err(req, 0);
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_file *fh = (struct fs_file *)(uintptr_t)fi->fh;

	(void)ino;
	/* Opened without us (a read-only mount): nothing to report, ever,
	 * and ENOSYS tells the kernel to stop sending flushes. */
	if (!fh) {
		fs_reply_err(req, fs->no_open ? -ENOSYS : 0);
		return;
	}
	/* A writer's close(2) reports a failed store; a reader's does not
	 * inherit a writer's failure (release tries again, and logs). */
	if ((fh->flags & O_ACCMODE) == O_RDONLY)
		fs_reply_err(req, 0);
	else
		fs_reply_err(req, fs_file_commit(fs, fh->node));
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_file *fh = (struct fs_file *)(uintptr_t)fi->fh;

	(void)ino, (void)datasync;
	/* Durable means stored and staged: the same as close (a file opened
	 * without us is read-only: nothing to store). */
	fs_reply_err(req, fh ? fs_file_commit(fs, fh->node) : 0);
}

/* ---- reading ---- */

static void read_chunks(fuse_req_t req, struct fs *fs, struct fs_file *fh, struct fs_manifest *m,
			size_t size, uint64_t off)
{
	struct fs_chunk *stack_ch[8], **ch = stack_ch;
	struct iovec stack_iov[8], *iov = stack_iov;
	uint64_t end = off + size > m->size ? m->size : off + size;
	uint32_t first = fs_chunk_at(m->ends, m->n, off), last = fs_chunk_at(m->ends, m->n, end - 1);
	uint32_t k = 0, k_sent, cnt;
	int rc = 0;

	cnt = last - first + 1;
	if (cnt > 8) {
		ch = calloc(cnt, sizeof(*ch));
		iov = calloc(cnt, sizeof(*iov));
		if (!ch || !iov) {
			rc = t9k_err(-ENOMEM, "out of memory");
			goto out;
		}
	}
	fs_chunks_read_ahead(fs->chunks, &fh->ra, &fh->lock, m->chunks, m->ends, m->n, m->size, off,
			     end, fs->o.prefetch_bytes);
	for (uint32_t i = first; i <= last; i++) {
		uint64_t cstart = m->ends[i] - m->chunks[i].len;
		uint64_t from = off > cstart ? off - cstart : 0;
		uint64_t to = end < m->ends[i] ? end - cstart : m->chunks[i].len;

		rc = fs_chunks_get(fs->chunks, &m->chunks[i], &ch[k]);
		if (rc < 0)
			break;
		iov[k].iov_base = (void *)(ch[k]->data + from);
		iov[k].iov_len = (size_t)(to - from);
		k++;
	}
out:
	k_sent = rc < 0 ? 0 : k;
	if (rc < 0)
		fs_reply_err(req, rc);
	else if (fuse_reply_iov(req, iov, (int)k) < 0)
		k_sent = 0; /* not delivered: the kernel will ask again */
	for (uint32_t i = 0; i < k; i++)
		fs_chunks_put_read(fs->chunks, ch[i], i < k_sent ? iov[i].iov_len : 0);
	if (ch != stack_ch)
		free(ch);
	if (iov != stack_iov)
		free(iov);
}

/* The handle of reads of n that come without one (fs->no_open): one per
 * node, made on its first read, for the read-ahead state. */
static struct fs_file *shared_handle(struct fs *fs, struct fs_node *n)
{
	struct fs_file *fh, *made;

	pthread_mutex_lock(&fs->lock);
	fh = n->shared;
	pthread_mutex_unlock(&fs->lock);
	if (fh)
		return fh;
	made = calloc(1, sizeof(*made));
	if (!made)
		return NULL;
	made->node = n;
	made->flags = O_RDONLY;
	pthread_mutex_init(&made->lock, NULL);
	pthread_mutex_lock(&fs->lock);
	if (!n->shared) {
		n->shared = made;
		made = NULL;
	}
	fh = n->shared;
	pthread_mutex_unlock(&fs->lock);
	if (made) {
		pthread_mutex_destroy(&made->lock);
		free(made);
	}
	return fh;
}

static void read_file(fuse_req_t req, struct fs *fs, struct fs_file *fh, size_t size, off_t off);

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_file *fh = (struct fs_file *)(uintptr_t)fi->fh;
	struct fs_node *n;

	if (fh) {
		read_file(req, fs, fh, size, off);
		return;
	}
	/* opened without us: the node by its number, held while we read */
	n = fs_node_get(fs, ino);
	fh = n ? shared_handle(fs, n) : NULL;
	if (!fh)
		fs_reply_err(req, n ? t9k_err(-ENOMEM, "out of memory") : -ENOENT);
	else
		read_file(req, fs, fh, size, off);
	fs_node_put(fs, n);
}

static void read_file(fuse_req_t req, struct fs *fs, struct fs_file *fh, size_t size, off_t off)
{
	struct fs_node *n = fh->node;
	struct fs_manifest *m = NULL;
	uint8_t inl[META_INLINE_MAX];
	uint64_t nsize, uoff = (uint64_t)off;
	size_t ilen = 0;
	char *buf = NULL;
	ssize_t got = 0;
	int fd, rc = 0;

	pthread_rwlock_rdlock(&n->gate);
	pthread_mutex_lock(&fs->lock);
	fd = n->spool_fd;
	nsize = n->size;
	if (fd < 0 && n->is_inline && uoff < n->data_len) {
		ilen = n->data_len - uoff < size ? n->data_len - uoff : size;
		memcpy(inl, n->data + uoff, ilen);
	}
	pthread_mutex_unlock(&fs->lock);
	if (uoff >= nsize) {
		pthread_rwlock_unlock(&n->gate);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > nsize - uoff)
		size = (size_t)(nsize - uoff);
	if (fd >= 0) {
		buf = malloc(size);
		got = buf ? fs_spool_read(fs, n, fd, buf, size, off) : -ENOMEM;
		pthread_rwlock_unlock(&n->gate);
		if (got < 0)
			fs_reply_err(req, t9k_err((int)got, "spool read: %s", strerror((int)-got)));
		else
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
		return;
	}
	if (n->is_inline || !n->has_content) {
		pthread_rwlock_unlock(&n->gate);
		fuse_reply_buf(req, (const char *)inl, ilen);
		return;
	}
	rc = fs_manifest_get(fs, n, &m);
	pthread_rwlock_unlock(&n->gate);
	if (rc == 0 && (!m || m->size != nsize))
		rc = t9k_err(-EIO, "file content changed while being read");
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		read_chunks(req, fs, fh, m, size, uoff);
	fs_manifest_put(fs, m);
}

/* ---- attributes ---- */

/* Does the caller of req keep a set-group-ID bit of a file of group gid
 * that it writes or truncates (Linux's setattr_should_drop_sgid): root,
 * or a member of the group. */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int n;

	if (ctx->uid == 0 || ctx->gid == gid)
		return true;
	n = fuse_req_getgroups(req, (int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (int i = 0; i < n && i < (int)(sizeof(groups) / sizeof(groups[0])); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool fs_kill_sgid(struct fs *fs, fuse_req_t req, struct fs_node *n)
{
	uint32_t uid, gid, mode;
	bool kill;

	/* The kernel clears set-ID bits itself (as a mode change) but for
	 * FUSE only a set-group-ID bit with group execute: a file without
	 * it loses the bit here, as a local file system does. */
	pthread_mutex_lock(&fs->lock);
	mode = n->mode;
	fs_node_owner_locked(fs, n, &uid, &gid);
	pthread_mutex_unlock(&fs->lock);
	if (!S_ISREG(mode) || !(mode & S_ISGID) || (mode & S_IXGRP))
		return false;
	kill = !caller_in_group(req, gid);
	if (kill) {
		pthread_mutex_lock(&fs->lock);
		n->mode &= ~(uint32_t)S_ISGID;
		n->dirty = true;
		pthread_mutex_unlock(&fs->lock);
	}
	return kill;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int stage_dir_attrs(struct fs *fs, struct fs_node *n)
{
	struct fs_stage b = { 0 };
	int rc;

	pthread_mutex_lock(&fs->lock);
	rc = fs_stage_dir_attrs_locked(&b, n);
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0)
		rc = fs_stage_send(fs, &b);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		fs_stage_done_locked(&b);
		rc = fs_ov_attach_locked(fs, n, true);
	}
	pthread_mutex_unlock(&fs->lock);
	fs_stage_release(fs, &b);
	return rc;
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	const int staged = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME |
			   FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID;
	uint32_t old_mode = 0, old_uid = 0, old_gid = 0;
	int64_t old_mtime = 0, old_ctime = 0, old_atime = 0, now = fs_now_ns();
	bool was_dirty = false, was_attrs = false, was_owned = false, was_here = false, deferred;
	struct stat st;
	int rc = 0;

	if (!n) {
		fs_reply_err(req, -ENOENT);
		return;
	}
	if (!fs->rw)
		rc = -EROFS;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && S_ISDIR(n->mode))
		rc = -EISDIR;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && !S_ISREG(n->mode))
		rc = -EINVAL;
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		pthread_rwlock_wrlock(&n->gate);
		rc = fs_file_truncate(fs, n, (uint64_t)attr->st_size);
		pthread_rwlock_unlock(&n->gate);
		if (rc == 0 && !(to_set & FUSE_SET_ATTR_MODE))
			fs_kill_sgid(fs, req, n);
	}
	if (rc == 0) {
		if (S_ISREG(n->mode) || S_ISLNK(n->mode))
			pthread_rwlock_wrlock(&n->gate); /* against a commit reading the attrs */
		pthread_mutex_lock(&fs->lock);
		old_mode = n->mode;
		old_mtime = n->mtime_ns;
		old_ctime = n->ctime_ns;
		old_atime = n->atime_ns;
		old_uid = n->uid;
		old_gid = n->gid;
		was_owned = n->owned;
		was_here = n->owner_here;
		was_dirty = n->dirty;
		was_attrs = n->attrs_dirty;
		/* (the kernel sends the set-ID bits a write or chown clears as a
		 * mode change: FUSE_CAP_HANDLE_KILLPRIV is not asked for) */
		if (to_set & FUSE_SET_ATTR_MODE)
			n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
		if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
			uint32_t uid, gid; /* the half not given stays as shown */

			fs_node_owner_locked(fs, n, &uid, &gid);
			n->uid = to_set & FUSE_SET_ATTR_UID ? (uint32_t)attr->st_uid : uid;
			n->gid = to_set & FUSE_SET_ATTR_GID ? (uint32_t)attr->st_gid : gid;
			n->owned = n->owner_here = true;
		}
		if (to_set & FUSE_SET_ATTR_MTIME)
			n->mtime_ns = ts_ns(&attr->st_mtim);
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			n->mtime_ns = now;
		/* atime: to the nanosecond while mounted; trees keep mtime only */
		if (to_set & FUSE_SET_ATTR_ATIME)
			n->atime_ns = ts_ns(&attr->st_atim);
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			n->atime_ns = now;
		n->ctime_ns = now;
		if ((to_set & staged) && n->parent) {
			if (S_ISDIR(n->mode))
				n->attrs_dirty = true;
			else
				n->dirty = true;
		}
		pthread_mutex_unlock(&fs->lock);
		if (S_ISREG(n->mode) || S_ISLNK(n->mode))
			pthread_rwlock_unlock(&n->gate);
	}
	/* Staged now, unless a writer has the file open: its close (or fsync)
	 * stages the attributes with the bytes (tar -xp sets times, owner
	 * and mode on the open file: one staging, not four). */
	(void)fi;
	pthread_mutex_lock(&fs->lock);
	deferred = S_ISREG(n->mode) && n->nwriters > 0;
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0 && (to_set & staged) && n->parent && !deferred) {
		if (S_ISDIR(n->mode)) {
			pthread_mutex_lock(&fs->ns_lock);
			rc = stage_dir_attrs(fs, n);
			pthread_mutex_unlock(&fs->ns_lock);
		} else {
			rc = fs_file_commit(fs, n);
		}
		if (rc < 0 && !(to_set & FUSE_SET_ATTR_SIZE)) { /* undo what did not stick */
			pthread_mutex_lock(&fs->lock);
			n->mode = old_mode;
			n->mtime_ns = old_mtime;
			n->ctime_ns = old_ctime;
			n->atime_ns = old_atime;
			n->uid = old_uid;
			n->gid = old_gid;
			n->owned = was_owned;
			n->owner_here = was_here;
			if (S_ISDIR(n->mode))
				n->attrs_dirty = was_attrs;
			else
				n->dirty = was_dirty;
			pthread_mutex_unlock(&fs->lock);
		}
	}
	if (rc == 0) {
		pthread_mutex_lock(&fs->lock);
		fs_node_stat_locked(fs, n, &st);
		pthread_mutex_unlock(&fs->lock);
	}
	fs_node_put(fs, n);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, fs->o.timeout);
}
