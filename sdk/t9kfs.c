/* libt9kfs: the C API of sdk/t9kfs.h over the code the CLI and the mount
 * use. Nothing here reads bytes its own way: refs and staging go through
 * the metadata service's repo handle (meta_client_open_repo), lookups and
 * listings walk trees (meta/tree.h), files decode their manifest with
 * meta_manifest_get and read chunks through the mount's chunk cache and
 * read-ahead (fs/chunks.h) over the store or the cache daemon
 * (fs/cache-source.h), writes are repo_file_store + repo_stage as 't9kfs
 * put', and the rest are requests of meta/API.md.
 *
 * Lifetimes: every handle counts references (atomic); a file, a dir and
 * a ref hold their repo, a repo holds its client, so a handle's close
 * frees it only when nothing else needs it.
 * Locking: repo->lock guards the lazy creation of the chunk cache and
 * the put pipeline, and is held across a put (one put at a time per repo
 * handle: a chunk pipeline runs one file at a time); file->lock guards
 * only its read-ahead state. Everything else is immutable once built or
 * thread-safe below (meta_client, repo, fs_chunks).
 */
#include "sdk/t9kfs.h"

#include "fs/cache-source.h"
#include "fs/chunks.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/version.h"
#include "meta/client.h"
#include "meta/db.h"
#include "meta/local.h"
#include "meta/transfer.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(T9KFS_ECORRUPT == T9K_ECORRUPT && T9KFS_EBADURL == T9K_EBADURL &&
	       T9KFS_EUSAGE == T9K_EUSAGE && T9KFS_ECONFLICT == T9K_ECONFLICT &&
	       T9KFS_ENOTFOUND == T9K_ENOTFOUND, "sdk/t9kfs.h and lib/err.h codes differ");

#define SDK_CACHE_BYTES (256ull << 20) /* the mount's defaults (fs_opts_init) */
#define SDK_PREFETCH_BYTES (64ull << 20)
#define SDK_STAGED_MAX 10000

struct t9kfs_client {
	atomic_int refs;
	struct meta_client *mc;
	char server[4200];
	char home[4096];
	char author[320];
	char cache[4200];       /* the node's cache daemon, or "" */
	char cache_group[4200]; /* or a group (HOST:PORT,... or @NAME), or "" */
	uint64_t cache_bytes, prefetch_bytes;
	int prefetch_threads;
};

struct t9kfs_repo {
	atomic_int refs;
	struct t9kfs_client *c;
	struct repo *r;
	char name[META_REPO_NAME_MAX + 1];
	pthread_mutex_t lock;          /* the lazy members below; held across a put */
	struct fs_chunks *chunks;      /* [lock to create] then immutable */
	struct fs_cache_source *cs;    /* its source, when through a cache */
	struct chunk_pipeline *pipe;   /* [lock] */
	struct chunk_writer *writer;   /* [lock] */
};

struct t9kfs_ref {
	struct t9kfs_repo *repo;
	struct oid commit;
	char hex[OID_HEXSZ + 1];
	char *spec;
	bool is_branch;
};

struct dir_level {
	struct tree_iter *it;
	size_t prefix_len; /* bytes of d->path that lead to this level's entries */
};

struct t9kfs_dir {
	struct t9kfs_repo *repo;
	bool recursive;
	struct dir_level *lv;
	size_t nlv, cap;
	struct buf path; /* the current level's prefix and the last name */
	struct buf out;  /* the last path returned */
};

struct t9kfs_file {
	struct t9kfs_repo *repo;
	uint64_t size;
	uint8_t *data;                 /* inline bytes, or NULL */
	struct manifest_chunk *chunks; /* else the manifest's chunks */
	uint64_t *ends;                /* ends[i]: offset just past chunk i */
	uint32_t n;
	pthread_mutex_t lock;          /* ra */
	struct fs_readahead ra;
};

/* ---- errors ---- */

static _Thread_local int last_rc;

/* Every entry point starts with this: a failure's message is its own. */
static void enter(void)
{
	t9k_err_clear();
	last_rc = 0;
}

static int done(int rc)
{
	if (rc < 0)
		last_rc = rc;
	return rc;
}

const char *t9kfs_version(void)
{
	return T9KFS_VERSION;
}

int t9kfs_api_version(void)
{
	return T9KFS_API_VERSION;
}

const char *t9kfs_errmsg(void)
{
	return last_rc < 0 ? t9k_errmsg(last_rc) : "";
}

const char *t9kfs_strerror(int code)
{
	return t9k_strerror(code);
}

void t9kfs_free(void *p)
{
	free(p);
}

/* ---- the client ---- */

/* The t9kfs binary that can start the embedded server: $T9KFS_BIN, the
 * t9kfs beside this library's folder (build/libt9kfs.so.0 and ./t9kfs in
 * the source tree) or in it, else the first on $PATH. "" if none. */
