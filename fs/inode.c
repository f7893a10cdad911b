/* Nodes of a mount: the inode table, the (parent, name) table, lookup
 * counts, overlays and paths.
 *
 * Invariants (see fs-internal.h for the model):
 *   - every live node is in ino_tab; every named node (not the root, not
 *     unlinked) is in name_tab under (parent inode, name), once;
 *   - a node is freed when refs and nlookup are both zero; freeing drops
 *     the hold on its parent, which may free the parent in turn;
 *   - an overlay slot holds a reference on the node it names; a directory
 *     with an overlay is itself named by a slot of its parent (in_ov), up
 *     to the root, so no change below the root can be forgotten.
 *   - a hard-linked node's other names hold their directories; a node
 *     named by several overlay slots is in_ov for its primary name only.
 * Locking: every function named *_locked runs under fs->lock; the others
 * take it themselves and drop it around store I/O (tree lookups, manifest
 * reads), re-checking what they found afterwards.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/tree.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define SPARE_INO_BASE (1ULL << 63)

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t name_hash(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ mix64(parent);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ULL;
	return mix64(h);
}

/* ---- tables ---- */

static int tab_grow(struct fs_node ***tab, size_t *nb, bool by_name)
{
	size_t nnb = *nb ? *nb * 2 : 1024;
	struct fs_node **nt = calloc(nnb, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < *nb; i++) {
		struct fs_node *n = (*tab)[i], *next;

		for (; n; n = next) {
			size_t b;

			if (by_name) {
				next = n->name_next;
				b = name_hash(n->parent->ino, n->name, n->name_len) % nnb;
				n->name_next = nt[b];
			} else {
				next = n->ino_next;
				b = mix64(n->ino) % nnb;
				n->ino_next = nt[b];
			}
			nt[b] = n;
		}
	}
	free(*tab);
	*tab = nt;
	*nb = nnb;
	return 0;
}

static struct fs_node *ino_find(struct fs *fs, uint64_t ino)
{
	struct fs_node *n = fs->ino_tab[mix64(ino) % fs->ino_nb];

	while (n && n->ino != ino)
		n = n->ino_next;
	return n;
}

static void ino_remove(struct fs *fs, struct fs_node *n)
{
	struct fs_node **pp = &fs->ino_tab[mix64(n->ino) % fs->ino_nb];

	while (*pp != n)
		pp = &(*pp)->ino_next;
	*pp = n->ino_next;
	fs->nnodes--;
}

static struct fs_node *name_find(struct fs *fs, const struct fs_node *parent, const char *name,
				 size_t len)
{
	struct fs_node *n = fs->name_tab[name_hash(parent->ino, name, len) % fs->name_nb];

	for (; n; n = n->name_next)
		if (n->parent == parent && n->name_len == len && !memcmp(n->name, name, len))
			return n;
	return NULL;
}

static void name_insert(struct fs *fs, struct fs_node *n)
{
	size_t b;

	if (fs->nnamed >= fs->name_nb && tab_grow(&fs->name_tab, &fs->name_nb, true) < 0)
		t9k_log(T9K_LOG_WARN, "name table: out of memory growing (kept %zu buckets)",
			fs->name_nb);
	b = name_hash(n->parent->ino, n->name, n->name_len) % fs->name_nb;
	n->name_next = fs->name_tab[b];
	fs->name_tab[b] = n;
	fs->nnamed++;
}

static void name_remove(struct fs *fs, struct fs_node *n)
{
	struct fs_node **pp = &fs->name_tab[name_hash(n->parent->ino, n->name, n->name_len) %
					    fs->name_nb];

	while (*pp && *pp != n)
		pp = &(*pp)->name_next;
	if (*pp) {
		*pp = n->name_next;
		fs->nnamed--;
	}
}

/* ---- nodes ---- */

static void ov_free(struct fs_ov *ov)
{
	if (!ov)
		return;
	for (uint32_t i = 0; i < ov->nb; i++) {
		struct fs_ov_slot *s = ov->tab[i], *next;

		for (; s; s = next) {
			next = s->next;
			free(s);
		}
	}
	free(ov->tab);
	free(ov);
}

