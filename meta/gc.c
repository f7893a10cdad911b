/* Garbage collection runs and the writers' guards (meta/gc.h); the walk
 * is meta/gc-walk.c, accounting meta/du.c.
 *
 * Runs: one per repository at a time (slot->run, the lease). A run's
 * thread owns everything in struct gc_run but the fields marked shared.
 * The guards reach a run through the registry (reg_mu) and hold
 * run->fence for their whole walk; the sweep holds it for each batch (the
 * filter against the marks, and the delete), so a guard's marks and a
 * batch never interleave. Lock order: reg_mu is a leaf (never held across
 * anything else); fence, then a mark set's own mutex.
 *
 * Fail closed: every error before the sweep ends the run with nothing
 * deleted (no ref expired either: expiry happens after the listing, and a
 * listing error stops the run first; an error later leaves only refs
 * deleted, never an object). A guard's error poisons the run: no batch is
 * deleted after it.
 */
#include "meta/gc-internal.h"

#include "lib/endian.h"
#include "lib/err.h"
#include "lib/log.h"
#include "store/chunk.h"
#include "store/pack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- runs and the registry ---- */

static const char *const phase_names[] = {
	"starting", "listing the store", "expiring refs", "marking", "planning",
	"dropping chunk index entries", "deleting", "done",
};

struct gc_slot {
	struct meta_db *db;
	char repo[META_REPO_NAME_MAX + 1];
	struct gc_run *run;   /* reg_mu: the lease */
	json_t *last;         /* reg_mu */
	uint64_t next_id;     /* reg_mu */
	struct window win[WINDOWS_MAX]; /* reg_mu: what recent runs deleted */
	struct gc_slot *next;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static struct gc_slot *reg_slots;  /* reg_mu */
static atomic_int armed_runs;      /* runs whose guards are armed */
static _Atomic int64_t windows_until; /* the latest end of any window */

static void window_hashes(const uint8_t *key, uint64_t nbits, uint64_t out[7])
{
	uint64_t h1 = get_le64(key + 1) ^ key[0], h2 = get_le64(key + 9) | 1;

	for (int i = 0; i < 7; i++)
		out[i] = (h1 + (uint64_t)i * h2) % nbits;
}

static void window_add(struct window *w, const uint8_t *key)
{
	uint64_t b[7];

	if (!w->bits)
		return;
	window_hashes(key, w->nbits, b);
	for (int i = 0; i < 7; i++)
		w->bits[b[i] / 8] |= (uint8_t)(1u << (b[i] % 8));
}

static bool window_maybe(const struct window *w, const uint8_t *key, int64_t now)
{
	uint64_t b[7];

	if (!w->bits || now > w->until_ns)
		return false;
	window_hashes(key, w->nbits, b);
	for (int i = 0; i < 7; i++)
		if (!(w->bits[b[i] / 8] & (1u << (b[i] % 8))))
			return false;
	return true;
}

static void window_release(struct window *w)
{
	free(w->bits);
	memset(w, 0, sizeof(*w));
}

/* With reg_mu held. */
static struct gc_slot *slot_find(struct meta_db *db, const char *repo, bool create)
{
	struct gc_slot *s;

	for (s = reg_slots; s; s = s->next)
		if (s->db == db && !strcmp(s->repo, repo))
			return s;
	if (!create || !(s = calloc(1, sizeof(*s))))
		return NULL;
	s->db = db;
	snprintf(s->repo, sizeof(s->repo), "%s", repo);
	s->next_id = 1;
	s->next = reg_slots;
	reg_slots = s;
	return s;
}

bool gc_run_doomed(struct gc_run *g, const uint8_t *key)
{
	return atomic_load(&g->deleting) && g->doomed && markset_has(g->doomed, key) == 1;
}

/* The armed run of repo, held for a guard, or NULL. */
static struct gc_run *run_get(struct meta_db *db, const char *repo)
{
	struct gc_run *g = NULL;
	struct gc_slot *s;

	if (!db || atomic_load(&armed_runs) == 0)
		return NULL;
	pthread_mutex_lock(&reg_mu);
	s = slot_find(db, repo, false);
	if (s && s->run && atomic_load(&s->run->armed)) {
		g = s->run;
		g->users++;
	}
	pthread_mutex_unlock(&reg_mu);
	return g;
}

static void run_put(struct gc_run *g)
{
	pthread_mutex_lock(&reg_mu);
	if (--g->users == 0)
		pthread_cond_broadcast(&reg_cv);
	pthread_mutex_unlock(&reg_mu);
}

static void set_phase(struct gc_run *g, int ph)
{
	atomic_store(&g->phase, ph);
	t9k_log(T9K_LOG_INFO, "gc %s #%" PRIu64 ": %s", g->repo, g->id, phase_names[ph]);
}

static int check_stop(struct gc_run *g)
{
	if (atomic_load(&g->stop))
		return t9k_err(-ECANCELED, "gc was stopped (the service is shutting down)");
	if (atomic_load(&g->poisoned))
		return t9k_err(-EIO, "gc stopped: a writer's guard failed during the run (see the "
			       "service log)");
	return 0;
}

/* ---- phase: listing ---- */

static int list_one(const struct store_obj *o, void *arg)
{
	struct gc_run *g = arg;
	uint8_t rec[REC];
	struct oid id;
	int kind = gc_key_parse(o->key, &id);
	size_t nd = strlen(CHUNK_NS_DELTA "/");

	atomic_fetch_add(&g->listed, 1);
	atomic_fetch_add(&g->listed_bytes, o->size);
	if (kind == K_OTHER) {
		g->other.n++;
		g->other.bytes += o->size;
		/* a delta chunk (store/chunk.h) is never deleted here, but it
		 * reads its base: the mark keeps that (gc_phase_mark) */
		if (!strncmp(o->key, CHUNK_NS_DELTA "/", nd) && strlen(o->key + nd) == OID_HEXSZ &&
		    oid_from_hex(&id, o->key + nd) == 0)
			return gc_tfile_add(&g->deltas, id.b, OID_RAWSZ);
		return 0;
	}
	g->by_kind_listed[kind].n++;
	g->by_kind_listed[kind].bytes += o->size;
	gc_key_make(rec, kind, &id);
	put_le64(rec + 33, o->size);
	put_le64(rec + 41, (uint64_t)o->mtime_ns);
	return gc_tfile_add(&g->list, rec, REC);
}

int gc_phase_list(struct gc_run *g)
{
	int rc = gc_tfile_open(&g->list, g->tmpdir);

	if (rc == 0)
		rc = gc_tfile_open(&g->deltas, g->tmpdir);
	if (rc == 0)
		rc = store_list_ex(repo_store(g->r), "", list_one, g);
	if (rc < 0)
		return t9k_err_wrap(rc, "listing the store");
	rc = gc_tfile_rewind(&g->deltas);
	return rc < 0 ? rc : gc_tfile_rewind(&g->list);
}

/* Marks the base chunk of every delta chunk listed: a delta reads the
 * first bytes of its base, which no manifest may name any more. A delta
 * written after the listing has a base younger than ten minutes (fs/incr.c
 * rebases older ones), which a grace period of that or more keeps. A
 * delta gone meanwhile was replaced by its whole chunk; any other error
 * ends the run before anything is deleted. */
static int mark_delta_bases(struct gc_run *g)
{
	struct buf hdr = BUF_INIT;
	int rc = 0;

	while (rc == 0) {
		const uint8_t *rec;
		char key[sizeof(CHUNK_NS_DELTA "/") + OID_HEXSZ];
		struct oid id, base;

		rc = gc_tfile_next(&g->deltas, OID_RAWSZ, &rec);
		if (rc <= 0)
			break;
		memcpy(id.b, rec, OID_RAWSZ);
		snprintf(key, sizeof(key), CHUNK_NS_DELTA "/%s", oid_to_hex(&id, (char[OID_HEXSZ + 1]){ 0 }));
		buf_reset(&hdr);
		rc = store_get(repo_store(g->r), key, 0, CHUNK_DELTA_HDR_SIZE, &hdr);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc < 0) {
			rc = t9k_err_wrap(rc, "reading the base of %s", key);
			break;
		}
		if (!chunk_delta_base(hdr.data, hdr.len, &base)) {
			rc = t9k_err(-EIO, "%s is not a delta chunk: nothing deleted", key);
			break;
		}
		rc = gc_mark_id(&g->w, K_CHUNK, &base, false);
		if (rc > 0)
			rc = 0;
		if (rc == 0)
			rc = check_stop(g);
	}
	buf_release(&hdr);
	return rc;
}

