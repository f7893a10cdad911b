/* Staging of a branch mount: building batches of staged paths from the
 * overlay, sending them, dropping stale staged paths under a directory,
 * and loading the branch's staging into the overlay at mount.
 *
 * The staged entry of a node at its path:
 *   file, symlink, special file
 *                  the whole entry (mode, mtime, size, content, owner,
 *                  device, link group: a linked node's at each name);
 *   directory      a base directory (the head's directory at that path):
 *                  its attributes only ("dir_attrs": mode, mtime and
 *                  owner); a replaced one
 *                  (made by mkdir, moved by rename, or staged whole
 *                  before): the whole entry with its tree id, which the
 *                  commit then edits with the staged paths below it;
 *   whiteout       a removal.
 * The service's commit applies a staged path below a removed directory by
 * creating the directory again, so removing or moving a directory also
 * drops the staged paths under its old path (fs_stage_drop_below), after
 * the removal itself is staged: a crash in between leaves a stray
 * directory, never a lost change.
 *
 * Locking: batches are built under fs->lock (the caller's), sent without
 * it, under fs->ns_lock (the caller's) so the staging order is the view's.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_PAGE 10000

void fs_stage_release(struct fs *fs, struct fs_stage *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->paths[i]);
		free(b->inl[i]);
	}
	free(b->items);
	free(b->ents);
	free(b->paths);
	free(b->inl);
	for (int i = 0; i < b->nattr; i++)
		fs_node_put(fs, b->attr_dirs[i]);
	memset(b, 0, sizeof(*b));
}

int fs_stage_add(struct fs_stage *b, const char *path, const struct tree_entry *e, bool dir_attrs)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct repo_stage_item *items = realloc(b->items, cap * sizeof(*items));
		struct tree_entry *ents;
		char **paths;
		uint8_t **inl;

		if (items)
			b->items = items;
		ents = items ? realloc(b->ents, cap * sizeof(*ents)) : NULL;
		if (ents)
			b->ents = ents;
		paths = ents ? realloc(b->paths, cap * sizeof(*paths)) : NULL;
		if (paths)
			b->paths = paths;
		inl = paths ? realloc(b->inl, cap * sizeof(*inl)) : NULL;
		if (!inl)
			return t9k_err(-ENOMEM, "out of memory");
		b->inl = inl;
		b->cap = cap;
	}
	b->paths[b->n] = strdup(path);
	b->inl[b->n] = NULL;
	if (!b->paths[b->n])
		return t9k_err(-ENOMEM, "out of memory");
	memset(&b->items[b->n], 0, sizeof(b->items[b->n]));
	b->items[b->n].dir_attrs = dir_attrs;
	if (e) {
		b->ents[b->n] = *e;
		b->ents[b->n].name = NULL;
		b->ents[b->n].name_len = 0;
		if (e->is_inline && e->data_len) {
			b->inl[b->n] = malloc(e->data_len);
			if (!b->inl[b->n]) {
				free(b->paths[b->n]);
				return t9k_err(-ENOMEM, "out of memory");
			}
			memcpy(b->inl[b->n], e->data, e->data_len);
			b->ents[b->n].data = b->inl[b->n];
		}
	}
	b->items[b->n].entry = e ? &b->ents[b->n] : NULL; /* fixed up at send */
	b->n++;
	return 0;
}

void fs_node_entry_meta_locked(const struct fs_node *n, struct tree_entry *e)
{
	e->has_owner = n->owned;
	e->uid = n->owned ? n->uid : 0;
	e->gid = n->owned ? n->gid : 0;
	if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
		e->dev_major = n->dev_major;
		e->dev_minor = n->dev_minor;
	}
	if (!S_ISDIR(n->mode) && n->link_id && n->nlink > 1) {
		e->link_id = n->link_id;
		e->nlink = n->nlink;
	}
}

int fs_node_entry_locked(const struct fs_node *n, struct tree_entry *e, bool *dir_attrs)
{
	memset(e, 0, sizeof(*e));
	*dir_attrs = false;
	e->mode = n->mode;
	e->mtime_ns = n->mtime_ns;
	fs_node_entry_meta_locked(n, e);
	if (S_ISDIR(n->mode)) {
		if (!n->replaced) {
			*dir_attrs = true;
			return 1;
		}
		e->id = n->id;
		e->size = n->count;
		/* the count of that tree: the commit adds what is staged below */
		e->has_subdirs = n->subdirs_known && n->subdirs <= n->count;
		e->subdirs = e->has_subdirs ? n->subdirs : 0;
		return 1;
	}
	if (S_ISFIFO(n->mode) || S_ISSOCK(n->mode) || S_ISCHR(n->mode) || S_ISBLK(n->mode))
		return 1; /* no data */
	if (!n->has_content)
		return 0;
	e->size = n->stored_size;
	e->is_inline = n->is_inline;
	if (n->is_inline) {
		e->data = n->data;
		e->data_len = n->data_len;
	} else {
		e->id = n->id;
		e->is_chunk = n->is_chunk;
	}
	return 1;
}

