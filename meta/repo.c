/* Repositories: create/open, the staging area, commit (staging folded
 * into new trees, then the head moved by compare-and-swap), ref specs and
 * branches/tags. The tree builder here (repo_apply_paths) turns path-level
 * changes into per-directory tree edits, deepest directories first, so a
 * commit rewrites only the directories on the paths it changes. */
#include "meta/repo-internal.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/gc.h"
#include "store/cdc.h"
#include "store/chunk.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NODE_CACHE_BYTES (64u << 20)
#define COMMIT_RETRIES 8

int64_t repo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int repo_new(struct meta_db *db, const struct meta_repo *info, struct repo **out)
{
	struct repo *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return t9k_err(-ENOMEM, "out of memory");
	r->db = db;
	r->info = *info;
	pthread_mutex_init(&r->locks_mu, NULL);
	rc = store_open(info->store_url, &r->store);
	if (rc == 0)
		rc = meta_objects_new(r->store, NODE_CACHE_BYTES, &r->mo);
	if (rc < 0) {
		repo_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void repo_close(struct repo *r)
{
	if (!r)
		return;
	meta_objects_free(r->mo);
	store_close(r->store);
	pthread_mutex_destroy(&r->locks_mu);
	free(r);
}

struct branch_lock {
	char name[META_REPO_NAME_MAX + 1];
	pthread_mutex_t m;
	int users; /* guarded by repo->locks_mu */
	struct branch_lock *next;
};

struct branch_lock *repo_branch_lock(struct repo *r, const char *branch)
{
	struct branch_lock *bl;

	pthread_mutex_lock(&r->locks_mu);
	for (bl = r->locks; bl && strcmp(bl->name, branch); bl = bl->next)
		;
	if (!bl && (bl = calloc(1, sizeof(*bl)))) {
		snprintf(bl->name, sizeof(bl->name), "%s", branch);
		pthread_mutex_init(&bl->m, NULL);
		bl->next = r->locks;
		r->locks = bl;
	}
	if (bl)
		bl->users++;
	pthread_mutex_unlock(&r->locks_mu);
	if (bl)
		pthread_mutex_lock(&bl->m);
	return bl; /* NULL only when out of memory: the CAS still protects */
}

void repo_branch_unlock(struct repo *r, struct branch_lock *bl)
{
	struct branch_lock **p;

	if (!bl)
		return;
	pthread_mutex_unlock(&bl->m);
	pthread_mutex_lock(&r->locks_mu);
	if (--bl->users == 0) {
		for (p = &r->locks; *p != bl; p = &(*p)->next)
			;
		*p = bl->next;
		pthread_mutex_destroy(&bl->m);
		free(bl);
	}
	pthread_mutex_unlock(&r->locks_mu);
}

const struct meta_repo *repo_info(const struct repo *r)
{
	return &r->info;
}

struct meta_objects *repo_objects(struct repo *r)
{
	return r->mo;
}

struct store *repo_store(struct repo *r)
{
	return r->store;
}

struct meta_db *repo_db(struct repo *r)
{
	return r->db;
}

int repo_write_commit(struct repo *r, const struct oid *root, const struct oid *parents,
		      int nparents, const struct commit_info *ci, struct oid *out)
{
	struct commit c = { .root = *root, .nparents = (uint8_t)nparents };
	struct buf enc = BUF_INIT;
	int rc;

	if (nparents > META_MAX_PARENTS)
		return t9k_err(-EINVAL, "too many parents");
	for (int i = 0; i < nparents; i++)
		c.parents[i] = parents[i];
	c.time_ns = ci->time_ns ? ci->time_ns : repo_now_ns();
	c.author = ci->author ? ci->author : "";
	c.author_len = (uint16_t)strnlen(c.author, META_AUTHOR_MAX + 1);
	c.message = ci->message ? ci->message : "";
	c.message_len = (uint32_t)strnlen(c.message, META_MSG_MAX + 1);
	c.kv = (struct commit_kv *)ci->kv;
	c.nkv = ci->nkv;
	rc = commit_encode(&c, &enc);
	if (rc == 0)
		rc = meta_object_put(r->mo, enc.data, enc.len, out);
	buf_release(&enc);
	return rc;
}

uint32_t repo_pack_size_default(const char *store_url, uint32_t cdc_max)
{
	/* object stores bill per request; a local directory does not */
	if (strncmp(store_url, "s3://", 5) != 0)
		return 0;
	return cdc_max > REPO_PACK_SIZE_S3_DEFAULT ? cdc_max : REPO_PACK_SIZE_S3_DEFAULT;
}

static int pack_size_check(int64_t pack_size, uint32_t cdc_max)
{
	if (pack_size == 0 || (pack_size >= cdc_max && pack_size <= REPO_PACK_SIZE_MAX))
		return 0;
	return t9k_err(-EINVAL, "pack size %lld is out of range: want 0 (no packs) or %" PRIu32
			       " (the largest chunk) to %u (1 GiB)",
		       (long long)pack_size, cdc_max, REPO_PACK_SIZE_MAX);
}

int repo_create(struct meta_db *db, const char *name, const char *store_url,
		const uint32_t cdc[3], int64_t pack_size, struct repo **out)
{
	struct meta_repo info = { 0 };
	struct commit_info ci = { .author = "t9kfs", .message = "Repository created" };
	struct cdc_params p;
	struct oid tree, commit;
	struct repo *r;
	int rc;

	*out = NULL;
	rc = meta_repo_name_check(name);
	if (rc < 0)
		return rc;
	if (strlen(store_url) > META_URL_MAX)
		return t9k_err(-EINVAL, "store URL too long");
	rc = cdc_params_init(&p, cdc ? cdc[0] : CDC_MIN_DEFAULT, cdc ? cdc[1] : CDC_AVG_DEFAULT,
			     cdc ? cdc[2] : CDC_MAX_DEFAULT);
	if (rc < 0)
		return rc;
	snprintf(info.name, sizeof(info.name), "%s", name);
	snprintf(info.store_url, sizeof(info.store_url), "%s", store_url);
	info.cdc_min = p.min;
	info.cdc_avg = p.avg;
	info.cdc_max = p.max;
	if (pack_size == REPO_PACK_SIZE_AUTO)
		pack_size = repo_pack_size_default(store_url, p.max);
	rc = pack_size_check(pack_size, p.max);
	if (rc < 0)
		return rc;
	info.pack_size = (uint32_t)pack_size;
	info.created_ns = repo_now_ns();
	if (meta_repo_get(db, name, &(struct meta_repo){ 0 }) == 0)
		return t9k_err(-EEXIST, "repository '%s' already exists", name);
	rc = repo_new(db, &info, &r);
	if (rc < 0)
		return rc;
	/* objects first, then the record, then the ref */
	ci.time_ns = info.created_ns;
	rc = tree_empty(r->mo, &tree);
	if (rc == 0)
		rc = repo_write_commit(r, &tree, NULL, 0, &ci, &commit);
	if (rc == 0)
		rc = meta_repo_create(db, &info);
	if (rc == 0)
		rc = meta_ref_cas(db, name, "branch/" REPO_DEFAULT_BRANCH, NULL, &commit);
	if (rc < 0) {
		repo_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int repo_need_db(const struct repo *r)
{
	return r->db ? 0 : t9k_err(-ENOTSUP, "repository '%s': needs the metadata service itself",
				  r->info.name);
}

int repo_open_remote(const struct meta_repo *info, const struct repo_remote *remote,
		     struct repo **out)
{
	int rc = repo_new(NULL, info, out);

	if (rc == 0)
		(*out)->remote = *remote;
	return rc;
}

int repo_open(struct meta_db *db, const char *name, struct repo **out)
{
	struct meta_repo info;
	int rc = meta_repo_get(db, name, &info);

	*out = NULL;
	return rc < 0 ? rc : repo_new(db, &info, out);
}

/* ---- staging ---- */

/* Staged values: 'D' (removal), 'E' + the entry's encoding, or 'A' + a
 * directory entry whose mode and mtime (and owner) apply to the directory
 * as it is; the entry laid out as in a version 1 leaf, or for an entry
 * that needs version 2 (meta/object.h) 'e' and 'a' + the version 2
 * layout. Values staged before version 2 read as they did. */
static int stage_encode(const char *name, const struct tree_entry *e, bool dir_attrs,
			struct buf *out)
{
	struct tree_entry copy;
	int v;

	if (!e)
		return buf_add(out, "D", 1);
	copy = *e;
	copy.name = name;
	copy.name_len = (uint16_t)strlen(name);
	if (dir_attrs) {
		if (!S_ISDIR(e->mode))
			return t9k_err(-EINVAL, "'%s': attributes only apply to directories", name);
		memset(&copy.id, 0, sizeof(copy.id));
		copy.is_inline = false;
		copy.is_chunk = false;
		copy.has_subdirs = false; /* the commit counts them */
		copy.subdirs = 0;
	}
	v = tree_entry_version(&copy);
	if (buf_add(out, dir_attrs ? (v > 1 ? "a" : "A") : (v > 1 ? "e" : "E"), 1) < 0)
		return t9k_err(-ENOMEM, "out of memory");
	return tree_entry_encode(&copy, v, out);
}

static int stage_decode(const void *val, size_t len, struct tree_entry *e, bool *del,
			bool *dir_attrs)
{
	const uint8_t *p = val;
	int rc;

	*del = len == 1 && p[0] == 'D';
	*dir_attrs = len > 1 && (p[0] == 'A' || p[0] == 'a');
	if (*del)
		return 0;
	if (len < 2 || (p[0] != 'E' && p[0] != 'A' && p[0] != 'e' && p[0] != 'a'))
		return t9k_err(T9K_ECORRUPT, "corrupt staged value");
	rc = tree_entry_decode(p + 1, len - 1, p[0] == 'e' || p[0] == 'a' ? META_TREE_V2 : META_TREE_V1,
			       e);
	if (rc < 0)
		return rc;
	if ((size_t)rc != len - 1)
		return t9k_err(T9K_ECORRUPT, "corrupt staged value: trailing bytes");
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Staging an entry that names an object the store lacks would let a commit
 * point at nothing: every file manifest, one-chunk file's chunk (payload 2,
 * whole or as a delta) and directory tree an entry names must exist first (a writer uploads
 * chunks, then the manifest, then stages). HEADs run on up to the store's
 * concurrency in threads. */
struct exist_job {
	struct repo *r;
	const struct repo_stage_item *items;
	size_t n;
	size_t next;         /* guarded by mu */
	int rc;              /* first failure, guarded by mu */
	pthread_mutex_t mu;
};

static bool names_object(const struct repo_stage_item *it)
{
	return it->entry && !it->dir_attrs && !it->entry->is_inline &&
	       (S_ISREG(it->entry->mode) || S_ISDIR(it->entry->mode));
}

static void *exist_worker(void *arg)
{
	struct exist_job *j = arg;

	for (;;) {
		char key[CHUNK_KEY_MAX], hex[OID_HEXSZ + 1];
		uint64_t size;
		size_t i;
		int rc;

		pthread_mutex_lock(&j->mu);
		while (j->next < j->n && !names_object(&j->items[j->next]))
			j->next++;
		i = j->next++;
		if (j->rc < 0)
			i = j->n;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			return NULL;
		chunk_key_ns(j->items[i].entry->is_chunk ? CHUNK_NS_DATA : CHUNK_NS_META,
			     &j->items[i].entry->id, key);
		rc = store_head(j->r->store, key, &size);
		if (rc == -ENOENT && j->items[i].entry->is_chunk) {
			/* a chunk may be stored as a delta (store/chunk.h) */
			chunk_key_ns(CHUNK_NS_DELTA, &j->items[i].entry->id, key);
			rc = store_head(j->r->store, key, &size);
		}
		if (rc == -ENOENT) {
			oid_to_hex(&j->items[i].entry->id, hex);
			rc = t9k_err(T9K_ENOTFOUND, "cannot stage '%s': its object %s is not in the store "
				     "(upload it first)", j->items[i].path, hex);
		} else if (rc < 0) {
			rc = t9k_err_wrap(rc, "checking the object of '%s'", j->items[i].path);
		}
		if (rc < 0) {
			pthread_mutex_lock(&j->mu);
			if (j->rc == 0)
				j->rc = rc;
			pthread_mutex_unlock(&j->mu);
		}
	}
}

static int objects_exist(struct repo *r, const struct repo_stage_item *items, size_t n)
{
	struct exist_job j = { r, items, n, 0, 0, PTHREAD_MUTEX_INITIALIZER };
	pthread_t tid[32];
	size_t want = 0;
	int nt = 0;

	for (size_t i = 0; i < n; i++)
		want += names_object(&items[i]);
	if (want == 0)
		return 0;
	if (want > 1) {
		int c = store_concurrency(r->store);

		nt = c < 1 ? 0 : c > 32 ? 32 : c;
		if ((size_t)nt > want)
			nt = (int)want;
	}
	/* The calling thread works too; fewer threads on failure to start. */
	for (int k = 1; k < nt; k++)
		if (pthread_create(&tid[k], NULL, exist_worker, &j) != 0) {
			nt = k;
			break;
		}
	exist_worker(&j);
	for (int k = 1; k < nt; k++)
		pthread_join(tid[k], NULL);
	pthread_mutex_destroy(&j.mu);
	return j.rc;
}

int repo_stage_batch(struct repo *r, const char *branch, const struct repo_stage_item *items,
		     size_t n)
{
	struct meta_staged *st = calloc(n + 1, sizeof(*st));
	struct buf *vals = calloc(n + 1, sizeof(*vals));
	char ref[META_REF_MAX];
	struct oid head;
	int rc = meta_ref_name_check(branch);

	if (rc == 0 && !r->db) {
		free(st);
		free(vals);
		return r->remote.stage_batch(r->remote.ctx, r->info.name, branch, items, n);
	}
	if (!st || !vals)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0) {
		snprintf(ref, sizeof(ref), "branch/%s", branch);
		rc = meta_ref_get(r->db, r->info.name, ref, &head);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!*items[i].path)
			rc = t9k_err(-EINVAL, "cannot stage the root directory itself");
		else
			rc = stage_encode(base_name(items[i].path), items[i].entry,
					  items[i].dir_attrs, &vals[i]);
		st[i].path = items[i].path;
		st[i].val = vals[i].data;
		st[i].len = vals[i].len;
		/* a removal, or a file or symlink where a directory may have
		 * been, leaves nothing staged below it; a directory keeps what
		 * is staged inside it */
		st[i].drop_below = !items[i].entry || !S_ISDIR(items[i].entry->mode);
	}
	if (rc == 0)
		rc = objects_exist(r, items, n);
	if (rc == 0) /* a running gc keeps what the entries name, or says it is gone */
		rc = gc_guard_stage(r, items, n);
	if (rc == 0)
		rc = meta_stage_put_many(r->db, r->info.name, branch, st, n);
	for (size_t i = 0; vals && i < n; i++)
		buf_release(&vals[i]);
	free(vals);
	free(st);
	return rc;
}

int repo_stage(struct repo *r, const char *branch, const char *path, const struct tree_entry *entry)
{
	struct repo_stage_item it = { .path = path, .entry = entry };

	return repo_stage_batch(r, branch, &it, 1);
}

struct staged_walk {
	repo_staged_fn fn;
	void *arg;
};

static int staged_one(const char *path, const void *val, size_t len, void *arg)
{
	struct staged_walk *w = arg;
	struct tree_entry e;
	bool del, attrs;
	int rc = stage_decode(val, len, &e, &del, &attrs);

	return rc < 0 ? rc : w->fn(w->arg, path, del ? NULL : &e);
}

int repo_staged(struct repo *r, const char *branch, const char *prefix, repo_staged_fn fn, void *arg)
{
	return repo_staged_after(r, branch, prefix, NULL, fn, arg);
}

int repo_staged_after(struct repo *r, const char *branch, const char *prefix, const char *after,
		      repo_staged_fn fn, void *arg)
{
	struct staged_walk w = { fn, arg };
	int rc = repo_need_db(r);

	if (rc < 0)
		return rc;
	return meta_stage_list_after(r->db, r->info.name, branch, prefix, after, staged_one, &w);
}

struct staged_all_walk {
	repo_staged_all_fn fn;
	void *arg;
};

static int staged_all_one(const char *branch, const char *path, const void *val, size_t len,
			  void *arg)
{
	struct staged_all_walk *w = arg;
	struct tree_entry e;
	bool del, attrs;
	int rc = stage_decode(val, len, &e, &del, &attrs);

	return rc < 0 ? rc : w->fn(w->arg, branch, path, del ? NULL : &e, attrs);
}

int repo_staged_all(struct repo *r, repo_staged_all_fn fn, void *arg)
{
	struct staged_all_walk w = { fn, arg };
	int rc = repo_need_db(r);

	return rc < 0 ? rc : meta_stage_list_all(r->db, r->info.name, staged_all_one, &w);
}

int repo_reset(struct repo *r, const char *branch, const char *prefix)
{
	int rc = repo_need_db(r);

	if (rc < 0)
		return rc;
	return meta_stage_reset(r->db, r->info.name, branch, prefix);
}

/* ---- the path-level tree builder ---- */

/* One directory to rewrite: the edits of its direct children. */
struct dir_job {
	char *path;            /* "" for the root; owned */
	int depth;
	struct tree_edit *edits;
	size_t n, cap;
	bool has_base;         /* the directory itself was set/removed in the batch */
	const struct tree_entry *base; /* ... to this entry (NULL: removed) */
	const struct tree_entry *attrs; /* mode and mtime set in the batch */
	struct tree_entry self;        /* entry for the parent, once built */
	struct dir_job *hnext;
};

struct jobs {
	struct dir_job **tab;
	size_t nb, n;
	struct dir_job **all;
};

static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	return h;
}

static struct dir_job *job_find(struct jobs *js, const char *path, size_t len)
{
	struct dir_job *j = js->tab[hash_str(path, len) % js->nb];

	for (; j; j = j->hnext)
		if (strlen(j->path) == len && !memcmp(j->path, path, len))
			return j;
	return NULL;
}

/* Finds or adds the job for directory path[0..len), and its ancestors. */
static int job_get(struct jobs *js, const char *path, size_t len, struct dir_job **out)
{
	struct dir_job *j = job_find(js, path, len);
	size_t b;

	if (j) {
		*out = j;
		return 0;
	}
	if (len) { /* make sure the parent exists first */
		const char *s = memrchr(path, '/', len);
		struct dir_job *parent;
		int rc = job_get(js, path, s ? (size_t)(s - path) : 0, &parent);

		if (rc < 0)
			return rc;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strndup(path, len))) {
		free(j);
		return t9k_err(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < len; i++)
		j->depth += path[i] == '/';
	j->depth += len > 0;
	b = hash_str(path, len) % js->nb;
	j->hnext = js->tab[b];
	js->tab[b] = j;
	js->all[js->n++] = j;
	*out = j;
	return 0;
}

static int job_add_edit(struct dir_job *j, const struct tree_edit *e)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 8;
		struct tree_edit *v = realloc(j->edits, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		j->edits = v;
		j->cap = cap;
	}
	j->edits[j->n++] = *e;
	return 0;
}