/* ---- phase: expiring refs ---- */

int gc_refs_add(const char *refname, const struct oid *id, void *arg)
{
	struct refs *rs = arg;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct ref_item *v = realloc(rs->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		rs->v = v;
		rs->cap = cap;
	}
	snprintf(rs->v[rs->n].name, sizeof(rs->v[rs->n].name), "%s", refname);
	rs->v[rs->n++].id = *id;
	return 0;
}

int gc_commit_load(struct gc_run *g, const struct oid *id, struct buf *raw, struct commit *c)
{
	char hex[OID_HEXSZ + 1];
	int rc;

	buf_reset(raw);
	rc = meta_object_get(g->mo, id, raw);
	if (rc == 0 && meta_object_type(raw->data, raw->len) != 'K')
		rc = t9k_err(T9K_ECORRUPT, "object %s is not a commit", oid_to_hex(id, hex));
	if (rc == 0)
		rc = commit_decode(raw->data, raw->len, c);
	if (rc < 0)
		return t9k_err_wrap(rc, "reading commit %s", oid_to_hex(id, hex));
	return 0;
}

static int has_staged(void *arg, const char *path, const struct tree_entry *e)
{
	(void)arg, (void)path, (void)e;
	return 1;
}

static int phase_expire(struct gc_run *g)
{
	struct refs rs = { 0 };
	struct buf raw = BUF_INIT;
	int64_t now = g->start_ns;
	int rc = meta_ref_list(g->db, g->repo, "", gc_refs_add, &rs);

	for (size_t i = 0; rc == 0 && i < rs.n; i++) {
		const char *name = rs.v[i].name;
		bool is_branch = !strncmp(name, "branch/", 7);
		const struct retention_policy *p;
		int64_t age_s, limit;
		struct commit c;

		if (is_branch) {
			if (!strcmp(name + 7, REPO_DEFAULT_BRANCH))
				continue; /* never main */
			p = retention_policy_for(&g->rt, name + 7);
			limit = p->stale_s;
		} else {
			limit = g->rt.tags_expire_s;
		}
		if (limit == RETENTION_UNSET)
			continue;
		rc = gc_commit_load(g, &rs.v[i].id, &raw, &c);
		if (rc < 0)
			break;
		age_s = (now - c.time_ns) / 1000000000;
		commit_release(&c);
		if (age_s <= limit)
			continue;
		if (is_branch) {
			rc = repo_staged(g->r, name + 7, "", has_staged, NULL);
			if (rc == 1) {
				rc = 0;
				continue; /* something staged: not untouched */
			}
			if (rc < 0)
				break;
			if (!g->o.dry_run)
				rc = meta_branch_expire(g->db, g->repo, name + 7, &rs.v[i].id);
		} else if (!g->o.dry_run) {
			rc = meta_ref_cas(g->db, g->repo, name, &rs.v[i].id, NULL);
		}
		if (rc == T9K_ECONFLICT) {
			t9k_log(T9K_LOG_INFO, "gc %s: %s moved or got staged changes: not expired",
				g->repo, name);
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		t9k_log(T9K_LOG_INFO, "gc %s: %s%s expired (%" PRId64 " s old)", g->repo, name,
			g->o.dry_run ? " would be" : "", age_s);
		json_array_append_new(is_branch ? g->expired_branches : g->expired_tags,
				      json_string(strchr(name, '/') + 1));
	}
	free(rs.v);
	buf_release(&raw);
	return rc;
}

/* ---- phase: marking ---- */

struct stage_walk {
	struct gc_run *g;
	struct walker *wk;
};

static int staged_mark(void *arg, const char *branch, const char *path,
		       const struct tree_entry *e, bool dir_attrs)
{
	struct stage_walk *sw = arg;
	int rc;

	if (!e || dir_attrs)
		return 0;
	if (!strncmp(sw->g->exclude, "branch/", 7) && !strcmp(sw->g->exclude + 7, branch))
		return 0;
	sw->g->staged++;
	rc = gc_visit_entry(&sw->g->w, sw->wk, e, false);
	if (rc < 0)
		return t9k_err_wrap(rc, "staged '%s' on branch '%s'", path, branch);
	return check_stop(sw->g);
}

/* Reads every commit the refs reach into the table, marking each commit
 * object. */
static int stack_push(struct oid **stack, size_t *n, size_t *cap, const struct oid *id)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct oid *s = realloc(*stack, c * sizeof(*s));

		if (!s)
			return t9k_err(-ENOMEM, "out of memory");
		*stack = s;
		*cap = c;
	}
	(*stack)[(*n)++] = *id;
	return 0;
}

