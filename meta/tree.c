/* Prolly-tree directories: build, incremental update, lookup, iteration
 * and diff (see tree.h for the shape rules).
 *
 * tree_apply works one level at a time, bottom up. At level L it walks the
 * old nodes that contain edits, merges their items with the edits, and
 * re-cuts them with the level's rule into new nodes. Because cuts depend
 * only on the items, the new sequence lines up with the old one again at
 * the first old node end where nothing is pending; the rest of the level
 * is reused as is. The level's result becomes edits for level L+1: delete
 * the references to the old nodes consumed, upsert references to the new
 * ones (both keyed by last name). Every node loaded is held until the
 * end, so keys can point into node buffers without copies.
 */
#include "meta/tree.h"

#include "lib/err.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAXL (META_TREE_MAX_LEVEL + 1)

/* An item at any level: an entry (level 0) or a child reference; as an
 * edit it may be a deletion. */
struct item {
	const char *key;
	uint16_t key_len;
	bool del;
	struct tree_entry e;
	struct tree_child c;
};

struct items {
	struct item *v;
	size_t n, cap;
};

static int items_push(struct items *a, const struct item *it)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct item *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = *it;
	return 0;
}

static int key_cmp(const struct item *a, const struct item *b)
{
	return meta_name_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* Nodes loaded during one operation, released together. */
struct hold {
	struct meta_objects *mo;
	struct meta_node **v;
	size_t n, cap;
};

static int hold_get(struct hold *h, const struct oid *id, struct meta_node **out)
{
	int rc;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 32;
		struct meta_node **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		h->v = v;
		h->cap = cap;
	}
	rc = meta_node_get(h->mo, id, out);
	if (rc == 0)
		h->v[h->n++] = *out;
	return rc;
}

static void hold_release(struct hold *h)
{
	for (size_t i = 0; i < h->n; i++)
		meta_node_put(h->mo, h->v[i]);
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void node_item(const struct tree_node *n, uint32_t i, struct item *it)
{
	memset(it, 0, sizeof(*it));
	if (n->level == 0) {
		it->e = n->entries[i];
		it->key = it->e.name;
		it->key_len = it->e.name_len;
	} else {
		it->c = n->children[i];
		it->key = it->c.key;
		it->key_len = it->c.key_len;
	}
}

static void node_last_key(const struct tree_node *n, const char **key, uint16_t *len)
{
	struct item it;

	node_item(n, n->count - 1, &it);
	*key = it.key;
	*len = it.key_len;
}

static uint64_t node_total(const struct tree_node *n)
{
	uint64_t t = 0;

	if (n->level == 0)
		return n->count;
	for (uint32_t i = 0; i < n->count; i++)
		t += n->children[i].count;
	return t;
}

static bool is_boundary(const struct item *it, int level)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint64_t h = 0;
	int bits = TREE_FANOUT_BITS * (level + 1);

	if (bits >= 64)
		return false;
	SHA256((const unsigned char *)it->key, it->key_len, md);
	for (int i = 0; i < 8; i++)
		h |= (uint64_t)md[i] << (8 * i);
	return (h & ((1ULL << bits) - 1)) == 0;
}

/* An item's size for the safety cap: as in version 1, plus the fields of
 * version 2 for an entry that needs them (part of the cut rule, so a
 * version 1 entry counts the same whatever leaf it lands in). */
static size_t item_bytes(const struct item *it, int level)
{
	const struct tree_entry *e = &it->e;
	size_t v2 = 0;

	if (level > 0)
		return 2 + it->key_len + OID_RAWSZ + 8;
	if (tree_entry_version(e) >= META_TREE_V2)
		v2 = 1 + (e->has_owner ? 8 : 0) + (e->link_id ? 12 : 0) + (e->has_subdirs ? 4 : 0) +
		     (S_ISCHR(e->mode) || S_ISBLK(e->mode) ? 8 : 0);
	return 2 + it->key_len + 4 + 8 + 8 + 1 + v2 +
	       (e->is_inline ? 4 + (size_t)e->data_len : OID_RAWSZ);
}

/* ---- cursor over the nodes of one level of a tree ---- */

struct cursor {
	struct hold *hold;
	int height, bottom;
	struct meta_node *node[MAXL];
	uint32_t idx[MAXL]; /* idx[L]: position in node[L] */
};

