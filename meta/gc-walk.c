/* The walk of gc (meta/gc-internal.h): store keys, temporary record
 * files, live bytes per pack, id sets, the threads that mark what objects
 * reach, and the commit table with the retention rules applied to it.
 *
 * The walk: a visited object is marked before it is queued (a mark set
 * add that returns 1), so each tree id is read once however many commits
 * share it. Threads take items from a bounded queue; an item that does
 * not fit is visited by the thread that found it, so memory is the queue
 * and the stack of open nodes (tree depth), not the dataset. The first
 * error stops the walk and is what the waiter gets (messages are per
 * thread: it is copied under the walker's lock).
 */
#include "meta/gc-internal.h"

#include "lib/endian.h"
#include "lib/err.h"
#include "lib/util.h"
#include "store/chunk.h"
#include "store/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t gc_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void gc_key_make(uint8_t *k, int kind, const struct oid *id)
{
	k[0] = (uint8_t)kind;
	memcpy(k + 1, id->b, OID_RAWSZ);
}

/* A store key's kind and id; K_OTHER for keys gc never touches. */
int gc_key_parse(const char *key, struct oid *id)
{
	static const struct {
		const char *prefix;
		int kind;
	} ns[] = { { "meta/", K_META }, { "chunks/", K_CHUNK }, { "packs/", K_PACK } };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		size_t n = strlen(ns[i].prefix);

		if (!strncmp(key, ns[i].prefix, n) && strlen(key + n) == OID_HEXSZ &&
		    oid_from_hex(id, key + n) == 0) {
			char hex[OID_HEXSZ + 1];

			/* only the canonical (lower-case) spelling is ours */
			if (strcmp(oid_to_hex(id, hex), key + n))
				return K_OTHER;
			return ns[i].kind;
		}
	}
	return K_OTHER;
}

void gc_key_name(const uint8_t *k, char *out, size_t size)
{
	char hex[OID_HEXSZ + 1];
	struct oid id;

	memcpy(id.b, k + 1, OID_RAWSZ);
	oid_to_hex(&id, hex);
	snprintf(out, size, "%s/%s", k[0] == K_META ? "meta" : k[0] == K_CHUNK ? "chunks" : "packs",
		 hex);
}

/* ---- temporary record files ---- */

int gc_tfile_open(struct tfile *t, const char *tmpdir)
{
	const char *dir = tmpdir && *tmpdir ? tmpdir : getenv("TMPDIR");
	char tmpl[4200];

	memset(t, 0, sizeof(*t));
	if (!dir || !*dir)
		dir = "/tmp";
	t->buf = malloc(TF_BUF);
	if (!t->buf)
		return t9k_err(-ENOMEM, "out of memory");
	t->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (t->fd < 0) {
		snprintf(tmpl, sizeof(tmpl), "%s/t9kfs-gc.XXXXXX", dir);
		t->fd = mkostemp(tmpl, O_CLOEXEC);
		if (t->fd >= 0)
			unlink(tmpl);
	}
	if (t->fd < 0) {
		int e = errno;

		free(t->buf);
		t->buf = NULL;
		return t9k_err(-e, "creating a temporary file in %s: %s", dir, strerror(e));
	}
	return 0;
}