int gc_load_history(struct gc_run *g, struct ctab *t, struct walk_ctx *w,
			const struct refs *rs)
{
	struct oid *stack = NULL;
	size_t n = 0, cap = 0;
	struct buf raw = BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i <= rs->n && rc == 0; i++) {
		if (i < rs->n) {
			rc = stack_push(&stack, &n, &cap, &rs->v[i].id);
			continue;
		}
		while (n > 0 && rc == 0) {
			struct oid id = stack[--n];
			struct commit c;

			if (gc_ctab_find(t, &id) != UINT32_MAX)
				continue;
			rc = gc_commit_load(g, &id, &raw, &c);
			if (rc < 0)
				break;
			rc = gc_ctab_add(t, &id, &c);
			for (int k = 0; rc == 0 && k < c.nparents; k++) {
				if (gc_ctab_find(t, &c.parents[k]) != UINT32_MAX)
					continue;
				rc = stack_push(&stack, &n, &cap, &c.parents[k]);
			}
			commit_release(&c);
			if (rc == 0)
				rc = gc_mark_id(w, K_META, &id, false);
			if (rc > 0)
				rc = 0;
			atomic_store(&g->ncommits, t->n);
			if (rc == 0)
				rc = check_stop(g);
		}
	}
	/* parent links */
	for (size_t i = 0; rc == 0 && i < t->np; i++)
		t->parents[i] = gc_ctab_find(t, &t->pids[i]);
	for (size_t i = 0; i < t->n; i++)
		if (gc_idset_has(&g->collected, &t->v[i].id))
			t->v[i].flags |= C_COLLECTED;
	free(stack);
	buf_release(&raw);
	return rc;
}

int gc_load_collected_one(const char *name, const void *val, size_t len, void *arg)
{
	struct gc_run *g = arg;
	struct oid id;

	(void)val, (void)len;
	if (oid_from_hex(&id, name + strlen(STATE_COLLECTED)) < 0)
		return 0;
	return gc_idset_add(&g->collected, &id) < 0 ? -ENOMEM : 0;
}

int gc_phase_mark(struct gc_run *g)
{
	struct stage_walk sw = { g, NULL };
	struct walker wk = { 0 };
	struct refs rs = { 0 };
	struct ctab *t = &g->commits;
	uint32_t gen = 0;
	int nthreads = store_concurrency(repo_store(g->r));
	int rc;

	rc = gc_walker_start(&wk, &g->w, nthreads < 4 ? 4 : nthreads);
	if (rc < 0)
		return rc;
	sw.wk = &wk;
	/* 1. staging, snapshot before the refs: an entry committed meanwhile
	 * is in the snapshot or in the head read below */
	rc = repo_staged_all(g->r, staged_mark, &sw);
	if (rc == 0)
		rc = gc_walker_wait(&wk);
	/* 2. the refs and their history */
	if (rc == 0)
		rc = meta_ref_list(g->db, g->repo, "", gc_refs_add, &rs);
	/* leave out the ref accounting excludes, and those expired (a dry
	 * run did not delete them) */
	for (size_t i = 0; rc == 0 && i < rs.n; i++) {
		const char *slash = strchr(rs.v[i].name, '/');
		json_t *ex = !strncmp(rs.v[i].name, "branch/", 7) ? g->expired_branches
								   : g->expired_tags;
		bool out = g->exclude[0] && !strcmp(rs.v[i].name, g->exclude);
		size_t k;
		json_t *v;

		json_array_foreach(ex, k, v)
			out |= slash && !strcmp(json_string_value(v), slash + 1);
		if (out)
			rs.v[i--] = rs.v[--rs.n];
	}
	if (rc == 0)
		rc = gc_load_history(g, t, &g->w, &rs);
	for (size_t i = 0; rc == 0 && i < rs.n; i++) {
		uint32_t h = gc_ctab_find(t, &rs.v[i].id);

		if (h == UINT32_MAX)
			continue;
		if (!strncmp(rs.v[i].name, "branch/", 7))
			rc = gc_keep_branch(t, g->start_ns, h,
					 retention_policy_for(&g->rt, rs.v[i].name + 7), ++gen);
		else
			t->v[h].flags |= C_KEPT; /* a tag keeps its commit */
	}
	/* 3. the data of the kept commits */
	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		struct witem it = { .type = W_TREE, .id = t->v[i].root };

		if (!(t->v[i].flags & C_KEPT))
			continue;
		g->kept++;
		if (t->v[i].flags & C_COLLECTED)
			continue; /* nothing left to keep */
		rc = gc_mark_id(&g->w, K_META, &it.id, false);
		if (rc == 1)
			rc = gc_walker_root(&wk, &it);
		if (rc > 0)
			rc = 0;
		if (rc == 0)
			rc = check_stop(g);
	}
	if (rc == 0)
		rc = gc_walker_wait(&wk);
	/* 4. young metadata objects: uploads and commits in flight */
	if (rc == 0)
		rc = gc_tfile_rewind(&g->list);
	while (rc == 0 && !g->no_young) {
		const uint8_t *rec;
		int64_t mtime;

		rc = gc_tfile_next(&g->list, REC, &rec);
		if (rc <= 0)
			break;
		rc = 0;
		mtime = (int64_t)get_le64(rec + 41);
		if (rec[0] != K_META || mtime < g->cutoff_ns)
			continue;
		rc = gc_mark(&g->w, rec, false);
		if (rc == 1) {
			struct witem it = { .type = W_ANY };

			memcpy(it.id.b, rec + 1, OID_RAWSZ);
			rc = gc_walker_root(&wk, &it);
		}
		if (rc > 0)
			rc = 0;
		if (rc == 0)
			rc = check_stop(g);
	}
	if (rc == 0)
		rc = gc_walker_wait(&wk);
	else
		(void)gc_walker_wait(&wk);
	gc_walker_stop(&wk);
	/* 5. the bases of delta chunks */
	if (rc == 0)
		rc = mark_delta_bases(g);
	free(rs.v);
	return rc;
}

/* ---- phase: planning ---- */

static int phase_plan(struct gc_run *g)
{
	size_t budget = (size_t)(g->o.max_memory / 4);
	uint8_t crec[41];
	int rc = markset_new(g->tmpdir, budget, &g->doomed);

	if (rc == 0)
		rc = gc_tfile_open(&g->cand, g->tmpdir);
	if (rc == 0)
		rc = gc_tfile_rewind(&g->list);
	while (rc == 0) {
		const uint8_t *rec;
		uint64_t size;
		int64_t mtime;

		rc = gc_tfile_next(&g->list, REC, &rec);
		if (rc <= 0)
			break;
		size = get_le64(rec + 33);
		mtime = (int64_t)get_le64(rec + 41);
		rc = markset_has(g->marks, rec);
		if (rc < 0)
			break;
		if (rc == 1) {
			rc = 0;
			g->marked.n++;
			g->marked.bytes += size;
			if (rec[0] == K_PACK) {
				struct oid id;
				uint64_t live;

				memcpy(id.b, rec + 1, OID_RAWSZ);
				live = gc_packmap_get(&g->packs, &id);
				g->packs_live++;
				g->packs_dead_bytes += live < size ? size - live : 0;
			}
			continue;
		}
		if (mtime >= g->cutoff_ns) {
			rc = 0;
			g->grace.n++;
			g->grace.bytes += size;
			continue;
		}
		memcpy(crec, rec, 33);
		put_le64(crec + 33, size);
		rc = gc_tfile_add(&g->cand, crec, sizeof(crec));
		if (rc == 0)
			rc = markset_add(g->doomed, rec);
		if (rc >= 0) {
			rc = 0;
			atomic_fetch_add(&g->ncand, 1);
			g->cand_bytes += size;
		}
	}
	if (rc == 0)
		rc = gc_tfile_rewind(&g->cand);
	if (rc < 0)
		return rc;
	/* commits whose data goes: recorded before the first delete, so a
	 * reader gets the clear error from then on; a record whose commit's
	 * data is whole again (its tree is reachable) is dropped */
	for (size_t i = 0; rc == 0 && i < g->commits.n; i++) {
		struct ccommit *c = &g->commits.v[i];
		char name[sizeof(STATE_COLLECTED) + OID_HEXSZ], hex[OID_HEXSZ + 1];
		uint8_t k[MARKSET_KEY];
		int has;

		gc_key_make(k, K_META, &c->root);
		has = markset_has(g->marks, k);
		if (has < 0)
			return has;
		snprintf(name, sizeof(name), "%s%s", STATE_COLLECTED, oid_to_hex(&c->id, hex));
		if (c->flags & C_COLLECTED) {
			g->collected_before++;
			if (has && !g->o.dry_run) {
				const char *names[1] = { name };

				rc = meta_gc_delete(g->db, g->repo, names, 1);
			}
			continue;
		}
		if ((c->flags & C_KEPT) || has)
			continue;
		g->collected_now++;
		if (json_array_size(g->collected_ids) < LIST_IDS_MAX)
			json_array_append_new(g->collected_ids, json_string(hex));
		if (!g->o.dry_run) {
			char when[24];

			snprintf(when, sizeof(when), "%" PRId64, g->start_ns);
			rc = meta_gc_put(g->db, g->repo, name, when, strlen(when));
		}
	}
	return rc;
}

