/* A read-only branch mount follows its branch: a thread polls the head
 * through the metadata service and, when it moves, switches the view to
 * the new commit and tells the kernel what changed.
 *
 * A switch. The nodes the mount has are the paths the kernel knows (and
 * their ancestors). Starting at the root, each directory node that
 * changed is diffed against its new tree (tree_diff: O(changes), equal
 * subtrees skipped by id), and the diff goes down only into changed
 * subdirectories that have a node: nothing below a path without a node is
 * known to the kernel. Then, in one hold of fs->lock (no I/O), every
 * planned directory takes its new tree and attributes (same node, same
 * inode number), and every other node named by a changed name is
 * detached: files, symlinks and directories replaced by another type.
 * Lookups after that resolve under the new trees; a lookup that read the
 * old tree while the switch happened sees the directory's tree id moved
 * and looks again (fs_lookup). A detached node keeps its inode and its
 * old content for whoever has it open (objects are immutable), and the
 * next lookup of the name makes a new node with a new inode number: the
 * kernel's cached pages of the old file stay with the old inode, so an
 * open reader keeps reading the bytes it opened and a new open sees the
 * new ones. Lookups below a detached directory are ENOENT and it lists
 * nothing.
 *
 * Telling the kernel, after fs->lock is dropped (a notification may wait
 * for a directory's i_rwsem, which a request in flight holds while it
 * needs fs->lock): for each changed name under a directory the kernel
 * knows, inval_entry (added names too: the kernel caches negative
 * entries), except a subdirectory that keeps its node; then inval_inode
 * of the directory (its attributes and cached listing). Nothing is sent
 * before the kernel's INIT is answered (fs->up).
 *
 * Memory: a switch holds the changed names of the directories it visits
 * (O(changes) there), and frees them when done.
 * Locking: the thread holds fs->bg_lock only to sleep; fs->lock for the
 * planning checks and the switch; no lock across I/O or notifications.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Looks for subdirectories planned while the plan was made this many
 * times before treating the rest as replaced (new nodes). */
#define PLAN_ROUNDS 4

/* A name that differs between a directory's old and new trees. */
struct fchange {
	char *name;              /* NUL-terminated copy */
	uint16_t len;
	uint32_t old_mode;       /* 0: added */
	uint32_t new_mode;       /* 0: removed */
	struct tree_entry ne;    /* the new entry when it is a directory */
	bool inval;              /* the kernel is to drop its entry */
};

/* A directory node that moves to a new tree. */
struct fdir {
	struct fs_node *dir;     /* held */
	uint64_t ino;
	struct oid old;          /* the tree it shows now */
	struct tree_entry ne;    /* what it shows after the switch */
	bool diffed;
	bool inval;              /* the kernel is to drop its attributes and pages */
	struct fchange *ch;
	size_t nch, cap;
};

struct plan {
	struct fdir *v;
	size_t n, cap;
	uint32_t gen;
	size_t nchanges;
};

static void plan_release(struct fs *fs, struct plan *p)
{
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < p->n; i++)
		fs_node_put_locked(fs, p->v[i].dir);
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < p->n; i++) {
		for (size_t j = 0; j < p->v[i].nch; j++)
			free(p->v[i].ch[j].name);
		free(p->v[i].ch);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Plans dir to move to tree entry ne (its name is not kept). */
static int plan_add_locked(struct plan *p, struct fs_node *dir, const struct tree_entry *ne)
{
	struct fdir *f;

	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 16;
		struct fdir *nv = realloc(p->v, ncap * sizeof(*nv));

		if (!nv)
			return t9k_err(-ENOMEM, "out of memory");
		p->v = nv;
		p->cap = ncap;
	}
	f = &p->v[p->n];
	memset(f, 0, sizeof(*f));
	f->dir = dir;
	f->ino = dir->ino;
	f->old = dir->id;
	f->ne = *ne;
	f->ne.name = NULL;
	f->ne.name_len = 0;
	fs_node_hold_locked(dir);
	dir->follow_gen = p->gen;
	dir->follow_idx = (uint32_t)p->n++;
	return 0;
}

static int diff_cb(void *arg, const struct tree_entry *old, const struct tree_entry *new)
{
	struct fdir *f = arg;
	const struct tree_entry *e = new ? new : old;
	struct fchange *c;

	if (f->nch == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		struct fchange *nc = realloc(f->ch, ncap * sizeof(*nc));

		if (!nc)
			return t9k_err(-ENOMEM, "out of memory");
		f->ch = nc;
		f->cap = ncap;
	}
	c = &f->ch[f->nch];
	memset(c, 0, sizeof(*c));
	c->name = malloc(e->name_len + 1u);
	if (!c->name)
		return t9k_err(-ENOMEM, "out of memory");
	memcpy(c->name, e->name, e->name_len);
	c->name[e->name_len] = '\0';
	c->len = e->name_len;
	c->old_mode = old ? old->mode : 0;
	c->new_mode = new ? new->mode : 0;
	if (new && S_ISDIR(new->mode)) {
		c->ne = *new;
		c->ne.name = c->name;
		c->ne.data = NULL; /* directories are never inline */
	}
	f->nch++;
	return 0;
}