void gc_tfile_close(struct tfile *t)
{
	if (t->buf)
		free(t->buf);
	if (t->fd > 0)
		close(t->fd);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

static int tfile_flush(struct tfile *t)
{
	int rc;

	if (!t->len)
		return 0;
	rc = pwrite_full(t->fd, t->buf, t->len, (off_t)t->off);
	if (rc < 0)
		return t9k_err(rc, "writing a temporary file: %s", strerror(-rc));
	t->off += t->len;
	t->len = 0;
	return 0;
}

int gc_tfile_add(struct tfile *t, const void *rec, size_t n)
{
	int rc = t->len + n > TF_BUF ? tfile_flush(t) : 0;

	if (rc < 0)
		return rc;
	memcpy(t->buf + t->len, rec, n);
	t->len += n;
	t->n++;
	return 0;
}

/* Switches a written file to reading from its start. */
int gc_tfile_rewind(struct tfile *t)
{
	int rc = tfile_flush(t);

	t->off = 0;
	t->len = t->pos = 0;
	return rc;
}

/* 1 with *rec pointing at the next n bytes, 0 at the end, < 0. */
int gc_tfile_next(struct tfile *t, size_t n, const uint8_t **rec)
{
	if (t->pos + n > t->len) {
		ssize_t got = pread_full(t->fd, t->buf, TF_BUF / n * n, (off_t)t->off);

		if (got < 0)
			return t9k_err((int)got, "reading a temporary file: %s", strerror((int)-got));
		t->off += (uint64_t)got;
		t->len = (size_t)got;
		t->pos = 0;
		if ((size_t)got < n)
			return 0;
	}
	*rec = t->buf + t->pos;
	t->pos += n;
	return 1;
}

/* ---- live bytes per pack ---- */

void gc_packmap_release(struct packmap *p)
{
	free(p->v);
	pthread_mutex_destroy(&p->mu);
}

static size_t pm_find(struct pm_slot *v, size_t cap, const struct oid *id)
{
	size_t i = (size_t)get_le64(id->b) & (cap - 1);

	while (v[i].used && !oid_eq(&v[i].id, id))
		i = (i + 1) & (cap - 1);
	return i;
}

int gc_packmap_add(struct packmap *p, const struct oid *id, uint64_t bytes)
{
	size_t i;

	pthread_mutex_lock(&p->mu);
	if ((p->n + 1) * 4 > p->cap * 3) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		struct pm_slot *v = calloc(cap, sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&p->mu);
			return t9k_err(-ENOMEM, "out of memory");
		}
		for (size_t k = 0; k < p->cap; k++)
			if (p->v[k].used)
				v[pm_find(v, cap, &p->v[k].id)] = p->v[k];
		free(p->v);
		p->v = v;
		p->cap = cap;
	}
	i = pm_find(p->v, p->cap, id);
	if (!p->v[i].used) {
		p->v[i].used = true;
		p->v[i].id = *id;
		p->n++;
	}
	p->v[i].live += bytes;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

uint64_t gc_packmap_get(struct packmap *p, const struct oid *id)
{
	uint64_t v = 0;

	pthread_mutex_lock(&p->mu);
	if (p->cap) {
		size_t i = pm_find(p->v, p->cap, id);

		v = p->v[i].used ? p->v[i].live : 0;
	}
	pthread_mutex_unlock(&p->mu);
	return v;
}

/* ---- a set of ids in memory (commits: collected, seen) ---- */

static size_t ids_slot(const struct idset *s, const struct oid *id)
{
	size_t i = (size_t)get_le64(id->b + 8) & (s->cap - 1);

	while (s->used[i] && !oid_eq(&s->v[i], id))
		i = (i + 1) & (s->cap - 1);
	return i;
}

bool gc_idset_has(const struct idset *s, const struct oid *id)
{
	return s->cap && s->used[ids_slot(s, id)];
}

int gc_idset_add(struct idset *s, const struct oid *id)
{
	size_t i;

	if ((s->n + 1) * 4 > s->cap * 3) {
		struct idset n = { 0 };

		n.cap = s->cap ? s->cap * 2 : 256;
		n.v = malloc(n.cap * sizeof(*n.v));
		n.used = calloc(n.cap, 1);
		if (!n.v || !n.used) {
			free(n.v);
			free(n.used);
			return t9k_err(-ENOMEM, "out of memory");
		}
		for (size_t k = 0; k < s->cap; k++)
			if (s->used[k]) {
				size_t j = ids_slot(&n, &s->v[k]);

				n.v[j] = s->v[k];
				n.used[j] = 1;
				n.n++;
			}
		free(s->v);
		free(s->used);
		*s = n;
	}
	i = ids_slot(s, id);
	if (s->used[i])
		return 0;
	s->used[i] = 1;
	s->v[i] = *id;
	s->n++;
	return 1;
}