static void find_binary(char *out, size_t size)
{
	const char *env = getenv("T9KFS_BIN"), *path = getenv("PATH");
	char dir[PATH_MAX], cand[PATH_MAX + 16];
	Dl_info info;

	out[0] = '\0';
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return;
	}
	if (dladdr((void *)find_binary, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
	    realpath(info.dli_fname, dir)) {
		*strrchr(dir, '/') = '\0';
		snprintf(cand, sizeof(cand), "%s/../t9kfs", dir);
		if (access(cand, X_OK) == 0 && (snprintf(out, size, "%s", cand), 1))
			return;
		snprintf(cand, sizeof(cand), "%s/t9kfs", dir);
		if (access(cand, X_OK) == 0 && (snprintf(out, size, "%s", cand), 1))
			return;
	}
	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(cand, sizeof(cand), "%.*s/t9kfs", (int)n, path);
		if (n && access(cand, X_OK) == 0) {
			snprintf(out, size, "%s", cand);
			return;
		}
		path += n + (path[n] == ':');
	}
}

static int set_option(struct t9kfs_client *c, const char *key, const char *v, long *timeout)
{
	uint64_t size;
	char *end;
	long n;

	if (!strcmp(key, "cache") || !strcmp(key, "cache_group") || !strcmp(key, "author")) {
		char *dst = !strcmp(key, "cache") ? c->cache : !strcmp(key, "author") ? c->author
										     : c->cache_group;
		size_t dsz = !strcmp(key, "author") ? sizeof(c->author) : sizeof(c->cache);

		if ((size_t)snprintf(dst, dsz, "%s", v) >= dsz)
			return t9k_err(T9K_EUSAGE, "option %s: too long", key);
		return 0;
	}
	if (!strcmp(key, "cache_size") || !strcmp(key, "prefetch")) {
		if (parse_size(v, &size) < 0)
			return t9k_err(T9K_EUSAGE, "option %s: bad size '%s'", key, v);
		if (!strcmp(key, "cache_size"))
			c->cache_bytes = size;
		else
			c->prefetch_bytes = size;
		return 0;
	}
	if (!strcmp(key, "prefetch_threads") || !strcmp(key, "timeout")) {
		errno = 0;
		n = strtol(v, &end, 10);
		if (!*v || *end || errno || n < 0 || n > (!strcmp(key, "timeout") ? 1L << 30 : 64))
			return t9k_err(T9K_EUSAGE, "option %s: bad number '%s'", key, v);
		if (!strcmp(key, "timeout"))
			*timeout = n;
		else
			c->prefetch_threads = (int)n;
		return 0;
	}
	return t9k_err(T9K_EUSAGE, "unknown option '%s' (home, cache, cache_group, cache_size, "
		       "prefetch, prefetch_threads, author, timeout)", key);
}

/* options into c; home= first, since the others' defaults come from it. */
static int parse_options(struct t9kfs_client *c, const char *options, long *timeout)
{
	char *list = strdup(options ? options : ""), *save = NULL, *home = NULL;
	int explicit_cache = 0;
	int rc = list ? 0 : t9k_err(-ENOMEM, "out of memory");

	for (char *tok = list ? strtok_r(list, ",", &save) : NULL; rc == 0 && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok) {
			rc = t9k_err(T9K_EUSAGE, "option '%s': want KEY=VALUE", tok);
			break;
		}
		*eq = '\0';
		if (!strcmp(tok, "home"))
			home = eq + 1;
		else
			*eq = '='; /* the others after the defaults */
	}
	if (rc == 0)
		rc = meta_local_home(home, c->home, sizeof(c->home));
	if (rc == 0)
		rc = meta_local_setting(c->home, "cache", c->cache, sizeof(c->cache));
	if (rc == 0 && !c->cache[0])
		rc = meta_local_setting(c->home, "cache_group", c->cache_group,
					sizeof(c->cache_group));
	if (rc == 0)
		meta_local_author(c->author, sizeof(c->author));
	free(list);
	list = rc == 0 ? strdup(options ? options : "") : NULL;
	if (rc == 0 && !list)
		rc = t9k_err(-ENOMEM, "out of memory");
	for (char *tok = list ? strtok_r(list, ",", &save) : NULL; rc == 0 && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		*eq = '\0';
		if (!strcmp(tok, "home"))
			continue;
		/* an explicit cache or group replaces the other's default */
		if (!strcmp(tok, "cache") || !strcmp(tok, "cache_group")) {
			if (explicit_cache++)
				rc = t9k_err(T9K_EUSAGE, "cache and cache_group exclude each other (the "
					     "local daemon already reads through its group)");
			c->cache[0] = c->cache_group[0] = '\0';
		}
		if (rc == 0)
			rc = set_option(c, tok, eq + 1, timeout);
	}
	free(list);
	return rc;
}

static void client_put(struct t9kfs_client *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
		meta_client_free(c->mc);
		free(c);
	}
}