/* ---- phases: index entries, then the sweep ---- */

struct drop_ctx {
	struct gc_run *g;
	struct meta_chunk_loc v[1024];
	size_t n;
};

static int drop_flush(struct drop_ctx *d)
{
	int rc = meta_chunk_index_drop(d->g->db, d->g->repo, d->v, d->n);

	d->g->index_dropped += rc == 0 ? d->n : 0;
	d->n = 0;
	return rc;
}

static int drop_one(const struct meta_chunk_loc *loc, void *arg)
{
	struct drop_ctx *d = arg;
	uint8_t k[MARKSET_KEY];
	int rc;

	gc_key_make(k, K_PACK, &loc->pack);
	rc = markset_has(d->g->doomed, k);
	if (rc == 1)
		rc = markset_has(d->g->marks, k) == 1 ? 0 : 2;
	if (rc == 2) {
		d->v[d->n++] = *loc;
		rc = d->n == sizeof(d->v) / sizeof(d->v[0]) ? drop_flush(d) : 0;
	}
	return rc < 0 ? rc : check_stop(d->g);
}

static int phase_index(struct gc_run *g)
{
	struct drop_ctx *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return t9k_err(-ENOMEM, "out of memory");
	d->g = g;
	rc = meta_chunk_index_list(g->db, g->repo, drop_one, d);
	if (rc == 0 && d->n)
		rc = drop_flush(d);
	free(d);
	return rc < 0 ? t9k_err_wrap(rc, "dropping chunk index entries") : 0;
}

static int phase_sweep(struct gc_run *g)
{
	static const char *const ns[] = { "", "meta", "chunks", "packs" };
	char (*names)[CHUNK_KEY_MAX + 8] = malloc(GC_DELETE_BATCH * sizeof(*names));
	const char **keys = malloc(GC_DELETE_BATCH * sizeof(*keys));
	uint64_t *sizes = malloc(GC_DELETE_BATCH * sizeof(*sizes));
	uint8_t *kinds = malloc(GC_DELETE_BATCH);
	bool end = false;
	int rc = 0;

	if (!names || !keys || !sizes || !kinds)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0) { /* about 10 bits a candidate (no filter: no memory, no window) */
		uint64_t nbits = atomic_load(&g->ncand) * 10 + 64;

		g->win.nbits = nbits > WINDOW_BITS_MAX ? WINDOW_BITS_MAX : nbits;
		g->win.bits = calloc(g->win.nbits / 8 + 1, 1);
		if (!g->win.bits)
			g->win.nbits = 0;
	}
	while (rc == 0 && !end) {
		uint8_t batch[GC_DELETE_BATCH][41];
		size_t n = 0, k = 0;

		while (n < g->batch) {
			const uint8_t *rec;

			rc = gc_tfile_next(&g->cand, 41, &rec);
			if (rc <= 0) {
				end = true;
				break;
			}
			memcpy(batch[n++], rec, 41);
		}
		if (rc < 0)
			break;
		rc = 0;
		if (n == 0)
			break;
		if (g->pause_ms)
			usleep(g->pause_ms * 1000u);
		pthread_mutex_lock(&g->fence);
		rc = check_stop(g);
		/* what a guard marked since the plan stays */
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct oid id;
			int has = markset_has(g->marks, batch[i]);

			if (has < 0) {
				rc = has;
				break;
			}
			if (has)
				continue;
			memcpy(id.b, batch[i] + 1, OID_RAWSZ);
			chunk_key_ns(ns[batch[i][0]], &id, names[k]);
			if (batch[i][0] == K_PACK) /* chunk_key_ns knows two namespaces */
				pack_key(&id, names[k]);
			keys[k] = names[k];
			sizes[k] = get_le64(batch[i] + 33);
			kinds[k++] = batch[i][0];
		}
		if (rc == 0 && k) {
			atomic_store(&g->deleting, true);
			rc = store_delete_many(repo_store(g->r), keys, k);
		}
		pthread_mutex_unlock(&g->fence);
		for (size_t i = 0; rc == 0 && i < k; i++) {
			uint8_t wkey[MARKSET_KEY];
			struct oid id;

			g->del_kind[kinds[i]].n++;
			g->del_kind[kinds[i]].bytes += sizes[i];
			gc_key_parse(keys[i], &id);
			gc_key_make(wkey, kinds[i], &id);
			window_add(&g->win, wkey);
			atomic_fetch_add(&g->deleted, 1);
			atomic_fetch_add(&g->deleted_bytes, sizes[i]);
		}
	}
	free(names);
	free(keys);
	free(sizes);
	free(kinds);
	return rc;
}

/* ---- a run from start to end ---- */

json_t *gc_counts_json(const struct counts *c)
{
	return json_pack("{s:I,s:I}", "objects", (json_int_t)c->n, "bytes", (json_int_t)c->bytes);
}