static int subtree(struct fs_stage *b, const struct fs_node *n, char *path, size_t len)
{
	struct tree_entry e;
	bool attrs;
	int rc = fs_node_entry_locked(n, &e, &attrs);

	if (rc == 1)
		rc = fs_stage_add(b, path, &e, attrs);
	if (rc < 0 || !S_ISDIR(n->mode) || !n->ov)
		return rc < 0 ? rc : 0;
	for (uint32_t i = 0; i < n->ov->nb && rc >= 0; i++) {
		for (struct fs_ov_slot *s = n->ov->tab[i]; s && rc >= 0; s = s->next) {
			if (len + 1 + s->len > REPO_PATH_MAX)
				return t9k_err(-ENAMETOOLONG, "path longer than %d bytes", REPO_PATH_MAX);
			path[len] = '/';
			memcpy(path + len + 1, s->name, s->len);
			path[len + 1 + s->len] = '\0';
			if (!s->node)
				rc = fs_stage_add(b, path, NULL, false);
			else
				rc = subtree(b, s->node, path, len + 1 + s->len);
			path[len] = '\0';
		}
	}
	return rc < 0 ? rc : 0;
}

int fs_stage_subtree_locked(struct fs_stage *b, const struct fs_node *n, const char *path)
{
	char *buf = malloc(REPO_PATH_MAX + 1);
	size_t len = strlen(path);
	int rc;

	if (!buf)
		return t9k_err(-ENOMEM, "out of memory");
	if (len > REPO_PATH_MAX) {
		free(buf);
		return t9k_err(-ENAMETOOLONG, "path longer than %d bytes", REPO_PATH_MAX);
	}
	memcpy(buf, path, len + 1);
	rc = subtree(b, n, buf, len);
	free(buf);
	return rc;
}

int fs_stage_dir_attrs_locked(struct fs_stage *b, struct fs_node *d)
{
	char path[REPO_PATH_MAX + 1];
	struct tree_entry e;
	bool attrs;
	int rc;

	if (!d || !d->parent || !d->attrs_dirty || d->unlinked)
		return 0; /* the root's attributes are not part of a commit */
	for (int i = 0; i < b->nattr; i++)
		if (b->attr_dirs[i] == d)
			return 0;
	if (b->nattr == (int)(sizeof(b->attr_dirs) / sizeof(b->attr_dirs[0])))
		return 0; /* staged with a later change */
	rc = fs_node_path_locked(d, path, sizeof(path));
	if (rc == 0 && fs_node_entry_locked(d, &e, &attrs) == 1)
		rc = fs_stage_add(b, path, &e, attrs);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	fs_node_hold_locked(d);
	b->attr_dirs[b->nattr++] = d;
	return 0;
}

void fs_stage_done_locked(struct fs_stage *b)
{
	for (int i = 0; i < b->nattr; i++)
		b->attr_dirs[i]->attrs_dirty = false;
}

int fs_stage_send(struct fs *fs, struct fs_stage *b)
{
	int rc;

	if (b->n == 0)
		return 0;
	for (size_t i = 0; i < b->n; i++) {
		b->items[i].path = b->paths[i];
		if (b->items[i].entry)
			b->items[i].entry = &b->ents[i];
	}
	rc = repo_stage_batch(fs->r, fs->branch, b->items, b->n);
	if (rc < 0)
		rc = t9k_err_wrap(rc, "staging '%s'%s on branch '%s'", b->paths[0],
				  b->n > 1 ? " and more" : "", fs->branch);
	return rc;
}

static int branch_url(struct fs *fs, const char *suffix, struct buf *out)
{
	char r[256], br[1024];
	int rc = meta_client_escape(repo_info(fs->r)->name, r, sizeof(r));

	if (rc == 0)
		rc = meta_client_escape(fs->branch, br, sizeof(br));
	if (rc == 0 && buf_addf(out, "/repos/%s/branches/%s/staging%s", r, br, suffix) < 0)
		rc = t9k_err(-ENOMEM, "out of memory");
	return rc;
}