int t9kfs_connect(const char *server, const char *token, const char *options,
		  t9kfs_client **out)
{
	struct t9kfs_client *c = calloc(1, sizeof(*c));
	char tok[512], bin[PATH_MAX];
	bool embedded = false, started;
	long timeout = 0;
	int cpus = cpu_count(), rc;

	enter();
	*out = NULL;
	if (!c)
		return done(t9k_err(-ENOMEM, "out of memory"));
	atomic_init(&c->refs, 1);
	c->cache_bytes = SDK_CACHE_BYTES;
	c->prefetch_bytes = SDK_PREFETCH_BYTES;
	c->prefetch_threads = cpus > 4 ? cpus : 4;
	rc = parse_options(c, options, &timeout);
	if (rc == 0 && server && *server) {
		snprintf(c->server, sizeof(c->server), "%s", server);
	} else if (rc == 0) {
		rc = meta_local_setting(c->home, "server", c->server, sizeof(c->server));
		if (rc == 0 && !c->server[0]) {
			embedded = true;
			if ((size_t)snprintf(c->server, sizeof(c->server), "unix:%s/meta.sock", c->home) >=
			    sizeof(c->server))
				rc = t9k_err(-ENAMETOOLONG, "T9KFS_HOME is too long");
		}
	}
	if ((size_t)snprintf(tok, sizeof(tok), "%s", token ? token : "") >= sizeof(tok))
		rc = rc < 0 ? rc : t9k_err(T9K_EUSAGE, "token too long");
	if (rc == 0) {
		find_binary(bin, sizeof(bin));
		rc = meta_local_server_ensure(c->home, c->server, embedded && bin[0], bin, &started);
		if (rc < 0 && embedded && !bin[0])
			rc = t9k_err(rc, "the local server (%s) is not running and no t9kfs binary was "
				     "found to start it: set T9KFS_BIN, or put t9kfs on PATH", c->server);
	}
	if (rc == 0 && !token) /* after the start: a first start writes the token */
		rc = meta_local_token(c->home, tok, sizeof(tok));
	if (rc == 0)
		rc = meta_client_new(c->server, tok, &c->mc);
	if (rc == 0 && timeout)
		meta_client_set_timeout(c->mc, timeout);
	if (rc < 0) {
		client_put(c);
		return done(rc);
	}
	*out = c;
	return 0;
}

void t9kfs_client_free(t9kfs_client *c)
{
	client_put(c);
}

const char *t9kfs_client_server(const t9kfs_client *c)
{
	return c->server;
}

/* A request; *json (if json) gets the reply as compact JSON text. */
static int call(struct t9kfs_client *c, const char *method, const char *path, json_t *body,
		char **json)
{
	json_t *reply = NULL;
	int rc = meta_client_call(c->mc, method, path, body, &reply);

	if (json)
		*json = NULL;
	if (rc == 0 && json) {
		*json = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
		if (!*json)
			rc = t9k_err(-ENOMEM, "out of memory");
	}
	json_decref(reply);
	return rc;
}

/* "/repos/NAME" + the escaped segments of a suffix: fmt's %s are segments. */
static int repo_path(char *out, size_t size, const char *repo, const char *suffix,
		     const char *seg)
{
	char er[256], es[1024] = "";
	int rc = meta_client_escape(repo, er, sizeof(er)), n;

	if (rc == 0 && seg)
		rc = meta_client_escape(seg, es, sizeof(es));
	if (rc < 0)
		return rc;
	n = snprintf(out, size, "/repos/%s%s%s", er, suffix ? suffix : "", es);
	return n < 0 || (size_t)n >= size ? t9k_err(-ENAMETOOLONG, "request too long") : 0;
}

static int check_name(const char *what, const char *s)
{
	if (!s || !*s)
		return t9k_err(T9K_EUSAGE, "no %s given", what);
	return 0;
}

int t9kfs_repo_create(t9kfs_client *c, const char *name, const char *store_url, char **json)
{
	json_t *body;
	int rc;

	enter();
	if (json)
		*json = NULL;
	rc = check_name("repository name", name);
	if (rc < 0)
		return done(rc);
	body = json_pack("{s:s}", "name", name);
	if (body && store_url && *store_url)
		json_object_set_new(body, "store", json_string(store_url));
	rc = body ? call(c, "POST", "/repos", body, json) : t9k_err(-ENOMEM, "out of memory");
	json_decref(body);
	return done(rc);
}

int t9kfs_repo_delete(t9kfs_client *c, const char *name)
{
	char path[512];
	int rc;

	enter();
	rc = check_name("repository name", name);
	if (rc == 0)
		rc = repo_path(path, sizeof(path), name, NULL, NULL);
	return done(rc < 0 ? rc : call(c, "DELETE", path, NULL, NULL));
}

int t9kfs_repo_list(t9kfs_client *c, char **json)
{
	enter();
	return done(call(c, "GET", "/repos", NULL, json));
}

/* ---- repositories ---- */

