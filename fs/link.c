/* Hard links of a mount: the link table, the names of a linked node, and
 * finding every name of a link group in a branch mount's view.
 *
 * A tree stores a hard-linked file as one entry per name, each with the
 * same content and the same link group id (meta/object.h). In a mount a
 * group is one node: its primary name is the one in the name table, each
 * other name is an overlay slot naming the node or, unchanged, a base
 * entry carrying the group id. The link table maps group ids to nodes,
 * so that a lookup or listing of any name of a group answers with the
 * group's node (one inode, st_nlink the group's count). A following
 * mount merges them too: a commit that changes a group changes the entry
 * of every name it keeps (the count, or all their content), so a switch
 * detaches the group's node by its primary name, which also takes it out
 * of the table, and the next lookup of any name makes a new one.
 *
 * A branch mount stages a linked node at every one of its names (its
 * content, owner, mode and count are the group's), so it must know them
 * all. A group made in this mount (link) knows them from the start; one
 * read from the tree learns a name when it is looked up, and the first
 * change of a group whose names are not all known walks the whole view
 * once (fs_link_complete): every link group then sits in the table with
 * all its names, held there for the rest of the mount (memory: one node
 * per linked name of the branch, as the overlay keeps one per staged
 * path). A count that the walk finds wrong (a name removed outside a
 * mount) is corrected to the names it found.
 * Locking: the table and the names are [L] (fs->lock); the walk runs
 * under fs->ns_lock and takes fs->lock around each look at a node.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/tree.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* ---- the link table ---- */

static size_t link_bucket(const struct fs *fs, uint64_t id)
{
	id ^= id >> 31;
	id *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(id ^ (id >> 29)) % fs->link_nb;
}

static int link_grow(struct fs *fs)
{
	size_t nb = fs->link_nb ? fs->link_nb * 2 : 256, old = fs->link_nb;
	struct fs_node **tab = calloc(nb, sizeof(*tab)), **prev = fs->link_tab;

	if (!tab)
		return t9k_err(-ENOMEM, "out of memory");
	fs->link_tab = tab;
	fs->link_nb = nb;
	for (size_t i = 0; i < old; i++) {
		struct fs_node *n = prev[i], *next;

		for (; n; n = next) {
			size_t b = link_bucket(fs, n->link_id);

			next = n->link_next;
			n->link_next = tab[b];
			tab[b] = n;
		}
	}
	free(prev);
	return 0;
}

struct fs_node *fs_link_find_locked(struct fs *fs, uint64_t id)
{
	struct fs_node *n;

	if (!fs->link_nb || !id)
		return NULL;
	for (n = fs->link_tab[link_bucket(fs, id)]; n; n = n->link_next)
		if (n->link_id == id)
			return n;
	return NULL;
}

int fs_link_insert_locked(struct fs *fs, struct fs_node *n)
{
	size_t b;

	if (fs_link_find_locked(fs, n->link_id) == n)
		return 0;
	if (fs->nlinked >= fs->link_nb && link_grow(fs) < 0 && !fs->link_nb)
		return t9k_err(-ENOMEM, "out of memory");
	b = link_bucket(fs, n->link_id);
	n->link_next = fs->link_tab[b];
	fs->link_tab[b] = n;
	fs->nlinked++;
	if (fs->links_pinned)
		n->refs++; /* every group stays known */
	return 0;
}

void fs_link_unhash_locked(struct fs *fs, struct fs_node *n)
{
	struct fs_node **pp;

	if (!fs->link_nb || !n->link_id)
		return;
	for (pp = &fs->link_tab[link_bucket(fs, n->link_id)]; *pp; pp = &(*pp)->link_next) {
		if (*pp == n) {
			*pp = n->link_next;
			n->link_next = NULL;
			fs->nlinked--;
			return;
		}
	}
}

void fs_link_remove_locked(struct fs *fs, struct fs_node *n)
{
	bool was = fs_link_find_locked(fs, n->link_id) == n;

	fs_link_unhash_locked(fs, n);
	n->link_id = 0;
	if (was && fs->links_pinned)
		fs_node_put_locked(fs, n); /* the caller holds n */
}