static json_t *run_result(struct gc_run *g, int rc, const char *err)
{
	struct counts del = { 0 };
	struct markset_stats ms = { 0 };
	struct store_stats st = { 0 };
	int64_t end = gc_clock_ns();
	json_t *j;

	for (int k = 1; k < 4; k++) {
		del.n += g->del_kind[k].n;
		del.bytes += g->del_kind[k].bytes;
	}
	if (g->marks)
		markset_get_stats(g->marks, &ms);
	if (g->r)
		store_get_stats(repo_store(g->r), &st);
	j = json_pack("{s:I,s:s,s:b,s:b,s:I,s:I,s:f,s:I,s:I,s:I}", "id", (json_int_t)g->id, "repo",
		      g->repo, "dry_run", g->o.dry_run, "ok", rc == 0, "started_ns",
		      (json_int_t)g->start_ns, "ended_ns", (json_int_t)end, "seconds",
		      (double)(end - g->start_ns) / 1e9, "grace_s", (json_int_t)g->grace_s,
		      "cutoff_ns", (json_int_t)g->cutoff_ns, "max_memory",
		      (json_int_t)g->o.max_memory);
	if (!j)
		return NULL;
	if (rc < 0) {
		json_object_set_new(j, "error", json_string(err));
		json_object_set_new(j, "failed_in", json_string(phase_names[atomic_load(&g->phase)]));
	}
	json_object_set_new(j, "listed", json_pack("{s:I,s:I,s:o,s:o,s:o,s:o}", "objects",
						   (json_int_t)atomic_load(&g->listed), "bytes",
						   (json_int_t)atomic_load(&g->listed_bytes), "meta",
						   gc_counts_json(&g->by_kind_listed[K_META]), "chunks",
						   gc_counts_json(&g->by_kind_listed[K_CHUNK]), "packs",
						   gc_counts_json(&g->by_kind_listed[K_PACK]), "other",
						   gc_counts_json(&g->other)));
	json_object_set_new(j, "marked", gc_counts_json(&g->marked));
	json_object_set_new(j, "kept_by_grace", gc_counts_json(&g->grace));
	if (g->o.dry_run) {
		struct counts would = { atomic_load(&g->ncand), g->cand_bytes };

		json_object_set_new(j, "would_delete", gc_counts_json(&would));
		json_object_set_new(j, "deleted", gc_counts_json(&(struct counts){ 0, 0 }));
	} else {
		json_object_set_new(j, "deleted", json_pack("{s:I,s:I,s:o,s:o,s:o}", "objects",
							    (json_int_t)del.n, "bytes",
							    (json_int_t)del.bytes, "meta",
							    gc_counts_json(&g->del_kind[K_META]), "chunks",
							    gc_counts_json(&g->del_kind[K_CHUNK]), "packs",
							    gc_counts_json(&g->del_kind[K_PACK])));
	}
	json_object_set_new(j, "packs", json_pack("{s:I,s:I,s:I}", "live", (json_int_t)g->packs_live,
						  "dead_bytes_in_live", (json_int_t)g->packs_dead_bytes,
						  "deleted", (json_int_t)g->del_kind[K_PACK].n));
	json_object_set_new(j, "index_entries_dropped", json_integer((json_int_t)g->index_dropped));
	json_object_set_new(j, "commits", json_pack("{s:I,s:I,s:I,s:I,s:O}", "total",
						    (json_int_t)g->commits.n, "kept",
						    (json_int_t)g->kept, "collected",
						    (json_int_t)g->collected_now,
						    "collected_before",
						    (json_int_t)g->collected_before, "collected_ids",
						    g->collected_ids));
	json_object_set_new(j, "expired", json_pack("{s:O,s:O}", "branches", g->expired_branches,
						    "tags", g->expired_tags));
	json_object_set_new(j, "staged_entries", json_integer((json_int_t)g->staged));
	json_object_set_new(j, "guarded", json_integer((json_int_t)atomic_load(&g->guarded)));
	json_object_set_new(j, "mark_set", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "keys",
						     (json_int_t)ms.keys, "spills",
						     (json_int_t)ms.spills, "merges",
						     (json_int_t)ms.merges, "disk_bytes",
						     (json_int_t)ms.disk_bytes, "mem_peak",
						     (json_int_t)ms.mem_peak, "reads",
						     (json_int_t)ms.reads));
	json_object_set_new(j, "store", json_pack("{s:I,s:I,s:I}", "requests",
						  (json_int_t)(st.requests - g->st0.requests),
						  "retries", (json_int_t)(st.retries - g->st0.retries),
						  "objects_read",
						  (json_int_t)atomic_load(&g->w.reads)));
	return j;
}

/* Other repositories of this service on the same store would lose their
 * objects to this one's sweep. */
struct share_ctx {
	const char *repo, *url;
	char other[META_REPO_NAME_MAX + 1];
};

static size_t url_base_len(const char *u)
{
	size_t n = strcspn(u, "?");

	while (n > 0 && u[n - 1] == '/')
		n--;
	return n;
}

static int share_one(const struct meta_repo *r, void *arg)
{
	struct share_ctx *c = arg;
	size_t a = url_base_len(c->url), b = url_base_len(r->store_url);

	if (strcmp(r->name, c->repo) && a == b && !strncmp(c->url, r->store_url, a)) {
		snprintf(c->other, sizeof(c->other), "%s", r->name);
		return 1;
	}
	return 0;
}

static int run_phases(struct gc_run *g)
{
	struct share_ctx sc = { g->repo, NULL, "" };
	int rc = repo_open(g->db, g->repo, &g->r);

	if (rc == 0) {
		sc.url = repo_info(g->r)->store_url;
		rc = meta_repo_list(g->db, share_one, &sc);
		if (rc == 1)
			rc = t9k_err(-EINVAL, "repository '%s' shares its store with repository '%s': "
				     "gc would delete the other's objects; refusing", g->repo, sc.other);
	}
	if (rc == 0)
		rc = meta_objects_new(repo_store(g->r), OBJ_CACHE_BYTES, &g->mo);
	if (rc == 0)
		rc = markset_new(g->tmpdir, (size_t)(g->o.max_memory - g->o.max_memory / 4), &g->marks);
	if (rc < 0)
		return rc;
	store_get_stats(repo_store(g->r), &g->st0);
	g->w.mo = g->mo;
	g->w.store = repo_store(g->r);
	g->w.set = g->marks;
	g->w.packs = &g->packs;
	g->w.run = g;
	g->w.stop = &g->stop;
	/* arm the guards before anything is looked at */
	atomic_store(&g->armed, true);
	atomic_fetch_add(&armed_runs, 1);

	set_phase(g, PH_LIST);
	rc = gc_phase_list(g);
	if (rc == 0)
		rc = check_stop(g);
	if (rc == 0)
		rc = meta_gc_list(g->db, g->repo, STATE_COLLECTED, gc_load_collected_one, g);
	if (rc == 0) {
		set_phase(g, PH_EXPIRE);
		rc = phase_expire(g);
	}
	if (rc == 0) {
		set_phase(g, PH_MARK);
		rc = gc_phase_mark(g);
	}
	if (rc == 0)
		rc = check_stop(g);
	if (rc == 0) {
		set_phase(g, PH_PLAN);
		rc = phase_plan(g);
	}
	if (rc < 0 || g->o.dry_run)
		return rc;
	set_phase(g, PH_INDEX);
	rc = check_stop(g);
	if (rc == 0) /* deleted meanwhile: its objects stay, as a delete says */
		rc = meta_repo_get(g->db, g->repo, &(struct meta_repo){ 0 });
	if (rc == 0)
		rc = phase_index(g);
	if (rc == 0) {
		set_phase(g, PH_SWEEP);
		rc = phase_sweep(g);
	}
	return rc;
}