int t9kfs_repo_open(t9kfs_client *c, const char *name, t9kfs_repo **out)
{
	struct t9kfs_repo *r;
	int rc;

	enter();
	*out = NULL;
	rc = check_name("repository name", name);
	if (rc == 0)
		rc = meta_repo_name_check(name);
	if (rc < 0)
		return done(rc);
	if (!(r = calloc(1, sizeof(*r))))
		return done(t9k_err(-ENOMEM, "out of memory"));
	rc = meta_client_open_repo(c->mc, name, &r->r);
	if (rc < 0) {
		free(r);
		return done(rc);
	}
	atomic_init(&r->refs, 1);
	atomic_fetch_add(&c->refs, 1);
	r->c = c;
	snprintf(r->name, sizeof(r->name), "%s", name);
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

static void repo_put(struct t9kfs_repo *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	fs_chunks_free(r->chunks); /* joins its threads before the source goes */
	fs_cache_source_free(r->cs);
	chunk_pipeline_free(r->pipe);
	chunk_writer_free(r->writer);
	repo_close(r->r);
	pthread_mutex_destroy(&r->lock);
	client_put(r->c);
	free(r);
}

void t9kfs_repo_close(t9kfs_repo *r)
{
	repo_put(r);
}

const char *t9kfs_repo_name(const t9kfs_repo *r)
{
	return r->name;
}

/* The repo's chunk cache, made at the first read: through the cache
 * daemon or group when the client has one, else over the store. */
static int repo_chunks(struct t9kfs_repo *r, struct fs_chunks **out)
{
	struct t9kfs_client *c = r->c;
	struct fs_chunk_source src;
	char *members = NULL;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->chunks)
		goto out;
	if (c->cache[0] || c->cache_group[0]) {
		struct store *st = repo_store(r->r);
		struct cache_client_opts co = { .local = c->cache[0] ? c->cache : NULL,
						.group = c->cache_group[0] ? c->cache_group : NULL,
						.store_url = store_url(st) };

		if (co.group && co.group[0] == '@') {
			rc = meta_cache_group_name_check(co.group + 1);
			if (rc == 0)
				rc = meta_client_cache_members(c->mc, co.group + 1, 0, &members, NULL);
			if (rc == 0 && !members[0])
				rc = t9k_err(T9K_ENOTFOUND, "cache group '%s' has no live members",
					     co.group + 1);
			co.group = members;
		}
		if (rc == 0 && !r->cs)
			rc = fs_cache_source_new(&co, st, true, &r->cs);
		if (rc < 0 && rc != -ENOMEM) /* a cache configured but not there */
			rc = t9k_err_wrap(-ECONNREFUSED, "cache %s", c->cache[0] ? c->cache :
					  c->cache_group);
		if (rc == 0)
			fs_cache_source(r->cs, &src);
	} else {
		rc = fs_chunk_source_store(repo_store(r->r), &src);
	}
	if (rc == 0)
		rc = fs_chunks_new(&src, c->cache_bytes, c->prefetch_threads, &r->chunks);
out:
	*out = r->chunks;
	pthread_mutex_unlock(&r->lock);
	free(members);
	return rc;
}

int t9kfs_resolve(t9kfs_repo *r, const char *spec, char commit[65], int *is_branch)
{
	struct oid id;
	bool br = false;
	int rc;

	enter();
	rc = check_name("ref", spec);
	if (rc == 0)
		rc = repo_resolve_ex(r->r, spec, &id, &br);
	if (rc < 0)
		return done(rc);
	oid_to_hex(&id, commit);
	if (is_branch)
		*is_branch = br;
	return 0;
}

/* ---- refs ---- */

int t9kfs_ref_open(t9kfs_repo *r, const char *spec, t9kfs_ref **out)
{
	struct t9kfs_ref *ref;
	int rc;

	enter();
	*out = NULL;
	rc = check_name("ref", spec);
	if (rc < 0)
		return done(rc);
	ref = calloc(1, sizeof(*ref));
	if (!ref || !(ref->spec = strdup(spec))) {
		free(ref);
		return done(t9k_err(-ENOMEM, "out of memory"));
	}
	rc = repo_resolve_ex(r->r, spec, &ref->commit, &ref->is_branch);
	if (rc < 0) {
		free(ref->spec);
		free(ref);
		return done(rc);
	}
	oid_to_hex(&ref->commit, ref->hex);
	atomic_fetch_add(&r->refs, 1);
	ref->repo = r;
	*out = ref;
	return 0;
}

void t9kfs_ref_close(t9kfs_ref *ref)
{
	if (!ref)
		return;
	repo_put(ref->repo);
	free(ref->spec);
	free(ref);
}

const char *t9kfs_ref_commit(const t9kfs_ref *ref)
{
	return ref->hex;
}

const char *t9kfs_ref_spec(const t9kfs_ref *ref)
{
	return ref->spec;
}

int t9kfs_ref_is_branch(const t9kfs_ref *ref)
{
	return ref->is_branch;
}

/* path without leading and trailing '/', checked, into out. */
static int norm_path(const char *path, char *out, size_t size)
{
	size_t n;

	if (!path)
		return t9k_err(T9K_EUSAGE, "no path given");
	while (*path == '/')
		path++;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	if (n >= size)
		return t9k_err(-ENAMETOOLONG, "path too long");
	memcpy(out, path, n);
	out[n] = '\0';
	return n ? meta_path_check(out) : 0;
}

/* Looks path up in ref's commit; the caller releases *hold. */
static int lookup(struct t9kfs_ref *ref, const char *path, struct tree_entry *e,
		  struct meta_node **hold)
{
	char p[REPO_PATH_MAX];
	int rc = norm_path(path, p, sizeof(p));

	*hold = NULL;
	if (rc == 0)
		rc = repo_lookup(ref->repo->r, &ref->commit, p, e, hold);
	if (rc == T9K_ENOTFOUND || rc == -ENOENT)
		rc = t9k_err(rc, "'%s' not found in %s@%.12s", p, ref->repo->name, ref->hex);
	return rc;
}

static void unhold(struct t9kfs_ref *ref, struct meta_node *hold)
{
	if (hold)
		meta_node_put(repo_objects(ref->repo->r), hold);
}