/* ---- names ---- */

bool fs_node_is_primary_locked(const struct fs_node *n, const struct fs_node *dir,
			       const char *name, size_t len)
{
	return n->parent == dir && n->name_len == len && !memcmp(n->name, name, len);
}

struct fs_name *fs_node_name_find_locked(const struct fs_node *n, const struct fs_node *dir,
					 const char *name, size_t len)
{
	struct fs_name *nm;

	for (nm = n->names; nm; nm = nm->next)
		if (nm->dir == dir && nm->len == len && !memcmp(nm->name, name, len))
			return nm;
	return NULL;
}

int fs_node_name_add_locked(struct fs *fs, struct fs_node *n, struct fs_node *dir,
			    const char *name, size_t len)
{
	struct fs_name *nm = malloc(sizeof(*nm) + len + 1);

	(void)fs;
	if (!nm)
		return t9k_err(-ENOMEM, "out of memory");
	memcpy(nm->name, name, len);
	nm->name[len] = '\0';
	nm->len = (uint16_t)len;
	nm->dir = dir;
	dir->refs++;
	nm->next = n->names;
	n->names = nm;
	return 0;
}

/* Forgets name record nm of n and drops its hold on the directory. */
static void name_free_locked(struct fs *fs, struct fs_node *n, struct fs_name *nm)
{
	struct fs_name **pp = &n->names;

	while (*pp != nm)
		pp = &(*pp)->next;
	*pp = nm->next;
	fs_node_put_locked(fs, nm->dir);
	free(nm);
}

static uint32_t names_known_locked(const struct fs_node *n)
{
	uint32_t k = n->parent ? 1 : 0;

	for (const struct fs_name *nm = n->names; nm; nm = nm->next)
		k++;
	return k;
}

struct fs_node *fs_node_for_entry_locked(struct fs *fs, struct fs_node *dir, const char *name,
					 size_t len, const struct tree_entry *e)
{
	struct fs_node *n = NULL;

	if (e->link_id && e->nlink > 1 && !S_ISDIR(e->mode))
		n = fs_link_find_locked(fs, e->link_id);
	if (n && (n->mode & S_IFMT) == (e->mode & S_IFMT)) {
		if (fs->rw && !fs_node_is_primary_locked(n, dir, name, len) &&
		    !fs_node_name_find_locked(n, dir, name, len) &&
		    fs_node_name_add_locked(fs, n, dir, name, len) < 0)
			return NULL;
		n->refs++;
		return n;
	}
	n = fs_node_new_locked(fs, dir, name, len, e);
	if (n && n->link_id && !fs_link_find_locked(fs, n->link_id) &&
	    fs_link_insert_locked(fs, n) < 0)
		t9k_log(T9K_LOG_WARN, "'%s': out of memory for its link group: its other names "
			"show as other inodes", n->name);
	return n;
}

void fs_name_unlink_locked(struct fs *fs, struct fs_node *n, struct fs_node *dir, const char *name,
			   size_t len, bool in_base)
{
	bool primary = fs_node_is_primary_locked(n, dir, name, len);
	struct fs_name *nm = primary ? n->names : fs_node_name_find_locked(n, dir, name, len);

	if (n->nlink > 0)
		n->nlink--;
	if (primary && !nm) {
		fs_node_unlink_locked(fs, n, in_base); /* the last name */
	} else {
		if (fs_ov_set_locked(fs, dir, name, len, NULL, in_base) < 0)
			t9k_log(T9K_LOG_ERROR, "unlink '%.*s': out of memory for the whiteout",
				(int)len, name);
		if (primary) {
			/* another name takes the primary's place */
			struct fs_ov_slot *s;

			if (fs_node_rename_locked(fs, n, nm->dir, nm->name, nm->len) < 0) {
				t9k_log(T9K_LOG_ERROR, "unlink '%.*s': out of memory renaming its inode",
					(int)len, name);
			} else {
				s = fs_ov_find_locked(n->parent, n->name, n->name_len);
				n->in_ov = s && s->node == n;
				name_free_locked(fs, n, nm);
			}
		} else if (nm) {
			name_free_locked(fs, n, nm);
		}
	}
	if (n->nlink <= 1 && n->link_id)
		fs_link_remove_locked(fs, n); /* one name left: a plain file again */
}

