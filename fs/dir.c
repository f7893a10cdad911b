/* Directories: listing (readdir, readdirplus) and the namespace changes of
 * a branch mount (create, mknod, mkdir, symlink, link, unlink, rmdir,
 * rename).
 *
 * A listing merges the base tree (in name order, from the immutable
 * objects) with a sorted copy of the directory's overlay names taken when
 * the listing starts. Offsets are positions in that merged order (1 and
 * 2 are "." and ".."); an offset other than the handle's own restarts the
 * walk and skips ahead.
 *
 * A namespace change runs under fs->ns_lock: it checks the view, stages
 * its paths (and the new attributes of the directories it changes), and
 * only when the service has them applies the change to the view. A
 * failed staging request (service down) changes nothing and is EIO.
 * What changes a hard-linked file's count (link, unlink, a rename over
 * one of its names) stages all its other names too (fs/link.c). A new
 * entry belongs to its creator; the subdirectory counts of directories
 * follow mkdir, rmdir and renames of directories.
 * Locking: fs->ns_lock, then fs->lock for the short view updates; no
 * lock is held across a fuse_reply_*.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* ---- listings ---- */

struct ov_name {
	char *name;
	uint16_t len;
};

struct fs_dirh {
	struct fs_node *dir;        /* held */
	pthread_mutex_t lock;       /* one readdir at a time per handle */
	bool started;
	off_t pos;                  /* offset of the next entry */
	struct oid tree;            /* the base tree it walks */
	struct tree_iter *it;
	struct tree_entry cur;      /* base entry peeked from it */
	bool has_cur, base_done;
	struct ov_name *ov;         /* sorted overlay names */
	size_t ov_n, ov_i;
};

static void dirh_reset(struct fs_dirh *h)
{
	tree_iter_free(h->it);
	h->it = NULL;
	for (size_t i = 0; i < h->ov_n; i++)
		free(h->ov[i].name);
	free(h->ov);
	h->ov = NULL;
	h->ov_n = h->ov_i = 0;
	h->has_cur = h->base_done = h->started = false;
	h->pos = 0;
}

static int ov_name_cmp(const void *a, const void *b)
{
	const struct ov_name *x = a, *y = b;

	return meta_name_cmp(x->name, x->len, y->name, y->len);
}

static int dirh_start(struct fs *fs, struct fs_dirh *h)
{
	struct oid tree;
	bool gone;
	int rc = 0;

	dirh_reset(h);
	pthread_mutex_lock(&fs->lock);
	tree = h->dir->id;
	/* a directory a followed branch no longer has lists nothing */
	gone = fs->follow && fs_node_stale_locked(fs, h->dir);
	if (h->dir->ov && h->dir->ov->n) {
		h->ov = calloc(h->dir->ov->n, sizeof(*h->ov));
		if (!h->ov)
			rc = t9k_err(-ENOMEM, "out of memory");
		for (uint32_t i = 0; rc == 0 && i < h->dir->ov->nb; i++)
			for (struct fs_ov_slot *s = h->dir->ov->tab[i]; s && rc == 0; s = s->next) {
				h->ov[h->ov_n].name = strndup(s->name, s->len);
				h->ov[h->ov_n].len = s->len;
				if (!h->ov[h->ov_n++].name)
					rc = t9k_err(-ENOMEM, "out of memory");
			}
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0 && h->ov_n > 1)
		qsort(h->ov, h->ov_n, sizeof(*h->ov), ov_name_cmp);
	h->tree = tree;
	if (rc == 0 && gone)
		h->base_done = true;
	else if (rc == 0)
		rc = tree_iter_new(fs->mo, &tree, NULL, 0, &h->it);
	h->started = rc == 0;
	return rc;
}

/* The next entry of the merged listing, as a held node (*n) or the base
 * entry (*base, valid until the next call), without moving past it.
 * 0 at the end, 1 when found. Whiteouts are skipped. */
