/* The endpoints of meta/API.md over meta/repo.h, independent of HTTP.
 *
 * A request is routed by its decoded path segments; every name, path and
 * spec in the path, the query and the body is checked before the first
 * call that could change state, so bad input is a 400 that changes
 * nothing. Replies are JSON; lists are written item by item into the
 * reply, which moves to an unlinked temporary file past SPILL_BYTES, so a
 * diff of a million files costs disk, not memory.
 *
 * Repo handles: api->slots caches up to REPO_CACHE_MAX open struct repo
 * (each holds a store handle and a node cache), least recently used first
 * out. A slot is reference-counted by the requests using it; a slot taken
 * out of the cache (evicted or its repository deleted) is closed by its
 * last user. api->gen moves on every delete, so a handle opened while a
 * delete ran is used once and never cached.
 *
 * Locking: api->lock guards slots, nslots, tick and gen and nothing else;
 * it is a leaf lock, never held across repo_open/repo_close or any I/O.
 * Everything else is per request or thread-safe below (meta/repo.h).
 */
#include "meta/api.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/console.h"
#include "meta/gc.h"
#include "meta/json.h"
#include "meta/members.h"
#include "meta/repo.h"
#include "store/cdc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPO_CACHE_MAX 16
#define SPILL_BYTES (1u << 20)
#define STAGING_LIMIT_DEFAULT 1000
#define STAGING_LIMIT_MAX 10000
#define MAX_SEGS 10
#define MAX_QUERY 8

struct repo_slot {
	char name[META_REPO_NAME_MAX + 1];
	struct repo *r;
	int refs;        /* requests using r */
	bool cached;     /* linked in api->slots */
	uint64_t used;   /* api->tick at the last use */
	struct repo_slot *next;
};

struct meta_api {
	struct meta_db *db;
	char *default_store;
	pthread_mutex_t lock;
	struct repo_slot *slots; /* lock */
	size_t nslots;           /* lock */
	uint64_t tick;           /* lock */
	uint64_t gen;            /* lock; moves on every repository delete */
	struct meta_members *members; /* cache groups (thread-safe itself) */
	uint64_t started_ms;          /* when this service started (now_ms) */
};

/* ---- the repo handle cache ---- */

static void slot_close(struct repo_slot *s)
{
	repo_close(s->r);
	free(s);
}

/* With api->lock held: takes s out of the cache; true if nobody uses it,
 * so the caller closes it once the lock is dropped. */