static void node_destroy(struct fs_node *n)
{
	assert(!n->stream); /* ended by the commit of its last close */
	while (n->names) { /* (their directories' holds are the caller's) */
		struct fs_name *next = n->names->next;

		free(n->names);
		n->names = next;
	}
	if (n->spool_fd >= 0)
		close(n->spool_fd);
	fs_write_state_free(n);
	fs_manifest_put_locked(n->mf);
	if (n->shared) {
		pthread_mutex_destroy(&n->shared->lock);
		free(n->shared);
	}
	ov_free(n->ov);
	pthread_rwlock_destroy(&n->gate);
	free(n->data);
	free(n->name);
	free(n);
}

/* Frees n if nothing holds it, then its parent (and the directories of
 * its other names) likewise. */
static void maybe_free(struct fs *fs, struct fs_node *n)
{
	while (n && n->refs == 0 && n->nlookup == 0 && n != fs->root) {
		struct fs_node *parent = n->parent;
		struct fs_name *names = n->names;

		ino_remove(fs, n);
		fs_link_unhash_locked(fs, n);
		if (parent) {
			name_remove(fs, n);
			parent->refs--;
		}
		/* a slot naming n would hold it: n has no overlay slot here */
		n->names = NULL;
		node_destroy(n);
		while (names) {
			struct fs_name *next = names->next;
			struct fs_node *d = names->dir;

			free(names);
			d->refs--;
			maybe_free(fs, d);
			names = next;
		}
		n = parent;
	}
}

void fs_node_hold_locked(struct fs_node *n)
{
	n->refs++;
}

void fs_node_put_locked(struct fs *fs, struct fs_node *n)
{
	if (!n)
		return;
	n->refs--;
	maybe_free(fs, n);
}