int fs_name_move_locked(struct fs *fs, struct fs_node *n, struct fs_node *dir, const char *name,
			size_t len, struct fs_node *newdir, const char *newname, size_t newlen,
			bool in_base)
{
	struct fs_name *nm;
	struct fs_ov_slot *s;
	bool old_in_base;
	int rc;

	if (fs_node_is_primary_locked(n, dir, name, len))
		return fs_node_move_locked(fs, n, newdir, newname, newlen, in_base);
	nm = fs_node_name_find_locked(n, dir, name, len);
	s = fs_ov_find_locked(dir, name, len);
	old_in_base = s ? s->in_base : true; /* a name known from the base tree */
	rc = fs_node_name_add_locked(fs, n, newdir, newname, newlen);
	if (rc < 0)
		return rc;
	n->refs++;
	rc = fs_ov_set_locked(fs, dir, name, len, NULL, old_in_base);
	if (rc == 0)
		rc = fs_ov_set_locked(fs, newdir, newname, newlen, n, in_base);
	if (nm)
		name_free_locked(fs, n, nm);
	fs_node_put_locked(fs, n);
	return rc;
}

int fs_stage_names_locked(struct fs *fs, struct fs_stage *b, struct fs_node *n,
			  const struct tree_entry *e, const struct fs_node *skip_dir,
			  const char *skip, size_t skip_len)
{
	char path[REPO_PATH_MAX + 1];
	int rc = 0;

	(void)fs;
	if (n->parent && !(skip && fs_node_is_primary_locked(n, skip_dir, skip, skip_len))) {
		rc = fs_node_path_locked(n, path, sizeof(path));
		if (rc == 0)
			rc = fs_stage_add(b, path, e, false);
		else if (rc == -ENOENT)
			rc = 0; /* (a directory gone: its names with it) */
	}
	for (struct fs_name *nm = n->names; nm && rc == 0; nm = nm->next) {
		if (skip && nm->dir == skip_dir && nm->len == skip_len &&
		    !memcmp(nm->name, skip, skip_len))
			continue;
		rc = fs_child_path_locked(nm->dir, nm->name, nm->len, path, sizeof(path));
		if (rc == 0)
			rc = fs_stage_add(b, path, e, false);
		else if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}

int fs_attach_names_locked(struct fs *fs, struct fs_node *n)
{
	int rc = 0;

	for (struct fs_name *nm = n->names; nm && rc == 0; nm = nm->next)
		if (!fs_ov_find_locked(nm->dir, nm->name, nm->len))
			rc = fs_ov_set_locked(fs, nm->dir, nm->name, nm->len, n, true);
	return rc;
}

uint64_t fs_link_new_id_locked(struct fs *fs)
{
	uint64_t id = 0;

	while (!id || fs_link_find_locked(fs, id)) {
		if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
			id = (uint64_t)fs_now_ns() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&id;
	}
	return id;
}

/* ---- finding every name ---- */

/* Looks name up in dir (which records it, when it names a group). */
static int walk_name(struct fs *fs, struct fs_node *dir, const char *name, size_t len,
		     struct fs_node **out)
{
	int rc = fs_lookup(fs, dir, name, len, out);

	return rc == -ENOENT ? 0 : rc; /* gone meanwhile */
}

/* Every entry of dir's view: subdirectories walked, linked names looked
 * up. Depth-first: a tree iterator and a node per level. */
static int walk_dir(struct fs *fs, struct fs_node *dir, int depth)
{
	struct fs_node **subs = NULL;
	size_t nsubs = 0;
	struct tree_iter *it = NULL;
	struct tree_entry e;
	struct oid tree;
	bool has_tree;
	int rc = 0;

	if (depth > REPO_PATH_MAX / 2)
		return t9k_err(-ELOOP, "directories nested too deep");
	pthread_mutex_lock(&fs->lock);
	tree = dir->id;
	has_tree = dir->has_content;
	/* the overlay's directories (its files are nodes already: known) */
	if (dir->ov && dir->ov->nlive && !(subs = calloc(dir->ov->nlive, sizeof(*subs))))
		rc = t9k_err(-ENOMEM, "out of memory");
	for (uint32_t i = 0; rc == 0 && dir->ov && i < dir->ov->nb; i++)
		for (struct fs_ov_slot *s = dir->ov->tab[i]; s; s = s->next)
			if (s->node && S_ISDIR(s->node->mode) && nsubs < dir->ov->nlive) {
				fs_node_hold_locked(s->node);
				subs[nsubs++] = s->node;
			}
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0 && has_tree)
		rc = tree_iter_new(fs->mo, &tree, NULL, 0, &it);
	while (rc == 0 && has_tree && (rc = tree_iter_next(it, &e)) == 1) {
		struct fs_node *n = NULL;
		bool in_ov;

		rc = 0;
		if (!S_ISDIR(e.mode) && !(e.link_id && e.nlink > 1))
			continue;
		pthread_mutex_lock(&fs->lock);
		in_ov = fs_ov_find_locked(dir, e.name, e.name_len) != NULL;
		pthread_mutex_unlock(&fs->lock);
		if (in_ov)
			continue; /* the overlay's own, above */
		rc = walk_name(fs, dir, e.name, e.name_len, &n);
		if (rc == 0 && n && S_ISDIR(n->mode))
			rc = walk_dir(fs, n, depth + 1);
		fs_node_put(fs, n);
	}
	tree_iter_free(it);
	for (size_t i = 0; i < nsubs; i++) {
		if (rc == 0)
			rc = walk_dir(fs, subs[i], depth + 1);
		fs_node_put(fs, subs[i]);
	}
	free(subs);
	return rc;
}

