/* Accounting (meta/gc.h gc_du): a run's listing and marking without the
 * sweep, plus what one ref alone reaches and the logical size of trees
 * (each directory id summed once). */
#include "meta/gc-internal.h"

#include "lib/endian.h"
#include "lib/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Logical size of trees, each directory id summed once (memo). */
struct lsize {
	struct oid id;
	uint64_t bytes, files;
};

struct logical {
	struct meta_objects *mo;
	struct lsize *v;
	uint8_t *used;
	size_t cap, n;
};

static size_t ls_slot(const struct logical *l, const struct oid *id)
{
	size_t i = (size_t)get_le64(id->b + 24) & (l->cap - 1);

	while (l->used[i] && !oid_eq(&l->v[i].id, id))
		i = (i + 1) & (l->cap - 1);
	return i;
}

static int ls_put(struct logical *l, const struct oid *id, uint64_t bytes, uint64_t files)
{
	size_t i;

	if ((l->n + 1) * 4 > l->cap * 3) {
		struct logical n = { .mo = l->mo, .cap = l->cap ? l->cap * 2 : 1024 };

		n.v = malloc(n.cap * sizeof(*n.v));
		n.used = calloc(n.cap, 1);
		if (!n.v || !n.used) {
			free(n.v);
			free(n.used);
			return t9k_err(-ENOMEM, "out of memory");
		}
		for (size_t k = 0; k < l->cap; k++)
			if (l->used[k]) {
				size_t j = ls_slot(&n, &l->v[k].id);

				n.v[j] = l->v[k];
				n.used[j] = 1;
				n.n++;
			}
		free(l->v);
		free(l->used);
		*l = n;
	}
	i = ls_slot(l, id);
	l->used[i] = 1;
	l->v[i] = (struct lsize){ *id, bytes, files };
	l->n++;
	return 0;
}

static int tree_logical(struct logical *l, const struct oid *id, uint64_t *bytes, uint64_t *files)
{
	struct meta_node *n;
	uint64_t b = 0, f = 0;
	int rc;

	if (l->cap && l->used[ls_slot(l, id)]) {
		*bytes = l->v[ls_slot(l, id)].bytes;
		*files = l->v[ls_slot(l, id)].files;
		return 0;
	}
	rc = meta_node_get(l->mo, id, &n);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; rc == 0 && i < n->n.count; i++) {
		uint64_t cb = 0, cf = 0;

		if (n->n.level > 0) {
			rc = tree_logical(l, &n->n.children[i].id, &cb, &cf);
		} else if (S_ISDIR(n->n.entries[i].mode)) {
			rc = tree_logical(l, &n->n.entries[i].id, &cb, &cf);
		} else if (S_ISREG(n->n.entries[i].mode)) {
			cb = n->n.entries[i].size;
			cf = 1;
		}
		b += cb;
		f += cf;
	}
	meta_node_put(l->mo, n);
	if (rc == 0)
		rc = ls_put(l, id, b, f);
	*bytes = b;
	*files = f;
	return rc;
}

static int commit_logical(struct gc_run *g, struct logical *l, const struct oid *commit,
			  uint64_t *bytes, uint64_t *files)
{
	struct buf raw = BUF_INIT;
	struct commit c;
	int64_t when;
	int rc = gc_collected_get(g->db, g->repo, commit, &when);

	*bytes = *files = 0;
	if (rc == 0)
		return 1; /* its data is gone */
	rc = gc_commit_load(g, commit, &raw, &c);
	if (rc == 0) {
		rc = tree_logical(l, &c.root, bytes, files);
		commit_release(&c);
	}
	buf_release(&raw);
	return rc;
}

struct du_refs {
	struct gc_run *g;
	struct logical *l;
	struct idset seen;
	uint64_t bytes, files;
	int rc;
};

static int du_ref(const char *refname, const struct oid *id, void *arg)
{
	struct du_refs *d = arg;
	uint64_t b, f;
	int rc;

	(void)refname;
	rc = gc_idset_add(&d->seen, id);
	if (rc <= 0)
		return rc;
	rc = commit_logical(d->g, d->l, id, &b, &f);
	if (rc < 0)
		return rc;
	d->bytes += b;
	d->files += f;
	return 0;
}

struct du_staged {
	struct walk_ctx *w;
	struct walker *wk;
};