int t9kfs_stat(t9kfs_ref *ref, const char *path, uint32_t *mode, uint64_t *size,
	       int64_t *mtime_ns, char id[65])
{
	struct meta_node *hold;
	struct tree_entry e;
	int rc;

	enter();
	rc = lookup(ref, path, &e, &hold);
	if (rc == 0) {
		if (mode)
			*mode = e.mode;
		if (size)
			*size = e.size;
		if (mtime_ns)
			*mtime_ns = e.mtime_ns;
		if (id && e.is_inline)
			id[0] = '\0';
		else if (id)
			oid_to_hex(&e.id, id);
	}
	unhold(ref, hold);
	return done(rc);
}

int t9kfs_readlink(t9kfs_ref *ref, const char *path, char **target)
{
	struct meta_node *hold;
	struct tree_entry e;
	int rc;

	enter();
	*target = NULL;
	rc = lookup(ref, path, &e, &hold);
	if (rc == 0 && (!S_ISLNK(e.mode) || !e.is_inline))
		rc = t9k_err(-EINVAL, "'%s' is not a symlink", path);
	if (rc == 0 && !(*target = strndup((const char *)e.data, e.data_len)))
		rc = t9k_err(-ENOMEM, "out of memory");
	unhold(ref, hold);
	return done(rc);
}

/* ---- listing ---- */

static int dir_push(struct t9kfs_dir *d, const struct oid *tree)
{
	struct tree_iter *it;
	int rc;

	if (d->nlv == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct dir_level *lv = realloc(d->lv, cap * sizeof(*lv));

		if (!lv)
			return t9k_err(-ENOMEM, "out of memory");
		d->lv = lv;
		d->cap = cap;
	}
	rc = tree_iter_new(repo_objects(d->repo->r), tree, NULL, 0, &it);
	if (rc < 0)
		return rc;
	d->lv[d->nlv++] = (struct dir_level){ .it = it, .prefix_len = d->path.len };
	return 0;
}

void t9kfs_dir_close(t9kfs_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nlv; i++)
		tree_iter_free(d->lv[i].it);
	free(d->lv);
	buf_release(&d->path);
	buf_release(&d->out);
	repo_put(d->repo);
	free(d);
}

int t9kfs_dir_open(t9kfs_ref *ref, const char *path, int flags, t9kfs_dir **out)
{
	struct t9kfs_dir *d = calloc(1, sizeof(*d));
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct oid tree;
	int rc;

	enter();
	*out = NULL;
	if (!d)
		return done(t9k_err(-ENOMEM, "out of memory"));
	buf_init(&d->path);
	buf_init(&d->out);
	d->recursive = flags & T9KFS_RECURSIVE;
	atomic_fetch_add(&ref->repo->refs, 1);
	d->repo = ref->repo;
	rc = lookup(ref, path, &e, &hold);
	if (rc == 0 && !S_ISDIR(e.mode))
		rc = t9k_err(-ENOTDIR, "'%s' is not a directory", path);
	if (rc == 0) {
		tree = e.id;
		rc = dir_push(d, &tree);
	}
	unhold(ref, hold);
	if (rc < 0) {
		t9kfs_dir_close(d);
		return done(rc);
	}
	*out = d;
	return 0;
}

int t9kfs_dir_next(t9kfs_dir *d, const char **path, uint32_t *mode, uint64_t *size,
		   int64_t *mtime_ns)
{
	struct tree_entry e;
	int rc = 0;

	enter();
	while (d->nlv) {
		struct dir_level *lv = &d->lv[d->nlv - 1];

		rc = tree_iter_next(lv->it, &e);
		if (rc < 0)
			return done(rc);
		if (rc == 0) {
			tree_iter_free(lv->it);
			d->nlv--;
			continue;
		}
		d->path.len = lv->prefix_len;
		rc = buf_add(&d->path, e.name, e.name_len);
		/* the caller's copy, NUL-terminated: path keeps the prefix */
		d->out.len = 0;
		if (rc == 0)
			rc = buf_add(&d->out, d->path.data, d->path.len);
		if (rc == 0)
			rc = buf_add(&d->out, "", 1);
		if (rc < 0)
			return done(rc);
		if (mode)
			*mode = e.mode;
		if (size)
			*size = e.size;
		if (mtime_ns)
			*mtime_ns = e.mtime_ns;
		if (d->recursive && S_ISDIR(e.mode)) {
			struct oid sub = e.id;

			rc = buf_add(&d->path, "/", 1); /* the children's prefix */
			if (rc == 0)
				rc = dir_push(d, &sub);
			if (rc < 0)
				return done(rc);
		}
		if (path)
			*path = (const char *)d->out.data;
		return 1;
	}
	return 0;
}

/* ---- reading ---- */