static int dirh_peek(struct fs *fs, struct fs_dirh *h, struct fs_node **n,
		     const struct tree_entry **base)
{
	*n = NULL;
	*base = NULL;
	for (;;) {
		const struct ov_name *o = h->ov_i < h->ov_n ? &h->ov[h->ov_i] : NULL;
		struct fs_ov_slot *s;
		int c;

		if (!h->has_cur && !h->base_done) {
			int rc = tree_iter_next(h->it, &h->cur);

			if (rc < 0)
				return rc;
			h->has_cur = rc == 1;
			h->base_done = rc == 0;
		}
		if (!h->has_cur && !o)
			return 0;
		c = !o ? -1 : !h->has_cur ? 1 :
			meta_name_cmp(h->cur.name, h->cur.name_len, o->name, o->len);
		if (c < 0) {
			*base = &h->cur;
			return 1;
		}
		pthread_mutex_lock(&fs->lock);
		s = fs_ov_find_locked(h->dir, o->name, o->len);
		if (s && s->node) {
			*n = s->node;
			fs_node_hold_locked(*n);
		}
		pthread_mutex_unlock(&fs->lock);
		if (*n)
			return 1;
		/* a whiteout, or gone since the listing started: skip it */
		h->ov_i++;
		if (c == 0)
			h->has_cur = false;
	}
}