void fs_node_put(struct fs *fs, struct fs_node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&fs->lock);
	fs_node_put_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	n = ino_find(fs, ino);
	if (n)
		n->refs++;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	n = ino_find(fs, ino);
	if (!n) {
		t9k_log(T9K_LOG_WARN, "forget of unknown inode %llu", (unsigned long long)ino);
	} else if (n != fs->root) {
		if (nlookup > n->nlookup) {
			t9k_log(T9K_LOG_WARN, "forget of %llu lookups of inode %llu, which has %llu",
				(unsigned long long)nlookup, (unsigned long long)ino,
				(unsigned long long)n->nlookup);
			nlookup = n->nlookup;
		}
		n->nlookup -= nlookup;
		maybe_free(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

static struct fs_node *node_alloc(void)
{
	struct fs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->spool_fd = -1;
	pthread_rwlock_init(&n->gate, NULL);
	return n;
}

int fs_node_set_content_locked(struct fs *fs, struct fs_node *n, const struct tree_entry *e)
{
	uint8_t *data = NULL;

	if (e->is_inline && e->data_len) {
		data = malloc(e->data_len);
		if (!data)
			return t9k_err(-ENOMEM, "out of memory");
		memcpy(data, e->data, e->data_len);
	}
	free(n->data);
	n->data = data;
	n->data_len = e->is_inline ? e->data_len : 0;
	n->is_inline = e->is_inline;
	n->is_chunk = !e->is_inline && e->is_chunk;
	n->has_content = true;
	if (!e->is_inline)
		n->id = e->id;
	if (S_ISDIR(e->mode))
		n->count = e->size;
	else
		n->stored_size = e->size;
	if (n->mf && (e->is_inline || n->mf->is_chunk != e->is_chunk ||
		      !oid_eq(&n->mf->id, &e->id))) {
		fs_manifest_put_locked(n->mf);
		n->mf = NULL;
	}
	(void)fs;
	return 0;
}

void fs_node_set_attrs_locked(struct fs *fs, struct fs_node *n, const struct tree_entry *e)
{
	n->mode = e->mode;
	n->size = S_ISDIR(e->mode) ? 0 : e->size;
	n->mtime_ns = n->ctime_ns = n->atime_ns = e->mtime_ns;
	fs_node_set_owner_locked(fs, n, e);
	n->dev_major = e->dev_major;
	n->dev_minor = e->dev_minor;
	n->nlink = e->link_id && e->nlink > 1 ? e->nlink : 1;
	n->link_id = n->nlink > 1 ? e->link_id : 0;
	n->subdirs_known = e->has_subdirs;
	n->subdirs = e->subdirs;
	n->subdirs_delta = 0;
}

void fs_node_set_owner_locked(struct fs *fs, struct fs_node *n, const struct tree_entry *e)
{
	n->owned = e->has_owner;
	n->owner_here = false;
	n->uid = e->has_owner ? e->uid : fs->o.uid;
	n->gid = e->has_owner ? e->gid : fs->o.gid;
}

void fs_node_owner_locked(const struct fs *fs, const struct fs_node *n, uint32_t *uid,
			  uint32_t *gid)
{
	*uid = n->owned && (n->owner_here || !fs->o.uid_set) ? n->uid : fs->o.uid;
	*gid = n->owned && (n->owner_here || !fs->o.gid_set) ? n->gid : fs->o.gid;
}

void fs_dir_subdirs_add_locked(struct fs_node *dir, int delta)
{
	dir->subdirs_delta += delta;
}

struct fs_node *fs_node_new_locked(struct fs *fs, struct fs_node *parent, const char *name,
				   size_t len, const struct tree_entry *e)
{
	struct fs_node *n = node_alloc();
	uint64_t ino;

	if (!n || !(n->name = malloc(len + 1))) {
		free(n);
		return NULL;
	}
	memcpy(n->name, name, len);
	n->name[len] = '\0';
	n->name_len = (uint16_t)len;
	n->nlink = 1;
	if (e) {
		fs_node_set_attrs_locked(fs, n, e);
		if (fs_node_set_content_locked(fs, n, e) < 0) {
			node_destroy(n);
			return NULL;
		}
	}
	if (fs->nnodes >= fs->ino_nb && tab_grow(&fs->ino_tab, &fs->ino_nb, false) < 0) {
		node_destroy(n);
		return NULL;
	}
	ino = name_hash(parent->ino, name, len) & ~SPARE_INO_BASE;
	if (ino <= FS_ROOT_INO || ino_find(fs, ino))
		ino = SPARE_INO_BASE | fs->next_spare_ino++;
	n->ino = ino;
	{
		size_t b = mix64(ino) % fs->ino_nb;

		n->ino_next = fs->ino_tab[b];
		fs->ino_tab[b] = n;
		fs->nnodes++;
	}
	n->parent = parent;
	parent->refs++;
	name_insert(fs, n);
	n->refs = 1;
	return n;
}

int fs_nodes_init(struct fs *fs, const struct tree_entry *root)
{
	struct fs_node *n = node_alloc();

	if (!n || tab_grow(&fs->ino_tab, &fs->ino_nb, false) < 0 ||
	    tab_grow(&fs->name_tab, &fs->name_nb, true) < 0 || !(n->name = strdup(""))) {
		free(n);
		return t9k_err(-ENOMEM, "out of memory");
	}
	n->ino = FS_ROOT_INO;
	fs_node_set_attrs_locked(fs, n, root);
	n->mtime_ns = n->ctime_ns = n->atime_ns = fs->commit_time_ns;
	n->refs = 1; /* the mount's */
	n->nlookup = 1;
	if (fs_node_set_content_locked(fs, n, root) < 0) {
		node_destroy(n);
		return t9k_err(-ENOMEM, "out of memory");
	}
	fs->ino_tab[mix64(n->ino) % fs->ino_nb] = n;
	fs->nnodes = 1;
	fs->next_spare_ino = 1;
	fs->root = n;
	return 0;
}

void fs_nodes_release(struct fs *fs)
{
	for (size_t i = 0; i < fs->ino_nb; i++) {
		struct fs_node *n = fs->ino_tab[i], *next;

		for (; n; n = next) {
			next = n->ino_next;
			node_destroy(n);
		}
	}
	free(fs->ino_tab);
	free(fs->name_tab);
	free(fs->link_tab);
	fs->ino_tab = fs->name_tab = fs->link_tab = NULL;
	fs->root = NULL;
}

/* ---- attributes ---- */

static void ts_set(struct timespec *ts, int64_t ns)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;

	if (r < 0) {
		r += 1000000000;
		s--;
	}
	ts->tv_sec = (time_t)s;
	ts->tv_nsec = (long)r;
}

void fs_node_stat_locked(struct fs *fs, const struct fs_node *n, struct stat *st)
{
	uint32_t uid, gid;

	memset(st, 0, sizeof(*st));
	fs_node_owner_locked(fs, n, &uid, &gid);
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_blksize = FS_BLKSIZE;
	if (S_ISDIR(n->mode)) {
		int64_t sub = (int64_t)n->subdirs + n->subdirs_delta;

		/* 2 + subdirectories; 1 ("not counted", as btrfs does) where
		 * the tree keeps no count (version 1) */
		st->st_nlink = n->subdirs_known && sub >= 0 ? (nlink_t)(2 + sub) : 1;
		st->st_size = 4096;
		st->st_blocks = 8;
	} else {
		st->st_nlink = n->nlink;
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	}
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
		st->st_rdev = makedev(n->dev_major, n->dev_minor);
	ts_set(&st->st_mtim, n->mtime_ns);
	ts_set(&st->st_atim, n->atime_ns);
	ts_set(&st->st_ctim, n->ctime_ns);
}

void fs_entry_locked(struct fs *fs, struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = fs->o.timeout;
	e->entry_timeout = fs->o.timeout;
	fs_node_stat_locked(fs, n, &e->attr);
	n->nlookup++;
}

int fs_child_path_locked(const struct fs_node *dir, const char *name, size_t len, char *path,
			 size_t size)
{
	size_t dlen;
	int rc = fs_node_path_locked(dir, path, size);

	if (rc < 0)
		return rc;
	dlen = strlen(path);
	if (dlen + (dlen > 0) + len >= size)
		return -ENAMETOOLONG;
	if (dlen)
		path[dlen++] = '/';
	memcpy(path + dlen, name, len);
	path[dlen + len] = '\0';
	return 0;
}

int fs_node_path_locked(const struct fs_node *n, char *buf, size_t size)
{
	const struct fs_node *p = n;
	size_t pos = size - 1;

	if (size == 0 || n->unlinked)
		return -ENOENT;
	buf[pos] = '\0';
	for (; p->parent; p = p->parent) {
		size_t need = p->name_len + (pos < size - 1);

		if (need > pos)
			return t9k_err(-ENAMETOOLONG, "path longer than %zu bytes", size - 1);
		if (pos < size - 1)
			buf[--pos] = '/';
		pos -= p->name_len;
		memcpy(buf + pos, p->name, p->name_len);
	}
	if (p->ino != FS_ROOT_INO)
		return -ENOENT; /* an ancestor was removed */
	memmove(buf, buf + pos, size - pos);
	return 0;
}

bool fs_dir_empty_locked(const struct fs_node *dir)
{
	uint64_t base = dir->count;

	if (!dir->ov)
		return base == 0;
	return base - dir->ov->nbase + dir->ov->nlive == 0;
}

bool fs_node_is_ancestor_locked(const struct fs_node *a, const struct fs_node *b)
{
	for (; b; b = b->parent)
		if (a == b)
			return true;
	return false;
}

/* ---- overlays ---- */

struct fs_ov_slot *fs_ov_find_locked(const struct fs_node *dir, const char *name, size_t len)
{
	struct fs_ov_slot *s;

	if (!dir->ov || !dir->ov->nb)
		return NULL;
	s = dir->ov->tab[name_hash(0, name, len) % dir->ov->nb];
	for (; s; s = s->next)
		if (s->len == len && !memcmp(s->name, name, len))
			return s;
	return NULL;
}

static int ov_grow(struct fs_ov *ov)
{
	uint32_t nnb = ov->nb ? ov->nb * 2 : 16;
	struct fs_ov_slot **nt = calloc(nnb, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i < ov->nb; i++) {
		struct fs_ov_slot *s = ov->tab[i], *next;

		for (; s; s = next) {
			size_t b = name_hash(0, s->name, s->len) % nnb;

			next = s->next;
			s->next = nt[b];
			nt[b] = s;
		}
	}
	free(ov->tab);
	ov->tab = nt;
	ov->nb = nnb;
	return 0;
}

static void slot_set_node(struct fs *fs, struct fs_node *dir, struct fs_ov_slot *s,
			  struct fs_node *child)
{
	if (s->node == child)
		return;
	if (s->node) {
		if (fs_node_is_primary_locked(s->node, dir, s->name, s->len))
			s->node->in_ov = false;
		dir->ov->nlive--;
		fs_node_put_locked(fs, s->node);
	}
	s->node = child;
	if (child) {
		if (fs_node_is_primary_locked(child, dir, s->name, s->len))
			child->in_ov = true;
		child->refs++;
		dir->ov->nlive++;
	}
}

static void slot_remove(struct fs *fs, struct fs_node *dir, struct fs_ov_slot *s)
{
	struct fs_ov_slot **pp = &dir->ov->tab[name_hash(0, s->name, s->len) % dir->ov->nb];

	slot_set_node(fs, dir, s, NULL);
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	dir->ov->n--;
	if (s->in_base)
		dir->ov->nbase--;
	free(s);
}

int fs_ov_set_locked(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
		     struct fs_node *child, bool in_base)
{
	struct fs_ov_slot *s;
	int rc;

	if (!dir->ov && !(dir->ov = calloc(1, sizeof(*dir->ov))))
		return t9k_err(-ENOMEM, "out of memory");
	s = fs_ov_find_locked(dir, name, len);
	if (!s && !child && !in_base)
		return 0; /* nothing to hide */
	if (!s) {
		size_t b;

		if (dir->ov->n >= dir->ov->nb && ov_grow(dir->ov) < 0)
			return t9k_err(-ENOMEM, "out of memory");
		s = calloc(1, sizeof(*s) + len + 1);
		if (!s)
			return t9k_err(-ENOMEM, "out of memory");
		memcpy(s->name, name, len);
		s->len = (uint16_t)len;
		s->in_base = in_base;
		b = name_hash(0, name, len) % dir->ov->nb;
		s->next = dir->ov->tab[b];
		dir->ov->tab[b] = s;
		dir->ov->n++;
		if (in_base)
			dir->ov->nbase++;
	}
	if (!child && !s->in_base) {
		slot_remove(fs, dir, s);
	} else {
		slot_set_node(fs, dir, s, child);
	}
	rc = dir->parent && !dir->in_ov ? fs_ov_attach_locked(fs, dir, true) : 0;
	return rc;
}

int fs_ov_attach_locked(struct fs *fs, struct fs_node *n, bool in_base)
{
	struct fs_ov_slot *s;

	if (!n->parent || n->in_ov)
		return 0;
	s = fs_ov_find_locked(n->parent, n->name, n->name_len);
	if (s)
		in_base = s->in_base;
	/* A node not in the overlay came from its parent's base tree (new
	 * nodes are put into the overlay when created): in_base holds. */
	return fs_ov_set_locked(fs, n->parent, n->name, n->name_len, n, in_base);
}

/* Takes n out of its parent's names for good; drops the reference the
 * caller took to keep n alive meanwhile. */
static void leave_parent_locked(struct fs *fs, struct fs_node *n)
{
	struct fs_node *parent = n->parent;

	name_remove(fs, n);
	n->parent = NULL;
	n->unlinked = true;
	parent->refs--;
	maybe_free(fs, parent);
	fs_node_put_locked(fs, n);
}

void fs_node_unlink_locked(struct fs *fs, struct fs_node *n, bool in_base)
{
	if (!n->parent)
		return;
	n->refs++; /* keep n while it leaves its slot and its parent */
	if (fs_ov_set_locked(fs, n->parent, n->name, n->name_len, NULL, in_base) < 0)
		t9k_log(T9K_LOG_ERROR, "unlink '%s': out of memory for the whiteout", n->name);
	leave_parent_locked(fs, n);
}

int fs_node_rename_locked(struct fs *fs, struct fs_node *n, struct fs_node *parent,
			  const char *name, size_t len)
{
	struct fs_node *old = n->parent;
	char *copy = malloc(len + 1);

	if (!copy)
		return t9k_err(-ENOMEM, "out of memory");
	memcpy(copy, name, len);
	copy[len] = '\0';
	name_remove(fs, n);
	free(n->name);
	n->name = copy;
	n->name_len = (uint16_t)len;
	n->parent = parent;
	parent->refs++;
	name_insert(fs, n);
	old->refs--;
	maybe_free(fs, old);
	return 0;
}

int fs_node_move_locked(struct fs *fs, struct fs_node *n, struct fs_node *parent,
			const char *name, size_t len, bool in_base)
{
	bool old_in_base = false;
	struct fs_ov_slot *s;
	int rc, renamed;

	n->refs++;
	s = fs_ov_find_locked(n->parent, n->name, n->name_len);
	old_in_base = s ? s->in_base : !n->in_ov;
	rc = fs_ov_set_locked(fs, n->parent, n->name, n->name_len, NULL, old_in_base);
	renamed = fs_node_rename_locked(fs, n, parent, name, len);
	if (rc == 0)
		rc = renamed;
	if (rc == 0)
		rc = fs_ov_set_locked(fs, parent, name, len, n, in_base);
	fs_node_put_locked(fs, n);
	return rc;
}

/* ---- following a branch ---- */

struct fs_node *fs_node_child_locked(struct fs *fs, struct fs_node *dir, const char *name,
				     size_t len)
{
	return name_find(fs, dir, name, len);
}

void fs_node_detach_locked(struct fs *fs, struct fs_node *n)
{
	assert(!n->ov && !n->in_ov); /* only mounts without an overlay follow */
	if (!n->parent)
		return;
	fs_link_unhash_locked(fs, n); /* its group's names find a new node */
	n->refs++; /* keep n while it leaves its parent */
	leave_parent_locked(fs, n);
}

bool fs_node_stale_locked(const struct fs *fs, const struct fs_node *n)
{
	for (; n->parent; n = n->parent)
		if (n->unlinked)
			return true;
	return n != fs->root;
}

/* ---- lookups ---- */

int fs_base_has(struct fs *fs, struct fs_node *dir, const char *name, size_t len, bool *has)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct oid tree;
	bool has_tree;
	int rc;

	pthread_mutex_lock(&fs->lock);
	tree = dir->id;
	has_tree = dir->has_content && S_ISDIR(dir->mode);
	pthread_mutex_unlock(&fs->lock);
	*has = false;
	if (!has_tree)
		return 0;
	rc = tree_lookup(fs->mo, &tree, name, len, &e, &hold);
	if (rc == T9K_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	meta_node_put(fs->mo, hold);
	*has = true;
	return 0;
}

/* The view's answer without I/O: 1 and a held node, 0 for "look in the
 * base tree", -ENOENT for a whiteout. */
static int lookup_cached_locked(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
				struct fs_node **out)
{
	struct fs_ov_slot *s = fs_ov_find_locked(dir, name, len);
	struct fs_node *n;

	if (s) {
		if (!s->node)
			return -ENOENT;
		*out = s->node;
		s->node->refs++;
		return 1;
	}
	n = name_find(fs, dir, name, len);
	if (n) {
		n->refs++;
		*out = n;
		return 1;
	}
	return 0;
}

int fs_lookup(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
	      struct fs_node **out)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct oid tree;
	int rc;

	*out = NULL;
	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
again:
	pthread_mutex_lock(&fs->lock);
	if (!S_ISDIR(dir->mode)) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOTDIR;
	}
	/* a directory a followed branch no longer has: empty, like an
	 * rmdir'ed directory someone still has open */
	if (fs->follow && fs_node_stale_locked(fs, dir)) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOENT;
	}
	rc = lookup_cached_locked(fs, dir, name, len, out);
	tree = dir->id;
	if (rc == 0 && !dir->has_content)
		rc = -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (rc)
		return rc < 0 ? rc : 0;
	rc = tree_lookup(fs->mo, &tree, name, len, &e, &hold);
	if (rc == T9K_ENOTFOUND)
		return -ENOENT;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	if (!oid_eq(&dir->id, &tree)) {
		/* dir moved to another tree while we read (a followed branch
		 * switched): a node made from the old one would outlive the
		 * switch, so look again */
		pthread_mutex_unlock(&fs->lock);
		meta_node_put(fs->mo, hold);
		hold = NULL;
		goto again;
	}
	rc = lookup_cached_locked(fs, dir, name, len, out); /* raced with another lookup? */
	if (rc == 0) {
		*out = dir->unlinked ? NULL : fs_node_for_entry_locked(fs, dir, name, len, &e);
		rc = *out ? 0 : dir->unlinked ? -ENOENT : t9k_err(-ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&fs->lock);
	meta_node_put(fs->mo, hold);
	return rc < 0 ? rc : 0;
}