static bool dir_to_dir(const struct fchange *c)
{
	return S_ISDIR(c->old_mode) && S_ISDIR(c->new_mode);
}

/* Adds the subdirectories of p->v[i] that changed and have a node (not
 * planned yet) to the plan. *added counts them. */
static int plan_children_locked(struct fs *fs, struct plan *p, size_t i, size_t *added)
{
	for (size_t j = 0; j < p->v[i].nch; j++) {
		struct fchange *c = &p->v[i].ch[j];
		struct fs_node *child;
		int rc;

		if (!dir_to_dir(c))
			continue;
		child = fs_node_child_locked(fs, p->v[i].dir, c->name, c->len);
		if (!child || !S_ISDIR(child->mode) || child->follow_gen == p->gen)
			continue;
		rc = plan_add_locked(p, child, &c->ne); /* may move p->v */
		if (rc < 0)
			return rc;
		(*added)++;
	}
	return 0;
}

/* Diffs every planned directory not diffed yet, and plans the changed
 * subdirectories it finds nodes for, until none is left. */
static int plan_diff(struct fs *fs, struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		size_t added = 0;
		int rc;

		if (p->v[i].diffed)
			continue;
		/* no lock: p->v moves only under this thread's plan_add_locked */
		rc = tree_diff(fs->mo, &p->v[i].old, &p->v[i].ne.id, diff_cb, &p->v[i]);
		if (rc < 0)
			return rc;
		p->v[i].diffed = true;
		p->nchanges += p->v[i].nch;
		pthread_mutex_lock(&fs->lock);
		rc = plan_children_locked(fs, p, i, &added);
		pthread_mutex_unlock(&fs->lock);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The switch itself: no I/O, no allocation. */
static void apply_locked(struct fs *fs, struct plan *p, const struct oid *head, int64_t time_ns)
{
	for (size_t i = 0; i < p->n; i++) {
		struct fdir *f = &p->v[i];
		struct fs_node *d = f->dir;
		bool known = d->nlookup > 0;

		d->id = f->ne.id;
		d->count = f->ne.size;
		d->has_content = true;
		fs_node_set_attrs_locked(fs, d, &f->ne); /* mode, times, owner, count */
		f->inval = known;
		for (size_t j = 0; j < f->nch; j++) {
			struct fchange *c = &f->ch[j];
			struct fs_node *child = fs_node_child_locked(fs, d, c->name, c->len);
			bool keep = child && dir_to_dir(c) && S_ISDIR(child->mode) &&
				    child->follow_gen == p->gen;

			if (child && !keep)
				fs_node_detach_locked(fs, child);
			c->inval = known && !keep;
		}
	}
	fs->commit = *head;
	fs->commit_time_ns = time_ns;
}

/* Tells the kernel; false when the session is gone (unmounted). */
static bool notify(struct fs *fs, struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct fdir *f = &p->v[i];
		int rc;

		for (size_t j = 0; j < f->nch; j++) {
			struct fchange *c = &f->ch[j];

			if (!c->inval)
				continue;
			rc = fuse_lowlevel_notify_inval_entry(fs->se, f->ino, c->name, c->len);
			if (rc == -ENOENT || rc == 0) /* ENOENT: the kernel had no such entry */
				continue;
			if (rc == -ENODEV || rc == -EBADF || rc == -ENOTCONN)
				return false;
			t9k_log(T9K_LOG_WARN, "%s: cannot invalidate the kernel's entry '%s' of inode %llu: %s",
				fs->mountpoint, c->name, (unsigned long long)f->ino, strerror(-rc));
		}
		if (!f->inval)
			continue;
		rc = fuse_lowlevel_notify_inval_inode(fs->se, f->ino, 0, 0);
		if (rc == -ENODEV || rc == -EBADF || rc == -ENOTCONN)
			return false;
		if (rc < 0 && rc != -ENOENT)
			t9k_log(T9K_LOG_WARN, "%s: cannot invalidate the kernel's inode %llu: %s",
				fs->mountpoint, (unsigned long long)f->ino, strerror(-rc));
	}
	return true;
}