static int add_query(struct buf *url, const char *key, const char *value)
{
	size_t size = strlen(value) * 3 + 1;
	char *esc = malloc(size);
	int rc = esc ? meta_client_escape(value, esc, size) : t9k_err(-ENOMEM, "out of memory");

	if (rc == 0 && buf_addf(url, "%c%s=%s", strchr((char *)url->data, '?') ? '&' : '?', key,
				esc) < 0)
		rc = t9k_err(-ENOMEM, "out of memory");
	free(esc);
	return rc;
}

int fs_stage_drop_below(struct fs *fs, const char *path)
{
	struct buf url = BUF_INIT, prefix = BUF_INIT;
	int rc = branch_url(fs, "", &url);

	if (rc == 0 && buf_addf(&prefix, "%s/", path) < 0)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0)
		rc = add_query(&url, "prefix", (const char *)prefix.data);
	if (rc == 0)
		rc = meta_client_call(fs->mc, "DELETE", (const char *)url.data, NULL, NULL);
	if (rc < 0)
		rc = t9k_err_wrap(rc, "dropping staged paths under '%s'", path);
	buf_release(&url);
	buf_release(&prefix);
	return rc;
}

/* ---- loading the staging at mount ---- */

struct fs_node *fs_dir_new_locked(struct fs *fs, struct fs_node *dir, const char *name,
				  size_t len, uint32_t mode, int64_t mtime_ns, bool in_base)
{
	struct tree_entry e = { .mode = S_IFDIR | (mode & 07777), .mtime_ns = mtime_ns,
				.id = fs->empty_tree, .has_subdirs = true };
	struct fs_node *n = fs_node_new_locked(fs, dir, name, len, &e);

	if (!n)
		return NULL;
	n->replaced = true;
	if (fs_ov_set_locked(fs, dir, name, len, n, in_base) < 0) {
		fs_node_unlink_locked(fs, n, in_base);
		fs_node_put_locked(fs, n);
		return NULL;
	}
	fs_dir_subdirs_add_locked(dir, 1);
	return n;
}

/* Sets name in dir to entry e (NULL: removed; dir_attrs: a directory's
 * mode and mtime, the directory created empty when absent), as the
 * service's commit would. */