static void dirh_next(struct fs_dirh *h, const struct tree_entry *base)
{
	if (base) {
		h->has_cur = false;
		return;
	}
	if (h->has_cur && !meta_name_cmp(h->cur.name, h->cur.name_len, h->ov[h->ov_i].name,
					 h->ov[h->ov_i].len))
		h->has_cur = false;
	h->ov_i++;
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	struct fs_dirh *h;

	if (!n || !S_ISDIR(n->mode)) {
		fs_node_put(fs, n);
		fs_reply_err(req, n ? -ENOTDIR : -ENOENT);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fs_node_put(fs, n);
		fs_reply_err(req, t9k_err(-ENOMEM, "out of memory"));
		return;
	}
	h->dir = n;
	pthread_mutex_init(&h->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->cache_readdir = !fs->rw; /* a commit's listings never change */
	fi->keep_cache = !fs->rw;
	if (fuse_reply_open(req, fi) < 0) {
		pthread_mutex_destroy(&h->lock);
		free(h);
		fs_node_put(fs, n);
	}
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_dirh *h = (struct fs_dirh *)(uintptr_t)fi->fh;

	(void)ino;
	dirh_reset(h);
	pthread_mutex_destroy(&h->lock);
	fs_node_put(fs, h->dir);
	free(h);
	fs_reply_err(req, 0);
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		       bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_dirh *h = (struct fs_dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size), name[META_NAME_MAX + 1];
	size_t used = 0;
	int rc = 0;

	if (!buf) {
		fs_reply_err(req, t9k_err(-ENOMEM, "out of memory"));
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (!h->started || off != h->pos) {
		rc = dirh_start(fs, h);
		/* skip to off: "." and "..", then entries */
		while (rc == 0 && h->pos < off) {
			if (h->pos >= 2) {
				struct fs_node *n;
				const struct tree_entry *base;

				rc = dirh_peek(fs, h, &n, &base);
				if (rc <= 0)
					break;
				rc = 0;
				fs_node_put(fs, n);
				dirh_next(h, base);
			}
			h->pos++;
		}
		if (rc > 0)
			rc = 0;
	}
	while (rc == 0) {
		struct fuse_entry_param e;
		struct fs_node *n = NULL;
		const struct tree_entry *base = NULL;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (h->pos < 2) {
			struct fs_node *d = h->dir;

			snprintf(name, sizeof(name), "%s", h->pos == 0 ? "." : "..");
			pthread_mutex_lock(&fs->lock);
			e.attr.st_ino = h->pos == 0 || !d->parent ? d->ino : d->parent->ino;
			pthread_mutex_unlock(&fs->lock);
			e.attr.st_mode = S_IFDIR;
		} else {
			rc = dirh_peek(fs, h, &n, &base);
			if (rc <= 0)
				break;
			rc = 0;
			if (base) {
				memcpy(name, base->name, base->name_len);
				name[base->name_len] = '\0';
			} else { /* the overlay's name (a node may have several) */
				memcpy(name, h->ov[h->ov_i].name, h->ov[h->ov_i].len);
				name[h->ov[h->ov_i].len] = '\0';
			}
		}
		need = plus ? fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0)
			    : fuse_add_direntry(req, NULL, 0, name, NULL, 0);
		if (used + need > size) {
			fs_node_put(fs, n);
			break;
		}
		if (base) { /* a base entry: its node, from the overlay or new */
			rc = fs_lookup_entry(fs, h->dir, &h->tree, base, &n);
			if (rc == -ENOENT) { /* hidden since the listing started */
				rc = 0;
				dirh_next(h, base);
				continue;
			}
			if (rc < 0)
				break;
		}
		if (n) {
			pthread_mutex_lock(&fs->lock);
			if (plus) {
				fs_entry_locked(fs, n, &e); /* counts the lookup */
			} else {
				e.attr.st_ino = n->ino;
				e.attr.st_mode = n->mode;
			}
			pthread_mutex_unlock(&fs->lock);
		}
		if (plus)
			fuse_add_direntry_plus(req, buf + used, size - used, name, &e, h->pos + 1);
		else
			fuse_add_direntry(req, buf + used, size - used, name, &e.attr, h->pos + 1);
		used += need;
		if (h->pos >= 2)
			dirh_next(h, base);
		h->pos++;
		fs_node_put(fs, n);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc < 0 && used == 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, true);
}

/* ---- namespace changes ---- */

/* One change in progress: its staging batch and the directories whose
 * times it sets (restored when staging fails). */
struct nsop {
	struct fs *fs;
	struct fs_stage b;
	int64_t now;
	struct fs_node *dirs[2];
	int64_t mtime[2], ctime[2];
	bool attrs[2];
	int ndirs;
};

static int child_path_locked(const struct fs_node *dir, const char *name, char *path,
			     size_t size)
{
	return fs_child_path_locked(dir, name, strlen(name), path, size);
}

/* The directory's contents change: new times, staged with the change. */
static int touch_dir_locked(struct nsop *op, struct fs_node *d)
{
	for (int i = 0; i < op->ndirs; i++)
		if (op->dirs[i] == d)
			return 0;
	op->dirs[op->ndirs] = d;
	op->mtime[op->ndirs] = d->mtime_ns;
	op->ctime[op->ndirs] = d->ctime_ns;
	op->attrs[op->ndirs] = d->attrs_dirty;
	op->ndirs++;
	d->mtime_ns = d->ctime_ns = op->now;
	d->attrs_dirty = d->parent != NULL;
	return fs_stage_dir_attrs_locked(&op->b, d);
}

static void undo_locked(struct nsop *op)
{
	for (int i = 0; i < op->ndirs; i++) {
		op->dirs[i]->mtime_ns = op->mtime[i];
		op->dirs[i]->ctime_ns = op->ctime[i];
		op->dirs[i]->attrs_dirty = op->attrs[i];
	}
}

/* Checks and holds what every change needs: a writable mount, a good
 * name, the parent directory; then takes ns_lock. */
static int ns_begin(struct nsop *op, fuse_req_t req, fuse_ino_t parent, const char *name,
		    struct fs_node **dir)
{
	struct fs *fs = op->fs = fuse_req_userdata(req);
	int rc;

	*dir = NULL;
	memset(&op->b, 0, sizeof(op->b));
	op->ndirs = 0;
	if (!fs->rw)
		return -EROFS;
	rc = fs_name_check(name);
	if (rc < 0)
		return rc;
	*dir = fs_node_get(fs, parent);
	if (!*dir)
		return -ENOENT;
	if (!S_ISDIR((*dir)->mode))
		return -ENOTDIR;
	pthread_mutex_lock(&fs->ns_lock);
	op->now = fs_now_ns();
	return 1;
}

static void ns_end(struct nsop *op, struct fs_node *dir, int locked)
{
	if (locked > 0)
		pthread_mutex_unlock(&op->fs->ns_lock);
	fs_stage_release(op->fs, &op->b);
	fs_node_put(op->fs, dir);
}

/* The name must be free: 0, or -EEXIST. */
static int name_free(struct fs *fs, struct fs_node *dir, const char *name)
{
	struct fs_node *old;
	int rc = fs_lookup(fs, dir, name, strlen(name), &old);

	if (rc == 0) {
		fs_node_put(fs, old);
		return -EEXIST;
	}
	return rc == -ENOENT ? 0 : rc;
}

/* The owner of what the caller creates in dir: the caller's, with the
 * directory's group when dir is set-group-ID (and a new directory then
 * set-group-ID too); into e for staging. */
static void creator_locked(struct fs *fs, const struct fs_node *dir, fuse_req_t req,
			   struct tree_entry *e)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint32_t duid, dgid;

	fs_node_owner_locked(fs, dir, &duid, &dgid);
	e->has_owner = true;
	e->uid = ctx->uid;
	e->gid = dir->mode & S_ISGID ? dgid : ctx->gid;
	if (S_ISDIR(e->mode) && (dir->mode & S_ISGID))
		e->mode |= S_ISGID;
}