/* Binary search: first item with key >= k, or count if none. */
static uint32_t lower_bound(const struct tree_node *n, const char *k, size_t klen)
{
	uint32_t lo = 0, hi = n->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		struct item it;

		node_item(n, mid, &it);
		if (meta_name_cmp(it.key, it.key_len, k, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Positions c at the node of level bottom that holds key k (the first
 * node whose last key >= k, or the last node); k NULL: the first node. */
static int cursor_seek(struct cursor *c, const struct oid *root, int bottom, const char *k,
		       size_t klen)
{
	struct meta_node *n;
	int rc = hold_get(c->hold, root, &n);

	if (rc < 0)
		return rc;
	c->height = n->n.level;
	c->bottom = bottom;
	c->node[c->height] = n;
	for (int l = c->height; l > bottom; l--) {
		uint32_t i = 0;

		if (k) {
			i = lower_bound(&n->n, k, klen);
			if (i == n->n.count)
				i = n->n.count - 1;
		}
		c->idx[l] = i;
		rc = hold_get(c->hold, &n->n.children[i].id, &n);
		if (rc < 0)
			return rc;
		if (n->n.level != l - 1)
			return t9k_err(T9K_ECORRUPT, "tree node at level %d has a child at level %d",
				       l, n->n.level);
		c->node[l - 1] = n;
	}
	c->idx[bottom] = 0;
	return 0;
}

static bool cursor_has_next(const struct cursor *c)
{
	for (int l = c->bottom + 1; l <= c->height; l++)
		if (c->idx[l] + 1 < c->node[l]->n.count)
			return true;
	return false;
}

/* Moves to the next node at the bottom level; 0 if there is none. */
static int cursor_next_node(struct cursor *c)
{
	int l = c->bottom + 1;

	while (l <= c->height && c->idx[l] + 1 >= c->node[l]->n.count)
		l++;
	if (l > c->height)
		return 0;
	c->idx[l]++;
	for (; l > c->bottom; l--) {
		struct meta_node *n;
		int rc = hold_get(c->hold, &c->node[l]->n.children[c->idx[l]].id, &n);

		if (rc < 0)
			return rc;
		if (n->n.level != l - 1)
			return t9k_err(T9K_ECORRUPT, "tree node at level %d has a child at level %d",
				       l, n->n.level);
		c->node[l - 1] = n;
		c->idx[l - 1] = 0;
	}
	return 1;
}

/* ---- building nodes ---- */

struct builder {
	struct meta_objects *mo;
	int level;
	struct items pending;
	size_t pending_bytes;
	struct items *out; /* upserts of the nodes written */
};

static int builder_emit(struct builder *b)
{
	struct tree_node n = { .level = (uint8_t)b->level, .count = (uint32_t)b->pending.n };
	struct item ref = { 0 };
	int rc;

	if (b->pending.n == 0)
		return 0;
	if (b->level == 0)
		n.entries = malloc(b->pending.n * sizeof(*n.entries));
	else
		n.children = malloc(b->pending.n * sizeof(*n.children));
	if (!n.entries && !n.children)
		return t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; i < b->pending.n; i++) {
		if (b->level == 0)
			n.entries[i] = b->pending.v[i].e;
		else
			n.children[i] = b->pending.v[i].c;
	}
	ref.key = b->pending.v[b->pending.n - 1].key;
	ref.key_len = b->pending.v[b->pending.n - 1].key_len;
	ref.c.key = ref.key;
	ref.c.key_len = ref.key_len;
	ref.c.count = node_total(&n);
	rc = meta_node_write(b->mo, &n, &ref.c.id);
	free(n.entries);
	free(n.children);
	if (rc < 0)
		return rc;
	b->pending.n = 0;
	b->pending_bytes = 0;
	return items_push(b->out, &ref);
}

static int builder_feed(struct builder *b, const struct item *it)
{
	size_t sz = item_bytes(it, b->level);
	int rc;

	if (b->pending.n && b->pending_bytes + sz > TREE_NODE_MAX_BYTES) {
		rc = builder_emit(b); /* safety cap */
		if (rc < 0)
			return rc;
	}
	rc = items_push(&b->pending, it);
	if (rc < 0)
		return rc;
	b->pending_bytes += sz;
	return is_boundary(it, b->level) ? builder_emit(b) : 0;
}

/* ---- tree_apply ---- */

static int cmp_edit_items(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = key_cmp(a, b);

	if (c)
		return c;
	return (int)b->del - (int)a->del; /* deletion first, then the upsert */
}

/* Sorts next-level edits; for one key an upsert wins over a deletion. */
static void normalize_edits(struct items *e)
{
	size_t w = 0;

	if (e->n == 0)
		return;
	qsort(e->v, e->n, sizeof(*e->v), cmp_edit_items);
	for (size_t r = 0; r < e->n; r++) {
		if (w > 0 && key_cmp(&e->v[w - 1], &e->v[r]) == 0)
			e->v[w - 1] = e->v[r];
		else
			e->v[w++] = e->v[r];
	}
	e->n = w;
}

/* Applies sorted edits to level `level` of the tree at root. Writes new
 * nodes; appends to `up` the edits for the level above (deletions of the
 * consumed nodes' references and upserts of the new ones). */
/* An import of unchanged bytes by a binary that writes payload 2 finds
 * the file stored with a manifest (payload 0) by an older one: the old
 * entry stays, so re-importing an unchanged dataset changes nothing. One
 * manifest read, only when the kinds differ and all else is equal; a
 * manifest that cannot be read just lets the new entry in. */
static bool same_file_old_payload(struct meta_objects *mo, const struct tree_entry *old,
				  const struct tree_entry *new)
{
	struct manifest m;
	bool same;

	if (!new->is_chunk || old->is_chunk || old->is_inline || !S_ISREG(old->mode) ||
	    old->mode != new->mode || old->size != new->size || old->mtime_ns != new->mtime_ns ||
	    !tree_entry_meta_eq(old, new))
		return false;
	if (meta_manifest_get(mo, old, &m) < 0) {
		t9k_err_clear();
		return false;
	}
	same = m.nchunks == 1 && m.chunks[0].loc == MANIFEST_LOC_OBJECT &&
	       oid_eq(&m.chunks[0].id, &new->id);
	manifest_release(&m);
	return same;
}

static int apply_level(struct meta_objects *mo, struct hold *hold, const struct oid *root, int level,
		       const struct items *edits, struct items *up, int64_t *dirs)
{
	struct builder b = { .mo = mo, .level = level, .out = up };
	struct cursor c = { .hold = hold };
	size_t i = 0;
	int rc = 0;

	while (i < edits->n) {
		rc = cursor_seek(&c, root, level, edits->v[i].key, edits->v[i].key_len);
		if (rc < 0)
			goto out;
		for (;;) {
			const struct tree_node *n = &c.node[level]->n;
			bool last = !cursor_has_next(&c);
			const char *lk = NULL;
			uint16_t lklen = 0;
			uint32_t j = 0;

			if (n->count) {
				struct item del = { .del = true };

				node_last_key(n, &lk, &lklen);
				del.key = lk;
				del.key_len = lklen;
				if ((rc = items_push(up, &del)) < 0)
					goto out;
			}
			for (;;) {
				bool have_old = j < n->count, have_edit = i < edits->n;
				const struct item *ed = have_edit ? &edits->v[i] : NULL;
				struct item old;
				int cmp;

				if (ed && !last && meta_name_cmp(ed->key, ed->key_len, lk, lklen) > 0)
					have_edit = false, ed = NULL;
				if (!have_old && !have_edit)
					break;
				if (have_old)
					node_item(n, j, &old);
				cmp = !have_old ? 1 : !have_edit ? -1 : key_cmp(&old, ed);
				if (cmp < 0) {
					rc = builder_feed(&b, &old);
					j++;
				} else {
					bool keep = cmp == 0 && level == 0 && !ed->del &&
						    same_file_old_payload(mo, &old.e, &ed->e);

					if (level == 0) /* directories gained, lost */
						*dirs += (!ed->del && S_ISDIR(ed->e.mode)) -
							 (cmp == 0 && S_ISDIR(old.e.mode));
					if (!ed->del)
						rc = builder_feed(&b, keep ? &old : ed);
					i++;
					j += cmp == 0;
				}
				if (rc < 0)
					goto out;
			}
			if (last) {
				rc = builder_emit(&b);
				goto next_run;
			}
			if (b.pending.n == 0)
				break; /* back in step with the old cuts */
			rc = cursor_next_node(&c);
			if (rc < 0)
				goto out;
		}
	next_run:
		if (rc < 0)
			goto out;
	}
out:
	free(b.pending.v);
	return rc;
}

int tree_empty(struct meta_objects *mo, struct oid *id)
{
	struct tree_node n = { 0 };

	return meta_node_write(mo, &n, id);
}

static int check_edits(const struct tree_edit *edits, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = meta_name_check(edits[i].name, edits[i].name_len);

		if (rc < 0)
			return rc;
		if (i && meta_name_cmp(edits[i - 1].name, edits[i - 1].name_len, edits[i].name,
				       edits[i].name_len) >= 0)
			return t9k_err(-EINVAL, "tree edits not sorted and unique at '%.*s'",
				       (int)edits[i].name_len, edits[i].name);
		if (!edits[i].del && (edits[i].entry.name_len != edits[i].name_len ||
				      memcmp(edits[i].entry.name, edits[i].name, edits[i].name_len)))
			return t9k_err(-EINVAL, "tree edit for '%.*s' carries another name",
				       (int)edits[i].name_len, edits[i].name);
	}
	return 0;
}

int tree_apply(struct meta_objects *mo, const struct oid *root, const struct tree_edit *edits,
	       size_t n, struct oid *new_root, uint64_t *count)
{
	return tree_apply_ex(mo, root, edits, n, new_root, count, NULL);
}

int tree_apply_ex(struct meta_objects *mo, const struct oid *root, const struct tree_edit *edits,
		  size_t n, struct oid *new_root, uint64_t *count, int64_t *dirs_delta)
{
	int64_t dirs = 0;
	struct hold hold = { .mo = mo };
	struct items cur = { 0 }, up = { 0 };
	struct oid empty, top;
	struct meta_node *rn;
	int rc, height, level;

	rc = check_edits(edits, n);
	if (rc < 0)
		return rc;
	if (!root) {
		rc = tree_empty(mo, &empty);
		if (rc < 0)
			return rc;
		root = &empty;
	}
	rc = hold_get(&hold, root, &rn);
	if (rc < 0)
		goto out;
	height = rn->n.level;
	top = *root;
	for (size_t i = 0; i < n; i++) {
		struct item it = { .key = edits[i].name, .key_len = edits[i].name_len,
				   .del = edits[i].del, .e = edits[i].entry };

		if ((rc = items_push(&cur, &it)) < 0)
			goto out;
	}
	/* Up the old tree's levels; cur holds the edits of the current level. */
	for (level = 0; level <= height && cur.n; level++) {
		up.n = 0;
		rc = apply_level(mo, &hold, root, level, &cur, &up, &dirs);
		if (rc < 0)
			goto out;
		normalize_edits(&up);
		if (level == height) {
			/* The nodes written for the old root's level: keep the upserts. */
			size_t w = 0;

			for (size_t r = 0; r < up.n; r++)
				if (!up.v[r].del)
					up.v[w++] = up.v[r];
			up.n = w;
		}
		struct items t = cur;

		cur = up;
		up = t;
	}
	if (level <= height) {
		/* Edits died out below the root: the tree is unchanged. */
		top = *root;
	} else {
		/* cur: the nodes of level `height`, in order. Grow until one. */
		while (cur.n > 1) {
			struct builder b = { .mo = mo, .level = ++height, .out = &up };

			up.n = 0;
			for (size_t i = 0; i < cur.n && rc == 0; i++)
				rc = builder_feed(&b, &cur.v[i]);
			if (rc == 0)
				rc = builder_emit(&b);
			free(b.pending.v);
			if (rc < 0)
				goto out;
			struct items t = cur;

			cur = up;
			up = t;
		}
		if (cur.n == 0) {
			rc = tree_empty(mo, &top);
			if (rc < 0)
				goto out;
		} else {
			top = cur.v[0].c.id;
		}
		/* Shrink: the root is the lowest level with a single node. */
		for (;;) {
			rc = hold_get(&hold, &top, &rn);
			if (rc < 0)
				goto out;
			if (rn->n.level == 0 || rn->n.count != 1)
				break;
			top = rn->n.children[0].id;
		}
	}
	*new_root = top;
	if (dirs_delta)
		*dirs_delta = dirs;
	if (count) {
		rc = hold_get(&hold, &top, &rn);
		if (rc == 0)
			*count = node_total(&rn->n);
	}
out:
	free(cur.v);
	free(up.v);
	hold_release(&hold);
	return rc;
}

int tree_count(struct meta_objects *mo, const struct oid *root, uint64_t *count)
{
	struct meta_node *n;
	int rc = meta_node_get(mo, root, &n);

	if (rc < 0)
		return rc;
	*count = node_total(&n->n);
	meta_node_put(mo, n);
	return 0;
}

int tree_lookup(struct meta_objects *mo, const struct oid *root, const char *name, size_t len,
		struct tree_entry *e, struct meta_node **hold)
{
	struct meta_node *n;
	int rc = meta_node_get(mo, root, &n);
	uint32_t i = 0;

	*hold = NULL;
	while (rc == 0) {
		i = lower_bound(&n->n, name, len);
		if (n->n.level == 0)
			break;
		if (i == n->n.count) {
			meta_node_put(mo, n);
			goto absent;
		}
		struct meta_node *child;

		rc = meta_node_get(mo, &n->n.children[i].id, &child);
		meta_node_put(mo, n);
		n = child;
	}
	if (rc < 0)
		return rc;
	if (i == n->n.count ||
	    meta_name_cmp(n->n.entries[i].name, n->n.entries[i].name_len, name, len)) {
		meta_node_put(mo, n);
		goto absent;
	}
	*e = n->n.entries[i];
	*hold = n;
	return 0;
absent:
	return t9k_err(T9K_ENOTFOUND, "'%.*s' not found", (int)len, name);
}

/* ---- iteration ---- */

struct tree_iter {
	struct hold hold;
	struct cursor c;
	bool started, done;
};

int tree_iter_new(struct meta_objects *mo, const struct oid *root, const char *after,
		  size_t after_len, struct tree_iter **out)
{
	struct tree_iter *it = calloc(1, sizeof(*it));
	int rc;

	*out = NULL;
	if (!it)
		return t9k_err(-ENOMEM, "out of memory");
	it->hold.mo = mo;
	it->c.hold = &it->hold;
	rc = cursor_seek(&it->c, root, 0, after, after_len);
	if (rc == 0 && after) {
		const struct tree_node *n = &it->c.node[0]->n;
		uint32_t i = lower_bound(n, after, after_len);

		if (i < n->count && !meta_name_cmp(n->entries[i].name, n->entries[i].name_len,
						   after, after_len))
			i++;
		it->c.idx[0] = i;
	}
	if (rc < 0) {
		tree_iter_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

int tree_iter_next(struct tree_iter *it, struct tree_entry *e)
{
	while (!it->done) {
		const struct tree_node *n = &it->c.node[0]->n;
		int rc;

		if (it->c.idx[0] < n->count) {
			*e = n->entries[it->c.idx[0]++];
			return 1;
		}
		/* Release what the walk left behind: only the path is needed. */
		rc = cursor_next_node(&it->c);
		if (rc < 0)
			return rc;
		if (rc == 0)
			it->done = true;
	}
	return 0;
}

void tree_iter_free(struct tree_iter *it)
{
	if (!it)
		return;
	hold_release(&it->hold);
	free(it);
}

/* ---- diff ---- */

bool tree_entry_meta_eq(const struct tree_entry *a, const struct tree_entry *b)
{
	return a->has_owner == b->has_owner && a->uid == b->uid && a->gid == b->gid &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor &&
	       a->link_id == b->link_id && a->nlink == b->nlink &&
	       a->has_subdirs == b->has_subdirs && a->subdirs == b->subdirs;
}

bool tree_entry_eq(const struct tree_entry *a, const struct tree_entry *b)
{
	if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) ||
	    a->mode != b->mode || a->size != b->size || a->mtime_ns != b->mtime_ns ||
	    a->is_inline != b->is_inline || a->is_chunk != b->is_chunk || !tree_entry_meta_eq(a, b))
		return false;
	if (a->is_inline)
		return a->data_len == b->data_len && !memcmp(a->data, b->data, a->data_len);
	return oid_eq(&a->id, &b->id);
}

struct differ {
	struct meta_objects *mo;
	struct hold hold;
	tree_diff_fn fn;
	void *arg;
};

/* Appends the items of node id (one level down) to out. */
static int expand_node(struct differ *d, const struct oid *id, struct items *out)
{
	struct meta_node *n;
	int rc = hold_get(&d->hold, id, &n);

	for (uint32_t i = 0; rc == 0 && i < n->n.count; i++) {
		struct item it;

		node_item(&n->n, i, &it);
		rc = items_push(out, &it);
	}
	return rc;
}

static int diff_entries(struct differ *d, const struct items *a, const struct items *b)
{
	size_t i = 0, j = 0;
	int rc = 0;

	while (rc == 0 && (i < a->n || j < b->n)) {
		int cmp = i == a->n ? 1 : j == b->n ? -1 : key_cmp(&a->v[i], &b->v[j]);

		if (cmp < 0) {
			rc = d->fn(d->arg, &a->v[i++].e, NULL);
		} else if (cmp > 0) {
			rc = d->fn(d->arg, NULL, &b->v[j++].e);
		} else {
			if (!tree_entry_eq(&a->v[i].e, &b->v[j].e))
				rc = d->fn(d->arg, &a->v[i].e, &b->v[j].e);
			i++, j++;
		}
	}
	return rc;
}

/* a and b: the items of one key range at `level` in the two trees. Shapes
 * are canonical, so the same content sits in the same node in both:
 * references with equal ids are skipped, and each run of differing
 * references (between two shared ones, so covering the same keys on both
 * sides) is opened one level down. */
static int diff_items(struct differ *d, int level, const struct items *a, const struct items *b)
{
	size_t i = 0, j = 0;
	int rc = 0;

	if (level == 0)
		return diff_entries(d, a, b);
	while (rc == 0 && (i < a->n || j < b->n)) {
		struct items ra = { 0 }, rb = { 0 };

		if (i < a->n && j < b->n && oid_eq(&a->v[i].c.id, &b->v[j].c.id)) {
			i++, j++;
			continue;
		}
		/* the run ends at the next reference both sides share */
		while (rc == 0 && (i < a->n || j < b->n)) {
			int cmp = i == a->n ? 1 : j == b->n ? -1 : key_cmp(&a->v[i], &b->v[j]);

			if (cmp == 0 && oid_eq(&a->v[i].c.id, &b->v[j].c.id))
				break;
			if (cmp <= 0)
				rc = expand_node(d, &a->v[i++].c.id, &ra);
			if (rc == 0 && cmp >= 0)
				rc = expand_node(d, &b->v[j++].c.id, &rb);
		}
		if (rc == 0)
			rc = diff_items(d, level - 1, &ra, &rb);
		free(ra.v);
		free(rb.v);
	}
	return rc;
}

int tree_diff(struct meta_objects *mo, const struct oid *a, const struct oid *b, tree_diff_fn fn,
	      void *arg)
{
	struct differ d = { .mo = mo, .hold = { .mo = mo }, .fn = fn, .arg = arg };
	struct items ia = { 0 }, ib = { 0 }, t = { 0 };
	struct meta_node *na, *nb;
	struct oid empty;
	int rc, la, lb;

	if (a && b && oid_eq(a, b))
		return 0;
	if (!a || !b) {
		rc = tree_empty(mo, &empty);
		if (rc < 0)
			return rc;
		a = a ? a : &empty;
		b = b ? b : &empty;
	}
	rc = hold_get(&d.hold, a, &na);
	if (rc == 0)
		rc = hold_get(&d.hold, b, &nb);
	if (rc == 0)
		rc = expand_node(&d, a, &ia);
	if (rc == 0)
		rc = expand_node(&d, b, &ib);
	if (rc < 0)
		goto out;
	/* the items of a root at level L are at level L (references to L-1) */
	la = na->n.level;
	lb = nb->n.level;
	while (rc == 0 && la != lb) {
		struct items *hi = la > lb ? &ia : &ib;

		t.n = 0;
		for (size_t i = 0; rc == 0 && i < hi->n; i++)
			rc = expand_node(&d, &hi->v[i].c.id, &t);
		struct items swap = *hi;

		*hi = t;
		t = swap;
		if (la > lb)
			la--;
		else
			lb--;
	}
	if (rc == 0)
		rc = diff_items(&d, la, &ia, &ib);
out:
	free(ia.v);
	free(ib.v);
	free(t.v);
	hold_release(&d.hold);
	return rc;
}
