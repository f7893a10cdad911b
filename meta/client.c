/* The metadata service's client: HTTP/1.1 over a unix socket or TCP with
 * libcurl, bearer token, JSON bodies, errors mapped back to our codes.
 * Locking: c->lock guards only the pool of idle curl handles and the
 * timeout; requests run
 * on a borrowed handle with no lock held. Idle handles keep their
 * connection open, so a CLI or mount reuses its connections. */
#include "meta/client.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "meta/gc.h"
#include "meta/json.h"
#include "meta/members.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 8
#define STAGE_CHUNK 1024

struct meta_client {
	char *socket;   /* unix socket path, or NULL */
	char *base;     /* "http://host:port/api/v1" */
	char auth[256]; /* "Authorization: Bearer ..." */
	pthread_mutex_t lock;
	CURL *idle[POOL_MAX];
	int nidle;
	long timeout;   /* [lock] seconds per request */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int meta_client_new(const char *addr, const char *token, struct meta_client **out)
{
	struct meta_client *c = calloc(1, sizeof(*c));
	int n;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (!c)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->timeout = 3600;
	if (!strncmp(addr, "unix:", 5)) {
		c->socket = strdup(addr + 5);
		c->base = strdup("http://t9kfs/api/v1");
	} else if (!strncmp(addr, "http://", 7) || !strncmp(addr, "https://", 8)) {
		size_t len = strlen(addr);

		while (len && addr[len - 1] == '/')
			len--;
		c->base = malloc(len + sizeof("/api/v1"));
		if (c->base)
			snprintf(c->base, len + sizeof("/api/v1"), "%.*s/api/v1", (int)len, addr);
	} else {
		meta_client_free(c);
		return t9k_err(-EINVAL, "metadata service address '%s': want unix:PATH or http://HOST:PORT",
			       addr);
	}
	n = snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token ? token : "");
	if (!c->base || (!strncmp(addr, "unix:", 5) && !c->socket) || n < 0 ||
	    (size_t)n >= sizeof(c->auth)) {
		meta_client_free(c);
		return t9k_err(-ENOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

void meta_client_free(struct meta_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->socket);
	free(c->base);
	free(c);
}

void meta_client_set_timeout(struct meta_client *c, long seconds)
{
	pthread_mutex_lock(&c->lock);
	c->timeout = seconds;
	pthread_mutex_unlock(&c->lock);
}

static CURL *handle_take(struct meta_client *c, long *timeout)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->nidle)
		h = c->idle[--c->nidle];
	*timeout = c->timeout;
	pthread_mutex_unlock(&c->lock);
	if (!h)
		h = curl_easy_init();
	else
		curl_easy_reset(h);
	return h;
}