static bool slot_unlink(struct meta_api *api, struct repo_slot *s)
{
	for (struct repo_slot **p = &api->slots; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	s->cached = false;
	s->next = NULL;
	api->nslots--;
	return s->refs == 0;
}

static struct repo_slot *slot_find(struct meta_api *api, const char *name)
{
	for (struct repo_slot *s = api->slots; s; s = s->next)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

static void slot_put(struct meta_api *api, struct repo_slot *s)
{
	bool close;

	if (!s)
		return;
	pthread_mutex_lock(&api->lock);
	close = --s->refs == 0 && !s->cached;
	pthread_mutex_unlock(&api->lock);
	if (close)
		slot_close(s);
}

/* Publishes a freshly opened handle (cached unless a delete ran since gen
 * was read), or uses the one another thread published meanwhile. */
static int slot_insert(struct meta_api *api, const char *name, struct repo *r, uint64_t gen,
		       struct repo_slot **out)
{
	struct repo_slot *n = calloc(1, sizeof(*n)), *s, *victim = NULL;

	if (!n) {
		repo_close(r);
		return t9k_err(-ENOMEM, "out of memory");
	}
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->r = r;
	n->refs = 1;
	pthread_mutex_lock(&api->lock);
	s = slot_find(api, name);
	if (s) {
		s->refs++;
		s->used = ++api->tick;
		pthread_mutex_unlock(&api->lock);
		slot_close(n);
		*out = s;
		return 0;
	}
	n->used = ++api->tick;
	if (api->gen == gen) {
		n->cached = true;
		n->next = api->slots;
		api->slots = n;
		api->nslots++;
	}
	if (api->nslots > REPO_CACHE_MAX) {
		for (s = api->slots; s; s = s->next)
			if (s->refs == 0 && (!victim || s->used < victim->used))
				victim = s;
		if (victim && !slot_unlink(api, victim))
			victim = NULL;
	}
	pthread_mutex_unlock(&api->lock);
	if (victim)
		slot_close(victim);
	*out = n;
	return 0;
}

static int slot_get(struct meta_api *api, const char *name, struct repo_slot **out)
{
	struct repo_slot *s;
	struct repo *r;
	uint64_t gen;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&api->lock);
	s = slot_find(api, name);
	if (s) {
		s->refs++;
		s->used = ++api->tick;
	}
	gen = api->gen;
	pthread_mutex_unlock(&api->lock);
	if (s) {
		*out = s;
		return 0;
	}
	rc = repo_open(api->db, name, &r);
	return rc < 0 ? rc : slot_insert(api, name, r, gen, out);
}

/* After a repository is deleted: no new request gets its old handle. */
static void slot_forget(struct meta_api *api, const char *name)
{
	struct repo_slot *s;
	bool close = false;

	pthread_mutex_lock(&api->lock);
	api->gen++;
	s = slot_find(api, name);
	if (s)
		close = slot_unlink(api, s);
	pthread_mutex_unlock(&api->lock);
	if (close)
		slot_close(s);
}

static uint64_t now_ms(void)
{
	return (uint64_t)(now_sec() * 1000.0);
}

int meta_api_new(struct meta_db *db, const char *default_store, struct meta_api **out)
{
	struct meta_api *api = calloc(1, sizeof(*api));
	size_t n = strlen(default_store);

	*out = NULL;
	while (n > 1 && default_store[n - 1] == '/')
		n--;
	if (!api || !(api->default_store = strndup(default_store, n))) {
		free(api);
		return t9k_err(-ENOMEM, "out of memory");
	}
	if (meta_members_new(&api->members) < 0) {
		free(api->default_store);
		free(api);
		return t9k_err(-ENOMEM, "out of memory");
	}
	api->db = db;
	api->started_ms = now_ms();
	pthread_mutex_init(&api->lock, NULL);
	*out = api;
	return 0;
}

void meta_api_free(struct meta_api *api)
{
	if (!api)
		return;
	gc_shutdown(api->db); /* gc runs use the db: they end first */
	while (api->slots) {
		struct repo_slot *s = api->slots;

		api->slots = s->next;
		if (s->refs) /* every request should have returned */
			t9k_log(T9K_LOG_ERROR, "meta api: repository '%s' still in use at exit", s->name);
		slot_close(s);
	}
	pthread_mutex_destroy(&api->lock);
	meta_members_free(api->members);
	free(api->default_store);
	free(api);
}

/* ---- replies ---- */

void api_reply_init(struct api_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	buf_init(&rep->body);
	buf_init(&rep->headers);
	rep->fd = -1;
}

void api_reply_release(struct api_reply *rep)
{
	buf_release(&rep->body);
	buf_release(&rep->headers);
	if (rep->fd >= 0)
		close(rep->fd);
	rep->fd = -1;
	rep->fd_len = 0;
	if (rep->read && rep->free)
		rep->free(rep->stream_arg);
	rep->read = NULL;
	rep->free = NULL;
	rep->stream_arg = NULL;
	rep->stream_len = 0;
	rep->content_type = NULL;
}

static int spill_open(void)
{
	const char *dir = getenv("TMPDIR");
	char tmpl[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* file systems without O_TMPFILE */
	snprintf(tmpl, sizeof(tmpl), "%s/t9kfs-reply.XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return t9k_err(-errno, "creating a temporary file in %s: %s", dir, strerror(errno));
	unlink(tmpl);
	return fd;
}

static int out_flush(struct api_reply *rep)
{
	int rc;

	if (rep->fd < 0 && (rep->fd = spill_open()) < 0) {
		rc = rep->fd;
		rep->fd = -1;
		return rc;
	}
	rc = write_full(rep->fd, rep->body.data, rep->body.len);
	if (rc < 0)
		return t9k_err(rc, "writing a reply to a temporary file: %s", strerror(-rc));
	rep->fd_len += rep->body.len;
	buf_reset(&rep->body);
	return 0;
}

static int out_add(struct api_reply *rep, const char *s, size_t n)
{
	if (buf_add(&rep->body, s, n) < 0)
		return t9k_err(-ENOMEM, "out of memory");
	return rep->body.len < SPILL_BYTES ? 0 : out_flush(rep);
}

static int out_str(struct api_reply *rep, const char *s)
{
	return out_add(rep, s, strlen(s));
}

struct dump_ctx {
	struct api_reply *rep;
	int rc;
};

static int dump_cb(const char *buffer, size_t size, void *data)
{
	struct dump_ctx *d = data;

	d->rc = out_add(d->rep, buffer, size);
	return d->rc < 0 ? -1 : 0;
}

/* Writes j and drops the caller's reference (NULL j: out of memory). */
static int out_json(struct api_reply *rep, json_t *j)
{
	struct dump_ctx d = { rep, 0 };
	int rc;

	if (!j)
		return t9k_err(-ENOMEM, "out of memory");
	rc = json_dump_callback(j, dump_cb, &d, JSON_COMPACT);
	json_decref(j);
	if (rc < 0)
		return d.rc < 0 ? d.rc : t9k_err(-ENOMEM, "out of memory");
	return 0;
}

/* The body is complete (a newline ends it, for curl users): a spilled
 * one is flushed and rewound. */
static int out_finish(struct api_reply *rep)
{
	int rc = out_add(rep, "\n", 1);

	if (rc < 0 || rep->fd < 0)
		return rc;
	if (rep->body.len && (rc = out_flush(rep)) < 0)
		return rc;
	buf_release(&rep->body);
	if (lseek(rep->fd, 0, SEEK_SET) < 0)
		return t9k_err(-errno, "rewinding a reply file: %s", strerror(errno));
	return 0;
}

static void reply_reset(struct api_reply *rep)
{
	api_reply_release(rep);
	buf_init(&rep->body);
}

static void reply_error_json(struct api_reply *rep, int code, const char *message, json_t *extra)
{
	static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
	json_t *j;
	char msg[600];

	/* the message may live in the thread's error buffer: copy it first */
	snprintf(msg, sizeof(msg), "%s", message ? message : t9k_errmsg(code));
	reply_reset(rep);
	rep->err = code;
	j = meta_json_error(code, msg, NULL, &rep->status);
	if (j && extra && json_object_set_new(json_object_get(j, "error"), "conflicts", extra) == 0)
		extra = NULL;
	json_decref(extra);
	if (!j || json_dump_callback(j, dump_cb, &(struct dump_ctx){ rep, 0 }, JSON_COMPACT) < 0 ||
	    buf_add(&rep->body, "\n", 1) < 0 || rep->fd >= 0) {
		reply_reset(rep);
		buf_add(&rep->body, fallback, sizeof(fallback) - 1);
		rep->status = 500;
	}
	json_decref(j);
}

void api_reply_error(struct api_reply *rep, int code, const char *message)
{
	reply_error_json(rep, code, message, NULL);
}

static int reply_json(struct api_reply *rep, unsigned status, json_t *j)
{
	int rc = out_json(rep, j);

	if (rc == 0)
		rc = out_finish(rep);
	if (rc == 0)
		rep->status = status;
	return rc;
}

/* ---- one call ---- */

struct call {
	struct meta_api *api;
	const struct api_request *req;
	struct api_reply *rep;
	char *seg[MAX_SEGS];
	int nseg;
	const char *arg[4];   /* the ':' segments of the route */
	const char *repo;     /* arg[0] of repos/: routes */
	json_t *body;
	struct repo_slot *slot;
	char *qs[MAX_QUERY];  /* decoded query values, freed at the end */
	int nqs;
};

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Percent-decodes n bytes of s ('+' is a space when plus); NUL is refused. */
static int pct_decode(const char *s, size_t n, bool plus, const char *what, char **out)
{
	char *d = malloc(n + 1), *p = d;

	*out = NULL;
	if (!d)
		return t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+' && plus) {
			*p++ = ' ';
		} else if (s[i] != '%') {
			*p++ = s[i];
		} else if (i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
			   (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			if (!hi && !lo) {
				free(d);
				return t9k_err(-EINVAL, "%s contains a NUL byte (%%00)", what);
			}
			*p++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			free(d);
			return t9k_err(-EINVAL, "%s has a bad percent-escape", what);
		}
	}
	*p = '\0';
	*out = d;
	return 0;
}

/* Query parameter key, decoded: 0 and *out, 1 if absent, or -EINVAL. */
static int query(struct call *c, const char *key, const char **out)
{
	const char *raw = c->req->query ? c->req->query(c->req->query_arg, key) : NULL;
	char what[64];
	int rc;

	*out = NULL;
	if (!raw)
		return 1;
	if (c->nqs == MAX_QUERY)
		return t9k_err(-EINVAL, "too many query parameters");
	snprintf(what, sizeof(what), "query parameter '%s'", key);
	rc = pct_decode(raw, strlen(raw), true, what, &c->qs[c->nqs]);
	if (rc < 0)
		return rc;
	*out = c->qs[c->nqs++];
	return 0;
}

static int query_required(struct call *c, const char *key, const char **out)
{
	int rc = query(c, key, out);

	if (rc == 1)
		return t9k_err(-EINVAL, "query parameter '%s' is missing", key);
	return rc;
}

static int query_u64(struct call *c, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
	const char *s;
	char *end;
	int rc = query(c, key, &s);
	unsigned long long v;

	if (rc)
		return rc;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end || errno || v < lo || v > hi)
		return t9k_err(-EINVAL, "query parameter '%s' is '%.40s': want a number %" PRIu64
				       "..%" PRIu64, key, s, lo, hi);
	*out = v;
	return 0;
}

static int query_bool(struct call *c, const char *key, bool *out)
{
	const char *s;
	int rc = query(c, key, &s);

	if (rc)
		return rc;
	if (!strcmp(s, "1") || !strcmp(s, "true"))
		*out = true;
	else if (!strcmp(s, "0") || !strcmp(s, "false") || !*s)
		*out = false;
	else
		return t9k_err(-EINVAL, "query parameter '%s' is '%.40s': want 1 or 0", key, s);
	return 0;
}

/* String member of the body: 0 and *out, 1 if absent or null, -EINVAL. */
static int body_str(struct call *c, const char *key, bool required, size_t max, const char **out)
{
	json_t *v = json_object_get(c->body, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return t9k_err(-EINVAL, "request body has no \"%s\"", key);
		return 1;
	}
	if (!json_is_string(v))
		return t9k_err(-EINVAL, "request body \"%s\" is not a string", key);
	if (json_string_length(v) > max)
		return t9k_err(-EINVAL, "request body \"%s\" is longer than %zu bytes", key, max);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return t9k_err(-EINVAL, "request body \"%s\" contains a NUL byte", key);
	return 0;
}

/* A byte prefix of staged paths: "" or a path whose complete components
 * are valid (the last one may be partial). */
static int prefix_check(const char *prefix)
{
	const char *slash = strrchr(prefix, '/');
	char *dirs;
	int rc;

	if (strlen(prefix) > REPO_PATH_MAX)
		return t9k_err(-EINVAL, "prefix is longer than %d bytes", REPO_PATH_MAX);
	if (!slash)
		return 0;
	if (slash == prefix)
		return t9k_err(-EINVAL, "bad prefix '%s': must be relative", prefix);
	dirs = strndup(prefix, (size_t)(slash - prefix));
	if (!dirs)
		return t9k_err(-ENOMEM, "out of memory");
	rc = meta_path_check(dirs);
	free(dirs);
	return rc;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The branch exists (a clear 404 before anything else). */
static int branch_check(struct call *c, const char *branch)
{
	char ref[META_REF_MAX];
	struct oid id;
	int rc = meta_ref_name_check(branch);

	if (rc < 0)
		return rc;
	snprintf(ref, sizeof(ref), "branch/%s", branch);
	rc = meta_ref_get(c->api->db, c->repo, ref, &id);
	if (rc == T9K_ENOTFOUND && meta_repo_get(c->api->db, c->repo, &(struct meta_repo){ 0 }) == 0)
		return t9k_err(rc, "branch '%s' not found in repository '%s'", branch, c->repo);
	return rc;
}

static int commit_info_parse(struct call *c, struct commit_info *ci)
{
	int rc;
	json_t *t = json_object_get(c->body, "time_ns");

	memset(ci, 0, sizeof(*ci));
	if ((rc = body_str(c, "message", false, META_MSG_MAX, &ci->message)) < 0 ||
	    (rc = body_str(c, "author", false, META_AUTHOR_MAX, &ci->author)) < 0)
		return rc;
	/* a commit's time may be given (imports of history, tests' clocks) */
	if (t && !json_is_null(t)) {
		if (!json_is_integer(t) || json_integer_value(t) <= 0)
			return t9k_err(-EINVAL, "request body \"time_ns\" is not a positive integer");
		ci->time_ns = json_integer_value(t);
	}
	return 0;
}

/* A 409 with the conflicting paths. */
static int reply_conflicts(struct call *c, int code, const struct merge_result *m)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < m->nconflicts; i++) {
		const char *p = m->conflicts[i];

		if (json_array_append_new(list, meta_json_str(p, strlen(p))) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	if (!list)
		return t9k_err(-ENOMEM, "out of memory");
	reply_error_json(c->rep, code, NULL, list);
	return 0;
}

/* Writes "," between the items of a list. */
struct list_out {
	struct call *c;
	size_t n;
	size_t limit; /* 0: none */
	bool more;
};

static int list_item(struct list_out *lo, json_t *j)
{
	int rc = lo->n++ ? out_add(lo->c->rep, ",", 1) : 0;

	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	return out_json(lo->c->rep, j);
}

static int list_end(struct call *c, const char *tail, unsigned status)
{
	int rc = out_str(c->rep, tail);

	if (rc == 0)
		rc = out_finish(c->rep);
	if (rc == 0)
		c->rep->status = status;
	return rc;
}

/* ---- handlers: 0 with the reply filled, or an error code ---- */

static int h_health(struct call *c)
{
	return reply_json(c->rep, 200, json_pack("{s:b}", "ok", 1));
}

static int repo_list_one(const struct meta_repo *r, void *arg)
{
	return list_item(arg, meta_json_repo(r));
}

static int h_repo_list(struct call *c)
{
	struct list_out lo = { c, 0, 0, false };
	int rc = out_str(c->rep, "{\"repos\":[");

	if (rc == 0)
		rc = meta_repo_list(c->api->db, repo_list_one, &lo);
	return rc < 0 ? rc : list_end(c, "]}", 200);
}

static int h_repo_create(struct call *c)
{
	const char *name, *store;
	char url[META_URL_MAX + 2];
	uint32_t cdc[3] = { CDC_MIN_DEFAULT, CDC_AVG_DEFAULT, CDC_MAX_DEFAULT };
	static const char *const keys[3] = { "min", "avg", "max" };
	json_t *chunk = json_object_get(c->body, "chunk");
	json_t *pack = json_object_get(c->body, "pack_size");
	int64_t pack_size = REPO_PACK_SIZE_AUTO;
	struct repo_slot *slot;
	struct repo *r;
	uint64_t gen;
	int rc;

	if ((rc = body_str(c, "name", true, META_REPO_NAME_MAX + 1, &name)) < 0 ||
	    (rc = meta_repo_name_check(name)) < 0)
		return rc;
	if ((rc = body_str(c, "store", false, META_URL_MAX, &store)) < 0)
		return rc;
	if (store && !*store)
		return t9k_err(-EINVAL, "request body \"store\" is empty");
	if (chunk && !json_is_object(chunk))
		return t9k_err(-EINVAL, "request body \"chunk\" is not an object");
	for (int i = 0; chunk && i < 3; i++) {
		json_t *v = json_object_get(chunk, keys[i]);

		if (!v)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > UINT32_MAX)
			return t9k_err(-EINVAL, "request body \"chunk\" \"%s\" is not a size in bytes",
				       keys[i]);
		cdc[i] = (uint32_t)json_integer_value(v);
	}
	/* absent or null: the default for the store (repo_create) */
	if (pack && !json_is_null(pack)) {
		if (!json_is_integer(pack) || json_integer_value(pack) < 0 ||
		    json_integer_value(pack) > REPO_PACK_SIZE_MAX)
			return t9k_err(-EINVAL, "request body \"pack_size\" is not 0 or a size in bytes "
					       "up to %u", REPO_PACK_SIZE_MAX);
		pack_size = json_integer_value(pack);
	}
	if (store)
		rc = snprintf(url, sizeof(url), "%s", store);
	else
		rc = snprintf(url, sizeof(url), "%s/%s", c->api->default_store, name);
	if (rc < 0 || (size_t)rc > META_URL_MAX)
		return t9k_err(-EINVAL, "store URL for '%s' is longer than %d bytes", name, META_URL_MAX);
	pthread_mutex_lock(&c->api->lock);
	gen = c->api->gen;
	pthread_mutex_unlock(&c->api->lock);
	rc = repo_create(c->api->db, name, url, cdc, pack_size, &r);
	if (rc == 0)
		rc = slot_insert(c->api, name, r, gen, &slot);
	if (rc < 0)
		return rc;
	rc = reply_json(c->rep, 201, meta_json_repo(repo_info(slot->r)));
	slot_put(c->api, slot);
	return rc;
}

static int h_repo_get(struct call *c)
{
	struct meta_repo r;
	int rc = meta_repo_get(c->api->db, c->repo, &r);

	return rc < 0 ? rc : reply_json(c->rep, 200, meta_json_repo(&r));
}

static int h_repo_delete(struct call *c)
{
	int rc = meta_repo_delete(c->api->db, c->repo);

	if (rc < 0)
		return rc;
	slot_forget(c->api, c->repo);
	c->rep->status = 204;
	return 0;
}

static int ref_one(const char *refname, const struct oid *id, void *arg)
{
	return list_item(arg, json_pack("{s:o,s:o}", "name", meta_json_str(refname, strlen(refname)),
					"commit", meta_json_oid_new(id)));
}

static int h_refs(struct call *c)
{
	struct list_out lo = { c, 0, 0, false };
	const char *prefix;
	int rc = query(c, "prefix", &prefix);

	if (rc < 0)
		return rc;
	rc = out_str(c->rep, "{\"refs\":[");
	if (rc == 0)
		rc = meta_ref_list(c->api->db, c->repo, prefix ? prefix : "", ref_one, &lo);
	return rc < 0 ? rc : list_end(c, "]}", 200);
}

static int h_ref_cas(struct call *c)
{
	const char *kind = c->arg[1], *name = c->arg[2];
	char ref[META_REF_MAX];
	struct oid old, new;
	struct repo_commit rc_new;
	int rc, has_old, has_new;

	if (strcmp(kind, "branch") && strcmp(kind, "tag"))
		return t9k_err(-EINVAL, "ref kind '%.40s': want branch or tag", kind);
	if ((rc = meta_ref_name_check(name)) < 0)
		return rc;
	if (!json_object_get(c->body, "old") || !json_object_get(c->body, "new"))
		return t9k_err(-EINVAL, "request body needs \"old\" and \"new\" (an id, or null)");
	if ((has_old = meta_json_oid(c->body, "old", &old)) < 0)
		return has_old;
	if ((has_new = meta_json_oid(c->body, "new", &new)) < 0)
		return has_new;
	snprintf(ref, sizeof(ref), "%s/%s", kind, name);
	if (has_new == 0) {
		/* a ref never points at a missing object */
		if ((rc = slot_get(c->api, c->repo, &c->slot)) < 0 ||
		    (rc = repo_commit_read(c->slot->r, &new, &rc_new)) < 0)
			return rc;
		repo_commit_release(&rc_new);
		/* nor at one a running gc is deleting */
		if ((rc = gc_guard_commit(c->slot->r, &new)) < 0)
			return rc;
	}
	rc = meta_ref_cas(c->api->db, c->repo, ref, has_old == 0 ? &old : NULL,
			  has_new == 0 ? &new : NULL);
	if (rc < 0)
		return rc;
	return reply_json(c->rep, 200, json_pack("{s:s,s:o}", "name", ref, "commit",
						 has_new == 0 ? meta_json_oid_new(&new) : json_null()));
}

static int h_resolve(struct call *c)
{
	const char *spec;
	struct oid id;
	bool branch;
	int rc = query_required(c, "ref", &spec);
	json_t *j;
	int64_t gone;

	if (rc == 0)
		rc = repo_resolve_ex(c->slot->r, spec, &id, &branch);
	if (rc < 0)
		return rc;
	j = json_pack("{s:o,s:b}", "commit", meta_json_oid_new(&id), "branch", branch);
	/* readers of its data refuse with gc's message */
	if (j && gc_collected_get(c->api->db, c->repo, &id, &gone) == 0)
		json_object_set_new(j, "collected_ns", json_integer(gone));
	return reply_json(c->rep, 200, j);
}

static int ref_create(struct call *c, const char *kind, const char *from_key)
{
	const char *name, *from;
	char ref[META_REF_MAX];
	struct oid id;
	int rc;

	if ((rc = body_str(c, "name", true, META_REF_MAX, &name)) < 0 ||
	    (rc = meta_ref_name_check(name)) < 0 ||
	    (rc = body_str(c, from_key, false, META_REF_MAX, &from)) < 0)
		return rc;
	if (!from)
		from = REPO_DEFAULT_BRANCH;
	rc = !strcmp(kind, "branch") ? repo_branch_create(c->slot->r, name, from)
				     : repo_tag_create(c->slot->r, name, from);
	snprintf(ref, sizeof(ref), "%s/%s", kind, name);
	if (rc == 0)
		rc = meta_ref_get(c->api->db, c->repo, ref, &id);
	if (rc < 0)
		return rc;
	return reply_json(c->rep, 201, json_pack("{s:s,s:o}", "name", name, "commit",
						 meta_json_oid_new(&id)));
}

static int h_branch_create(struct call *c)
{
	return ref_create(c, "branch", "from");
}

static int h_tag_create(struct call *c)
{
	return ref_create(c, "tag", "target");
}

static int h_branch_delete(struct call *c)
{
	int rc = repo_branch_delete(c->slot->r, c->arg[1]);

	if (rc == 0)
		c->rep->status = 204;
	return rc;
}

static int h_tag_delete(struct call *c)
{
	int rc = repo_tag_delete(c->slot->r, c->arg[1]);

	if (rc == 0)
		c->rep->status = 204;
	return rc;
}

static bool oid_is_zero(const struct oid *id)
{
	for (int i = 0; i < OID_RAWSZ; i++)
		if (id->b[i])
			return false;
	return true;
}

static int staged_one(void *arg, const char *path, const struct tree_entry *e)
{
	struct list_out *lo = arg;
	json_t *j, *ej;

	if (lo->limit && lo->n == lo->limit) {
		lo->more = true;
		return 1; /* stops the walk */
	}
	if (!e)
		return list_item(lo, json_pack("{s:o,s:b}", "path", meta_json_str(path, strlen(path)),
					       "removed", 1));
	ej = meta_json_entry(e);
	if (ej && S_ISDIR(e->mode) && !e->is_inline && oid_is_zero(&e->id)) {
		json_object_del(ej, "id"); /* attributes only */
		json_object_del(ej, "size");
		j = json_pack("{s:o,s:o}", "path", meta_json_str(path, strlen(path)), "dir_attrs", ej);
	} else {
		j = json_pack("{s:o,s:o}", "path", meta_json_str(path, strlen(path)), "entry", ej);
	}
	return list_item(lo, j);
}

static int h_staging_list(struct call *c)
{
	const char *branch = c->arg[1], *prefix, *after;
	struct list_out lo = { c, 0, STAGING_LIMIT_DEFAULT, false };
	uint64_t limit = STAGING_LIMIT_DEFAULT;
	int rc;

	if ((rc = branch_check(c, branch)) < 0 || (rc = query(c, "prefix", &prefix)) < 0 ||
	    (rc = query(c, "after", &after)) < 0 ||
	    (rc = query_u64(c, "limit", 1, STAGING_LIMIT_MAX, &limit)) < 0)
		return rc;
	if (prefix && (rc = prefix_check(prefix)) < 0)
		return rc;
	lo.limit = limit;
	rc = out_str(c->rep, "{\"entries\":[");
	if (rc == 0)
		rc = repo_staged_after(c->slot->r, branch, prefix ? prefix : "", after, staged_one, &lo);
	if (rc < 0)
		return rc;
	return list_end(c, lo.more ? "],\"more\":true}" : "],\"more\":false}", 200);
}

static int h_staging_put(struct call *c)
{
	const char *branch = c->arg[1];
	json_t *list = json_object_get(c->body, "entries");
	struct repo_stage_item *items = NULL;
	struct tree_entry *ents = NULL;
	struct buf *holds = NULL;
	size_t n = json_array_size(list);
	int rc = branch_check(c, branch);

	if (rc < 0)
		return rc;
	if (!json_is_array(list))
		return t9k_err(-EINVAL, "request body needs \"entries\": an array");
	items = calloc(n + 1, sizeof(*items));
	ents = calloc(n + 1, sizeof(*ents));
	holds = calloc(n + 1, sizeof(*holds));
	if (!items || !ents || !holds) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *it = json_array_get(list, i), *p = json_object_get(it, "path");
		json_t *e = json_object_get(it, "entry"), *a = json_object_get(it, "dir_attrs");
		json_t *del = json_object_get(it, "removed");
		const char *path;

		if (!json_is_object(it) || !json_is_string(p)) {
			rc = t9k_err(-EINVAL, "entries[%zu] is not an object with a \"path\" string", i);
			goto out;
		}
		path = json_string_value(p);
		if (strlen(path) != json_string_length(p)) {
			rc = t9k_err(-EINVAL, "entries[%zu]: path contains a NUL byte", i);
			goto out;
		}
		if ((rc = meta_path_check(path)) < 0) {
			rc = t9k_err_wrap(rc, "entries[%zu]", i);
			goto out;
		}
		if (!!e + !!a + !!del != 1) {
			rc = t9k_err(-EINVAL, "entries[%zu] ('%s') needs one of \"entry\", \"removed\" or \"dir_attrs\"",
				     i, path);
			goto out;
		}
		items[i].path = path;
		if (del) {
			if (!json_is_true(del)) {
				rc = t9k_err(-EINVAL, "entries[%zu] ('%s'): \"removed\" must be true", i, path);
				goto out;
			}
			continue;
		}
		rc = meta_json_to_entry_ex(e ? e : a, &ents[i], &holds[i],
					   META_JSON_NAME_OPTIONAL | (a ? META_JSON_ATTRS_ONLY : 0));
		if (rc == 0 && ents[i].name &&
		    (ents[i].name_len != strlen(base_name(path)) ||
		     memcmp(ents[i].name, base_name(path), ents[i].name_len)))
			rc = t9k_err(-EINVAL, "entry name '%.*s' is not the last component of the path",
				     (int)ents[i].name_len, ents[i].name);
		if (rc < 0) {
			rc = t9k_err_wrap(rc, "entries[%zu] ('%s')", i, path);
			goto out;
		}
		items[i].entry = &ents[i];
		items[i].dir_attrs = a != NULL;
	}
	rc = repo_stage_batch(c->slot->r, branch, items, n);
	if (rc == 0)
		rc = reply_json(c->rep, 200, json_pack("{s:I}", "staged", (json_int_t)n));
out:
	for (size_t i = 0; holds && i < n; i++)
		buf_release(&holds[i]);
	free(holds);
	free(ents);
	free(items);
	return rc;
}