void gc_idset_release(struct idset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

/* ---- the walk: marking what objects reach ---- */

static bool should_stop(struct walk_ctx *w)
{
	return w->stop && atomic_load(w->stop);
}

/* 1 when key is newly marked (its children need a visit), 0 when it was
 * marked (or is in skip), < 0. With check (a guard during the sweep), a
 * newly marked candidate of the run must still exist. */
int gc_mark(struct walk_ctx *w, const uint8_t *key, bool check)
{
	int rc;

	if (w->skip && (rc = markset_has(w->skip, key)) != 0)
		return rc < 0 ? rc : 0;
	rc = markset_add(w->set, key);
	if (rc == 1) {
		atomic_fetch_add(&w->marked, 1);
		if (check && w->run && gc_run_doomed(w->run, key)) {
			char name[CHUNK_KEY_MAX + 8];
			uint64_t size;
			int h;

			gc_key_name(key, name, sizeof(name));
			h = store_head(w->store, name, &size);
			if (h == -ENOENT)
				return t9k_err(T9K_ENOTFOUND, "object %s was removed by a gc run of "
					       "this repository; store the data again", name);
			if (h < 0)
				return h;
		}
	}
	return rc;
}

int gc_mark_id(struct walk_ctx *w, int kind, const struct oid *id, bool check)
{
	uint8_t k[MARKSET_KEY];

	gc_key_make(k, kind, id);
	return gc_mark(w, k, check);
}

/* Queues it, or visits it here when the queue is full (or there is no
 * walker: a guard walks in its own thread). */
static int emit(struct walk_ctx *w, struct walker *wk, const struct witem *it, bool check)
{
	if (wk) {
		pthread_mutex_lock(&wk->mu);
		if (wk->n < WALK_QUEUE && wk->rc == 0) {
			wk->q[(wk->head + wk->n++) % WALK_QUEUE] = *it;
			pthread_cond_signal(&wk->work);
			pthread_mutex_unlock(&wk->mu);
			return 0;
		}
		pthread_mutex_unlock(&wk->mu);
	}
	return gc_visit(w, wk, it, check);
}

static int visit_manifest_chunks(struct walk_ctx *w, const struct manifest *m, bool check)
{
	int rc = 0;

	for (uint32_t i = 0; rc >= 0 && i < m->nchunks; i++) {
		const struct manifest_chunk *c = &m->chunks[i];

		if (c->loc != MANIFEST_LOC_PACK) {
			rc = gc_mark_id(w, K_CHUNK, &c->id, check);
			continue;
		}
		rc = gc_mark_id(w, K_PACK, &c->pack, check);
		if (rc >= 0 && w->packs) {
			struct oid x;

			for (int b = 0; b < OID_RAWSZ; b++)
				x.b[b] = c->id.b[b] ^ c->pack.b[b];
			rc = gc_mark_id(w, K_PCHUNK, &x, false);
			if (rc == 1)
				rc = gc_packmap_add(w->packs, &c->pack, c->pack_len);
		}
	}
	return rc < 0 ? rc : 0;
}

int gc_visit_entry(struct walk_ctx *w, struct walker *wk, const struct tree_entry *e,
		       bool check)
{
	struct witem it = { 0 };
	int rc;

	if (e->is_inline)
		return 0;
	if (S_ISDIR(e->mode)) {
		it.type = W_TREE;
	} else if (S_ISREG(e->mode)) {
		if (e->is_chunk) {
			rc = gc_mark_id(w, K_CHUNK, &e->id, check);
			return rc < 0 ? rc : 0;
		}
		it.type = W_MANIFEST;
		it.size = e->size;
	} else {
		return 0; /* symlinks are inline; special files have no data */
	}
	it.id = e->id;
	rc = gc_mark_id(w, K_META, &e->id, check);
	if (rc == 1)
		rc = emit(w, wk, &it, check);
	return rc < 0 ? rc : 0;
}

static int visit_tree_node(struct walk_ctx *w, struct walker *wk, const struct tree_node *n,
			   bool check)
{
	int rc = 0;

	for (uint32_t i = 0; rc >= 0 && i < n->count; i++) {
		if (n->level > 0) {
			struct witem it = { .type = W_TREE, .id = n->children[i].id };

			rc = gc_mark_id(w, K_META, &it.id, check);
			if (rc == 1)
				rc = emit(w, wk, &it, check);
		} else {
			rc = gc_visit_entry(w, wk, &n->entries[i], check);
		}
		if (rc >= 0 && should_stop(w))
			rc = t9k_err(-ECANCELED, "gc was stopped (the service is shutting down)");
	}
	return rc < 0 ? rc : 0;
}

static int visit_commit_root(struct walk_ctx *w, struct walker *wk, const struct commit *c,
			     bool check)
{
	struct witem it = { .type = W_TREE, .id = c->root };
	int rc = gc_mark_id(w, K_META, &c->root, check);

	if (rc == 1)
		rc = emit(w, wk, &it, check);
	return rc < 0 ? rc : 0;
}

/* Visits one object (already marked by whoever emitted it). A failure to
 * read it names it; failures below keep their own names. */
int gc_visit(struct walk_ctx *w, struct walker *wk, const struct witem *it, bool check)
{
	char hex[OID_HEXSZ + 1];
	struct buf raw = BUF_INIT;
	int rc;

	atomic_fetch_add(&w->reads, 1);
	if (it->type == W_TREE) {
		struct meta_node *n;

		rc = meta_node_get(w->mo, &it->id, &n);
		if (rc < 0)
			return t9k_err_wrap(rc, "reading tree %s", oid_to_hex(&it->id, hex));
		rc = visit_tree_node(w, wk, &n->n, check);
		meta_node_put(w->mo, n);
		return rc;
	}
	if (it->type == W_MANIFEST) {
		struct tree_entry e = { .mode = S_IFREG, .size = it->size, .id = it->id };
		struct manifest m = { 0 };

		rc = meta_manifest_get(w->mo, &e, &m);
		if (rc < 0)
			return t9k_err_wrap(rc, "reading manifest %s", oid_to_hex(&it->id, hex));
		rc = visit_manifest_chunks(w, &m, check);
		manifest_release(&m);
		return rc;
	}
	/* W_ANY (a young object of any type), W_COMMIT (its tree) */
	rc = meta_object_get(w->mo, &it->id, &raw);
	if (rc < 0)
		return t9k_err_wrap(rc, "reading object %s", oid_to_hex(&it->id, hex));
	switch (meta_object_type(raw.data, raw.len)) {
	case 'K': {
		struct commit c;

		rc = commit_decode(raw.data, raw.len, &c);
		if (rc == 0) {
			rc = visit_commit_root(w, wk, &c, check);
			commit_release(&c);
		}
		break;
	}
	case 'T':
		if (it->type == W_ANY) {
			struct tree_node n;

			rc = tree_node_decode(raw.data, raw.len, &n);
			if (rc == 0) {
				rc = visit_tree_node(w, wk, &n, check);
				tree_node_release(&n);
			}
			break;
		}
		/* fall through */
	case 'M':
		if (it->type == W_ANY) {
			struct manifest m = { 0 };

			rc = manifest_decode(raw.data, raw.len, &m);
			if (rc == 0)
				rc = visit_manifest_chunks(w, &m, check);
			manifest_release(&m);
			break;
		}
		/* fall through */
	default:
		if (it->type == W_COMMIT)
			rc = t9k_err(T9K_ECORRUPT, "object %s is not a commit",
				     oid_to_hex(&it->id, hex));
		/* a young object of another kind names nothing */
	}
	buf_release(&raw);
	return rc;
}

static void *walker_thread(void *arg)
{
	struct walker *wk = arg;

	pthread_mutex_lock(&wk->mu);
	for (;;) {
		struct witem it;
		int rc;

		while (wk->n == 0 && !wk->quit)
			pthread_cond_wait(&wk->work, &wk->mu);
		if (wk->quit)
			break;
		it = wk->q[wk->head];
		wk->head = (wk->head + 1) % WALK_QUEUE;
		wk->n--;
		wk->busy++;
		pthread_mutex_unlock(&wk->mu);
		rc = wk->rc ? 0 : gc_visit(wk->w, wk, &it, false);
		pthread_mutex_lock(&wk->mu);
		if (rc < 0 && wk->rc == 0) {
			wk->rc = rc;
			snprintf(wk->errmsg, sizeof(wk->errmsg), "%s", t9k_errmsg(rc));
			wk->n = 0; /* drop the rest: the run fails anyway */
		}
		wk->busy--;
		if (wk->n == 0 && wk->busy == 0)
			pthread_cond_broadcast(&wk->idle);
	}
	pthread_mutex_unlock(&wk->mu);
	return NULL;
}

int gc_walker_start(struct walker *wk, struct walk_ctx *w, int nthreads)
{
	memset(wk, 0, sizeof(*wk));
	wk->w = w;
	wk->q = malloc(WALK_QUEUE * sizeof(*wk->q));
	if (!wk->q)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&wk->mu, NULL);
	pthread_cond_init(&wk->work, NULL);
	pthread_cond_init(&wk->idle, NULL);
	if (nthreads > WALK_THREADS_MAX)
		nthreads = WALK_THREADS_MAX;
	if (nthreads < 1)
		nthreads = 1;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&wk->tid[i], NULL, walker_thread, wk) != 0)
			break;
		wk->nthreads++;
	}
	return wk->nthreads ? 0 : t9k_err(-EAGAIN, "cannot start gc walker threads");
}