static int cmp_edit(const void *a, const void *b)
{
	const struct tree_edit *x = a, *y = b;

	return meta_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

static int cmp_job_depth(const void *a, const void *b)
{
	const struct dir_job *x = *(struct dir_job *const *)a, *y = *(struct dir_job *const *)b;

	return y->depth - x->depth;
}

/* The tree of directory path in the old root: its id, or none. */
static int old_dir(struct repo *r, const struct oid *root, const char *path, struct oid *out,
		   bool *exists, struct tree_entry *entry)
{
	struct oid cur = *root;
	const char *p = path;

	*exists = true;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct meta_node *hold;
		struct tree_entry e;
		int rc = tree_lookup(r->mo, &cur, p, len, &e, &hold);

		if (rc == T9K_ENOTFOUND) {
			*exists = false;
			return 0;
		}
		if (rc < 0)
			return rc;
		if (!S_ISDIR(e.mode)) {
			meta_node_put(r->mo, hold);
			return t9k_err(-ENOTDIR, "'%.*s' is not a directory",
				       (int)(p - path + len), path);
		}
		cur = e.id;
		if (!slash && entry) {
			*entry = e;
			entry->name = NULL; /* the node is released below */
		}
		meta_node_put(r->mo, hold);
		p = slash ? slash + 1 : p + len;
	}
	*out = cur;
	return 0;
}