static int h_staging_reset(struct call *c)
{
	const char *branch = c->arg[1], *prefix;
	int rc;

	if ((rc = branch_check(c, branch)) < 0 || (rc = query(c, "prefix", &prefix)) < 0)
		return rc;
	if (prefix && (rc = prefix_check(prefix)) < 0)
		return rc;
	rc = repo_reset(c->slot->r, branch, prefix ? prefix : "");
	if (rc < 0)
		return rc;
	return reply_json(c->rep, 200, json_pack("{s:i}", "dropped", rc));
}

static int reply_commit(struct call *c, unsigned status, const struct oid *id)
{
	struct repo_commit rc_out;
	int rc = repo_commit_read(c->slot->r, id, &rc_out);

	if (rc < 0)
		return rc;
	rc = reply_json(c->rep, status, meta_json_commit(id, &rc_out.c));
	repo_commit_release(&rc_out);
	return rc;
}

static int h_commit(struct call *c)
{
	const char *branch = c->arg[1];
	json_t *ae = json_object_get(c->body, "allow_empty");
	struct commit_kv *kv = NULL;
	struct commit_info ci;
	struct oid id;
	int rc;

	if ((rc = branch_check(c, branch)) < 0 || (rc = commit_info_parse(c, &ci)) < 0)
		return rc;
	if (ae && !json_is_boolean(ae))
		return t9k_err(-EINVAL, "request body \"allow_empty\" is not true or false");
	ci.allow_empty = json_is_true(ae);
	rc = meta_json_to_kv(json_object_get(c->body, "meta"), &kv, &ci.nkv);
	if (rc < 0)
		return t9k_err_wrap(rc, "request body");
	ci.kv = kv;
	rc = repo_commit(c->slot->r, branch, &ci, &id);
	free(kv);
	return rc < 0 ? rc : reply_commit(c, 201, &id);
}