/* Waits until nothing is queued or being visited; the first error (its
 * message re-recorded for this thread). */
int gc_walker_wait(struct walker *wk)
{
	char msg[512];
	int rc;

	pthread_mutex_lock(&wk->mu);
	while (wk->n > 0 || wk->busy > 0)
		pthread_cond_wait(&wk->idle, &wk->mu);
	rc = wk->rc;
	snprintf(msg, sizeof(msg), "%s", wk->errmsg);
	pthread_mutex_unlock(&wk->mu);
	return rc < 0 ? t9k_err(rc, "%s", msg) : 0;
}

/* Emits a root from the calling thread; a failure there is recorded as the
 * walker's. */
int gc_walker_root(struct walker *wk, const struct witem *it)
{
	int rc = emit(wk->w, wk, it, false);

	if (rc < 0) {
		pthread_mutex_lock(&wk->mu);
		if (wk->rc == 0) {
			wk->rc = rc;
			snprintf(wk->errmsg, sizeof(wk->errmsg), "%s", t9k_errmsg(rc));
		}
		pthread_mutex_unlock(&wk->mu);
	}
	return rc;
}

void gc_walker_stop(struct walker *wk)
{
	if (!wk->q)
		return;
	pthread_mutex_lock(&wk->mu);
	wk->quit = true;
	pthread_cond_broadcast(&wk->work);
	pthread_mutex_unlock(&wk->mu);
	for (int i = 0; i < wk->nthreads; i++)
		pthread_join(wk->tid[i], NULL);
	pthread_mutex_destroy(&wk->mu);
	pthread_cond_destroy(&wk->work);
	pthread_cond_destroy(&wk->idle);
	free(wk->q);
	wk->q = NULL;
}