int fs_lookup_entry(struct fs *fs, struct fs_node *dir, const struct oid *tree,
		    const struct tree_entry *e, struct fs_node **out)
{
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (fs->follow && (!oid_eq(&dir->id, tree) || fs_node_stale_locked(fs, dir))) {
		/* the listing is of a commit the mount has left: answer with
		 * the name's node in the current one, if any */
		pthread_mutex_unlock(&fs->lock);
		return fs_lookup(fs, dir, e->name, e->name_len, out);
	}
	rc = lookup_cached_locked(fs, dir, e->name, e->name_len, out);
	if (rc == 0) {
		*out = dir->unlinked ? NULL :
			fs_node_for_entry_locked(fs, dir, e->name, e->name_len, e);
		rc = *out ? 0 : dir->unlinked ? -ENOENT : t9k_err(-ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&fs->lock);
	return rc < 0 ? rc : 0;
}

/* ---- manifests ---- */

void fs_manifest_put_locked(struct fs_manifest *m)
{
	if (m && --m->refs == 0) {
		free(m->chunks);
		free(m->ends);
		free(m);
	}
}

void fs_manifest_put(struct fs *fs, struct fs_manifest *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&fs->lock);
	fs_manifest_put_locked(m);
	pthread_mutex_unlock(&fs->lock);
}