void gc_run_free(struct gc_run *g)
{
	markset_free(g->marks);
	markset_free(g->doomed);
	gc_packmap_release(&g->packs);
	gc_idset_release(&g->collected);
	gc_ctab_release(&g->commits);
	gc_tfile_close(&g->list);
	gc_tfile_close(&g->cand);
	gc_tfile_close(&g->deltas);
	meta_objects_free(g->mo);
	repo_close(g->r);
	json_decref(g->collected_ids);
	json_decref(g->expired_branches);
	json_decref(g->expired_tags);
	window_release(&g->win);
	pthread_mutex_destroy(&g->fence);
	free(g);
}

static void *run_thread(void *arg)
{
	struct gc_run *g = arg;
	struct gc_slot *s = g->slot;
	char err[600] = "";
	struct window win;
	uint64_t deleted;
	int64_t grace_s;
	json_t *res;
	int rc = run_phases(g);

	if (rc < 0) {
		uint64_t d = atomic_load(&g->deleted);

		if (d == 0)
			snprintf(err, sizeof(err), "gc of repository '%s' stopped before deleting "
				 "anything: %s", g->repo, t9k_errmsg(rc));
		else
			snprintf(err, sizeof(err), "gc of repository '%s' stopped after deleting %"
				 PRIu64 " objects (all unreachable): %s", g->repo, d, t9k_errmsg(rc));
		t9k_log(T9K_LOG_ERROR, "%s", err);
	}
	set_phase(g, PH_DONE);
	/* disarm, and wait for the guards inside to leave */
	if (atomic_exchange(&g->armed, false))
		atomic_fetch_sub(&armed_runs, 1);
	pthread_mutex_lock(&reg_mu);
	while (g->users > 0)
		pthread_cond_wait(&reg_cv, &reg_mu);
	pthread_mutex_unlock(&reg_mu);
	res = run_result(g, rc, err);
	if (res && !g->o.dry_run) {
		char *txt = json_dumps(res, JSON_COMPACT);

		if (txt && meta_gc_put(g->db, g->repo, STATE_LAST, txt, strlen(txt)) < 0)
			t9k_log(T9K_LOG_WARN, "gc %s: recording the result: %s", g->repo,
				t9k_errmsg(-EIO));
		free(txt);
	}
	t9k_log(T9K_LOG_INFO, "gc %s #%" PRIu64 ": %s", g->repo, g->id, rc ? "failed" : "done");
	win = g->win;
	g->win.bits = NULL;
	deleted = atomic_load(&g->deleted);
	grace_s = g->grace_s;
	gc_run_free(g);
	pthread_mutex_lock(&reg_mu);
	json_decref(s->last);
	s->last = res;
	s->run = NULL;
	if (win.bits && deleted) {
		int64_t now = gc_clock_ns(), until;
		int k = 0;

		/* the longest upload that may have looked before a delete */
		until = now + (grace_s > WINDOW_MIN_S ? grace_s : WINDOW_MIN_S) * 1000000000;
		for (int i = 1; i < WINDOWS_MAX; i++) /* the oldest (or an empty) one goes */
			if (s->win[i].until_ns < s->win[k].until_ns)
				k = i;
		window_release(&s->win[k]);
		win.until_ns = until;
		s->win[k] = win;
		win.bits = NULL;
		if (until > atomic_load(&windows_until))
			atomic_store(&windows_until, until);
	}
	pthread_cond_broadcast(&reg_cv);
	pthread_mutex_unlock(&reg_mu);
	free(win.bits);
	return NULL;
}

int gc_start(struct meta_db *db, const char *repo, const struct gc_opts *o, uint64_t *run_id)
{
	struct gc_run *g;
	struct gc_slot *s;
	struct retention rt;
	pthread_attr_t attr;
	pthread_t tid;
	int64_t grace;
	int rc = meta_repo_name_check(repo);

	if (rc == 0)
		rc = retention_load(db, repo, &rt);
	if (rc < 0)
		return rc;
	grace = o->grace_s == RETENTION_UNSET ? rt.grace_s : o->grace_s;
	if (grace < 0 || grace > RETENTION_DURATION_MAX_S)
		return t9k_err(-EINVAL, "grace period of %" PRId64 " s is out of range", grace);
	if (grace < rt.min_grace_s) {
		char a[32], b[32];

		return t9k_err(-EINVAL, "grace %s is below repository '%s''s min_grace %s (the "
			       "longest upload an import can take; 't9kfs retention set %s "
			       "--min-grace' changes it)", retention_format_duration(grace, a, sizeof(a)),
			       repo, retention_format_duration(rt.min_grace_s, b, sizeof(b)), repo);
	}
	if (o->max_memory && o->max_memory < GC_MAX_MEMORY_MIN)
		return t9k_err(-EINVAL, "max memory %" PRIu64 " bytes is below the least, 256 KiB",
			       o->max_memory);
	g = calloc(1, sizeof(*g));
	if (!g)
		return t9k_err(-ENOMEM, "out of memory");
	g->db = db;
	snprintf(g->repo, sizeof(g->repo), "%s", repo);
	g->o = *o;
	if (!g->o.max_memory)
		g->o.max_memory = GC_MAX_MEMORY_DEFAULT;
	snprintf(g->tmpdir, sizeof(g->tmpdir), "%s", o->tmpdir ? o->tmpdir : "");
	g->o.tmpdir = g->tmpdir;
	g->rt = rt;
	g->grace_s = grace;
	g->start_ns = gc_clock_ns();
	g->cutoff_ns = g->start_ns - grace * 1000000000;
	g->list.fd = g->cand.fd = g->deltas.fd = -1;
	/* test hooks (like git's GIT_TEST_*): a window to kill or race a run
	 * mid-sweep, and smaller batches so a small dataset has several */
	if (getenv("T9KFS_GC_TEST_PAUSE_MS"))
		g->pause_ms = (unsigned)strtoul(getenv("T9KFS_GC_TEST_PAUSE_MS"), NULL, 10) % 600000;
	g->batch = GC_DELETE_BATCH;
	if (getenv("T9KFS_GC_TEST_BATCH")) {
		unsigned long b = strtoul(getenv("T9KFS_GC_TEST_BATCH"), NULL, 10);

		g->batch = b >= 1 && b < GC_DELETE_BATCH ? (unsigned)b : GC_DELETE_BATCH;
	}
	pthread_mutex_init(&g->fence, NULL);
	pthread_mutex_init(&g->packs.mu, NULL);
	g->collected_ids = json_array();
	g->expired_branches = json_array();
	g->expired_tags = json_array();
	if (!g->collected_ids || !g->expired_branches || !g->expired_tags) {
		gc_run_free(g);
		return t9k_err(-ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&reg_mu);
	s = slot_find(db, repo, true);
	if (!s || s->run) {
		char when[64] = "";

		if (s) {
			time_t t = (time_t)(s->run->start_ns / 1000000000);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		}
		pthread_mutex_unlock(&reg_mu);
		gc_run_free(g);
		return s ? t9k_err(-EBUSY, "a gc of repository '%s' is already running (since %s); "
				   "one at a time", repo, when)
			 : t9k_err(-ENOMEM, "out of memory");
	}
	g->slot = s;
	g->id = s->next_id++;
	s->run = g;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, run_thread, g);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		s->run = NULL;
		pthread_mutex_unlock(&reg_mu);
		gc_run_free(g);
		return t9k_err(-rc, "cannot start a gc thread: %s", strerror(rc));
	}
	*run_id = g->id;
	pthread_mutex_unlock(&reg_mu);
	return 0;
}