/* An object id from a path segment; what names it in the error. */
static int arg_oid(const char *arg, const char *what, struct oid *out)
{
	if (strlen(arg) != OID_HEXSZ || oid_from_hex(out, arg) < 0)
		return t9k_err(-EINVAL, "'%.80s' is not a %s id of %d hex digits", arg, what,
			       OID_HEXSZ);
	return 0;
}

static int h_commit_get(struct call *c)
{
	struct oid id;
	int rc = arg_oid(c->arg[1], "commit", &id);

	return rc < 0 ? rc : reply_commit(c, 200, &id);
}

static int log_one(void *arg, const struct repo_commit *rc)
{
	struct list_out *lo = arg;

	if (lo->limit && lo->n == lo->limit) {
		lo->more = true;
		return 1;
	}
	return list_item(lo, meta_json_commit(&rc->id, &rc->c));
}

static int h_log(struct call *c)
{
	struct list_out lo = { c, 0, 0, false };
	const char *spec;
	uint64_t limit = 0;
	bool first_parent = false;
	struct oid id;
	int rc = query(c, "ref", &spec);

	if (rc < 0 || (rc = query_u64(c, "limit", 0, UINT32_MAX, &limit)) < 0 ||
	    (rc = query_bool(c, "first_parent", &first_parent)) < 0)
		return rc;
	rc = repo_resolve(c->slot->r, spec ? spec : REPO_DEFAULT_BRANCH, &id);
	if (rc < 0)
		return rc;
	lo.limit = limit;
	rc = out_str(c->rep, "{\"commits\":[");
	if (rc == 0)
		rc = repo_log(c->slot->r, &id, first_parent, limit ? limit + 1 : 0, log_one, &lo);
	if (rc < 0)
		return rc;
	return list_end(c, lo.more ? "],\"more\":true}" : "],\"more\":false}", 200);
}