/* Loads the manifest of a file entry with id (payload 2 when is_chunk)
 * and size, through meta_manifest_get. */
static int manifest_load(struct fs *fs, const struct oid *id, bool is_chunk, uint64_t size,
			 struct fs_manifest **out)
{
	struct fs_manifest *m = calloc(1, sizeof(*m));
	struct tree_entry e = { .mode = S_IFREG, .size = size, .is_chunk = is_chunk, .id = *id };
	struct manifest man = { 0 };
	uint64_t pos = 0;
	int rc;

	if (!m)
		return t9k_err(-ENOMEM, "out of memory");
	rc = meta_manifest_get(fs->mo, &e, &man);
	if (rc == T9K_ENOTFOUND || rc == -ENOENT)
		rc = t9k_err(-EIO, "%s", t9k_errmsg(rc));
	if (rc == 0 && !(m->ends = malloc((man.nchunks + 1) * sizeof(*m->ends))))
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc < 0) {
		manifest_release(&man);
		free(m);
		return rc;
	}
	for (uint32_t i = 0; i < man.nchunks; i++) {
		pos += man.chunks[i].len;
		m->ends[i] = pos;
	}
	m->refs = 1;
	m->id = *id;
	m->is_chunk = is_chunk;
	m->size = man.size;
	m->n = man.nchunks;
	m->chunks = man.chunks; /* taken over */
	*out = m;
	return 0;
}

int fs_manifest_get(struct fs *fs, struct fs_node *n, struct fs_manifest **out)
{
	struct fs_manifest *m = NULL;
	struct oid id;
	bool is_chunk;
	uint64_t size;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&fs->lock);
	if (n->is_inline || !n->has_content) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	if (n->mf) {
		n->mf->refs++;
		*out = n->mf;
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	id = n->id;
	is_chunk = n->is_chunk;
	size = n->stored_size;
	if (!S_ISREG(n->mode)) {
		pthread_mutex_unlock(&fs->lock);
		return t9k_err(-EIO, "no stored content to read");
	}
	pthread_mutex_unlock(&fs->lock);
	rc = manifest_load(fs, &id, is_chunk, size, &m);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	if (!n->mf && !n->is_inline && n->is_chunk == is_chunk && oid_eq(&n->id, &id)) {
		n->mf = m;
		m->refs++;
	}
	*out = m;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}