static int replay_set(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
		      const struct tree_entry *e, bool dir_attrs)
{
	struct fs_node *old = NULL, *n = NULL;
	bool in_base;
	int rc = fs_base_has(fs, dir, name, len, &in_base);

	if (rc == 0) {
		rc = fs_lookup(fs, dir, name, len, &old);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->lock);
	if (dir_attrs && old && S_ISDIR(old->mode)) {
		old->mode = S_IFDIR | (e->mode & 07777);
		old->mtime_ns = old->ctime_ns = old->atime_ns = e->mtime_ns;
		fs_node_set_owner_locked(fs, old, e);
		rc = fs_ov_attach_locked(fs, old, in_base);
		goto out;
	}
	if (old && e && !dir_attrs && old->link_id && e->link_id == old->link_id &&
	    (old->mode & S_IFMT) == (e->mode & S_IFMT)) {
		/* a name of a link group staged anew: the group's node takes
		 * what was staged (every name carries it) */
		fs_node_set_attrs_locked(fs, old, e);
		rc = fs_node_set_content_locked(fs, old, e);
		if (rc == 0)
			rc = fs_ov_set_locked(fs, dir, name, len, old, in_base);
		goto out;
	}
	if (old) {
		/* the staged entries of a group carry its count: a removal
		 * replayed does not count again */
		uint32_t keep = old->nlink;
		uint64_t group = old->link_id;

		if (S_ISDIR(old->mode))
			fs_dir_subdirs_add_locked(dir, -1);
		fs_name_unlink_locked(fs, old, dir, name, len, in_base);
		if (!old->unlinked && group && keep > 1) {
			old->nlink = keep;
			if (!old->link_id) {
				old->link_id = group;
				if (fs_link_insert_locked(fs, old) < 0)
					old->link_id = 0;
			}
		}
	}
	if (!e) {
		rc = fs_ov_set_locked(fs, dir, name, len, NULL, in_base);
	} else if (dir_attrs) {
		n = fs_dir_new_locked(fs, dir, name, len, e->mode, e->mtime_ns, in_base);
		rc = n ? 0 : t9k_err(-ENOMEM, "out of memory");
		if (n)
			fs_node_set_owner_locked(fs, n, e);
	} else {
		n = fs_node_for_entry_locked(fs, dir, name, len, e);
		rc = n ? 0 : t9k_err(-ENOMEM, "out of memory");
		if (rc == 0) {
			if (S_ISDIR(e->mode)) {
				n->replaced = true;
				fs_dir_subdirs_add_locked(dir, 1);
			}
			rc = fs_ov_set_locked(fs, dir, name, len, n, in_base);
		}
	}
out:
	fs_node_put_locked(fs, n);
	fs_node_put_locked(fs, old);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

static int replay_one(struct fs *fs, const char *path, const struct tree_entry *e, bool dir_attrs)
{
	struct fs_node *dir, *child = NULL;
	const char *p = path, *slash;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	dir = fs->root;
	fs_node_hold_locked(dir);
	pthread_mutex_unlock(&fs->lock);
	while (rc == 0 && (slash = strchr(p, '/'))) {
		size_t len = (size_t)(slash - p);

		rc = fs_lookup(fs, dir, p, len, &child);
		if (rc == 0 && !S_ISDIR(child->mode)) {
			t9k_log(T9K_LOG_WARN, "staged path '%s' is below a file: replacing it", path);
			fs_node_put(fs, child);
			child = NULL;
			rc = -ENOENT;
		}
		if (rc == -ENOENT) {
			/* the commit creates missing parents as new directories */
			struct tree_entry d = { .mode = S_IFDIR | 0755, .mtime_ns = fs_now_ns() };

			rc = replay_set(fs, dir, p, len, &d, true);
			if (rc == 0)
				rc = fs_lookup(fs, dir, p, len, &child);
		}
		fs_node_put(fs, dir);
		dir = child;
		child = NULL;
		p = slash + 1;
	}
	if (rc == 0)
		rc = replay_set(fs, dir, p, strlen(p), e, dir_attrs);
	fs_node_put(fs, dir);
	if (rc < 0)
		rc = t9k_err_wrap(rc, "staged path '%s'", path);
	return rc;
}

static int replay_item(struct fs *fs, json_t *it, const char **path)
{
	json_t *en = json_object_get(it, "entry"), *at = json_object_get(it, "dir_attrs");
	struct buf hold = BUF_INIT;
	struct tree_entry e;
	int rc = 0;

	*path = json_string_value(json_object_get(it, "path"));
	if (!*path || !**path)
		return t9k_err(-EPROTO, "staging list: an item without a path");
	if (en || at)
		rc = meta_json_to_entry_ex(en ? en : at, &e, &hold,
					   META_JSON_NAME_OPTIONAL | (at ? META_JSON_ATTRS_ONLY : 0));
	if (rc == 0)
		rc = replay_one(fs, *path, en || at ? &e : NULL, at != NULL);
	buf_release(&hold);
	return rc;
}

int fs_stage_replay(struct fs *fs)
{
	char *after = NULL;
	size_t total = 0;
	bool more = true;
	int rc = 0;

	while (rc == 0 && more) {
		struct buf url = BUF_INIT;
		json_t *reply = NULL, *list;
		char lim[32];

		snprintf(lim, sizeof(lim), "?limit=%d", REPLAY_PAGE);
		rc = branch_url(fs, lim, &url);
		if (rc == 0 && after)
			rc = add_query(&url, "after", after);
		if (rc == 0)
			rc = meta_client_call(fs->mc, "GET", (const char *)url.data, NULL, &reply);
		buf_release(&url);
		if (rc < 0)
			break;
		list = json_object_get(reply, "entries");
		more = json_is_true(json_object_get(reply, "more"));
		if (!json_is_array(list))
			rc = t9k_err(-EPROTO, "staging list: no \"entries\" array");
		for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
			const char *path;

			rc = replay_item(fs, json_array_get(list, i), &path);
			if (rc == 0) {
				free(after);
				after = strdup(path);
				if (!after)
					rc = t9k_err(-ENOMEM, "out of memory");
				total++;
			}
		}
		if (rc == 0 && more && json_array_size(list) == 0)
			rc = t9k_err(-EPROTO, "staging list: an empty page that says there is more");
		json_decref(reply);
	}
	free(after);
	if (rc == 0 && total)
		t9k_log(T9K_LOG_INFO, "branch '%s': %zu staged paths loaded", fs->branch, total);
	return rc;
}