void gc_wait(struct meta_db *db, const char *repo, uint64_t run_id)
{
	struct gc_slot *s;

	pthread_mutex_lock(&reg_mu);
	s = slot_find(db, repo, false);
	while (s && s->run && s->run->id <= run_id)
		pthread_cond_wait(&reg_cv, &reg_mu);
	pthread_mutex_unlock(&reg_mu);
}

void gc_shutdown(struct meta_db *db)
{
	pthread_mutex_lock(&reg_mu);
	for (struct gc_slot *s = reg_slots; s; s = s->next)
		if (s->db == db && s->run)
			atomic_store(&s->run->stop, true);
	for (;;) {
		bool busy = false;

		for (struct gc_slot *s = reg_slots; s; s = s->next)
			busy |= s->db == db && s->run;
		if (!busy)
			break;
		pthread_cond_wait(&reg_cv, &reg_mu);
	}
	/* forget the db's slots: the db is going away */
	for (struct gc_slot **p = &reg_slots; *p;) {
		struct gc_slot *s = *p;

		if (s->db == db) {
			*p = s->next;
			json_decref(s->last);
			for (int i = 0; i < WINDOWS_MAX; i++)
				window_release(&s->win[i]);
			free(s);
		} else {
			p = &s->next;
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

static json_t *progress_json(struct gc_run *g)
{
	return json_pack("{s:I,s:s,s:b,s:I,s:I,s:{s:I,s:I},s:I,s:I,s:I,s:I,s:{s:I,s:I}}", "id",
			 (json_int_t)g->id, "phase", phase_names[atomic_load(&g->phase)], "dry_run",
			 g->o.dry_run, "started_ns", (json_int_t)g->start_ns, "grace_s",
			 (json_int_t)g->grace_s, "listed", "objects",
			 (json_int_t)atomic_load(&g->listed), "bytes",
			 (json_int_t)atomic_load(&g->listed_bytes), "marked",
			 (json_int_t)atomic_load(&g->w.marked), "objects_read",
			 (json_int_t)atomic_load(&g->w.reads), "commits",
			 (json_int_t)atomic_load(&g->ncommits), "candidates",
			 (json_int_t)atomic_load(&g->ncand), "deleted", "objects",
			 (json_int_t)atomic_load(&g->deleted), "bytes",
			 (json_int_t)atomic_load(&g->deleted_bytes));
}

int gc_status(struct meta_db *db, const char *repo, json_t **out)
{
	json_t *run = NULL, *last = NULL;
	struct meta_repo info;
	struct gc_slot *s;
	int rc = meta_repo_get(db, repo, &info);

	*out = NULL;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&reg_mu);
	s = slot_find(db, repo, false);
	if (s && s->run)
		run = progress_json(s->run);
	if (s && s->last)
		last = json_incref(s->last);
	pthread_mutex_unlock(&reg_mu);
	if (!last) {
		void *val;
		size_t len;

		if (meta_gc_get(db, repo, STATE_LAST, &val, &len) == 0) {
			last = json_loadb(val, len, 0, NULL);
			free(val);
		}
	}
	*out = json_pack("{s:b,s:o,s:o}", "running", run != NULL, "run", run ? run : json_null(),
			 "last", last ? last : json_null());
	return *out ? 0 : t9k_err(-ENOMEM, "out of memory");
}

/* ---- collected commits ---- */

int gc_collected_get(struct meta_db *db, const char *repo, const struct oid *id,
		     int64_t *when_ns)
{
	char name[sizeof(STATE_COLLECTED) + OID_HEXSZ], hex[OID_HEXSZ + 1], txt[24];
	void *val;
	size_t len;
	int rc;

	snprintf(name, sizeof(name), "%s%s", STATE_COLLECTED, oid_to_hex(id, hex));
	rc = meta_gc_get(db, repo, name, &val, &len);
	if (rc < 0)
		return rc;
	snprintf(txt, sizeof(txt), "%.*s", (int)(len < 23 ? len : 23), (char *)val);
	free(val);
	*when_ns = strtoll(txt, NULL, 10);
	return 0;
}

int gc_collected_error(const struct oid *id, int64_t when_ns)
{
	char hex[OID_HEXSZ + 1], when[64];
	time_t t = (time_t)(when_ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return t9k_err(T9K_ENOTFOUND, "data of commit %.12s was removed by gc on %s under the "
		       "repository's retention rules", oid_to_hex(id, hex), when);
}

/* ---- guards ---- */

/* A walk context on the run's sets reading through the caller's handle
 * (whose cache has what the caller just wrote). */
static void guard_ctx(struct gc_run *g, struct repo *r, struct walk_ctx *w)
{
	memset(w, 0, sizeof(*w));
	w->mo = repo_objects(r);
	w->store = repo_store(r);
	w->set = g->marks;
	w->packs = &g->packs;
	w->run = g;
}

static int guard_end(struct gc_run *g, struct walk_ctx *w, int rc)
{
	atomic_fetch_add(&g->guarded, atomic_load(&w->marked));
	/* marks left half-made before the sweep could hide a live object's
	 * children from the run's own walk: no deleting after that */
	if (rc < 0 && !atomic_load(&g->deleting)) {
		atomic_store(&g->poisoned, true);
		t9k_log(T9K_LOG_WARN, "gc %s: a guard failed (%s): this run will delete nothing",
			g->repo, t9k_errmsg(rc));
	}
	return rc;
}

/* 0, or T9K_ENOTFOUND when key is among what a recent run deleted and
 * the store confirms it is gone. */
static int window_key_gone(struct repo *r, const uint8_t *key)
{
	char name[CHUNK_KEY_MAX + 8];
	int64_t now = gc_clock_ns();
	bool maybe = false;
	struct gc_slot *s;
	uint64_t size;
	int rc;

	pthread_mutex_lock(&reg_mu);
	s = slot_find(repo_db(r), repo_info(r)->name, false);
	for (int i = 0; s && i < WINDOWS_MAX && !maybe; i++)
		maybe = window_maybe(&s->win[i], key, now);
	pthread_mutex_unlock(&reg_mu);
	if (!maybe)
		return 0;
	gc_key_name(key, name, sizeof(name));
	rc = store_head(repo_store(r), name, &size);
	if (rc == -ENOENT)
		return t9k_err(T9K_ENOTFOUND, "object %s was removed by a gc run of this repository; "
			       "store the data again", name);
	return rc < 0 ? rc : 0;
}

/* The objects staged entries name, and a manifest's chunks and packs,
 * against what recent runs deleted. */
static int window_check(struct repo *r, const struct repo_stage_item *items, size_t n)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct tree_entry *e = items[i].entry;
		struct manifest m = { 0 };
		uint8_t k[MARKSET_KEY];

		if (!e || items[i].dir_attrs || e->is_inline || (!S_ISDIR(e->mode) && !S_ISREG(e->mode)))
			continue;
		gc_key_make(k, S_ISREG(e->mode) && e->is_chunk ? K_CHUNK : K_META, &e->id);
		rc = window_key_gone(r, k);
		if (rc == 0 && S_ISREG(e->mode) && !e->is_chunk)
			rc = meta_manifest_get(repo_objects(r), e, &m);
		for (uint32_t c = 0; rc == 0 && c < m.nchunks; c++) {
			const struct manifest_chunk *mc = &m.chunks[c];

			if (mc->loc == MANIFEST_LOC_PACK && c > 0 && m.chunks[c - 1].loc == MANIFEST_LOC_PACK &&
			    oid_eq(&m.chunks[c - 1].pack, &mc->pack))
				continue; /* that pack was just asked about */
			gc_key_make(k, mc->loc == MANIFEST_LOC_PACK ? K_PACK : K_CHUNK,
				 mc->loc == MANIFEST_LOC_PACK ? &mc->pack : &mc->id);
			rc = window_key_gone(r, k);
		}
		manifest_release(&m);
		if (rc < 0)
			rc = t9k_err_wrap(rc, "cannot stage '%s'", items[i].path);
	}
	return rc;
}

int gc_guard_stage(struct repo *r, const struct repo_stage_item *items, size_t n)
{
	struct gc_run *g;
	struct walk_ctx w;
	int rc = 0;

	if (!repo_db(r))
		return 0;
	if (gc_clock_ns() < atomic_load(&windows_until) && (rc = window_check(r, items, n)) < 0)
		return rc;
	g = run_get(repo_db(r), repo_info(r)->name);
	if (!g)
		return 0;
	guard_ctx(g, r, &w);
	pthread_mutex_lock(&g->fence);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!items[i].entry || items[i].dir_attrs)
			continue;
		rc = gc_visit_entry(&w, NULL, items[i].entry, true);
		if (rc < 0)
			rc = t9k_err_wrap(rc, "cannot stage '%s'", items[i].path);
	}
	rc = guard_end(g, &w, rc);
	pthread_mutex_unlock(&g->fence);
	run_put(g);
	return rc;
}