static int du_staged_one(void *arg, const char *path, const struct tree_entry *e)
{
	struct du_staged *d = arg;

	(void)path;
	return e ? gc_visit_entry(d->w, d->wk, e, false) : 0;
}

/* What only ref (spec) reaches: marked into set, skipping what the run's
 * mark set holds. */
static int du_unique(struct gc_run *g, const char *refname, const struct oid *head,
		     struct markset *set)
{
	struct walk_ctx w = g->w;
	struct walker wk = { 0 };
	struct ctab t = { 0 };
	struct refs rs = { 0 };
	int rc;

	w.set = set;
	w.skip = g->marks;
	w.packs = NULL;
	atomic_store(&w.marked, 0);
	atomic_store(&w.reads, 0);
	rc = gc_walker_start(&wk, &w, 8);
	if (rc < 0)
		return rc;
	if (!strncmp(refname, "branch/", 7)) {
		struct du_staged ds = { &w, &wk };

		rc = repo_staged(g->r, refname + 7, "", du_staged_one, &ds);
	}
	if (rc == 0)
		rc = gc_refs_add(refname, head, &rs);
	if (rc == 0)
		rc = gc_load_history(g, &t, &w, &rs);
	for (size_t i = 0; rc == 0 && i < t.n; i++)
		if (gc_idset_has(&g->collected, &t.v[i].id))
			t.v[i].flags |= C_COLLECTED;
	if (rc == 0 && t.n) {
		if (!strncmp(refname, "branch/", 7))
			rc = gc_keep_branch(&t, g->start_ns, 0,
					 retention_policy_for(&g->rt, refname + 7), 1);
		else
			t.v[0].flags |= C_KEPT;
	}
	for (size_t i = 0; rc == 0 && i < t.n; i++) {
		struct witem it = { .type = W_TREE, .id = t.v[i].root };

		if (!(t.v[i].flags & C_KEPT) || (t.v[i].flags & C_COLLECTED))
			continue;
		rc = gc_mark_id(&w, K_META, &it.id, false);
		if (rc == 1)
			rc = gc_walker_root(&wk, &it);
		if (rc > 0)
			rc = 0;
	}
	if (rc == 0)
		rc = gc_walker_wait(&wk);
	else
		(void)gc_walker_wait(&wk);
	gc_walker_stop(&wk);
	atomic_fetch_add(&g->w.reads, atomic_load(&w.reads));
	gc_ctab_release(&t);
	free(rs.v);
	return rc;
}

