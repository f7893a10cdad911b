/* History and changes: log, recursive diff of commits, path lookup,
 * merge (fast-forward or three-way at path level), revert, and the set of
 * objects reachable from the refs (the gc plan). */
#include "meta/repo-internal.h"

#include "lib/err.h"
#include "store/chunk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- log ---- */

/* Max-heap of commits by (time, id). */
struct cheap {
	struct repo_commit *v;
	size_t n, cap;
};

static bool newer(const struct repo_commit *a, const struct repo_commit *b)
{
	if (a->c.time_ns != b->c.time_ns)
		return a->c.time_ns > b->c.time_ns;
	return oid_cmp(&a->id, &b->id) > 0;
}

static int heap_push(struct cheap *h, struct repo_commit *c)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct repo_commit *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	h->v[i] = *c;
	while (i && newer(&h->v[i], &h->v[(i - 1) / 2])) {
		struct repo_commit t = h->v[i];

		h->v[i] = h->v[(i - 1) / 2];
		h->v[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

static void heap_pop(struct cheap *h, struct repo_commit *out)
{
	size_t i = 0;

	*out = h->v[0];
	h->v[0] = h->v[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && newer(&h->v[l], &h->v[m]))
			m = l;
		if (r < h->n && newer(&h->v[r], &h->v[m]))
			m = r;
		if (m == i)
			break;
		struct repo_commit t = h->v[i];

		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

static void heap_release(struct cheap *h)
{
	while (h->n) {
		struct repo_commit c;

		heap_pop(h, &c);
		repo_commit_release(&c);
	}
	free(h->v);
	h->v = NULL;
	h->cap = 0;
}

static int push_id(struct repo *r, struct cheap *h, struct oidset *seen, const struct oid *id)
{
	struct repo_commit c;
	int rc = oidset_add(seen, id);

	if (rc <= 0)
		return rc;
	rc = repo_commit_read(r, id, &c);
	if (rc == 0 && (rc = heap_push(h, &c)) < 0)
		repo_commit_release(&c);
	return rc;
}

int repo_log_page(struct repo *r, const struct oid *start, size_t nstart, bool first_parent,
		  size_t max, repo_log_fn fn, void *arg, struct oid *next, size_t next_max,
		  size_t *nnext)
{
	struct cheap h = { 0 };
	struct oidset seen = { 0 };
	size_t shown = 0;
	int rc = 0;

	if (nnext)
		*nnext = 0;
	for (size_t i = 0; rc == 0 && i < nstart; i++)
		rc = push_id(r, &h, &seen, &start[i]);
	while (rc == 0 && h.n && (!max || shown < max)) {
		struct repo_commit c;

		heap_pop(&h, &c);
		rc = fn(arg, &c);
		shown++;
		for (int i = 0; rc == 0 && i < c.c.nparents && (!first_parent || i == 0); i++)
			rc = push_id(r, &h, &seen, &c.c.parents[i]);
		repo_commit_release(&c);
	}
	while (rc >= 0 && nnext && h.n && *nnext < next_max) {
		struct repo_commit c;

		heap_pop(&h, &c);
		next[(*nnext)++] = c.id;
		repo_commit_release(&c);
	}
	heap_release(&h);
	oidset_release(&seen);
	return rc > 0 ? 0 : rc;
}

int repo_log(struct repo *r, const struct oid *id, bool first_parent, size_t max, repo_log_fn fn,
	     void *arg)
{
	return repo_log_page(r, id, 1, first_parent, max, fn, arg, NULL, 0, NULL);
}

/* ---- diff ---- */

struct rdiff {
	struct repo *r;
	repo_diff_fn fn;
	void *arg;
	unsigned flags;
	char path[REPO_PATH_MAX + 1];
	size_t plen;
};

static int rdiff_tree(struct rdiff *d, const struct oid *a, const struct oid *b);

static int rdiff_entry(void *arg, const struct tree_entry *old, const struct tree_entry *new)
{
	struct rdiff *d = arg;
	const struct tree_entry *e = old ? old : new;
	size_t saved = d->plen;
	bool odir = old && S_ISDIR(old->mode), ndir = new && S_ISDIR(new->mode);
	int rc = 0;

	if (d->plen + (d->plen > 0) + e->name_len > REPO_PATH_MAX)
		return t9k_err(-ENAMETOOLONG, "path too long under '%s'", d->path);
	if (d->plen)
		d->path[d->plen++] = '/';
	memcpy(d->path + d->plen, e->name, e->name_len);
	d->plen += e->name_len;
	d->path[d->plen] = '\0';
	if (odir || ndir) {
		/* a file replaced by a directory (or back) is a removal and adds */
		if (old && !odir)
			rc = d->fn(d->arg, d->path, old, NULL);
		if (rc == 0 && odir && ndir && (d->flags & REPO_DIFF_DIRS) &&
		    (old->mode != new->mode || old->has_owner != new->has_owner ||
		     old->uid != new->uid || old->gid != new->gid))
			rc = d->fn(d->arg, d->path, old, new); /* its own mode or owner */
		if (rc == 0)
			rc = rdiff_tree(d, odir ? &old->id : NULL, ndir ? &new->id : NULL);
		if (rc == 0 && new && !ndir)
			rc = d->fn(d->arg, d->path, NULL, new);
	} else {
		rc = d->fn(d->arg, d->path, old, new);
	}
	d->plen = saved;
	d->path[d->plen] = '\0';
	return rc;
}

static int rdiff_tree(struct rdiff *d, const struct oid *a, const struct oid *b)
{
	return tree_diff(d->r->mo, a, b, rdiff_entry, d);
}

static int diff_trees(struct repo *r, const struct oid *tree_a, const struct oid *tree_b,
		      unsigned flags, repo_diff_fn fn, void *arg)
{
	struct rdiff *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return t9k_err(-ENOMEM, "out of memory");
	d->r = r;
	d->fn = fn;
	d->arg = arg;
	d->flags = flags;
	rc = rdiff_tree(d, tree_a, tree_b);
	free(d);
	return rc;
}

int repo_diff_trees(struct repo *r, const struct oid *tree_a, const struct oid *tree_b,
		    repo_diff_fn fn, void *arg)
{
	return diff_trees(r, tree_a, tree_b, 0, fn, arg);
}

int repo_diff_ex(struct repo *r, const struct oid *commit_a, const struct oid *commit_b,
		 unsigned flags, repo_diff_fn fn, void *arg)
{
	struct repo_commit a, b;
	int rc = repo_commit_read(r, commit_a, &a);

	if (rc < 0)
		return rc;
	rc = repo_commit_read(r, commit_b, &b);
	if (rc == 0) {
		rc = diff_trees(r, &a.c.root, &b.c.root, flags, fn, arg);
		repo_commit_release(&b);
	}
	repo_commit_release(&a);
	return rc;
}

int repo_diff(struct repo *r, const struct oid *commit_a, const struct oid *commit_b,
	      repo_diff_fn fn, void *arg)
{
	return repo_diff_ex(r, commit_a, commit_b, 0, fn, arg);
}

int repo_lookup(struct repo *r, const struct oid *commit, const char *path, struct tree_entry *e,
		struct meta_node **hold)
{
	struct repo_commit c;
	struct oid cur;
	const char *p = path;
	int rc = repo_commit_read(r, commit, &c);

	*hold = NULL;
	if (rc < 0)
		return rc;
	cur = c.c.root;
	repo_commit_release(&c);
	memset(e, 0, sizeof(*e));
	e->mode = S_IFDIR | 0755;
	e->id = cur;
	rc = tree_count(r->mo, &cur, &e->size);
	while (rc == 0 && *p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (*hold && !S_ISDIR(e->mode)) {
			rc = t9k_err(-ENOTDIR, "'%.*s' is not a directory", (int)(p - path - 1), path);
			break;
		}
		if (*hold)
			cur = e->id;
		meta_node_put(r->mo, *hold);
		*hold = NULL;
		rc = tree_lookup(r->mo, &cur, p, len, e, hold);
		if (rc == T9K_ENOTFOUND)
			rc = t9k_err(rc, "'%s' not found", path);
		p = slash ? slash + 1 : p + len;
	}
	if (rc < 0) {
		meta_node_put(r->mo, *hold);
		*hold = NULL;
	}
	return rc;
}

/* ---- merge ---- */

/* The changes of one side, path -> new entry (copied) or removal. */
struct change {
	char *path;
	bool del;
	struct tree_entry e;
	uint8_t *data; /* owned copy of inline data */
	char *name;    /* owned copy of the name */
};

struct changes {
	struct change *v;
	size_t n, cap;
};

static int changes_add(void *arg, const char *path, const struct tree_entry *old,
		       const struct tree_entry *new)
{
	struct changes *cs = arg;
	struct change *c;

	(void)old;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 64;
		struct change *v = realloc(cs->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		cs->v = v;
		cs->cap = cap;
	}
	c = &cs->v[cs->n];
	memset(c, 0, sizeof(*c));
	c->path = strdup(path);
	if (!c->path)
		return t9k_err(-ENOMEM, "out of memory");
	c->del = !new;
	if (new) {
		c->e = *new;
		c->name = strndup(new->name, new->name_len);
		c->data = new->is_inline ? malloc(new->data_len + 1) : NULL;
		if (!c->name || (new->is_inline && !c->data)) {
			free(c->path);
			free(c->name);
			free(c->data);
			return t9k_err(-ENOMEM, "out of memory");
		}
		if (c->data)
			memcpy(c->data, new->data, new->data_len);
		c->e.name = c->name;
		c->e.data = c->data;
	}
	cs->n++;
	return 0;
}

static void changes_release(struct changes *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->v[i].path);
		free(cs->v[i].name);
		free(cs->v[i].data);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static bool same_change(const struct change *a, const struct change *b)
{
	if (a->del || b->del)
		return a->del == b->del;
	return tree_entry_eq(&a->e, &b->e);
}

/* Lowest common ancestor by marking the ancestors of a, then walking b's
 * history newest first until a marked commit. */
static int merge_base(struct repo *r, const struct oid *a, const struct oid *b, struct oid *base,
		      bool *found)
{
	struct oidset anc = { 0 }, seen = { 0 };
	struct cheap h = { 0 };
	int rc = push_id(r, &h, &seen, a);

	*found = false;
	while (rc == 0 && h.n) {
		struct repo_commit c;

		heap_pop(&h, &c);
		rc = oidset_add(&anc, &c.id);
		for (int i = 0; rc >= 0 && i < c.c.nparents; i++)
			rc = push_id(r, &h, &seen, &c.c.parents[i]);
		repo_commit_release(&c);
	}
	oidset_release(&seen);
	if (rc >= 0)
		rc = push_id(r, &h, &seen, b);
	while (rc >= 0 && h.n) {
		struct repo_commit c;

		heap_pop(&h, &c);
		if (oidset_add(&anc, &c.id) == 0) {
			*base = c.id;
			*found = true;
			repo_commit_release(&c);
			break;
		}
		for (int i = 0; rc >= 0 && i < c.c.nparents; i++)
			rc = push_id(r, &h, &seen, &c.c.parents[i]);
		repo_commit_release(&c);
	}
	heap_release(&h);
	oidset_release(&anc);
	oidset_release(&seen);
	return rc < 0 ? rc : 0;
}

void merge_result_release(struct merge_result *m)
{
	for (size_t i = 0; i < m->nconflicts; i++)
		free(m->conflicts[i]);
	free(m->conflicts);
	m->conflicts = NULL;
	m->nconflicts = 0;
}

static int add_conflict(struct merge_result *res, const char *path)
{
	char **v = realloc(res->conflicts, (res->nconflicts + 1) * sizeof(*v));

	if (!v)
		return t9k_err(-ENOMEM, "out of memory");
	res->conflicts = v;
	if (!(v[res->nconflicts] = strdup(path)))
		return t9k_err(-ENOMEM, "out of memory");
	res->nconflicts++;
	return 0;
}

/* Three-way at path level: ours (the target) plus the changes of theirs
 * since base, where both did not change a path differently. Conflicts
 * are resolved by s, or reported. Writes the merged tree into *root. */
static int merge_trees(struct repo *r, const struct oid *base, const struct oid *ours,
		       const struct oid *theirs, enum merge_strategy s, int64_t now,
		       struct merge_result *res, struct oid *root)
{
	struct changes co = { 0 }, ct = { 0 };
	struct path_edit *pe = NULL;
	size_t i = 0, j = 0, n = 0;
	int rc = repo_diff_trees(r, base, ours, changes_add, &co);

	if (rc == 0)
		rc = repo_diff_trees(r, base, theirs, changes_add, &ct);
	if (rc == 0 && !(pe = calloc(ct.n + 1, sizeof(*pe))))
		rc = t9k_err(-ENOMEM, "out of memory");
	/* both lists are in the same path order (diff order) */
	while (rc == 0 && j < ct.n) {
		int cmp = i < co.n ? strcmp(co.v[i].path, ct.v[j].path) : 1;

		if (cmp < 0) {
			i++;
			continue;
		}
		if (cmp == 0 && !same_change(&co.v[i], &ct.v[j])) {
			if (s == MERGE_FAIL)
				rc = add_conflict(res, ct.v[j].path);
			else if (s == MERGE_THEIRS)
				pe[n++] = (struct path_edit){ .path = ct.v[j].path,
							      .entry = ct.v[j].del ? NULL : &ct.v[j].e };
		} else if (cmp > 0) {
			pe[n++] = (struct path_edit){ .path = ct.v[j].path,
						       .entry = ct.v[j].del ? NULL : &ct.v[j].e };
		}
		if (cmp == 0)
			i++;
		j++;
	}
	if (rc == 0 && res->nconflicts)
		rc = t9k_err(T9K_ECONFLICT, "merge stopped: %zu conflicting path%s (first: '%s')",
			     res->nconflicts, res->nconflicts == 1 ? "" : "s", res->conflicts[0]);
	if (rc == 0)
		rc = repo_apply_paths(r, ours, pe, n, now, root);
	free(pe);
	changes_release(&co);
	changes_release(&ct);
	return rc;
}

static int is_ancestor(struct repo *r, const struct oid *anc, const struct oid *of, bool *yes)
{
	struct oid base;
	bool found;
	int rc = merge_base(r, anc, of, &base, &found);

	*yes = rc == 0 && found && oid_eq(&base, anc);
	return rc;
}

static int merge_locked(struct repo *r, const char *source, const char *target,
			enum merge_strategy s, const struct commit_info *ci, struct merge_result *res,
			const struct oid *srcp, struct repo_commit *csp, struct repo_commit *chp,
			struct repo_commit *cbp);

int repo_merge(struct repo *r, const char *source, const char *target, enum merge_strategy s,
	       const struct commit_info *ci, struct merge_result *res)
{
	struct repo_commit cs = { 0 }, ch = { 0 }, cb = { 0 };
	struct branch_lock *bl;
	struct oid src;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = repo_need_db(r);
	if (rc == 0)
		rc = repo_resolve(r, source, &src);
	if (rc < 0)
		return rc;
	bl = repo_branch_lock(r, target);
	rc = merge_locked(r, source, target, s, ci, res, &src, &cs, &ch, &cb);
	repo_branch_unlock(r, bl);
	repo_commit_release(&cs);
	repo_commit_release(&ch);
	repo_commit_release(&cb);
	return rc;
}

static int merge_locked(struct repo *r, const char *source, const char *target,
			enum merge_strategy s, const struct commit_info *ci, struct merge_result *res,
			const struct oid *srcp, struct repo_commit *csp, struct repo_commit *chp,
			struct repo_commit *cbp)
{
	struct oid src = *srcp, head, base, root, parents[2];
	bool is_branch, found, anc;
	int64_t now = ci->time_ns ? ci->time_ns : repo_now_ns();
	int rc;

	rc = repo_resolve_ex(r, target, &head, &is_branch);
	if (rc == 0 && !is_branch)
		rc = t9k_err(-EINVAL, "merge target '%s' is not a branch", target);
	if (rc < 0)
		return rc;
	res->commit = head;
	rc = is_ancestor(r, &src, &head, &anc);
	if (rc < 0)
		return rc;
	if (anc) {
		res->up_to_date = true;
		return 0;
	}
	rc = is_ancestor(r, &head, &src, &anc);
	if (rc < 0)
		return rc;
	if (anc) {
		rc = repo_branch_move(r, target, &head, &src);
		if (rc == T9K_ECONFLICT)
			return t9k_err(rc, "branch '%s' moved during the merge; try again", target);
		res->fast_forward = true;
		res->commit = src;
		return rc;
	}
	rc = merge_base(r, &src, &head, &base, &found);
	if (rc == 0)
		rc = repo_commit_read(r, &src, csp);
	if (rc == 0)
		rc = repo_commit_read(r, &head, chp);
	if (rc == 0 && found)
		rc = repo_commit_read(r, &base, cbp);
	if (rc < 0)
		goto out;
	rc = merge_trees(r, found ? &cbp->c.root : NULL, &chp->c.root, &csp->c.root, s, now, res,
			 &root);
	if (rc < 0)
		goto out;
	parents[0] = head;
	parents[1] = src;
	{
		struct commit_info c2 = *ci;
		char msg[600];

		c2.time_ns = now;
		if (!c2.message || !*c2.message) {
			snprintf(msg, sizeof(msg), "Merge '%s' into '%s'", source, target);
			c2.message = msg;
		}
		rc = repo_write_commit(r, &root, parents, 2, &c2, &res->commit);
	}
	if (rc == 0)
		rc = repo_branch_move(r, target, &head, &res->commit);
	if (rc == T9K_ECONFLICT)
		rc = t9k_err(rc, "branch '%s' moved during the merge; try again", target);
out:
	return rc;
}

int repo_revert(struct repo *r, const char *branch, const char *what, const struct commit_info *ci,
		struct merge_result *res)
{
	struct repo_commit cw = { 0 }, cp = { 0 }, ch = { 0 };
	struct branch_lock *bl;
	struct oid id, head, root;
	char hex[OID_HEXSZ + 1], msg[600];
	bool is_branch;
	int64_t now = ci->time_ns ? ci->time_ns : repo_now_ns();
	int rc;

	memset(res, 0, sizeof(*res));
	rc = repo_need_db(r);
	if (rc < 0)
		return rc;
	bl = repo_branch_lock(r, branch);
	rc = repo_resolve(r, what, &id);
	if (rc == 0)
		rc = repo_resolve_ex(r, branch, &head, &is_branch);
	if (rc == 0 && !is_branch)
		rc = t9k_err(-EINVAL, "'%s' is not a branch", branch);
	if (rc == 0)
		rc = repo_commit_read(r, &id, &cw);
	if (rc == 0 && cw.c.nparents == 0)
		rc = t9k_err(-EINVAL, "cannot revert the initial commit");
	if (rc == 0)
		rc = repo_commit_read(r, &cw.c.parents[0], &cp);
	if (rc == 0)
		rc = repo_commit_read(r, &head, &ch);
	if (rc < 0)
		goto out;
	/* a merge of "what -> parent" into the head, with "what" as the base */
	rc = merge_trees(r, &cw.c.root, &ch.c.root, &cp.c.root, MERGE_FAIL, now, res, &root);
	if (rc < 0)
		goto out;
	{
		struct commit_info c2 = *ci;

		c2.time_ns = now;
		if (!c2.message || !*c2.message) {
			snprintf(msg, sizeof(msg), "Revert %.12s", oid_to_hex(&id, hex));
			c2.message = msg;
		}
		rc = repo_write_commit(r, &root, &head, 1, &c2, &res->commit);
	}
	if (rc == 0)
		rc = repo_branch_move(r, branch, &head, &res->commit);
	if (rc == T9K_ECONFLICT && !res->nconflicts)
		rc = t9k_err(rc, "branch '%s' moved during the revert; try again", branch);
out:
	repo_branch_unlock(r, bl);
	repo_commit_release(&cw);
	repo_commit_release(&cp);
	repo_commit_release(&ch);
	return rc;
}

/* ---- gc plan ---- */

struct reach {
	struct repo *r;
	struct oidset seen_meta, seen_chunk;
	struct oidset deltas; /* chunks stored as deltas ("deltas/<id>") */
	repo_key_fn fn;
	void *arg;
};

static int emit_key(struct reach *g, const char *ns, const struct oid *id)
{
	char key[CHUNK_KEY_MAX];

	chunk_key_ns(ns, id, key);
	return g->fn(g->arg, key);
}

/* A reachable chunk stored as a delta (store/chunk.h): reports its
 * object and its base, which nothing else may name. Then 1 when the chunk
 * is also stored whole, -ENOENT when not. */
static int reach_delta(struct reach *g, const struct oid *id)
{
	char key[CHUNK_KEY_MAX];
	struct buf obj = BUF_INIT;
	struct oid base;
	int rc = emit_key(g, CHUNK_NS_DELTA, id);

	chunk_key_ns(CHUNK_NS_DELTA, id, key);
	if (rc == 0)
		rc = store_get(g->r->store, key, 0, CHUNK_DELTA_HDR_SIZE, &obj);
	if (rc == 0 && !chunk_delta_base(obj.data, obj.len, &base))
		rc = t9k_err(T9K_ECORRUPT, "%s is not a delta chunk", key);
	if (rc == 0)
		rc = oidset_add(&g->seen_chunk, &base);
	if (rc > 0)
		rc = emit_key(g, CHUNK_NS_DATA, &base);
	buf_release(&obj);
	if (rc < 0)
		return rc;
	/* the chunk may be stored whole too (written again since) */
	chunk_key_ns(CHUNK_NS_DATA, id, key);
	rc = store_head(g->r->store, key, NULL);
	return rc == 0 ? 1 : rc;
}

/* Reports a file's manifest object (payload 0 only: a payload-2 entry has
 * none) and every chunk its manifest names, from meta_manifest_get. */
static int reach_file(struct reach *g, const struct tree_entry *e)
{
	struct manifest m = { 0 };
	int rc = 0;

	if (!e->is_chunk) {
		rc = oidset_add(&g->seen_meta, &e->id);
		if (rc <= 0)
			return rc;
		rc = emit_key(g, CHUNK_NS_META, &e->id);
	}
	if (rc == 0)
		rc = meta_manifest_get(g->r->mo, e, &m);
	for (uint32_t i = 0; rc == 0 && i < m.nchunks; i++) {
		const struct oid *cid = m.chunks[i].loc == MANIFEST_LOC_PACK ? &m.chunks[i].pack
									      : &m.chunks[i].id;

		rc = oidset_add(&g->seen_chunk, cid);
		if (rc > 0 && m.chunks[i].loc == MANIFEST_LOC_OBJECT && oidset_has(&g->deltas, cid))
			rc = reach_delta(g, cid);
		if (rc > 0 && m.chunks[i].loc == MANIFEST_LOC_PACK) {
			char key[PACK_KEY_MAX];

			pack_key(cid, key);
			rc = g->fn(g->arg, key);
		} else if (rc > 0) {
			rc = emit_key(g, CHUNK_NS_DATA, cid);
		}
		if (rc == -ENOENT) /* stored as a delta only */
			rc = 0;
	}
	manifest_release(&m);
	return rc < 0 ? rc : 0;
}

static int reach_tree(struct reach *g, const struct oid *id)
{
	struct meta_node *n;
	int rc = oidset_add(&g->seen_meta, id);

	if (rc <= 0)
		return rc;
	rc = emit_key(g, CHUNK_NS_META, id);
	if (rc == 0)
		rc = meta_node_get(g->r->mo, id, &n);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; rc == 0 && i < n->n.count; i++) {
		if (n->n.level > 0) {
			rc = reach_tree(g, &n->n.children[i].id);
			continue;
		}
		const struct tree_entry *e = &n->n.entries[i];

		if (e->is_inline || (!S_ISDIR(e->mode) && !S_ISREG(e->mode)))
			continue; /* special files name no object */
		rc = S_ISDIR(e->mode) ? reach_tree(g, &e->id) : reach_file(g, e);
	}
	meta_node_put(g->r->mo, n);
	return rc;
}

static int reach_commit(void *arg, const struct repo_commit *c)
{
	struct reach *g = arg;
	int rc = oidset_add(&g->seen_meta, &c->id);

	if (rc <= 0) /* history shared by several refs is reported once */
		return rc;
	rc = emit_key(g, CHUNK_NS_META, &c->id);
	return rc < 0 ? rc : reach_tree(g, &c->c.root);
}

static int reach_ref(const char *refname, const struct oid *id, void *arg)
{
	(void)refname;
	return repo_log(((struct reach *)arg)->r, id, false, 0, reach_commit, arg);
}

static int list_delta(const char *key, uint64_t size, void *arg)
{
	struct oidset *deltas = arg;
	struct oid id;
	int rc;

	(void)size;
	if (strncmp(key, CHUNK_NS_DELTA "/", sizeof(CHUNK_NS_DELTA)) ||
	    strlen(key) != sizeof(CHUNK_NS_DELTA) + OID_HEXSZ ||
	    oid_from_hex(&id, key + sizeof(CHUNK_NS_DELTA)) < 0)
		return 0; /* not a delta's key */
	rc = oidset_add(deltas, &id);
	return rc < 0 ? rc : 0;
}

int repo_gc_reachable(struct repo *r, repo_key_fn fn, void *arg)
{
	struct reach g = { .r = r, .fn = fn, .arg = arg };
	int rc = repo_need_db(r);

	/* the few chunks stored as deltas, known before the walk */
	if (rc == 0)
		rc = store_list(r->store, CHUNK_NS_DELTA "/", list_delta, &g.deltas);
	if (rc == 0)
		rc = meta_ref_list(r->db, r->info.name, "", reach_ref, &g);

	oidset_release(&g.seen_meta);
	oidset_release(&g.seen_chunk);
	oidset_release(&g.deltas);
	return rc;
}