int t9kfs_open(t9kfs_ref *ref, const char *path, t9kfs_file **out)
{
	struct t9kfs_file *f = calloc(1, sizeof(*f));
	struct meta_node *hold = NULL;
	struct manifest m = { 0 };
	struct fs_chunks *chunks;
	struct tree_entry e;
	int rc;

	enter();
	*out = NULL;
	if (!f)
		return done(t9k_err(-ENOMEM, "out of memory"));
	rc = lookup(ref, path, &e, &hold);
	if (rc == 0 && S_ISDIR(e.mode))
		rc = t9k_err(-EISDIR, "'%s' is a directory", path);
	else if (rc == 0 && S_ISLNK(e.mode))
		rc = t9k_err(-EINVAL, "'%s' is a symlink (read its target with readlink)", path);
	else if (rc == 0 && !S_ISREG(e.mode))
		rc = t9k_err(-EINVAL, "'%s' is not a regular file", path);
	if (rc == 0 && e.is_inline) {
		f->size = e.data_len;
		if (!(f->data = malloc(e.data_len ? e.data_len : 1)))
			rc = t9k_err(-ENOMEM, "out of memory");
		else
			memcpy(f->data, e.data, e.data_len);
	} else if (rc == 0) {
		rc = repo_chunks(ref->repo, &chunks);
		if (rc == 0) {
			rc = meta_manifest_get(repo_objects(ref->repo->r), &e, &m);
			if (rc == T9K_ENOTFOUND || rc == -ENOENT) /* the tree names it: damage */
				rc = t9k_err_wrap(-EIO, "'%s'", path);
		}
		if (rc == 0 && !(f->ends = malloc((m.nchunks + 1) * sizeof(*f->ends))))
			rc = t9k_err(-ENOMEM, "out of memory");
		if (rc == 0) {
			uint64_t pos = 0;

			for (uint32_t i = 0; i < m.nchunks; i++) {
				pos += m.chunks[i].len;
				f->ends[i] = pos;
			}
			f->size = m.size;
			f->n = m.nchunks;
			f->chunks = m.chunks; /* taken over */
			m.chunks = NULL;
		}
		manifest_release(&m);
	}
	unhold(ref, hold);
	if (rc < 0) {
		free(f->data);
		free(f->ends);
		free(f);
		return done(rc);
	}
	pthread_mutex_init(&f->lock, NULL);
	/* A file opened here is most often read front to back (a dataset
	 * loader, a checkpoint): a first read at 0 already counts as
	 * sequential, so the chunks after it are fetched from the first
	 * read on. A random reader resets it with its first jump. */
	f->ra.seq = 1;
	atomic_fetch_add(&ref->repo->refs, 1);
	f->repo = ref->repo;
	*out = f;
	return 0;
}

uint64_t t9kfs_file_size(const t9kfs_file *f)
{
	return f->size;
}

int64_t t9kfs_pread(t9kfs_file *f, void *buf, size_t len, uint64_t off)
{
	struct fs_chunks *c = f->repo->chunks; /* made by open for a file with chunks */
	uint64_t end, queued, window = f->repo->c->prefetch_bytes;
	uint8_t *dst = buf;
	uint32_t first;
	int rc = 0;

	enter();
	if (off >= f->size || len == 0)
		return 0;
	end = len > f->size - off ? f->size : off + len;
	if (f->data) {
		memcpy(dst, f->data + off, (size_t)(end - off));
		return (int64_t)(end - off);
	}
	fs_chunks_read_ahead(c, &f->ra, &f->lock, f->chunks, f->ends, f->n, f->size, off, end,
			     window);
	first = fs_chunk_at(f->ends, f->n, off);
	queued = f->ends[first];
	for (uint32_t i = first; i < f->n && f->ends[i] - f->chunks[i].len < end; i++) {
		uint64_t cstart = f->ends[i] - f->chunks[i].len;
		uint64_t from = off > cstart ? off - cstart : 0;
		uint64_t to = end < f->ends[i] ? end - cstart : f->chunks[i].len;
		struct fs_chunk *ch;

		/* A read of many chunks has the ones after this one fetched
		 * in parallel meanwhile, a window ahead. */
		for (uint32_t j = fs_chunk_at(f->ends, f->n, queued);
		     j < f->n && queued < end && queued < cstart + window; j++) {
			fs_chunks_prefetch(c, &f->chunks[j]);
			queued = f->ends[j];
		}
		rc = fs_chunks_get(c, &f->chunks[i], &ch);
		if (rc < 0)
			return done(t9k_err_wrap(rc, "read at %llu", (unsigned long long)cstart));
		memcpy(dst, ch->data + from, (size_t)(to - from));
		dst += to - from;
		fs_chunks_put(c, ch);
	}
	return (int64_t)(dst - (uint8_t *)buf);
}

void t9kfs_close(t9kfs_file *f)
{
	if (!f)
		return;
	repo_put(f->repo);
	pthread_mutex_destroy(&f->lock);
	free(f->data);
	free(f->chunks);
	free(f->ends);
	free(f);
}

/* ---- writing ---- */