/* ---- commits: the history every ref reaches ---- */

void gc_ctab_release(struct ctab *t)
{
	free(t->v);
	free(t->parents);
	free(t->pids);
	free(t->hash);
	memset(t, 0, sizeof(*t));
}

uint32_t gc_ctab_find(const struct ctab *t, const struct oid *id)
{
	size_t i;

	if (!t->hcap)
		return UINT32_MAX;
	for (i = (size_t)get_le64(id->b + 16) & (t->hcap - 1); t->hash[i];
	     i = (i + 1) & (t->hcap - 1))
		if (oid_eq(&t->v[t->hash[i] - 1].id, id))
			return t->hash[i] - 1;
	return UINT32_MAX;
}

static int ctab_grow(struct ctab *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct ccommit *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory for the commit table");
		t->v = v;
		t->cap = cap;
	}
	if ((t->n + 1) * 2 > t->hcap) {
		size_t cap = t->hcap ? t->hcap * 2 : 512;
		uint32_t *h = calloc(cap, sizeof(*h));

		if (!h)
			return t9k_err(-ENOMEM, "out of memory for the commit table");
		for (size_t k = 0; k < t->n; k++) {
			size_t i = (size_t)get_le64(t->v[k].id.b + 16) & (cap - 1);

			while (h[i])
				i = (i + 1) & (cap - 1);
			h[i] = (uint32_t)k + 1;
		}
		free(t->hash);
		t->hash = h;
		t->hcap = cap;
	}
	return 0;
}