static void owner_locked(struct fs *fs, struct fs_node *n, const struct fs_node *dir,
			 fuse_req_t req)
{
	struct tree_entry e = { .mode = n->mode };

	creator_locked(fs, dir, req, &e);
	n->mode = e.mode;
	n->uid = e.uid;
	n->gid = e.gid;
	n->owned = n->owner_here = true;
}

/* A new empty file in the view (staged when closed). */
static int new_file(struct nsop *op, fuse_req_t req, struct fs_node *dir, const char *name,
		    mode_t mode, struct fs_node **out, struct fuse_entry_param *ep)
{
	struct fs *fs = op->fs;
	struct fs_node *n;
	bool in_base = false;
	int rc = name_free(fs, dir, name);

	*out = NULL;
	if (rc == 0)
		rc = fs_base_has(fs, dir, name, strlen(name), &in_base);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	n = fs_node_new_locked(fs, dir, name, strlen(name), NULL);
	if (!n) {
		pthread_mutex_unlock(&fs->lock);
		return t9k_err(-ENOMEM, "out of memory");
	}
	n->mode = S_IFREG | (mode & 07777);
	n->mtime_ns = n->ctime_ns = n->atime_ns = op->now;
	n->dirty = true;
	owner_locked(fs, n, dir, req);
	rc = fs_ov_set_locked(fs, dir, name, strlen(name), n, in_base);
	if (rc == 0) {
		/* the directory's new times go with the file's staging */
		dir->mtime_ns = dir->ctime_ns = op->now;
		dir->attrs_dirty = dir->parent != NULL;
		fs_entry_locked(fs, n, ep);
		*out = n;
	} else {
		fs_node_unlink_locked(fs, n, in_base);
		fs_node_put_locked(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct fuse_entry_param ep;
	struct fs_node *dir, *n = NULL;
	struct nsop op;
	int locked = ns_begin(&op, req, parent, name, &dir), rc = locked < 0 ? locked : 0;

	if (rc == 0)
		rc = new_file(&op, req, dir, name, mode, &n, &ep);
	ns_end(&op, dir, locked);
	if (rc == 0)
		rc = fs_file_open(op.fs, n, fi->flags, fi); /* takes the hold on n */
	if (rc < 0) {
		fs_node_put(op.fs, n);
		fs_reply_err(req, rc);
		return;
	}
	fuse_reply_create(req, &ep, fi);
}

/* Stages name in dir as entry e, then adds it to the view: new empty
 * directories, symlinks, and files made by mknod (which no close will
 * stage). */
static void stage_new(fuse_req_t req, fuse_ino_t parent, const char *name,
		      struct tree_entry *e)
{
	struct fuse_entry_param ep;
	char path[REPO_PATH_MAX + 1];
	struct fs_node *dir, *n;
	struct nsop op;
	bool in_base = false;
	int locked = ns_begin(&op, req, parent, name, &dir), rc = locked < 0 ? locked : 0;
	struct fs *fs = op.fs;

	if (rc == 0)
		rc = name_free(fs, dir, name);
	if (rc == 0)
		rc = fs_base_has(fs, dir, name, strlen(name), &in_base);
	if (rc == 0) {
		e->mtime_ns = op.now;
		if (S_ISDIR(e->mode)) {
			e->id = fs->empty_tree;
			e->has_subdirs = true; /* counted from the start */
		}
		pthread_mutex_lock(&fs->lock);
		creator_locked(fs, dir, req, e);
		rc = child_path_locked(dir, name, path, sizeof(path));
		if (rc == 0)
			rc = fs_stage_add(&op.b, path, e, false);
		if (rc == 0)
			rc = touch_dir_locked(&op, dir);
		pthread_mutex_unlock(&fs->lock);
	}
	if (rc == 0)
		rc = fs_stage_send(fs, &op.b);
	if (locked > 0) {
		pthread_mutex_lock(&fs->lock);
		n = NULL;
		if (rc == 0) /* a directory comes with its overlay entry */
			n = S_ISDIR(e->mode) ?
				    fs_dir_new_locked(fs, dir, name, strlen(name), e->mode, op.now, in_base) :
				    fs_node_new_locked(fs, dir, name, strlen(name), e);
		if (rc == 0 && !n)
			rc = t9k_err(-ENOMEM, "out of memory");
		if (rc == 0 && !S_ISDIR(e->mode))
			rc = fs_ov_set_locked(fs, dir, name, strlen(name), n, in_base);
		if (rc == 0) {
			owner_locked(fs, n, dir, req);
			n->atime_ns = op.now;
			fs_entry_locked(fs, n, &ep);
			fs_stage_done_locked(&op.b);
		} else {
			undo_locked(&op);
		}
		fs_node_put_locked(fs, n);
		pthread_mutex_unlock(&fs->lock);
	}
	ns_end(&op, dir, locked);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_entry(req, &ep);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct tree_entry e = { .mode = S_IFDIR | (mode & 07777) };

	stage_new(req, parent, name, &e);
}

/* A file, fifo, socket (bind) or device (the kernel lets only root make
 * those, CAP_MKNOD); special files are entries without data. */
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	static const uint8_t none[1];
	struct tree_entry e = { .mode = (mode & S_IFMT) | (mode & 07777) };

	if (S_ISREG(mode)) {
		e.is_inline = true;
		e.data = none;
	} else if (S_ISCHR(mode) || S_ISBLK(mode)) {
		e.dev_major = major(rdev);
		e.dev_minor = minor(rdev);
	} else if (!S_ISFIFO(mode) && !S_ISSOCK(mode)) {
		fs_reply_err(req, -EINVAL); /* a type mknod(2) does not make */
		return;
	}
	stage_new(req, parent, name, &e);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	size_t tlen = strlen(link);
	struct tree_entry e = { .mode = S_IFLNK | 0777, .size = tlen, .is_inline = true,
				.data = (const uint8_t *)link, .data_len = (uint32_t)tlen };

	if (tlen == 0 || tlen >= META_INLINE_MAX) {
		fs_reply_err(req, tlen ? -ENAMETOOLONG : -ENOENT);
		return;
	}
	stage_new(req, parent, name, &e);
}

/* A linked node's names but one (skip in skip_dir) staged with its count
 * changed by delta: what unlink and a rename over it leave, and link. */
static int stage_link_count_locked(struct nsop *op, struct fs_node *n, int delta,
				   const struct fs_node *skip_dir, const char *skip)
{
	struct tree_entry e;
	bool attrs;
	int rc = 0;

	if (S_ISDIR(n->mode) || n->nlink < 2 || !n->link_id)
		return 0; /* (a new group's first link sets link_id first) */
	n->nlink += delta;
	if (fs_node_entry_locked(n, &e, &attrs) == 1)
		rc = fs_stage_names_locked(op->fs, &op->b, n, &e, skip_dir, skip,
					   skip ? strlen(skip) : 0);
	n->nlink -= delta;
	return rc;
}

/* After a linked node's names are staged anew: each in its overlay. */
static int names_attach_locked(struct fs *fs, struct fs_node *n, bool was_linked)
{
	int rc = 0;

	if (was_linked) {
		if (n->parent)
			rc = fs_ov_attach_locked(fs, n, true);
		if (rc == 0)
			rc = fs_attach_names_locked(fs, n);
	}
	return rc;
}

static bool linked_locked(const struct fs_node *n)
{
	return !S_ISDIR(n->mode) && n->link_id && n->nlink > 1;
}

/* After a directory's removal (or move) is staged: drop what is staged
 * below its old path. The view is right either way; a failure here
 * leaves a stray directory in the next commit, so it is logged. */
static void drop_below(struct fs *fs, const char *path)
{
	int rc = fs_stage_drop_below(fs, path);

	if (rc < 0)
		t9k_log(T9K_LOG_ERROR, "%s: the next commit may show an empty '%s'", t9k_errmsg(rc),
			path);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool is_dir)
{
	char path[REPO_PATH_MAX + 1];
	struct fs_node *dir, *n = NULL;
	struct nsop op;
	bool in_base = false;
	int locked = ns_begin(&op, req, parent, name, &dir), rc = locked < 0 ? locked : 0;
	struct fs *fs = op.fs;

	if (rc == -EINVAL && (!strcmp(name, ".") || !strcmp(name, "..")))
		rc = is_dir ? -EINVAL : -EISDIR;
	if (rc == 0)
		rc = fs_lookup(fs, dir, name, strlen(name), &n);
	if (rc == 0)
		rc = fs_base_has(fs, dir, name, strlen(name), &in_base);
	if (rc == 0 && !is_dir)
		rc = fs_link_complete(fs, n);
	if (rc == 0) {
		pthread_mutex_lock(&fs->lock);
		if (!is_dir && S_ISDIR(n->mode))
			rc = -EISDIR;
		else if (is_dir && !S_ISDIR(n->mode))
			rc = -ENOTDIR;
		else if (is_dir && !fs_dir_empty_locked(n))
			rc = -ENOTEMPTY;
		if (rc == 0)
			rc = child_path_locked(dir, name, path, sizeof(path));
		if (rc == 0)
			rc = fs_stage_add(&op.b, path, NULL, false);
		if (rc == 0)
			rc = stage_link_count_locked(&op, n, -1, dir, name);
		if (rc == 0)
			rc = touch_dir_locked(&op, dir);
		pthread_mutex_unlock(&fs->lock);
		if (rc == 0)
			rc = fs_stage_send(fs, &op.b);
		if (rc == 0 && is_dir)
			drop_below(fs, path);
		pthread_mutex_lock(&fs->lock);
		if (rc == 0) {
			bool was = linked_locked(n);

			n->ctime_ns = op.now;
			if (is_dir)
				fs_dir_subdirs_add_locked(dir, -1);
			fs_name_unlink_locked(fs, n, dir, name, strlen(name), in_base);
			rc = names_attach_locked(fs, n, was);
			fs_stage_done_locked(&op.b);
		} else {
			undo_locked(&op);
		}
		pthread_mutex_unlock(&fs->lock);
	}
	fs_node_put(fs, n);
	ns_end(&op, dir, locked);
	fs_reply_err(req, rc);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

/* Checks a rename of src over dst (may be NULL). */
static int rename_check_locked(const struct fs_node *src, const struct fs_node *dst,
			       const struct fs_node *newdir, unsigned flags)
{
	if (dst && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (S_ISDIR(src->mode)) {
		if (dst && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (dst && !fs_dir_empty_locked(dst))
			return -ENOTEMPTY;
		if (fs_node_is_ancestor_locked(src, newdir))
			return -EINVAL; /* into itself */
	} else if (dst && S_ISDIR(dst->mode)) {
		return -EISDIR;
	}
	return 0;
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags)
{
	char oldpath[REPO_PATH_MAX + 1], newpath[REPO_PATH_MAX + 1];
	struct fs_node *dir, *newdir = NULL, *src = NULL, *dst = NULL;
	bool new_in_base = false, is_dir = false;
	struct nsop op;
	int locked = ns_begin(&op, req, parent, name, &dir), rc = locked < 0 ? locked : 0;
	struct fs *fs = op.fs;

	if (rc == 0 && (flags & ~(unsigned)RENAME_NOREPLACE))
		rc = -EINVAL; /* RENAME_EXCHANGE and whiteouts are not supported */
	if (rc == 0)
		rc = fs_name_check(newname);
	if (rc == 0 && !(newdir = fs_node_get(fs, newparent)))
		rc = -ENOENT;
	if (rc == 0 && !S_ISDIR(newdir->mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = fs_lookup(fs, dir, name, strlen(name), &src);
	if (rc == 0) {
		rc = fs_lookup(fs, newdir, newname, strlen(newname), &dst);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc == 0 && src == dst)
		goto out; /* the same file (or two links of it): nothing to do */
	if (rc == 0)
		rc = fs_base_has(fs, newdir, newname, strlen(newname), &new_in_base);
	if (rc == 0 && dst)
		rc = fs_link_complete(fs, dst); /* it loses a name */
	if (rc == 0) {
		struct tree_entry e;
		bool attrs;

		pthread_mutex_lock(&fs->lock);
		rc = rename_check_locked(src, dst, newdir, flags);
		is_dir = S_ISDIR(src->mode);
		if (rc == 0)
			rc = child_path_locked(dir, name, oldpath, sizeof(oldpath));
		if (rc == 0)
			rc = child_path_locked(newdir, newname, newpath, sizeof(newpath));
		if (rc == 0 && is_dir) {
			/* the directory moves whole: its tree, and every change
			 * below it, restaged under the new path */
			bool was = src->replaced;

			src->replaced = true;
			rc = fs_stage_subtree_locked(&op.b, src, newpath);
			src->replaced = was;
		} else if (rc == 0 && fs_node_entry_locked(src, &e, &attrs) == 1) {
			rc = fs_stage_add(&op.b, newpath, &e, false);
		} else if (rc == 0 && dst) {
			rc = fs_stage_add(&op.b, newpath, NULL, false); /* src is staged at close */
		}
		if (rc == 0)
			rc = fs_stage_add(&op.b, oldpath, NULL, false);
		if (rc == 0 && dst)
			rc = stage_link_count_locked(&op, dst, -1, newdir, newname);
		if (rc == 0)
			rc = touch_dir_locked(&op, dir);
		if (rc == 0)
			rc = touch_dir_locked(&op, newdir);
		pthread_mutex_unlock(&fs->lock);
	}
	/* staged paths under the directory replaced, then under the old path */
	if (rc == 0 && is_dir && dst)
		rc = fs_stage_drop_below(fs, newpath);
	if (rc == 0)
		rc = fs_stage_send(fs, &op.b);
	if (rc == 0 && is_dir)
		drop_below(fs, oldpath);
	if (locked > 0) {
		pthread_mutex_lock(&fs->lock);
		if (rc == 0 && dst) {
			bool was = linked_locked(dst);

			dst->ctime_ns = op.now;
			if (S_ISDIR(dst->mode))
				fs_dir_subdirs_add_locked(newdir, -1);
			fs_name_unlink_locked(fs, dst, newdir, newname, strlen(newname), new_in_base);
			rc = names_attach_locked(fs, dst, was);
		}
		if (rc == 0)
			rc = fs_name_move_locked(fs, src, dir, name, strlen(name), newdir, newname,
						 strlen(newname), new_in_base);
		if (rc == 0) {
			src->ctime_ns = op.now;
			if (is_dir) {
				src->replaced = true;
				fs_dir_subdirs_add_locked(dir, -1);
				fs_dir_subdirs_add_locked(newdir, 1);
			}
			fs_stage_done_locked(&op.b);
		} else {
			undo_locked(&op);
		}
		pthread_mutex_unlock(&fs->lock);
	}
out:
	fs_node_put(fs, src);
	fs_node_put(fs, dst);
	fs_node_put(fs, newdir);
	ns_end(&op, dir, locked);
	fs_reply_err(req, rc);
}

/* link(2): one more name for a file, symlink or special file (fs/link.c).
 * A file being written is stored first, so every name stages the same
 * content; the group's count goes with each of its names. */
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fuse_req_userdata(req);
	char path[REPO_PATH_MAX + 1];
	struct fuse_entry_param ep;
	struct fs_node *dir = NULL, *n = fs_node_get(fs, ino);
	bool in_base = false, new_group = false, counted = false;
	int64_t old_ctime = 0;
	struct nsop op;
	int locked = 0, rc = n ? 0 : -ENOENT;

	memset(&op, 0, sizeof(op));
	op.fs = fs;
	if (rc == 0 && S_ISDIR(n->mode))
		rc = -EPERM;
	if (rc == 0 && fs->rw && S_ISREG(n->mode))
		rc = fs_file_commit(fs, n); /* (takes the gate, then ns_lock: before ours) */
	if (rc == 0) {
		locked = ns_begin(&op, req, newparent, newname, &dir);
		rc = locked < 0 ? locked : 0;
	}
	if (rc == 0)
		rc = name_free(fs, dir, newname);
	if (rc == 0)
		rc = fs_base_has(fs, dir, newname, strlen(newname), &in_base);
	if (rc == 0)
		rc = fs_link_complete(fs, n);
	if (rc == 0) {
		struct tree_entry e;
		bool attrs;

		pthread_mutex_lock(&fs->lock);
		if (n->unlinked || n->nlink == 0)
			rc = -ENOENT;
		else if (!fs_node_entry_locked(n, &e, &attrs))
			rc = t9k_err(-EIO, "'%s' is not stored yet", n->name);
		if (rc == 0) {
			new_group = !n->link_id;
			if (new_group)
				n->link_id = fs_link_new_id_locked(fs);
			n->nlink++;
			counted = true;
			fs_node_entry_locked(n, &e, &attrs); /* with the group */
			rc = child_path_locked(dir, newname, path, sizeof(path));
		}
		if (rc == 0)
			rc = fs_stage_add(&op.b, path, &e, false);
		if (rc == 0)
			rc = fs_stage_names_locked(fs, &op.b, n, &e, NULL, NULL, 0);
		if (rc == 0)
			rc = touch_dir_locked(&op, dir);
		old_ctime = n->ctime_ns;
		if (rc == 0)
			n->ctime_ns = op.now;
		pthread_mutex_unlock(&fs->lock);
	}
	if (rc == 0)
		rc = fs_stage_send(fs, &op.b);
	if (locked > 0 && counted) {
		pthread_mutex_lock(&fs->lock);
		if (rc == 0)
			rc = fs_ov_set_locked(fs, dir, newname, strlen(newname), n, in_base);
		if (rc == 0)
			rc = fs_node_name_add_locked(fs, n, dir, newname, strlen(newname));
		if (rc == 0 && new_group)
			rc = fs_link_insert_locked(fs, n);
		if (rc == 0)
			rc = names_attach_locked(fs, n, true);
		if (rc == 0) {
			fs_entry_locked(fs, n, &ep);
			fs_stage_done_locked(&op.b);
		} else if (!fs_node_name_find_locked(n, dir, newname, strlen(newname))) {
			/* staging failed: as it was */
			n->nlink--;
			n->ctime_ns = old_ctime;
			if (new_group)
				n->link_id = 0;
			undo_locked(&op);
		}
		pthread_mutex_unlock(&fs->lock);
	}
	ns_end(&op, dir, locked);
	fs_node_put(fs, n);
	if (rc < 0)
		fs_reply_err(req, rc);
	else if (fuse_reply_entry(req, &ep) < 0)
		fs_node_forget(fs, ep.ino, 1); /* interrupted: the kernel did not get it */
}