static int diff_one(void *arg, const char *path, const struct tree_entry *old,
		    const struct tree_entry *new)
{
	json_t *j = json_pack("{s:o,s:s}", "path", meta_json_str(path, strlen(path)), "change",
			      !old ? "added" : !new ? "removed" : "modified");

	if (j && old && json_object_set_new(j, "old", meta_json_entry(old)) < 0) {
		json_decref(j);
		j = NULL;
	}
	if (j && new && json_object_set_new(j, "new", meta_json_entry(new)) < 0) {
		json_decref(j);
		j = NULL;
	}
	return list_item(arg, j);
}

static int h_diff(struct call *c)
{
	struct list_out lo = { c, 0, 0, false };
	const char *from, *to;
	bool dirs = false;
	struct oid a, b;
	int rc;

	if ((rc = query_required(c, "from", &from)) < 0 || (rc = query_required(c, "to", &to)) < 0 ||
	    (rc = query_bool(c, "dirs", &dirs)) < 0 ||
	    (rc = repo_resolve(c->slot->r, from, &a)) < 0 ||
	    (rc = repo_resolve(c->slot->r, to, &b)) < 0)
		return rc;
	rc = out_str(c->rep, "{\"changes\":[");
	if (rc == 0)
		rc = repo_diff_ex(c->slot->r, &a, &b, dirs ? REPO_DIFF_DIRS : 0, diff_one, &lo);
	return rc < 0 ? rc : list_end(c, "]}", 200);
}