/* Stores the file open at fd (sb its attributes) and stages it at path. */
static int put_fd(struct t9kfs_repo *r, const char *branch, const char *path, int fd,
		  const struct stat *sb)
{
	uint8_t inl[META_INLINE_MAX];
	struct chunk_pipeline_opts po;
	struct tree_entry e;
	char p[REPO_PATH_MAX];
	int rc = check_name("branch", branch);

	if (rc == 0)
		rc = norm_path(path, p, sizeof(p));
	if (rc == 0 && !p[0])
		rc = t9k_err(T9K_EUSAGE, "no path given to put the file at");
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	if (!r->pipe) {
		rc = repo_pipeline_opts(r->r, &po);
		if (rc == 0)
			rc = chunk_pipeline_new(repo_store(r->r), &po, &r->pipe);
	}
	if (rc == 0 && !r->writer && !(r->writer = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT)))
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0)
		rc = repo_file_store(r->r, r->pipe, r->writer, fd, sb, &e, inl, NULL);
	if (rc == 0)
		rc = repo_stage(r->r, branch, p, &e);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int t9kfs_put_file(t9kfs_repo *r, const char *branch, const char *path, const char *local_path)
{
	struct stat sb;
	int fd, rc;

	enter();
	fd = open(local_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return done(t9k_err(-errno, "cannot open '%s': %s", local_path, strerror(errno)));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		rc = t9k_err(-EINVAL, "'%s' is not a regular file", local_path);
	else
		rc = put_fd(r, branch, path, fd, &sb);
	close(fd);
	return done(rc);
}

int t9kfs_put_bytes(t9kfs_repo *r, const char *branch, const char *path, const void *data,
		    size_t len)
{
	int fd = memfd_create("t9kfs-put", MFD_CLOEXEC), rc;
	struct timespec now;
	struct stat sb;

	enter();
	if (fd < 0)
		return done(t9k_err(-errno, "memfd_create: %s", strerror(errno)));
	rc = len ? write_full(fd, data, len) : 0;
	if (rc < 0)
		rc = t9k_err(rc, "cannot buffer %zu bytes: %s", len, strerror(-rc));
	if (rc == 0 && (lseek(fd, 0, SEEK_SET) < 0 || fstat(fd, &sb) < 0))
		rc = t9k_err(-errno, "memfd: %s", strerror(errno));
	if (rc == 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		sb.st_mode = S_IFREG | 0644;
		sb.st_mtim = now;
		rc = put_fd(r, branch, path, fd, &sb);
	}
	close(fd);
	return done(rc);
}

int t9kfs_remove(t9kfs_repo *r, const char *branch, const char *path)
{
	char p[REPO_PATH_MAX];
	int rc;

	enter();
	rc = check_name("branch", branch);
	if (rc == 0)
		rc = norm_path(path, p, sizeof(p));
	if (rc == 0 && !p[0])
		rc = t9k_err(T9K_EUSAGE, "cannot remove the root");
	if (rc == 0)
		rc = repo_stage(r->r, branch, p, NULL);
	return done(rc);
}

int t9kfs_reset(t9kfs_repo *r, const char *branch, const char *path)
{
	char p[REPO_PATH_MAX], esc[REPO_PATH_MAX * 3 + 1], req[REPO_PATH_MAX * 4];
	json_t *reply = NULL;
	int rc;

	enter();
	rc = check_name("branch", branch);
	if (rc == 0)
		rc = norm_path(path ? path : "", p, sizeof(p));
	if (rc == 0)
		rc = repo_path(req, sizeof(req), r->name, "/branches/", branch);
	if (rc == 0)
		rc = meta_client_escape(p, esc, sizeof(esc));
	if (rc == 0 && (size_t)snprintf(req + strlen(req), sizeof(req) - strlen(req),
					"/staging?prefix=%s", esc) >= sizeof(req) - strlen(req))
		rc = t9k_err(-ENAMETOOLONG, "request too long");
	if (rc == 0)
		rc = meta_client_call(r->c->mc, "DELETE", req, NULL, &reply);
	if (rc == 0)
		rc = (int)json_integer_value(json_object_get(reply, "dropped"));
	json_decref(reply);
	return done(rc);
}

int t9kfs_staged(t9kfs_repo *r, const char *branch, char **json)
{
	char req[1024];
	int rc;

	enter();
	*json = NULL;
	rc = check_name("branch", branch);
	if (rc == 0)
		rc = repo_path(req, sizeof(req) - 32, r->name, "/branches/", branch);
	if (rc == 0)
		snprintf(req + strlen(req), sizeof(req) - strlen(req), "/staging?limit=%d",
			 SDK_STAGED_MAX);
	return done(rc < 0 ? rc : call(r->c, "GET", req, NULL, json));
}

int t9kfs_commit(t9kfs_repo *r, const char *branch, const char *message,
		 const char *const *keys, const char *const *values, size_t nkv, int flags,
		 char id[65])
{
	json_t *meta = json_object(), *body = NULL, *reply = NULL;
	char req[512];
	int rc;

	enter();
	if (id)
		id[0] = '\0';
	rc = check_name("branch", branch);
	if (rc == 0)
		rc = check_name("commit message", message);
	if (rc == 0 && !meta)
		rc = t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < nkv; i++) {
		if (!keys[i] || !*keys[i] || !values[i])
			rc = t9k_err(T9K_EUSAGE, "metadata pair %zu: empty key or no value", i);
		else if (json_object_get(meta, keys[i]))
			rc = t9k_err(T9K_EUSAGE, "metadata key '%s' given twice", keys[i]);
		else if (json_object_set_new(meta, keys[i], json_string(values[i])) < 0)
			rc = t9k_err(-EINVAL, "metadata '%s': not UTF-8 text", keys[i]);
	}
	if (rc == 0)
		rc = repo_path(req, sizeof(req) - 16, r->name, "/branches/", branch);
	if (rc == 0) {
		snprintf(req + strlen(req), sizeof(req) - strlen(req), "/commits");
		body = json_pack("{s:s,s:s,s:O,s:b}", "message", message, "author", r->c->author,
				 "meta", meta, "allow_empty", (flags & T9KFS_ALLOW_EMPTY) != 0);
		if (!body)
			rc = t9k_err(-EINVAL, "commit message: not UTF-8 text");
	}
	if (rc == 0)
		rc = meta_client_call(r->c->mc, "POST", req, body, &reply);
	if (rc == 0 && id) {
		const char *s = json_string_value(json_object_get(reply, "id"));

		if (!s || strlen(s) != OID_HEXSZ)
			rc = t9k_err(-EPROTO, "metadata service: commit without an id");
		else
			memcpy(id, s, OID_HEXSZ + 1);
	}
	json_decref(meta);
	json_decref(body);
	json_decref(reply);
	return done(rc);
}