/* Moves the view from the commit it shows to head. */
static int follow_switch(struct fs *fs, const struct oid *head, size_t *ndirs, size_t *nchanges)
{
	struct tree_entry root = { 0 };
	struct repo_commit c;
	struct plan p = { 0 };
	size_t added = 1;
	int rc = repo_commit_read(fs->r, head, &c);

	if (rc < 0)
		return rc;
	root.id = c.c.root;
	root.mtime_ns = c.c.time_ns;
	repo_commit_release(&c);
	rc = tree_count(fs->mo, &root.id, &root.size);
	if (rc == 0)
		rc = fs_root_subdirs(fs, &root);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	p.gen = ++fs->follow_gen;
	root.mode = fs->root->mode;
	rc = plan_add_locked(&p, fs->root, &root);
	pthread_mutex_unlock(&fs->lock);
	/* Plan, then check under fs->lock that no changed subdirectory got a
	 * node meanwhile (a lookup under the old tree); switch in that same
	 * hold. After PLAN_ROUNDS, such late nodes are detached instead. */
	for (int round = 0; rc == 0 && added; round++) {
		rc = plan_diff(fs, &p);
		if (rc < 0)
			break;
		pthread_mutex_lock(&fs->lock);
		added = 0;
		for (size_t i = 0; rc == 0 && round + 1 < PLAN_ROUNDS && i < p.n; i++)
			rc = plan_children_locked(fs, &p, i, &added);
		if (rc == 0 && !added)
			apply_locked(fs, &p, head, root.mtime_ns);
		pthread_mutex_unlock(&fs->lock);
	}
	if (rc == 0 && !notify(fs, &p))
		t9k_log(T9K_LOG_INFO, "%s: the kernel's session ended during a switch",
			fs->mountpoint);
	*ndirs = p.n;
	*nchanges = p.nchanges;
	plan_release(fs, &p);
	return rc;
}

/* One poll: 0 with the view at the head, or the failure (not logged). */
static int follow_poll(struct fs *fs, bool *moved)
{
	char a[OID_HEXSZ + 1], b[OID_HEXSZ + 1];
	struct oid head, from;
	size_t ndirs = 0, nchanges = 0;
	bool is_branch = false;
	struct timespec t0, t1;
	int rc = repo_resolve_ex(fs->r, fs->branch, &head, &is_branch);

	*moved = false;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	from = fs->commit;
	pthread_mutex_unlock(&fs->lock);
	if (oid_eq(&head, &from))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = follow_switch(fs, &head, &ndirs, &nchanges);
	if (rc < 0)
		return t9k_err(rc, "cannot move to commit %.12s: %s", oid_to_hex(&head, b),
			       t9k_errmsg(rc));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*moved = true;
	t9k_log(T9K_LOG_INFO, "%s: %s moved from %.12s to %.12s (changed names: %zu, in known "
		"directories: %zu); switched in %.1f ms", fs->mountpoint, fs->branch,
		oid_to_hex(&from, a), oid_to_hex(&head, b), nchanges, ndirs,
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}

void *fs_follow_main(void *arg)
{
	struct fs *fs = arg;
	bool failing = false; /* polls fail: said once, until one works */

	pthread_mutex_lock(&fs->bg_lock);
	while (!fs->bg_stop && !fs->up)
		pthread_cond_wait(&fs->bg_cv, &fs->bg_lock);
	while (!fs->bg_stop) {
		struct timespec ts;
		bool moved;
		int rc;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += fs->o.poll_s;
		pthread_cond_timedwait(&fs->bg_cv, &fs->bg_lock, &ts);
		if (fs->bg_stop)
			break;
		pthread_mutex_unlock(&fs->bg_lock);
		rc = follow_poll(fs, &moved);
		/* one line per outage, not one per poll */
		if (rc < 0 && !failing) {
			char hex[OID_HEXSZ + 1];

			pthread_mutex_lock(&fs->lock);
			oid_to_hex(&fs->commit, hex);
			pthread_mutex_unlock(&fs->lock);
			t9k_log(T9K_LOG_WARN, "%s: cannot follow %s: %s; still showing commit %.12s, "
				"trying every %u s", fs->mountpoint, fs->branch, t9k_errmsg(rc), hex,
				fs->o.poll_s);
		} else if (rc < 0) {
			t9k_log(T9K_LOG_DEBUG, "%s: poll: %s", fs->mountpoint, t9k_errmsg(rc));
		} else if (failing) {
			t9k_log(T9K_LOG_WARN, "%s: following %s again", fs->mountpoint, fs->branch);
		}
		failing = rc < 0;
		pthread_mutex_lock(&fs->bg_lock);
	}
	pthread_mutex_unlock(&fs->bg_lock);
	return NULL;
}