int gc_guard_commit(struct repo *r, const struct oid *commit)
{
	struct gc_run *g = run_get(repo_db(r), repo_info(r)->name);
	struct witem it = { .type = W_COMMIT, .id = *commit };
	struct walk_ctx w;
	int rc;

	if (!g)
		return 0;
	guard_ctx(g, r, &w);
	pthread_mutex_lock(&g->fence);
	rc = gc_mark_id(&w, K_META, commit, true);
	/* a commit whose data is gone keeps only its object */
	if (rc == 1 && !gc_idset_has(&g->collected, commit))
		rc = gc_visit(&w, NULL, &it, true);
	rc = guard_end(g, &w, rc < 0 ? rc : 0);
	pthread_mutex_unlock(&g->fence);
	run_put(g);
	return rc;
}

int gc_guard_pack(struct repo *r, const struct oid *pack)
{
	struct gc_run *g = run_get(repo_db(r), repo_info(r)->name);
	struct walk_ctx w;
	int rc;

	if (!g)
		return 0;
	guard_ctx(g, r, &w);
	pthread_mutex_lock(&g->fence);
	rc = gc_mark_id(&w, K_PACK, pack, true);
	if (rc == T9K_ENOTFOUND) {
		t9k_err_clear();
		rc = -ENOENT; /* deleted: a miss, the writer stores the chunk again */
	} else {
		rc = guard_end(g, &w, rc < 0 ? rc : 0);
	}
	pthread_mutex_unlock(&g->fence);
	run_put(g);
	return rc;
}

/* ---- the API's side ---- */

int gc_api_retention(struct meta_db *db, const char *repo, const json_t *body, json_t **out)
{
	struct retention rt;
	int rc = retention_load(db, repo, &rt);

	*out = NULL;
	if (rc == 0 && body) {
		rc = retention_from_json(body, &rt);
		if (rc == 0)
			rc = retention_save(db, repo, &rt);
	}
	if (rc < 0)
		return rc;
	*out = retention_to_json(&rt);
	return *out ? 0 : t9k_err(-ENOMEM, "out of memory");
}

int gc_api_start(struct meta_db *db, const char *repo, const json_t *body, unsigned *status,
		 json_t **out)
{
	static const char *const keys[] = { "dry_run", "grace_s", "max_memory", "wait", NULL };
	struct gc_opts o = { .grace_s = RETENTION_UNSET };
	json_t *v, *st;
	const char *k;
	uint64_t id;
	bool wait = false;
	int rc;

	*out = NULL;
	json_object_foreach((json_t *)body, k, v) {
		bool ok = false;

		for (int i = 0; keys[i]; i++)
			ok |= !strcmp(keys[i], k);
		if (!ok)
			return t9k_err(-EINVAL, "request body: unknown field \"%s\" (want dry_run, "
				       "grace_s, max_memory, wait)", k);
	}
	if ((v = json_object_get(body, "dry_run")) && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return t9k_err(-EINVAL, "request body \"dry_run\" is not true or false");
		o.dry_run = json_is_true(v);
	}
	if ((v = json_object_get(body, "wait")) && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return t9k_err(-EINVAL, "request body \"wait\" is not true or false");
		wait = json_is_true(v);
	}
	if ((v = json_object_get(body, "grace_s")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > RETENTION_DURATION_MAX_S)
			return t9k_err(-EINVAL, "request body \"grace_s\" is not a number of seconds");
		o.grace_s = json_integer_value(v);
	}
	if ((v = json_object_get(body, "max_memory")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)GC_MAX_MEMORY_MIN)
			return t9k_err(-EINVAL, "request body \"max_memory\" is not a size in bytes of "
				       "at least 256 KiB");
		o.max_memory = (uint64_t)json_integer_value(v);
	}
	rc = gc_start(db, repo, &o, &id);
	if (rc < 0)
		return rc;
	if (!wait) {
		*status = 202;
		*out = json_pack("{s:I,s:b}", "id", (json_int_t)id, "dry_run", o.dry_run);
		return *out ? 0 : t9k_err(-ENOMEM, "out of memory");
	}
	gc_wait(db, repo, id);
	rc = gc_status(db, repo, &st);
	if (rc < 0)
		return rc;
	*status = 200;
	*out = json_incref(json_object_get(st, "last"));
	json_decref(st);
	return 0;
}