static int h_merge(struct call *c)
{
	const char *source, *target, *strategy;
	enum merge_strategy s = MERGE_FAIL;
	struct merge_result m;
	struct commit_info ci;
	int rc;

	if ((rc = body_str(c, "source", true, META_REF_MAX, &source)) < 0 ||
	    (rc = body_str(c, "target", true, META_REF_MAX, &target)) < 0 ||
	    (rc = meta_ref_name_check(target)) < 0 ||
	    (rc = body_str(c, "strategy", false, 16, &strategy)) < 0 ||
	    (rc = commit_info_parse(c, &ci)) < 0)
		return rc;
	if (!strategy || !strcmp(strategy, "fail"))
		s = MERGE_FAIL;
	else if (!strcmp(strategy, "ours"))
		s = MERGE_OURS;
	else if (!strcmp(strategy, "theirs"))
		s = MERGE_THEIRS;
	else
		return t9k_err(-EINVAL, "request body \"strategy\" is '%s': want fail, ours or theirs",
			       strategy);
	if ((rc = branch_check(c, target)) < 0)
		return rc;
	rc = repo_merge(c->slot->r, source, target, s, &ci, &m);
	if (rc == T9K_ECONFLICT && m.nconflicts)
		rc = reply_conflicts(c, rc, &m);
	else if (rc == 0)
		rc = reply_json(c->rep, 200, json_pack("{s:o,s:b,s:b}", "commit",
						       meta_json_oid_new(&m.commit), "fast_forward",
						       m.fast_forward, "up_to_date", m.up_to_date));
	merge_result_release(&m);
	return rc;
}

static int h_revert(struct call *c)
{
	const char *branch = c->arg[1], *what;
	struct merge_result m;
	struct commit_info ci;
	int rc;

	if ((rc = branch_check(c, branch)) < 0 ||
	    (rc = body_str(c, "commit", true, META_REF_MAX, &what)) < 0 ||
	    (rc = commit_info_parse(c, &ci)) < 0)
		return rc;
	rc = repo_revert(c->slot->r, branch, what, &ci, &m);
	if (rc == T9K_ECONFLICT && m.nconflicts)
		rc = reply_conflicts(c, rc, &m);
	else if (rc == 0)
		rc = reply_json(c->rep, 200, json_pack("{s:o}", "commit", meta_json_oid_new(&m.commit)));
	merge_result_release(&m);
	return rc;
}

/* ---- chunk index ---- */

static int h_chunk_index_get(struct call *c)
{
	struct manifest_chunk mc;
	struct oid id;
	int rc = arg_oid(c->arg[1], "chunk", &id);

	if (rc == 0)
		rc = repo_chunk_index_get(c->slot->r, &id, &mc);
	if (rc == -ENOENT)
		return t9k_err(T9K_ENOTFOUND, "chunk %s is not in the chunk index of repository '%s'",
			       c->arg[1], c->repo);
	return rc < 0 ? rc : reply_json(c->rep, 200, meta_json_chunk_loc(&mc));
}

static int h_chunk_index_put(struct call *c)
{
	struct manifest_chunk *v;
	size_t n;
	int rc = meta_json_to_chunk_index(c->body, REPO_CHUNK_INDEX_BATCH_MAX, &v, &n);

	if (rc < 0)
		return t9k_err_wrap(rc, "request body");
	/* checks the ranges and HEADs the pack in the repo's store first */
	rc = repo_chunk_index_put(c->slot->r, v, n);
	free(v);
	return rc < 0 ? rc : reply_json(c->rep, 200, json_pack("{s:I}", "recorded", (json_int_t)n));
}

/* ---- cache group membership (meta/members.h) ---- */

/* {"group": G, "members": [...], "nodes": {ADDR: NODE}, "complete": B,
 * ...extra} with the live members; "nodes" has those whose heartbeat
 * named their node. complete is false while the service has been up for
 * less than ttl_ms: members alive before a restart may not have beaten
 * again yet, so a missing one is not known to be gone. */
static int reply_members(struct call *c, json_t *extra, uint64_t ttl_ms)
{
	uint64_t now = now_ms();
	struct meta_member *v;
	int n, rc = meta_members_list(c->api->members, c->arg[0], now, &v, &n);
	json_t *j, *a, *nodes;

	if (rc < 0) {
		json_decref(extra);
		return rc;
	}
	j = extra ? extra : json_object();
	a = json_array();
	nodes = json_object();
	for (int i = 0; j && a && nodes && i < n; i++)
		if (json_array_append_new(a, json_string(v[i].addr)) < 0 ||
		    (v[i].node[0] && json_object_set_new(nodes, v[i].addr, json_string(v[i].node)) < 0))
			rc = -ENOMEM;
	free(v);
	if (!j || !a || !nodes || rc < 0 ||
	    json_object_set_new(j, "group", json_string(c->arg[0])) < 0 ||
	    json_object_set(j, "members", a) < 0 || json_object_set(j, "nodes", nodes) < 0 ||
	    json_object_set_new(j, "complete", json_boolean(now - c->api->started_ms >= ttl_ms)) < 0)
		rc = t9k_err(-ENOMEM, "out of memory");
	json_decref(a);
	json_decref(nodes);
	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	return reply_json(c->rep, 200, j);
}