static void handle_give(struct meta_client *c, CURL *h)
{
	pthread_mutex_lock(&c->lock);
	if (c->nidle < POOL_MAX) {
		c->idle[c->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (h)
		curl_easy_cleanup(h);
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

int meta_client_escape(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr("-._~", *p);

		if (o + 4 > outsz)
			return t9k_err(-ENAMETOOLONG, "name too long for a request");
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

int meta_client_call(struct meta_client *c, const char *method, const char *path, json_t *body,
		     json_t **reply)
{
	struct buf resp = BUF_INIT, url = BUF_INIT;
	struct curl_slist *hdrs = NULL;
	char *payload = NULL;
	json_t *j = NULL;
	json_error_t jerr;
	long status = 0, timeout;
	CURLcode cc;
	CURL *h;
	int rc = 0;

	if (reply)
		*reply = NULL;
	h = handle_take(c, &timeout);
	if (!h || buf_addf(&url, "%s%s", c->base, path) < 0) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (body && !(payload = json_dumps(body, JSON_COMPACT))) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, c->auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, (char *)url.data);
	if (c->socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (payload) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (!strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = t9k_err(cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO,
			     "cannot reach the metadata service at %s%s: %s",
			     c->socket ? "unix:" : "", c->socket ? c->socket : c->base,
			     curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (resp.len) {
		j = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
		if (!j) {
			rc = t9k_err(-EPROTO, "metadata service sent bad JSON (HTTP %ld): %s", status,
				     jerr.text);
			goto out;
		}
	}
	if (status >= 400) {
		json_t *e = j ? json_object_get(j, "error") : NULL;
		const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
		const char *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;

		rc = t9k_err(code ? meta_json_error_code(code) : -EIO, "%s",
			     msg ? msg : "metadata service error");
		if (status == 401)
			rc = t9k_err(-EACCES, "metadata service refused the token: %s",
				     msg ? msg : "unauthorized");
	}
	if (reply) {
		*reply = j;
		j = NULL;
	}
out:
	json_decref(j);
	free(payload);
	curl_slist_free_all(hdrs);
	buf_release(&resp);
	buf_release(&url);
	if (h)
		handle_give(c, h);
	return rc;
}

int meta_client_repo_info(struct meta_client *c, const char *name, struct meta_repo *out)
{
	char esc[256], path[320];
	json_t *j;
	int rc = meta_client_escape(name, esc, sizeof(esc));

	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s", esc);
	rc = meta_client_call(c, "GET", path, NULL, &j);
	if (rc == 0)
		rc = meta_json_to_repo(j, out);
	json_decref(j);
	return rc;
}

static int remote_resolve(void *ctx, const char *repo, const char *spec, struct oid *out,
			  bool *is_branch)
{
	char r[256], s[1024], path[1400];
	json_t *j = NULL;
	int rc = meta_client_escape(repo, r, sizeof(r));

	if (rc == 0)
		rc = meta_client_escape(spec, s, sizeof(s));
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s/resolve?ref=%s", r, s);
	rc = meta_client_call(ctx, "GET", path, NULL, &j);
	if (rc == 0)
		rc = meta_json_oid(j, "commit", out);
	if (rc == 0 && is_branch)
		*is_branch = json_is_true(json_object_get(j, "branch"));
	/* a handle reads data: a commit whose data gc removed is an error */
	if (rc == 0 && json_is_integer(json_object_get(j, "collected_ns")))
		rc = gc_collected_error(out, json_integer_value(json_object_get(j, "collected_ns")));
	json_decref(j);
	return rc;
}

static int remote_stage(void *ctx, const char *repo, const char *branch,
			const struct repo_stage_item *items, size_t n)
{
	char r[256], b[256], path[600];
	int rc = meta_client_escape(repo, r, sizeof(r));

	if (rc == 0)
		rc = meta_client_escape(branch, b, sizeof(b));
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s/branches/%s/staging", r, b);
	for (size_t i = 0; rc == 0 && i < n; i += STAGE_CHUNK) {
		json_t *body = json_object(), *arr = json_array();

		for (size_t k = i; k < n && k < i + STAGE_CHUNK; k++) {
			json_t *it = json_object();
			struct tree_entry e;

			json_object_set_new(it, "path", json_string(items[k].path));
			if (!items[k].entry) {
				json_object_set_new(it, "removed", json_true());
			} else {
				const char *base = strrchr(items[k].path, '/');

				e = *items[k].entry;
				e.name = base ? base + 1 : items[k].path;
				e.name_len = (uint16_t)strlen(e.name);
				json_t *je = meta_json_entry(&e);

				if (items[k].dir_attrs) { /* mode and mtime only */
					json_object_del(je, "id");
					json_object_del(je, "inline");
				}
				json_object_set_new(it, items[k].dir_attrs ? "dir_attrs" : "entry", je);
			}
			json_array_append_new(arr, it);
		}
		json_object_set_new(body, "entries", arr);
		rc = meta_client_call(ctx, "POST", path, body, NULL);
		json_decref(body);
	}
	return rc;
}

static int remote_chunk_index_get(void *ctx, const char *repo, const struct oid *id,
				  struct manifest_chunk *out)
{
	char r[256], hex[OID_HEXSZ + 1], path[400];
	json_t *j = NULL;
	int rc = meta_client_escape(repo, r, sizeof(r));

	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s/chunk-index/%s", r, oid_to_hex(id, hex));
	rc = meta_client_call(ctx, "GET", path, NULL, &j);
	if (rc == 0)
		rc = meta_json_to_chunk_loc(j, id, out);
	else if (rc == T9K_ENOTFOUND)
		rc = -ENOENT; /* not indexed (a missing repo fails the put that follows) */
	json_decref(j);
	return rc;
}

static int remote_chunk_index_put(void *ctx, const char *repo, const struct manifest_chunk *v,
				  size_t n)
{
	char r[256], path[400];
	json_t *body;
	int rc = meta_client_escape(repo, r, sizeof(r));

	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s/chunk-index", r);
	body = meta_json_chunk_index(v, n);
	if (!body)
		return t9k_err(-ENOMEM, "out of memory");
	rc = meta_client_call(ctx, "POST", path, body, NULL);
	json_decref(body);
	return rc;
}

int meta_client_open_repo(struct meta_client *c, const char *name, struct repo **out)
{
	struct repo_remote remote = { .stage_batch = remote_stage, .resolve = remote_resolve,
				      .chunk_index_get = remote_chunk_index_get,
				      .chunk_index_put = remote_chunk_index_put, .ctx = c };
	struct meta_repo info;
	int rc = meta_client_repo_info(c, name, &info);

	*out = NULL;
	return rc < 0 ? rc : repo_open_remote(&info, &remote, out);
}

/* ---- cache group membership ---- */

/* The reply's "members" as one comma-separated string, and whether the
 * service called the list complete (absent: it is). */
static int members_join(json_t *j, char **out, bool *complete)
{
	json_t *a = json_object_get(j, "members"), *v, *cpl = json_object_get(j, "complete");
	struct buf b;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (complete)
		*complete = !json_is_false(cpl);
	if (!json_is_array(a))
		return t9k_err(-EPROTO, "metadata service: reply without a member list");
	buf_init(&b);
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);

		if (!s || !*s || strchr(s, ',')) {
			rc = t9k_err(-EPROTO, "metadata service: bad member in the list");
			break;
		}
		if ((i && (rc = buf_addstr(&b, ",")) < 0) || (rc = buf_addstr(&b, s)) < 0)
			break;
	}
	if (rc == 0 && (rc = buf_grow(&b, 0)) == 0) /* "" for an empty list too */
		*out = buf_detach(&b, NULL);
	buf_release(&b);
	return rc;
}

static int member_path(const char *group, const char *addr, char *path, size_t size)
{
	char g[256], a[800];
	int rc = meta_client_escape(group, g, sizeof(g));

	if (rc == 0 && addr)
		rc = meta_client_escape(addr, a, sizeof(a));
	if (rc < 0)
		return rc;
	if (addr)
		snprintf(path, size, "/cache-groups/%s/members/%s", g, a);
	else
		snprintf(path, size, "/cache-groups/%s", g);
	return 0;
}

/* The reply's members with their node names ("nodes", absent from older
 * services: none) into *out (n entries, malloc'd). */
static int members_parse(json_t *j, struct meta_member **out, int *n, bool *complete)
{
	json_t *a = json_object_get(j, "members"), *nodes = json_object_get(j, "nodes");
	json_t *v, *cpl = json_object_get(j, "complete");
	struct meta_member *m;
	size_t i;

	*out = NULL;
	*n = 0;
	if (complete)
		*complete = !json_is_false(cpl);
	if (!json_is_array(a) || json_array_size(a) > MEMBERS_PER_GROUP_MAX)
		return t9k_err(-EPROTO, "metadata service: reply without a member list");
	if (!(m = calloc(json_array_size(a) + 1, sizeof(*m))))
		return t9k_err(-ENOMEM, "out of memory");
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		const char *node = json_string_value(json_object_get(nodes, s ? s : ""));

		if (!s || !*s || strchr(s, ',') || strlen(s) > MEMBERS_ADDR_MAX ||
		    (node && meta_members_node_check(node) < 0)) {
			free(m);
			return t9k_err(-EPROTO, "metadata service: bad member in the list");
		}
		snprintf(m[i].addr, sizeof(m[i].addr), "%s", s);
		snprintf(m[i].node, sizeof(m[i].node), "%s", node ? node : "");
	}
	*out = m;
	*n = (int)json_array_size(a);
	return 0;
}

int meta_client_cache_beat(struct meta_client *c, const char *group, const char *addr,
			   const char *node, uint32_t ttl_ms, char **members, bool *complete)
{
	char path[1200];
	json_t *j = NULL, *body;
	int rc = member_path(group, addr, path, sizeof(path));

	*members = NULL;
	if (rc < 0)
		return rc;
	body = node ? json_pack("{s:I,s:s}", "ttl_ms", (json_int_t)ttl_ms, "node", node)
		    : json_pack("{s:I}", "ttl_ms", (json_int_t)ttl_ms);
	if (!body)
		return t9k_err(-ENOMEM, "out of memory");
	rc = meta_client_call(c, "PUT", path, body, &j);
	json_decref(body);
	if (rc == 0)
		rc = members_join(j, members, complete);
	json_decref(j);
	return rc;
}

/* GET of the group, with ?ttl_ms when not 0: the reply in *j. */
static int group_get(struct meta_client *c, const char *group, uint32_t ttl_ms, json_t **j)
{
	char path[1200];
	int rc = member_path(group, NULL, path, sizeof(path));

	*j = NULL;
	if (rc == 0 && ttl_ms) {
		size_t n = strlen(path);

		snprintf(path + n, sizeof(path) - n, "?ttl_ms=%u", ttl_ms);
	}
	return rc < 0 ? rc : meta_client_call(c, "GET", path, NULL, j);
}

int meta_client_cache_members(struct meta_client *c, const char *group, uint32_t ttl_ms,
			      char **members, bool *complete)
{
	json_t *j;
	int rc = group_get(c, group, ttl_ms, &j);

	*members = NULL;
	if (rc == 0)
		rc = members_join(j, members, complete);
	json_decref(j);
	return rc;
}

int meta_client_cache_group(struct meta_client *c, const char *group, uint32_t ttl_ms,
			    struct meta_member **v, int *n, bool *complete)
{
	json_t *j;
	int rc = group_get(c, group, ttl_ms, &j);

	*v = NULL;
	*n = 0;
	if (rc == 0)
		rc = members_parse(j, v, n, complete);
	json_decref(j);
	return rc;
}

int meta_client_cache_leave(struct meta_client *c, const char *group, const char *addr)
{
	char path[1200];
	int rc = member_path(group, addr, path, sizeof(path));

	return rc < 0 ? rc : meta_client_call(c, "DELETE", path, NULL, NULL);
}