static void jobs_free(struct jobs *js)
{
	for (size_t i = 0; i < js->n; i++) {
		free(js->all[i]->path);
		free(js->all[i]->edits);
		free(js->all[i]);
	}
	free(js->tab);
	free(js->all);
}

int repo_apply_paths(struct repo *r, const struct oid *old_root, const struct path_edit *edits,
		     size_t n, int64_t now_ns, struct oid *new_root)
{
	struct jobs js = { 0 };
	size_t maxjobs = 1;
	int rc = 0;

	/* each path adds at most its depth in jobs */
	for (size_t i = 0; i < n; i++) {
		size_t d = 1;

		for (const char *p = edits[i].path; *p; p++)
			d += *p == '/';
		maxjobs += d;
	}
	js.nb = maxjobs * 2 + 1;
	js.tab = calloc(js.nb, sizeof(*js.tab));
	js.all = calloc(maxjobs, sizeof(*js.all));
	if (!js.tab || !js.all) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	{
		struct dir_job *root_job; /* the root is always rebuilt, even with no edits */

		rc = job_get(&js, "", 0, &root_job);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *path = edits[i].path, *name = base_name(path);
		struct tree_edit e = { .name = name, .name_len = (uint16_t)strlen(name) };
		struct dir_job *parent, *self;

		if (!*path || strlen(name) > META_NAME_MAX) {
			rc = t9k_err(-EINVAL, "invalid path '%s'", path);
			break;
		}
		if (edits[i].dir_attrs) {
			/* the directory itself is rebuilt with these attributes */
			rc = job_get(&js, path, strlen(path), &self);
			if (rc == 0)
				self->attrs = edits[i].entry;
			continue;
		}
		rc = job_get(&js, path, (size_t)(name - path - (name > path)), &parent);
		if (rc < 0)
			break;
		e.del = !edits[i].entry;
		if (!e.del) {
			e.entry = *edits[i].entry;
			e.entry.name = e.name;
			e.entry.name_len = e.name_len;
		}
		rc = job_add_edit(parent, &e);
	}
	if (rc < 0)
		goto out;
	/* A directory both edited and given children in this batch starts
	 * from what the batch set it to. */
	for (size_t i = 0; i < n; i++) {
		struct dir_job *j = job_find(&js, edits[i].path, strlen(edits[i].path));

		if (!j || edits[i].dir_attrs)
			continue;
		if (edits[i].entry && !S_ISDIR(edits[i].entry->mode)) {
			rc = t9k_err(-ENOTDIR, "'%s' is changed both as a file and as a directory",
				     edits[i].path);
			goto out;
		}
		j->has_base = true;
		j->base = edits[i].entry;
	}
	qsort(js.all, js.n, sizeof(*js.all), cmp_job_depth);
	for (size_t k = 0; k < js.n; k++) {
		struct dir_job *j = js.all[k];
		struct tree_entry old = { 0 };
		struct oid base, result;
		bool exists = false;
		uint64_t count;
		int64_t dirs = 0;
		size_t w = 0;

		if (j->has_base) {
			exists = j->base != NULL;
			if (exists) {
				base = j->base->id;
				old = *j->base;
			}
		} else {
			rc = old_dir(r, old_root, j->path, &base, &exists, &old);
			if (rc < 0)
				goto out;
		}
		/* sort; a child directory's result replaces a plain edit of it */
		if (j->n > 1)
			qsort(j->edits, j->n, sizeof(*j->edits), cmp_edit);
		for (size_t i = 0; i < j->n; i++) {
			if (w && !cmp_edit(&j->edits[w - 1], &j->edits[i])) {
				bool later_is_dir = !j->edits[i].del && S_ISDIR(j->edits[i].entry.mode);

				if (later_is_dir || j->edits[i].del == false)
					j->edits[w - 1] = j->edits[i];
				continue;
			}
			j->edits[w++] = j->edits[i];
		}
		j->n = w;
		rc = tree_apply_ex(r->mo, exists ? &base : NULL, j->edits, j->n, &result, &count, &dirs);
		if (rc < 0)
			goto out;
		if (!*j->path) {
			*new_root = result;
			break; /* the root is the shallowest job */
		}
		j->self.mode = j->attrs ? j->attrs->mode : exists ? old.mode : (S_IFDIR | 0755);
		j->self.mtime_ns = j->attrs ? j->attrs->mtime_ns : exists ? old.mtime_ns : now_ns;
		{ /* the owner goes with the attributes (a new parent has none) */
			const struct tree_entry *o = j->attrs ? j->attrs : exists ? &old : NULL;

			j->self.has_owner = o && o->has_owner;
			j->self.uid = j->self.has_owner ? o->uid : 0;
			j->self.gid = j->self.has_owner ? o->gid : 0;
		}
		j->self.size = count;
		j->self.id = result;
		/* a new directory's subdirectories are all in the edits; an old
		 * one's count moves with them, when it had one (version 1
		 * directories stay "not counted") */
		if (!exists || old.has_subdirs) {
			int64_t sub = (exists ? (int64_t)old.subdirs : 0) + dirs;

			/* (a count that cannot be right is dropped: not counted) */
			j->self.has_subdirs = sub >= 0 && (uint64_t)sub <= count;
			j->self.subdirs = j->self.has_subdirs ? (uint32_t)sub : 0;
		}
		{
			const char *name = base_name(j->path);
			struct tree_edit e = { .name = name, .name_len = (uint16_t)strlen(name),
					       .entry = j->self };
			struct dir_job *parent = job_find(&js, j->path, (size_t)(name - j->path -
										   (name > j->path)));

			e.entry.name = e.name;
			e.entry.name_len = e.name_len;
			rc = job_add_edit(parent, &e);
			if (rc < 0)
				goto out;
		}
	}
out:
	jobs_free(&js);
	return rc;
}