static int h_group_get(struct call *c)
{
	uint64_t ttl = MEMBERS_TTL_DEFAULT_MS;
	int rc = query_u64(c, "ttl_ms", MEMBERS_TTL_MIN_MS, MEMBERS_TTL_MAX_MS, &ttl);

	return rc < 0 ? rc : reply_members(c, NULL, ttl);
}

static int h_member_beat(struct call *c)
{
	json_t *v = json_object_get(c->body, "ttl_ms"), *nv = json_object_get(c->body, "node");
	json_int_t ttl = MEMBERS_TTL_DEFAULT_MS;
	const char *node = NULL;
	int rc;

	if (v && !json_is_null(v)) {
		if (!json_is_integer(v))
			return t9k_err(-EINVAL, "request body \"ttl_ms\" is not an integer");
		ttl = json_integer_value(v);
		if (ttl < MEMBERS_TTL_MIN_MS || ttl > MEMBERS_TTL_MAX_MS)
			return t9k_err(-EINVAL, "heartbeat ttl_ms %lld: want %u to %u", (long long)ttl,
				       MEMBERS_TTL_MIN_MS, MEMBERS_TTL_MAX_MS);
	}
	if (nv && !json_is_null(nv)) {
		if (!json_is_string(nv))
			return t9k_err(-EINVAL, "request body \"node\" is not a string");
		node = json_string_value(nv);
	}
	rc = meta_members_beat(c->api->members, c->arg[0], c->arg[1], node, (uint32_t)ttl,
			       now_ms());
	return rc < 0 ? rc : reply_members(c, json_pack("{s:I}", "ttl_ms", ttl), (uint64_t)ttl);
}

static int h_member_leave(struct call *c)
{
	int rc = meta_members_leave(c->api->members, c->arg[0], c->arg[1], now_ms());

	return rc < 0 ? rc : reply_members(c, NULL, MEMBERS_TTL_DEFAULT_MS);
}

/* ---- retention, gc and accounting (meta/gc.h) ---- */

static int h_retention(struct call *c)
{
	json_t *j;
	int rc = gc_api_retention(c->api->db, c->repo, !strcmp(c->req->method, "PUT") ? c->body : NULL,
				  &j);

	return rc < 0 ? rc : reply_json(c->rep, 200, j);
}

static int h_gc_start(struct call *c)
{
	unsigned status;
	json_t *j;
	int rc = gc_api_start(c->api->db, c->repo, c->body, &status, &j);

	return rc < 0 ? rc : reply_json(c->rep, status, j);
}

static int h_gc_status(struct call *c)
{
	json_t *j;
	int rc = gc_status(c->api->db, c->repo, &j);

	return rc < 0 ? rc : reply_json(c->rep, 200, j);
}

static int h_du(struct call *c)
{
	const char *ref;
	uint64_t mem = 0;
	json_t *j;
	int rc = query(c, "ref", &ref);

	if (rc < 0 || (rc = query_u64(c, "max_memory", GC_MAX_MEMORY_MIN, UINT64_MAX >> 1, &mem)) < 0)
		return rc;
	rc = gc_du(c->api->db, c->repo, ref, mem, &j);
	return rc < 0 ? rc : reply_json(c->rep, 200, j);
}

/* ---- routing ---- */

enum { NEED_REPO = 1, HAS_BODY = 2 };

struct route {
	const char *method;
	const char *pattern; /* after /api/v1/; ':' is a captured segment */
	int (*fn)(struct call *c);
	unsigned flags;
};

static const struct route routes[] = {
	{ "GET", "health", h_health, 0 },
	{ "GET", "repos", h_repo_list, 0 },
	{ "POST", "repos", h_repo_create, HAS_BODY },
	{ "GET", "repos/:", h_repo_get, 0 },
	{ "DELETE", "repos/:", h_repo_delete, 0 },
	{ "GET", "repos/:/refs", h_refs, 0 },
	{ "PUT", "repos/:/refs/:/:", h_ref_cas, HAS_BODY },
	{ "GET", "repos/:/resolve", h_resolve, NEED_REPO },
	{ "POST", "repos/:/branches", h_branch_create, NEED_REPO | HAS_BODY },
	{ "DELETE", "repos/:/branches/:", h_branch_delete, NEED_REPO },
	{ "POST", "repos/:/tags", h_tag_create, NEED_REPO | HAS_BODY },
	{ "DELETE", "repos/:/tags/:", h_tag_delete, NEED_REPO },
	{ "GET", "repos/:/branches/:/staging", h_staging_list, NEED_REPO },
	{ "POST", "repos/:/branches/:/staging", h_staging_put, NEED_REPO | HAS_BODY },
	{ "DELETE", "repos/:/branches/:/staging", h_staging_reset, NEED_REPO },
	{ "POST", "repos/:/branches/:/commits", h_commit, NEED_REPO | HAS_BODY },
	{ "GET", "repos/:/commits/:", h_commit_get, NEED_REPO },
	{ "GET", "repos/:/log", h_log, NEED_REPO },
	{ "GET", "repos/:/diff", h_diff, NEED_REPO },
	{ "POST", "repos/:/merge", h_merge, NEED_REPO | HAS_BODY },
	{ "POST", "repos/:/branches/:/revert", h_revert, NEED_REPO | HAS_BODY },
	{ "GET", "repos/:/chunk-index/:", h_chunk_index_get, NEED_REPO },
	{ "POST", "repos/:/chunk-index", h_chunk_index_put, NEED_REPO | HAS_BODY },
	{ "GET", "repos/:/retention", h_retention, 0 },
	{ "PUT", "repos/:/retention", h_retention, HAS_BODY },
	{ "POST", "repos/:/gc", h_gc_start, HAS_BODY },
	{ "GET", "repos/:/gc", h_gc_status, 0 },
	{ "GET", "repos/:/du", h_du, 0 },
	/* the web console's reads (meta/console.c) */
	{ "GET", "repos/:/summary", console_summary, NEED_REPO },
	{ "GET", "repos/:/refinfo", console_refinfo, NEED_REPO },
	{ "GET", "repos/:/history", console_history, NEED_REPO },
	{ "GET", "repos/:/tree", console_tree, NEED_REPO },
	{ "GET", "repos/:/file", console_file, NEED_REPO },
	{ "GET", "repos/:/changes", console_changes, NEED_REPO },
	{ "GET", "repos/:/compare", console_compare, NEED_REPO },
	{ "GET", "cache-groups/:", h_group_get, 0 },
	{ "PUT", "cache-groups/:/members/:", h_member_beat, HAS_BODY },
	{ "DELETE", "cache-groups/:/members/:", h_member_leave, 0 },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches the segments after api/v1 against pattern, capturing ':'. */
static bool route_match(const char *pattern, char *const *seg, int nseg, const char **arg)
{
	const char *p = pattern;
	int i = 0, na = 0;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (i == nseg)
			return false;
		if (n == 1 && *p == ':') {
			if (na < 4)
				arg[na++] = seg[i];
		} else if (strlen(seg[i]) != n || memcmp(seg[i], p, n)) {
			return false;
		}
		i++;
		p = slash ? slash + 1 : p + n;
	}
	return i == nseg;
}