/* ---- history and refs ---- */

int t9kfs_log(t9kfs_repo *r, const char *spec, size_t max, char **json)
{
	char req[1024], esc[700];
	int rc;

	enter();
	*json = NULL;
	rc = check_name("ref", spec);
	if (rc == 0)
		rc = meta_client_escape(spec, esc, sizeof(esc));
	if (rc == 0)
		rc = repo_path(req, sizeof(req) - 800, r->name, "/log", NULL);
	if (rc == 0)
		snprintf(req + strlen(req), sizeof(req) - strlen(req), "?ref=%s&limit=%zu", esc, max);
	return done(rc < 0 ? rc : call(r->c, "GET", req, NULL, json));
}

int t9kfs_show(t9kfs_repo *r, const char *spec, char **json)
{
	char hex[OID_HEXSZ + 1], req[512];
	struct oid id;
	int rc;

	enter();
	*json = NULL;
	rc = check_name("ref", spec);
	if (rc == 0)
		rc = repo_resolve(r->r, spec, &id);
	if (rc == 0)
		rc = repo_path(req, sizeof(req), r->name, "/commits/", oid_to_hex(&id, hex));
	return done(rc < 0 ? rc : call(r->c, "GET", req, NULL, json));
}

int t9kfs_diff(t9kfs_repo *r, const char *from, const char *to, char **json)
{
	char req[2048], ea[700], eb[700];
	int rc;

	enter();
	*json = NULL;
	rc = check_name("ref", from);
	if (rc == 0)
		rc = check_name("ref", to);
	if (rc == 0)
		rc = meta_client_escape(from, ea, sizeof(ea));
	if (rc == 0)
		rc = meta_client_escape(to, eb, sizeof(eb));
	if (rc == 0)
		rc = repo_path(req, sizeof(req) - 1500, r->name, "/diff", NULL);
	if (rc == 0)
		snprintf(req + strlen(req), sizeof(req) - strlen(req), "?from=%s&to=%s", ea, eb);
	return done(rc < 0 ? rc : call(r->c, "GET", req, NULL, json));
}

int t9kfs_refs(t9kfs_repo *r, const char *prefix, char **json)
{
	char req[1024], esc[400] = "";
	int rc;

	enter();
	*json = NULL;
	rc = meta_client_escape(prefix ? prefix : "", esc, sizeof(esc));
	if (rc == 0)
		rc = repo_path(req, sizeof(req) - 420, r->name, "/refs", NULL);
	if (rc == 0)
		snprintf(req + strlen(req), sizeof(req) - strlen(req), "?prefix=%s", esc);
	return done(rc < 0 ? rc : call(r->c, "GET", req, NULL, json));
}

static int ref_create(struct t9kfs_repo *r, const char *kind, const char *fromkey,
		      const char *name, const char *from)
{
	char req[512];
	json_t *body;
	int rc = check_name(!strcmp(kind, "/branches") ? "branch name" : "tag name", name);

	if (rc == 0)
		rc = repo_path(req, sizeof(req), r->name, kind, NULL);
	if (rc < 0)
		return rc;
	body = json_pack("{s:s,s:s}", "name", name, fromkey, from && *from ? from : "main");
	rc = body ? call(r->c, "POST", req, body, NULL) : t9k_err(-EINVAL, "bad name");
	json_decref(body);
	return rc;
}

static int ref_delete(struct t9kfs_repo *r, const char *kind, const char *name)
{
	char req[512];
	int rc = check_name(!strcmp(kind, "/branches/") ? "branch name" : "tag name", name);

	if (rc == 0)
		rc = repo_path(req, sizeof(req), r->name, kind, name);
	return rc < 0 ? rc : call(r->c, "DELETE", req, NULL, NULL);
}

int t9kfs_branch_create(t9kfs_repo *r, const char *name, const char *from)
{
	enter();
	return done(ref_create(r, "/branches", "from", name, from));
}

int t9kfs_branch_delete(t9kfs_repo *r, const char *name)
{
	enter();
	return done(ref_delete(r, "/branches/", name));
}

int t9kfs_tag_create(t9kfs_repo *r, const char *name, const char *target)
{
	enter();
	return done(ref_create(r, "/tags", "target", name, target));
}

int t9kfs_tag_delete(t9kfs_repo *r, const char *name)
{
	enter();
	return done(ref_delete(r, "/tags/", name));
}