/* Adds a decoded commit (its parents resolved later). */
int gc_ctab_add(struct ctab *t, const struct oid *id, const struct commit *c)
{
	struct ccommit *cc;
	size_t i;
	int rc = ctab_grow(t);

	if (rc < 0)
		return rc;
	if (t->np + c->nparents > t->pcap) {
		size_t cap = t->pcap ? t->pcap * 2 : 512;
		struct oid *p;
		uint32_t *q;

		while (cap < t->np + c->nparents)
			cap *= 2;
		p = realloc(t->pids, cap * sizeof(*p));
		if (p)
			t->pids = p;
		q = realloc(t->parents, cap * sizeof(*q));
		if (q)
			t->parents = q;
		if (!p || !q)
			return t9k_err(-ENOMEM, "out of memory for the commit table");
		t->pcap = cap;
	}
	cc = &t->v[t->n];
	memset(cc, 0, sizeof(*cc));
	cc->id = *id;
	cc->root = c->root;
	cc->time_ns = c->time_ns;
	cc->p0 = (uint32_t)t->np;
	cc->np = c->nparents;
	for (int k = 0; k < c->nparents; k++) {
		t->pids[t->np] = c->parents[k];
		t->parents[t->np++] = UINT32_MAX;
	}
	for (i = (size_t)get_le64(id->b + 16) & (t->hcap - 1); t->hash[i]; i = (i + 1) & (t->hcap - 1))
		;
	t->hash[i] = (uint32_t)t->n + 1;
	t->n++;
	return 0;
}

/* Flags the commits branch head (index h) keeps under policy p. */
int gc_keep_branch(struct ctab *t, int64_t now, uint32_t h, const struct retention_policy *p,
		       uint32_t gen)
{
	uint32_t *stack = NULL;
	size_t n = 0, cap = 0;
	bool all = retention_keeps_all(p);
	int64_t cutoff = p->keep_within_s == RETENTION_UNSET
				 ? INT64_MAX
				 : now - p->keep_within_s * 1000000000;
	int rc = 0;

	t->v[h].flags |= C_KEPT;
	if (p->keep_last != RETENTION_UNSET) {
		uint32_t c = h;

		for (int64_t i = 0; i < p->keep_last && c != UINT32_MAX; i++) {
			t->v[c].flags |= C_KEPT;
			c = t->v[c].np ? t->parents[t->v[c].p0] : UINT32_MAX;
		}
	}
	if (!all && cutoff == INT64_MAX)
		return 0;
	/* everything reachable (all), or what is young enough (keep_within) */
	stack = malloc((cap = 256) * sizeof(*stack));
	if (!stack)
		return t9k_err(-ENOMEM, "out of memory");
	stack[n++] = h;
	while (n > 0) {
		struct ccommit *c = &t->v[stack[--n]];

		if (c->seen == gen || (c->flags & C_KEPT_ALL))
			continue;
		c->seen = gen;
		if (all)
			c->flags |= C_KEPT | C_KEPT_ALL;
		else if (c->time_ns >= cutoff)
			c->flags |= C_KEPT;
		for (int k = 0; k < c->np; k++) {
			uint32_t pi = t->parents[c->p0 + k];

			if (pi == UINT32_MAX)
				continue;
			if (n == cap) {
				uint32_t *s = realloc(stack, (cap *= 2) * sizeof(*s));

				if (!s) {
					rc = t9k_err(-ENOMEM, "out of memory");
					goto out;
				}
				stack = s;
			}
			stack[n++] = pi;
		}
	}
out:
	free(stack);
	return rc;
}