/* Splits and decodes the path; the first two segments must be api, v1. */
static int split_path(struct call *c)
{
	const char *p = c->req->path;
	int rc;

	if (*p != '/')
		return t9k_err(T9K_ENOTFOUND, "no such endpoint '%.200s'", c->req->path);
	p++;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (c->nseg == MAX_SEGS)
			return t9k_err(T9K_ENOTFOUND, "no such endpoint '%.200s'", c->req->path);
		rc = pct_decode(p, n, false, "path", &c->seg[c->nseg]);
		if (rc < 0)
			return rc;
		c->nseg++;
		if (!strcmp(c->seg[c->nseg - 1], ".") || !strcmp(c->seg[c->nseg - 1], ".."))
			return t9k_err(-EINVAL, "path '%.200s': '.' and '..' segments are not allowed",
				       c->req->path);
		if (!slash)
			break;
		p = slash + 1;
	}
	/* a trailing slash is forgiven */
	if (c->nseg && !*c->seg[c->nseg - 1] && p[-1] == '/' && !*p) {
		free(c->seg[--c->nseg]);
		c->seg[c->nseg] = NULL;
	}
	if (c->nseg < 3 || strcmp(c->seg[0], "api") || strcmp(c->seg[1], "v1"))
		return t9k_err(T9K_ENOTFOUND, "no such endpoint '%.200s' (the API is under /api/v1)",
			       c->req->path);
	return 0;
}

static int parse_body(struct call *c)
{
	json_error_t err;

	if (c->req->body_len == 0) {
		c->body = json_object();
		return c->body ? 0 : t9k_err(-ENOMEM, "out of memory");
	}
	if (c->req->body_len > API_BODY_MAX)
		return t9k_err(-EMSGSIZE, "request body of %zu bytes is over the limit of %u",
			       c->req->body_len, API_BODY_MAX);
	c->body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!c->body) {
		if (strstr(err.text, "JSON_ALLOW_NUL"))
			return t9k_err(-EINVAL, "malformed JSON body: strings must not contain NUL (\\u0000), at line %d, column %d",
				       err.line, err.column);
		return t9k_err(-EINVAL, "malformed JSON body: %s at line %d, column %d", err.text,
			       err.line, err.column);
	}
	if (!json_is_object(c->body))
		return t9k_err(-EINVAL, "request body is not a JSON object");
	return 0;
}

static int dispatch(struct call *c)
{
	const struct route *hit = NULL;
	bool path_known = false;
	int rc = split_path(c);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < NROUTES; i++) {
		const char *arg[4] = { NULL, NULL, NULL, NULL };

		if (!route_match(routes[i].pattern, c->seg + 2, c->nseg - 2, arg))
			continue;
		if (!path_known)
			c->rep->allow[0] = '\0';
		path_known = true;
		if (strlen(c->rep->allow) + strlen(routes[i].method) + 3 < sizeof(c->rep->allow)) {
			size_t n = strlen(c->rep->allow);

			snprintf(c->rep->allow + n, sizeof(c->rep->allow) - n, "%s%s", n ? ", " : "",
				 routes[i].method);
		}
		if (!strcmp(routes[i].method, c->req->method) && !hit) {
			hit = &routes[i];
			memcpy(c->arg, arg, sizeof(arg));
		}
	}
	if (!path_known)
		return t9k_err(T9K_ENOTFOUND, "no such endpoint '%.200s'", c->req->path);
	if (!hit)
		return t9k_err(-EOPNOTSUPP, "%s is not allowed on '%.200s' (allowed: %s)",
			       c->req->method, c->req->path, c->rep->allow);
	c->rep->allow[0] = '\0';
	if (!strncmp(hit->pattern, "repos/:", 7)) {
		c->repo = c->arg[0];
		if ((rc = meta_repo_name_check(c->repo)) < 0)
			return rc;
	}
	if ((hit->flags & HAS_BODY) && (rc = parse_body(c)) < 0)
		return rc;
	if ((hit->flags & NEED_REPO) && (rc = slot_get(c->api, c->repo, &c->slot)) < 0)
		return rc;
	return hit->fn(c);
}

/* ---- what meta/console.c reads of a call (meta/console.h) ---- */

struct repo *api_call_repo(struct call *c)
{
	return c->slot->r;
}

const char *api_call_repo_name(struct call *c)
{
	return c->repo;
}

struct meta_db *api_call_db(struct call *c)
{
	return c->api->db;
}

int api_call_query(struct call *c, const char *key, const char **out)
{
	return query(c, key, out);
}

int api_call_query_u64(struct call *c, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
	return query_u64(c, key, lo, hi, out);
}

int api_call_query_bool(struct call *c, const char *key, bool *out)
{
	return query_bool(c, key, out);
}

const char *api_call_header(struct call *c, const char *name)
{
	return c->req->header ? c->req->header(c->req->query_arg, name) : NULL;
}

struct api_reply *api_call_reply(struct call *c)
{
	return c->rep;
}

int api_call_out(struct call *c, const char *s, size_t n)
{
	return out_add(c->rep, s, n);
}

int api_call_json(struct call *c, json_t *j)
{
	return out_json(c->rep, j);
}

int api_call_end(struct call *c, unsigned status)
{
	return list_end(c, "", status);
}

struct api_repo_keep {
	struct meta_api *api;
	struct repo_slot *slot;
};

struct api_repo_keep *api_call_repo_keep(struct call *c)
{
	struct api_repo_keep *k = malloc(sizeof(*k));

	if (!k)
		return NULL;
	k->api = c->api;
	k->slot = c->slot;
	pthread_mutex_lock(&c->api->lock);
	c->slot->refs++;
	pthread_mutex_unlock(&c->api->lock);
	return k;
}

void api_repo_keep_put(struct api_repo_keep *k)
{
	if (!k)
		return;
	slot_put(k->api, k->slot);
	free(k);
}

bool meta_api_route(size_t i, const char **method, const char **pattern)
{
	if (i >= NROUTES)
		return false;
	*method = routes[i].method;
	*pattern = routes[i].pattern;
	return true;
}

bool meta_api_is_public(const char *method, const char *path)
{
	return !strcmp(method, "GET") &&
	       (!strcmp(path, "/api/v1/health") || !strcmp(path, "/api/v1/health/"));
}

int meta_api_handle(struct meta_api *api, const struct api_request *req, struct api_reply *rep)
{
	struct call c = { .api = api, .req = req, .rep = rep };
	int rc;

	reply_reset(rep);
	rep->status = 0;
	rep->err = 0;
	rep->allow[0] = '\0';
	t9k_err_clear(); /* a message from this thread's last request must not leak */
	rc = dispatch(&c);
	if (rc < 0) {
		unsigned status;

		meta_json_error_name(rc, &status);
		if (status >= 500)
			t9k_log(T9K_LOG_ERROR, "%s %s: %s", req->method, req->path, t9k_errmsg(rc));
		api_reply_error(rep, rc, NULL);
	}
	slot_put(api, c.slot);
	json_decref(c.body);
	for (int i = 0; i < c.nseg; i++)
		free(c.seg[i]);
	for (int i = 0; i < c.nqs; i++)
		free(c.qs[i]);
	return rep->status ? 0 : -ENOMEM;
}