/* ---- commit ---- */

struct snap_item {
	char *path;
	void *val;
	size_t len;
};

struct snapshot {
	struct snap_item *v;
	size_t n, cap;
};

static int snap_add(const char *path, const void *val, size_t len, void *arg)
{
	struct snapshot *s = arg;
	struct snap_item *it;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct snap_item *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		s->v = v;
		s->cap = cap;
	}
	it = &s->v[s->n];
	it->path = strdup(path);
	it->val = malloc(len ? len : 1);
	if (!it->path || !it->val) {
		free(it->path);
		free(it->val);
		return t9k_err(-ENOMEM, "out of memory");
	}
	memcpy(it->val, val, len);
	it->len = len;
	s->n++;
	return 0;
}

static void snap_release(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].val);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int repo_commit_read(struct repo *r, const struct oid *id, struct repo_commit *out)
{
	char hex[OID_HEXSZ + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	out->id = *id;
	rc = meta_object_get(r->mo, id, &out->raw);
	if (rc == 0 && meta_object_type(out->raw.data, out->raw.len) != 'K')
		rc = t9k_err(-EINVAL, "object %s is not a commit", oid_to_hex(id, hex));
	if (rc == 0)
		rc = commit_decode(out->raw.data, out->raw.len, &out->c);
	if (rc < 0)
		buf_release(&out->raw);
	return rc;
}

void repo_commit_release(struct repo_commit *rc)
{
	commit_release(&rc->c);
	buf_release(&rc->raw);
}

static int commit_once(struct repo *r, const char *branch, const char *ref,
		       const struct commit_info *ci, struct oid *out)
{
	struct snapshot snap = { 0 };
	struct path_edit *pe = NULL;
	struct tree_entry *ents = NULL;
	struct meta_staged *done = NULL;
	struct repo_commit head = { 0 };
	struct oid headid, root;
	int64_t now = ci->time_ns ? ci->time_ns : repo_now_ns();
	int rc;

	rc = meta_stage_list(r->db, r->info.name, branch, "", snap_add, &snap);
	if (rc < 0)
		goto out;
	if (snap.n == 0 && !ci->allow_empty) {
		rc = t9k_err(-ENODATA, "nothing to commit on branch '%s'", branch);
		goto out;
	}
	rc = meta_ref_get(r->db, r->info.name, ref, &headid);
	if (rc == 0)
		rc = repo_commit_read(r, &headid, &head);
	if (rc < 0)
		goto out;
	pe = calloc(snap.n + 1, sizeof(*pe));
	ents = calloc(snap.n + 1, sizeof(*ents));
	done = calloc(snap.n + 1, sizeof(*done));
	if (!pe || !ents || !done) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < snap.n; i++) {
		bool del;

		rc = stage_decode(snap.v[i].val, snap.v[i].len, &ents[i], &del, &pe[i].dir_attrs);
		if (rc < 0)
			goto out;
		pe[i].path = snap.v[i].path;
		pe[i].entry = del ? NULL : &ents[i];
		done[i].path = snap.v[i].path;
		done[i].val = snap.v[i].val;
		done[i].len = snap.v[i].len;
	}
	rc = repo_apply_paths(r, &head.c.root, pe, snap.n, now, &root);
	if (rc < 0)
		goto out;
	{
		struct commit_info c2 = *ci;

		c2.time_ns = now;
		rc = repo_write_commit(r, &root, &headid, 1, &c2, out);
	}
	if (rc == 0)
		rc = gc_guard_commit(r, out);
	if (rc == 0)
		rc = meta_commit_apply(r->db, r->info.name, branch, &headid, out, done, snap.n);
out:
	repo_commit_release(&head);
	free(pe);
	free(ents);
	free(done);
	snap_release(&snap);
	return rc;
}