int gc_du(struct meta_db *db, const char *repo, const char *spec, uint64_t max_memory,
	  json_t **out)
{
	struct gc_run *g = calloc(1, sizeof(*g));
	struct markset *uniq = NULL;
	struct logical l = { 0 };
	struct du_refs dr = { 0 };
	struct counts reach = { 0 }, garbage = { 0 }, old = { 0 }, unique = { 0 }, data = { 0 };
	struct oid head = { 0 };
	uint64_t rbytes = 0, rfiles = 0;
	bool is_branch = false;
	json_t *j = NULL;
	int rc;

	*out = NULL;
	if (!g)
		return t9k_err(-ENOMEM, "out of memory");
	g->db = db;
	snprintf(g->repo, sizeof(g->repo), "%s", repo);
	g->o.dry_run = true;
	g->o.max_memory = max_memory ? max_memory : GC_MAX_MEMORY_DEFAULT;
	g->start_ns = gc_clock_ns();
	g->no_young = true;
	g->list.fd = g->cand.fd = g->deltas.fd = -1;
	pthread_mutex_init(&g->fence, NULL);
	pthread_mutex_init(&g->packs.mu, NULL);
	rc = retention_load(db, repo, &g->rt);
	if (rc == 0)
		rc = repo_open(db, repo, &g->r);
	if (rc == 0)
		rc = meta_objects_new(repo_store(g->r), OBJ_CACHE_BYTES, &g->mo);
	if (rc == 0 && spec) {
		char ref[META_REF_MAX + 8];

		rc = repo_resolve_ex(g->r, spec, &head, &is_branch);
		snprintf(ref, sizeof(ref), "tag/%s", spec);
		if (rc == 0 && is_branch)
			snprintf(g->exclude, sizeof(g->exclude), "branch/%s", spec);
		else if (rc == 0 && meta_ref_get(db, repo, ref, &(struct oid){ 0 }) == 0)
			snprintf(g->exclude, sizeof(g->exclude), "%s", ref);
		t9k_err_clear();
	}
	if (rc == 0)
		rc = markset_new(NULL, (size_t)(g->o.max_memory / 2), &g->marks);
	if (rc == 0 && spec)
		rc = markset_new(NULL, (size_t)(g->o.max_memory / 4), &uniq);
	if (rc < 0)
		goto out;
	g->w.mo = g->mo;
	g->w.store = repo_store(g->r);
	g->w.set = g->marks;
	g->w.packs = &g->packs;
	rc = gc_phase_list(g);
	if (rc == 0)
		rc = meta_gc_list(db, repo, STATE_COLLECTED, gc_load_collected_one, g);
	if (rc == 0)
		rc = gc_phase_mark(g);
	if (rc == 0 && spec)
		rc = du_unique(g, g->exclude[0] ? g->exclude : "commit", &head, uniq);
	if (rc == 0)
		rc = gc_tfile_rewind(&g->list);
	while (rc == 0) {
		const uint8_t *rec;
		uint64_t size;
		int64_t mtime;
		int in_a, in_b = 0;

		rc = gc_tfile_next(&g->list, REC, &rec);
		if (rc <= 0)
			break;
		rc = 0;
		size = get_le64(rec + 33);
		mtime = (int64_t)get_le64(rec + 41);
		in_a = markset_has(g->marks, rec);
		if (in_a == 0 && uniq)
			in_b = markset_has(uniq, rec);
		if (in_a < 0 || in_b < 0) {
			rc = in_a < 0 ? in_a : in_b;
			break;
		}
		if (in_a || in_b) {
			reach.n++;
			reach.bytes += size;
			if (rec[0] != K_META) {
				data.n++;
				data.bytes += size;
			}
		} else {
			garbage.n++;
			garbage.bytes += size;
			if (mtime < g->start_ns - g->rt.grace_s * 1000000000) {
				old.n++;
				old.bytes += size;
			}
		}
		if (in_b) {
			unique.n++;
			unique.bytes += size;
		}
	}
	if (rc < 0)
		goto out;
	l.mo = g->mo;
	dr.g = g;
	dr.l = &l;
	rc = meta_ref_list(db, repo, "", du_ref, &dr);
	if (rc == 0 && spec) {
		rc = commit_logical(g, &l, &head, &rbytes, &rfiles);
		if (rc == 1) {
			int64_t when = 0;

			(void)gc_collected_get(db, repo, &head, &when);
			rc = gc_collected_error(&head, when);
		}
	}
	if (rc < 0)
		goto out;
	{
		struct counts stored = { atomic_load(&g->listed), atomic_load(&g->listed_bytes) };
		char hex[OID_HEXSZ + 1];

		j = json_pack("{s:s,s:o,s:o,s:o,s:o,s:{s:I,s:I},s:f,s:I}", "repo", repo, "stored",
			      json_pack("{s:I,s:I,s:o,s:o,s:o,s:o}", "objects", (json_int_t)stored.n,
					"bytes", (json_int_t)stored.bytes, "meta",
					gc_counts_json(&g->by_kind_listed[K_META]), "chunks",
					gc_counts_json(&g->by_kind_listed[K_CHUNK]), "packs",
					gc_counts_json(&g->by_kind_listed[K_PACK]), "other",
					gc_counts_json(&g->other)),
			      "reachable", gc_counts_json(&reach), "garbage", gc_counts_json(&garbage),
			      "garbage_past_grace", gc_counts_json(&old), "logical", "bytes",
			      (json_int_t)dr.bytes, "files", (json_int_t)dr.files, "dedup_ratio",
			      data.bytes ? (double)dr.bytes / (double)data.bytes : 0.0,
			      "refs_counted", (json_int_t)dr.seen.n);
		if (j && spec)
			json_object_set_new(j, "ref", json_pack("{s:s,s:s,s:b,s:{s:I,s:I},s:o}", "spec",
								spec, "commit", oid_to_hex(&head, hex),
								"branch", is_branch, "logical", "bytes",
								(json_int_t)rbytes, "files",
								(json_int_t)rfiles, "unique",
								gc_counts_json(&unique)));
		if (!j)
			rc = t9k_err(-ENOMEM, "out of memory");
	}
out:
	*out = j;
	free(l.v);
	free(l.used);
	gc_idset_release(&dr.seen);
	markset_free(uniq);
	g->collected_ids = g->expired_branches = g->expired_tags = NULL;
	gc_run_free(g);
	return rc;
}