int fs_link_complete(struct fs *fs, struct fs_node *n)
{
	bool need;
	int rc;

	pthread_mutex_lock(&fs->lock);
	need = n->link_id && n->nlink > 1 && !fs->links_walked &&
	       names_known_locked(n) < n->nlink;
	if (need && !fs->links_pinned) {
		/* from now on the table holds its nodes: what the walk learns stays */
		for (size_t i = 0; i < fs->link_nb; i++)
			for (struct fs_node *x = fs->link_tab[i]; x; x = x->link_next)
				x->refs++;
		fs->links_pinned = true;
	}
	pthread_mutex_unlock(&fs->lock);
	if (!need)
		return 0;
	t9k_log(T9K_LOG_INFO, "%s: finding the names of the branch's hard-linked files (once)",
		fs->mountpoint);
	rc = walk_dir(fs, fs->root, 0);
	if (rc < 0)
		return t9k_err_wrap(rc, "finding the other names of a hard-linked file");
	pthread_mutex_lock(&fs->lock);
	/* counts as found (a name removed outside a mount leaves them high);
	 * a group left with one name leaves the table (the next node in a
	 * chain is the table's, so it stays while x may go) */
	for (size_t i = 0; i < fs->link_nb; i++) {
		struct fs_node *x = fs->link_tab[i], *next;

		for (; x; x = next) {
			uint32_t k = names_known_locked(x);

			next = x->link_next;
			if (k == x->nlink)
				continue;
			t9k_log(T9K_LOG_WARN, "'%s': %u names of its link group, not %u", x->name, k,
				x->nlink);
			x->nlink = k ? k : 1;
			if (x->nlink <= 1) {
				x->refs++; /* (n is the caller's; others may go here) */
				fs_link_remove_locked(fs, x);
				fs_node_put_locked(fs, x);
			}
		}
	}
	fs->links_walked = true;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}