int repo_commit(struct repo *r, const char *branch, const struct commit_info *ci, struct oid *out)
{
	struct branch_lock *bl;
	char ref[META_REF_MAX];
	int rc = meta_ref_name_check(branch);

	if (rc == 0)
		rc = repo_need_db(r);
	if (rc < 0)
		return rc;
	snprintf(ref, sizeof(ref), "branch/%s", branch);
	bl = repo_branch_lock(r, branch);
	for (int i = 0; i < COMMIT_RETRIES; i++) {
		rc = commit_once(r, branch, ref, ci, out);
		if (rc != T9K_ECONFLICT)
			break;
		/* another writer moved the head: rebuild on top of it */
		rc = t9k_err(T9K_ECONFLICT, "branch '%s' kept moving: gave up after %d attempts",
			     branch, COMMIT_RETRIES);
	}
	repo_branch_unlock(r, bl);
	return rc;
}

/* ---- refs ---- */

struct prefix_match {
	struct repo *r;
	struct oid found;
	int n;
};

static int match_commit(const char *key, uint64_t size, void *arg)
{
	struct prefix_match *m = arg;
	struct repo_commit c;
	struct oid id;

	(void)size;
	if (oid_from_hex(&id, key + strlen("meta/")) < 0)
		return 0;
	if (repo_commit_read(m->r, &id, &c) < 0)
		return 0; /* not a commit */
	repo_commit_release(&c);
	if (m->n++ == 0)
		m->found = id;
	return 0;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int repo_resolve_ex(struct repo *r, const char *spec, struct oid *out, bool *is_branch)
{
	char base[META_REF_MAX], ref[META_REF_MAX + 8];
	const char *tilde = strrchr(spec, '~');
	unsigned long back = 0;
	size_t blen = strlen(spec);
	int rc;

	if (is_branch)
		*is_branch = false;
	if (!r->db)
		return r->remote.resolve(r->remote.ctx, r->info.name, spec, out, is_branch);
	if (tilde) {
		char *end;

		back = tilde[1] ? strtoul(tilde + 1, &end, 10) : 1;
		if (tilde[1] && (*end || !isdigit((unsigned char)tilde[1])))
			return t9k_err(-EINVAL, "bad revision '%s': want REF~N", spec);
		blen = (size_t)(tilde - spec);
	}
	if (blen == 0 || blen >= sizeof(base))
		return t9k_err(-EINVAL, "bad revision '%s'", spec);
	memcpy(base, spec, blen);
	base[blen] = '\0';
	rc = T9K_ENOTFOUND;
	if (meta_ref_name_check(base) == 0) {
		snprintf(ref, sizeof(ref), "branch/%s", base);
		rc = meta_ref_get(r->db, r->info.name, ref, out);
		if (rc == 0 && is_branch)
			*is_branch = !tilde;
		if (rc == T9K_ENOTFOUND) {
			snprintf(ref, sizeof(ref), "tag/%s", base);
			rc = meta_ref_get(r->db, r->info.name, ref, out);
		}
	}
	if (rc == T9K_ENOTFOUND && blen >= 4 && blen <= OID_HEXSZ && all_hex(base, blen)) {
		struct prefix_match m = { .r = r };
		char key[sizeof(base) + 8];

		for (size_t i = 0; i < blen; i++)
			base[i] = (char)tolower((unsigned char)base[i]);
		snprintf(key, sizeof(key), "meta/%s", base);
		rc = store_list(r->store, key, match_commit, &m);
		if (rc < 0)
			return rc;
		if (m.n > 1)
			return t9k_err(-EINVAL, "commit id prefix '%s' is ambiguous (%d commits)", base,
				       m.n);
		rc = m.n ? 0 : T9K_ENOTFOUND;
		*out = m.found;
	}
	if (rc == T9K_ENOTFOUND)
		return t9k_err(T9K_ENOTFOUND, "no branch, tag or commit '%s' in repository '%s'", base,
			       r->info.name);
	for (unsigned long i = 0; rc == 0 && i < back; i++) {
		struct repo_commit c;

		rc = repo_commit_read(r, out, &c);
		if (rc < 0)
			break;
		if (c.c.nparents == 0)
			rc = t9k_err(T9K_ENOTFOUND, "'%s': history has only %lu commits before it", spec,
				     i);
		else
			*out = c.c.parents[0];
		repo_commit_release(&c);
	}
	return rc;
}

int repo_resolve(struct repo *r, const char *spec, struct oid *out)
{
	return repo_resolve_ex(r, spec, out, NULL);
}

static int ref_create(struct repo *r, const char *kind, const char *name, const char *from)
{
	char ref[META_REF_MAX];
	struct oid id;
	int rc = meta_ref_name_check(name);

	if (rc == 0)
		rc = repo_need_db(r);
	if (rc == 0)
		rc = repo_resolve(r, from, &id);
	if (rc == 0)
		rc = gc_guard_commit(r, &id);
	if (rc < 0)
		return rc;
	snprintf(ref, sizeof(ref), "%s/%s", kind, name);
	rc = meta_ref_cas(r->db, r->info.name, ref, NULL, &id);
	if (rc == T9K_ECONFLICT)
		return t9k_err(-EEXIST, "%s '%s' already exists in repository '%s'", kind, name,
			       r->info.name);
	return rc;
}

static int ref_delete(struct repo *r, const char *kind, const char *name)
{
	char ref[META_REF_MAX];
	struct oid id;
	int rc = meta_ref_name_check(name);

	if (rc == 0)
		rc = repo_need_db(r);
	if (rc < 0)
		return rc;
	snprintf(ref, sizeof(ref), "%s/%s", kind, name);
	for (;;) {
		rc = meta_ref_get(r->db, r->info.name, ref, &id);
		if (rc == T9K_ENOTFOUND)
			return t9k_err(rc, "%s '%s' not found in repository '%s'", kind, name,
				       r->info.name);
		if (rc == 0)
			rc = meta_ref_cas(r->db, r->info.name, ref, &id, NULL);
		if (rc != T9K_ECONFLICT)
			return rc;
	}
}

int repo_branch_create(struct repo *r, const char *name, const char *from)
{
	return ref_create(r, "branch", name, from);
}

int repo_branch_delete(struct repo *r, const char *name)
{
	/* its staged changes go in the same write (meta_ref_cas) */
	int rc = ref_delete(r, "branch", name);

	return rc < 0 ? rc : 0;
}

int repo_tag_create(struct repo *r, const char *name, const char *target)
{
	return ref_create(r, "tag", name, target);
}

int repo_tag_delete(struct repo *r, const char *name)
{
	return ref_delete(r, "tag", name);
}

int repo_branch_move(struct repo *r, const char *branch, const struct oid *old,
		     const struct oid *new)
{
	char ref[META_REF_MAX];
	int rc = repo_need_db(r);

	if (rc == 0 && new)
		rc = gc_guard_commit(r, new);
	if (rc < 0)
		return rc;
	snprintf(ref, sizeof(ref), "branch/%s", branch);
	return meta_ref_cas(r->db, r->info.name, ref, old, new);
}
