/* The HTTP side of the metadata service: listening sockets, libmicrohttpd,
 * bearer-token checks, request bodies, logging and a graceful stop. What
 * a request means is meta/api.c's business.
 *
 * Threads: libmicrohttpd runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION), at most max_connections. Handlers block
 * on RocksDB's synced writes and on object-store I/O (a merge may read
 * thousands of tree nodes from S3); with a thread pool one slow request
 * would stall every connection multiplexed on its thread. Clients are few
 * and long-lived (CLIs, mounts, nodes with keep-alive), so a thread each
 * is cheap and keeps a slow commit from delaying a fast resolve.
 *
 * A request: the first call of the access handler checks the token and
 * Content-Length before any body is read (401 and 413 are answered at
 * once); the body is collected up to API_BODY_MAX (a chunked body past it
 * is drained and answered 413); the last call runs the api and queues the
 * reply; the completion callback logs one line and frees the state.
 *
 * The web console: GET /, /ui and /ui/... are its files (meta/webui.h),
 * answered at the first call without any credential (they hold no data:
 * the pages ask the API); any path under /ui/ that is not a file under
 * /ui/static/ is the page itself, so every deep link loads. A request
 * may carry, instead of the token, the cookie of a login (POST
 * /api/v1/session, answered here, not by meta/api.c); a request that
 * changes something must then also carry WEBUI_CSRF_HEADER and come from
 * this origin (403 otherwise). With ui_public_read, GETs of
 * /api/v1/repos... need nothing. Every reply says nosniff, a
 * Content-Security-Policy (scripts only from /ui/static on pages, none
 * at all elsewhere) and DENY to frames.
 *
 * Who a request is (meta/authz.h): the token file's token is the bootstrap
 * admin; any other bearer token or a console login (which remembers the
 * name of the token that logged in, looked up again on every request so a
 * revoke or an expiry ends it) is a named token of the database. The last
 * call checks the permission the endpoint needs (403 naming it), serves
 * /api/v1/tokens, and makes a commit's author the token's name.
 *
 * Invariants: the plain token never stays in memory (its SHA-256 does, and
 * presented tokens are hashed and compared in constant time); the server
 * only unlinks a unix socket file it created itself (same device/inode).
 * Shared state: svc->inflight and svc->stopping are atomics; everything
 * else is set before the daemons start and read-only after.
 */
#include "meta/service.h"

#include "lib/err.h"
#include "lib/log.h"
#include "meta/authz.h"
#include "lib/oid.h"
#include "lib/util.h"
#include "meta/api.h"
#include "meta/db.h"
#include "meta/json.h"
#include "meta/webui.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNECTIONS 64
#define CONNECTION_TIMEOUT_S 300
#define LISTEN_BACKLOG 128

struct listener {
	struct MHD_Daemon *d;
	int fd;                  /* ours until MHD has it */
	char addr[PATH_MAX + 8]; /* "unix:PATH" or "HOST:PORT" */
	char *unix_path;         /* socket file we created, unlinked at stop */
	dev_t dev;
	ino_t ino;
};

struct meta_service {
	struct meta_db *db;
	struct meta_api *api;
	uint8_t token_hash[OID_RAWSZ];
	struct listener ls[META_SERVICE_MAX_LISTEN + 1]; /* + ui_listen */
	int nls;
	atomic_int inflight;     /* requests between first call and completion */
	atomic_bool stopping;
	bool public_read;        /* --ui-public-read */
	struct webui_sessions *sessions;
};

/* What a request proved. */
enum { AUTH_NONE, AUTH_TOKEN, AUTH_COOKIE, AUTH_ANON };

/* Per request; MHD keeps it in *con_cls. */
struct req_state {
	double t0;
	char method[16];
	char path[256];
	struct buf body;
	bool too_large;
	bool answered;
	unsigned status;
	int auth;               /* AUTH_* */
	bool session;           /* /api/v1/session, answered here */
	struct authz_ident id;  /* AUTH_TOKEN, AUTH_COOKIE: who */
};

/* ---- tokens ---- */

static int token_create(const char *path)
{
	char tmp[PATH_MAX], dir[PATH_MAX], hex[2 * 32 + 2];
	unsigned char raw[32];
	const char *slash = strrchr(path, '/');
	int fd = -1, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return t9k_err(-ENAMETOOLONG, "token file path '%s' is too long", path);
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (!*dir)
		snprintf(dir, sizeof(dir), "/");
	rc = mkdir_p(dir, 0700);
	if (rc < 0)
		return t9k_err(rc, "creating directory %s for the token file: %s", dir, strerror(-rc));
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return t9k_err(-EIO, "no random bytes for a new token (OpenSSL RAND_bytes failed)");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[64] = '\n';
	OPENSSL_cleanse(raw, sizeof(raw));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = t9k_err(-errno, "creating token file %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = write_full(fd, hex, 65);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc < 0) {
		rc = t9k_err(rc, "writing token file %s: %s", tmp, strerror(-rc));
		goto out;
	}
	/* link, not rename: a token another process created first wins */
	if (link(tmp, path) < 0 && errno != EEXIST) {
		rc = t9k_err(-errno, "creating token file %s: %s", path, strerror(errno));
		goto out;
	}
	rc = fsync_dir(dir);
	if (rc < 0)
		rc = t9k_err(rc, "syncing directory %s: %s", dir, strerror(-rc));
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	return rc;
}

int meta_token_load(const char *path, bool create, char *tok, size_t size)
{
	struct stat st;
	int fd, rc, created = 0;
	ssize_t n;

	if (!path || !*path)
		return t9k_err(-EINVAL, "no token file given");
	if (create && access(path, F_OK) < 0 && errno == ENOENT) {
		rc = token_create(path);
		if (rc < 0)
			return rc;
		created = 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return t9k_err(-errno, "token file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = t9k_err(-errno, "token file %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & 077) {
		rc = t9k_err(-EACCES, "token file %s is open to other users (mode 0%o): chmod 600 it",
			     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	n = read_full(fd, tok, size - 1);
	if (n < 0) {
		rc = t9k_err((int)n, "reading token file %s: %s", path, strerror((int)-n));
		goto out;
	}
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ' ||
			 tok[n - 1] == '\t'))
		n--;
	tok[n] = '\0';
	rc = created;
	if (n == 0 || (size_t)n >= size - 1)
		rc = t9k_err(-EINVAL, "token file %s: want one token of 1..%zu characters", path,
			     size - 2);
	for (ssize_t i = 0; rc >= 0 && i < n; i++)
		if (tok[i] < 0x21 || tok[i] > 0x7e)
			rc = t9k_err(-EINVAL, "token file %s: the token has a space or control character",
				     path);
	if (rc < 0)
		OPENSSL_cleanse(tok, size);
out:
	close(fd);
	return rc;
}

/* 0 when the request carries a valid token (its identity in *id), else
 * -EACCES with a message. */
static int auth_check(struct meta_service *svc, struct MHD_Connection *conn, struct authz_ident *id)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	struct oid got;

	if (!h)
		return t9k_err(-EACCES, "missing token: send 'Authorization: Bearer TOKEN' (the token is in the server's token file)");
	if (strncasecmp(h, "Bearer ", 7))
		return t9k_err(-EACCES, "the Authorization header is not 'Bearer TOKEN'");
	h += 7;
	while (*h == ' ')
		h++;
	if (oid_hash(&got, h, strlen(h)) < 0)
		return t9k_err(-EACCES, "cannot hash the token");
	if (!CRYPTO_memcmp(got.b, svc->token_hash, sizeof(got.b))) {
		authz_bootstrap(id);
		return 0;
	}
	return authz_token_lookup(svc->db, h, id);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static bool is_read(const char *method)
{
	return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

/* The console's files: /, /ui, /ui/... */
static bool is_ui_path(const char *url)
{
	return !strcmp(url, "/") || !strcmp(url, "/ui") || !strncmp(url, "/ui/", 4);
}

static bool is_session_path(const char *url)
{
	return !strcmp(url, "/api/v1/session") || !strcmp(url, "/api/v1/session/");
}

/* What --ui-public-read serves to anyone: the repositories and below. */
static bool is_public_read_path(const char *url)
{
	return !strncmp(url, "/api/v1/repos", 13) && (!url[13] || url[13] == '/' || url[13] == '?');
}

/* Sets *auth from the request's token or cookie; -EACCES (with a
 * message) for a wrong token, or for a stale cookie and nothing else. */
static int auth_classify(struct meta_service *svc, struct MHD_Connection *conn, const char *method,
			 const char *url, int *auth, struct authz_ident *id)
{
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEBUI_COOKIE);
	char who[META_REPO_NAME_MAX + 1];
	int rc;

	*auth = AUTH_NONE;
	if (header(conn, MHD_HTTP_HEADER_AUTHORIZATION)) {
		rc = auth_check(svc, conn, id);
		if (rc == 0)
			*auth = AUTH_TOKEN;
		return rc;
	}
	if (cookie && webui_session_who(svc->sessions, cookie, who, sizeof(who)) &&
	    authz_token_by_name(svc->db, who, id) == 0) {
		*auth = AUTH_COOKIE;
		return 0;
	}
	if (svc->public_read && is_read(method) && is_public_read_path(url)) {
		*auth = AUTH_ANON;
		return 0;
	}
	if (cookie && *cookie)
		return t9k_err(-EACCES, "the console's login has expired or ended: log in again");
	return 0;
}

/* ---- requests ---- */

/* Paths and query values reach meta/api.c still percent-encoded: it
 * decodes each segment itself, so "%2F" cannot fake a separator and
 * "%00" cannot cut a name short. */
static size_t unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls, (void)conn;
	return strlen(s);
}

static const char *query_value(void *arg, const char *key)
{
	return MHD_lookup_connection_value(arg, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header_value(void *arg, const char *name)
{
	return header(arg, name);
}

static void add_security_headers(struct MHD_Response *resp, const char *csp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

/* Adds the "Name: value" lines of hdrs. */
static void add_headers(struct MHD_Response *resp, const struct buf *hdrs)
{
	const char *p = (const char *)hdrs->data, *end = p + hdrs->len;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
		char line[1024];
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			colon = strchr(line, ':');
			if (colon) {
				line[colon - line] = '\0';
				MHD_add_response_header(resp, line, colon + 1 + (colon[1] == ' '));
			}
		}
		p += n + 1;
	}
}

struct stream {
	long (*read)(void *arg, uint64_t pos, char *buf, size_t max);
	void (*free)(void *arg);
	void *arg;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	long n = s->read(s->arg, pos, buf, max);

	return n > 0 ? (ssize_t)n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
					   : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	s->free(s->arg);
	free(s);
}

static enum MHD_Result send_reply(struct meta_service *svc, struct MHD_Connection *conn,
				  struct req_state *st, struct api_reply *rep)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (rep->read) {
		struct stream *s = malloc(sizeof(*s));

		resp = NULL;
		if (s) {
			*s = (struct stream){ rep->read, rep->free, rep->stream_arg };
			resp = MHD_create_response_from_callback(rep->stream_len, 256 << 10, stream_read, s,
								 stream_free);
			if (resp)
				rep->read = NULL; /* the stream is MHD's now */
			else
				free(s);
		}
	} else if (rep->fd >= 0) {
		resp = MHD_create_response_from_fd64(rep->fd_len, rep->fd);
		if (resp)
			rep->fd = -1; /* MHD closes it */
	} else {
		size_t len = rep->body.len;
		void *data = buf_detach(&rep->body, NULL);

		resp = MHD_create_response_from_buffer(len, data ? data : (void *)"",
						       data ? MHD_RESPMEM_MUST_FREE
							    : MHD_RESPMEM_PERSISTENT);
		if (!resp)
			free(data);
	}
	if (!resp)
		return MHD_NO;
	if (rep->status != 204 && rep->status != 304)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					rep->content_type ? rep->content_type : "application/json");
	add_security_headers(resp, WEBUI_CSP_DATA);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				rep->content_type ? "private, no-cache" : "no-store");
	add_headers(resp, &rep->headers);
	if (rep->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
	if (rep->challenge)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"t9kfs\"");
	if (atomic_load(&svc->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	st->status = rep->status;
	st->answered = true;
	ok = MHD_queue_response(conn, rep->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result send_error(struct meta_service *svc, struct MHD_Connection *conn,
				  struct req_state *st, int code)
{
	struct api_reply rep;
	enum MHD_Result ok;

	api_reply_init(&rep);
	api_reply_error(&rep, code, NULL);
	rep.challenge = code == -EACCES;
	ok = send_reply(svc, conn, st, &rep);
	api_reply_release(&rep);
	return ok;
}

/* A 403 for a browser's changing request that another site may have made. */
static enum MHD_Result send_forbidden(struct meta_service *svc, struct MHD_Connection *conn,
				      struct req_state *st)
{
	struct api_reply rep;
	enum MHD_Result ok;

	api_reply_init(&rep);
	rep.status = 403;
	buf_addstr(&rep.body, "{\"error\":{\"code\":\"forbidden\",\"message\":\"a change made "
			      "with the console's login must send the header " WEBUI_CSRF_HEADER
			      " from the console's own origin\"}}\n");
	ok = send_reply(svc, conn, st, &rep);
	api_reply_release(&rep);
	return ok;
}

/* The console's files; any other path under /ui/ is its page. */
static enum MHD_Result send_ui(struct MHD_Connection *conn, struct req_state *st,
			       const char *method, const char *url)
{
	static const char missing[] = "not found\n";
	const struct webui_asset *a = NULL;
	const char *etag = NULL, *inm;
	struct MHD_Response *resp;
	unsigned status = 200;
	enum MHD_Result ok;

	if (!is_read(method)) {
		status = 405;
	} else if (!strcmp(url, "/") || !strcmp(url, "/ui")) {
		status = 302;
	} else if (!strncmp(url, "/ui/static/", 11)) {
		a = webui_asset_find(url + 4, &etag);
		if (!a)
			status = 404;
	} else {
		a = webui_asset_find("index.html", &etag);
		if (!a)
			status = 404;
	}
	inm = header(conn, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (a && inm && strstr(inm, etag))
		status = 304;
	if (status == 200)
		resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_buffer(status == 404 ? sizeof(missing) - 1 : 0,
						       (void *)missing, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	add_security_headers(resp, WEBUI_CSP_PAGE);
	if (status == 200)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	else if (status == 404)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (a)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	if (status == 302)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/ui/");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	st->status = status;
	st->answered = true;
	ok = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* /api/v1/session: GET says who the request is, POST {"token"} logs in
 * (the cookie), DELETE logs out. */
static enum MHD_Result send_session(struct meta_service *svc, struct MHD_Connection *conn,
				    struct req_state *st, const char *method)
{
	static const char *const via[] = { NULL, "token", "cookie", NULL };
	const char *xfp = header(conn, "X-Forwarded-Proto");
	const char *secure = xfp && !strcasecmp(xfp, "https") ? "; Secure" : "";
	struct api_reply rep;
	enum MHD_Result ok;
	int rc = 0;

	api_reply_init(&rep);
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
		bool who = st->auth == AUTH_TOKEN || st->auth == AUTH_COOKIE;
		json_t *j = json_pack("{s:b,s:s?,s:b,s:s?,s:b}", "authenticated", who, "via",
				      via[st->auth], "public_read", svc->public_read, "identity",
				      who ? st->id.name : NULL, "admin", who && st->id.admin);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		json_decref(j);
		if (!s || buf_addstr(&rep.body, s) < 0 || buf_addstr(&rep.body, "\n") < 0)
			rc = t9k_err(-ENOMEM, "out of memory");
		free(s);
		rep.status = 200;
	} else if (strcmp(method, "POST") && strcmp(method, "DELETE")) {
		rc = t9k_err(-EOPNOTSUPP, "%s is not allowed on /api/v1/session (allowed: GET, POST, DELETE)",
			     method);
		snprintf(rep.allow, sizeof(rep.allow), "GET, POST, DELETE");
	} else if (!webui_same_origin(header(conn, WEBUI_CSRF_HEADER), header(conn, "Origin"),
				      header(conn, MHD_HTTP_HEADER_HOST), header(conn, "Sec-Fetch-Site"))) {
		api_reply_release(&rep);
		return send_forbidden(svc, conn, st);
	} else if (!strcmp(method, "DELETE")) {
		webui_session_drop(svc->sessions,
				   MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEBUI_COOKIE));
		buf_addf(&rep.headers, "Set-Cookie: " WEBUI_COOKIE "=; Path=/; HttpOnly; "
				       "SameSite=Strict; Max-Age=0%s\n", secure);
		rep.status = 204;
	} else {
		json_error_t err;
		json_t *body = json_loadb((const char *)st->body.data, st->body.len, 0, &err);
		const char *tok = json_string_value(json_object_get(body, "token"));
		char cookie[65];
		int64_t expires;
		struct oid h;

		struct authz_ident id;

		if (!tok) {
			rc = t9k_err(-EINVAL, "want a JSON body {\"token\": \"TOKEN\"}");
		} else if (oid_hash(&h, tok, strlen(tok)) < 0) {
			rc = t9k_err(-EACCES, "wrong token");
		} else if (!CRYPTO_memcmp(h.b, svc->token_hash, sizeof(h.b))) {
			authz_bootstrap(&id);
		} else {
			rc = authz_token_lookup(svc->db, tok, &id);
		}
		if (rc == 0 && (rc = webui_session_create_as(svc->sessions, id.name, cookie, &expires)) == 0) {
			buf_addf(&rep.headers, "Set-Cookie: " WEBUI_COOKIE "=%s; Path=/; HttpOnly; "
					       "SameSite=Strict; Max-Age=%d%s\n",
				 cookie, WEBUI_SESSION_TTL_S, secure);
			buf_addf(&rep.body, "{\"authenticated\":true,\"expires_ns\":%lld}\n",
				 (long long)expires);
			OPENSSL_cleanse(cookie, sizeof(cookie));
			rep.status = 200;
		}
		json_decref(body);
	}
	if (rc < 0)
		api_reply_error(&rep, rc, NULL);
	ok = send_reply(svc, conn, st, &rep);
	api_reply_release(&rep);
	return ok;
}

/* GET /api/v1/repos for a token that is not an --admin: only the
 * repositories it may read. */
static int authz_filter_repos(const struct authz_ident *id, const char *url, struct api_reply *rep)
{
	json_t *j, *a, *keep, *r, *out;
	size_t i;
	char *s;

	if (strcmp(url, "/api/v1/repos") && strcmp(url, "/api/v1/repos/"))
		return 0;
	if (rep->fd >= 0) {
		if (lseek(rep->fd, 0, SEEK_SET) < 0)
			return -errno;
		j = json_loadfd(rep->fd, 0, NULL);
	} else {
		j = json_loadb((const char *)rep->body.data, rep->body.len, 0, NULL);
	}
	a = json_object_get(j, "repos");
	keep = json_array();
	json_array_foreach(a, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));

		if (name && authz_allows(id, name, AUTHZ_READ))
			json_array_append(keep, r);
	}
	out = keep ? json_pack("{s:o}", "repos", keep) : NULL;
	s = j && out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	json_decref(j);
	if (!s)
		return -ENOMEM;
	if (rep->fd >= 0) {
		close(rep->fd);
		rep->fd = -1;
	}
	buf_reset(&rep->body);
	if (buf_addstr(&rep->body, s) < 0 || buf_addstr(&rep->body, "\n") < 0) {
		free(s);
		return -ENOMEM;
	}
	free(s);
	return 0;
}

/* A 403 naming what the request's identity lacks. */
static enum MHD_Result send_denied(struct meta_service *svc, struct MHD_Connection *conn,
				   struct req_state *st, const struct authz_need *need)
{
	struct api_reply rep;
	enum MHD_Result ok;
	char msg[400];
	json_t *j;
	char *s;

	if (need->scope == AUTHZ_GLOBAL)
		snprintf(msg, sizeof(msg), "token '%s' may not do this: it needs an --admin token",
			 st->id.name);
	else
		snprintf(msg, sizeof(msg), "token '%s' lacks %s permission on repository '%s'",
			 st->auth == AUTH_ANON ? "(none)" : st->id.name, authz_perm_name(need->perm),
			 need->repo);
	api_reply_init(&rep);
	rep.status = 403;
	j = json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code", "forbidden", "message", msg,
		      "permission", authz_perm_name(need->perm), "repo", need->repo);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	buf_addstr(&rep.body, s ? s : "{}");
	buf_addstr(&rep.body, "\n");
	free(s);
	json_decref(j);
	ok = send_reply(svc, conn, st, &rep);
	api_reply_release(&rep);
	return ok;
}

/* The commit body with "author" set to the token's name, the client's
 * author (if another) kept as a display name: "DISPLAY <NAME>". */
static int author_rewrite(struct req_state *st)
{
	json_t *j = json_loadb((const char *)st->body.data, st->body.len, 0, NULL);
	const char *given;
	char disp[256], author[META_REPO_NAME_MAX + sizeof(disp) + 4];
	size_t n = 0;
	char *s;

	if (!json_is_object(j)) {
		json_decref(j);
		return 0; /* meta/api.c answers the 400 */
	}
	given = json_string_value(json_object_get(j, "author"));
	for (const char *p = given ? given : ""; *p && n + 1 < sizeof(disp); p++)
		if ((unsigned char)*p >= 0x20 && *p != '<' && *p != '>' && *p != 0x7f)
			disp[n++] = *p;
	while (n && disp[n - 1] == ' ')
		n--;
	disp[n] = '\0';
	if (!n || !strcmp(disp, st->id.name))
		snprintf(author, sizeof(author), "%s", st->id.name);
	else
		snprintf(author, sizeof(author), "%s <%s>", disp + strspn(disp, " "), st->id.name);
	json_object_set_new(j, "author", json_string(author));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return t9k_err(-ENOMEM, "out of memory");
	buf_reset(&st->body);
	n = strlen(s);
	if (buf_add(&st->body, s, n) < 0) {
		free(s);
		return t9k_err(-ENOMEM, "out of memory");
	}
	free(s);
	return 0;
}

/* The permission check of the last call: 1 to go on to the api, 0 with a
 * reply queued in *ok (403, or /api/v1/tokens served here), -1 for
 * MHD_NO. */
static int authz_request(struct meta_service *svc, struct MHD_Connection *conn,
			 struct req_state *st, const char *method, const char *url,
			 enum MHD_Result *ok)
{
	struct authz_need need;
	bool allowed;

	authz_need_of(method, url, (const char *)st->body.data, st->body.len, &need);
	if (st->auth == AUTH_ANON)
		allowed = is_read(method) && (need.scope == AUTHZ_ANY ||
					      (need.scope == AUTHZ_REPO && need.perm == AUTHZ_READ));
	else if (need.scope == AUTHZ_GLOBAL)
		allowed = st->id.admin;
	else if (need.scope == AUTHZ_REPO)
		allowed = authz_allows(&st->id, need.repo, need.perm);
	else
		allowed = true;
	if (!allowed) {
		*ok = send_denied(svc, conn, st, &need);
		return 0;
	}
	if (!strncmp(url, "/api/v1/tokens", 14) && (!url[14] || url[14] == '/')) {
		struct api_reply rep;
		json_t *j = NULL;
		unsigned status;
		int rc;

		api_reply_init(&rep);
		t9k_err_clear();
		rc = authz_tokens_serve(svc->db, method, url, (const char *)st->body.data, st->body.len,
					&status, &j);
		if (rc < 0) {
			api_reply_error(&rep, rc, NULL);
		} else {
			char *s = json_dumps(j, JSON_COMPACT);

			rep.status = status;
			if (!s || buf_addstr(&rep.body, s) < 0 || buf_addstr(&rep.body, "\n") < 0)
				api_reply_error(&rep, t9k_err(-ENOMEM, "out of memory"), NULL);
			if (s)
				OPENSSL_cleanse(s, strlen(s)); /* a new token's secret */
			free(s);
		}
		json_decref(j);
		buf_release(&st->body);
		*ok = send_reply(svc, conn, st, &rep);
		api_reply_release(&rep);
		return 0;
	}
	if (need.is_commit && st->auth != AUTH_ANON && author_rewrite(st) < 0)
		return -1;
	return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct meta_service *svc = cls;
	struct req_state *st = *con_cls;
	struct api_request req;
	struct api_reply rep;
	enum MHD_Result ok;

	(void)version;
	if (!st) {
		const char *cl;
		int rc;

		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		st->t0 = now_sec();
		snprintf(st->method, sizeof(st->method), "%s", method);
		snprintf(st->path, sizeof(st->path), "%s", url);
		buf_init(&st->body);
		*con_cls = st;
		atomic_fetch_add(&svc->inflight, 1);
		t9k_err_clear();
		if (is_ui_path(url))
			return send_ui(conn, st, method, url);
		st->session = is_session_path(url);
		if ((rc = auth_classify(svc, conn, method, url, &st->auth, &st->id)) < 0 &&
		    !meta_api_is_public(method, url))
			return send_error(svc, conn, st, rc);
		if (!st->session && !meta_api_is_public(method, url) && st->auth == AUTH_NONE)
			return send_error(svc, conn, st, auth_check(svc, conn, &st->id));
		if (st->auth == AUTH_COOKIE && !st->session && !is_read(method) &&
		    !webui_same_origin(header(conn, WEBUI_CSRF_HEADER), header(conn, "Origin"),
				       header(conn, MHD_HTTP_HEADER_HOST), header(conn, "Sec-Fetch-Site")))
			return send_forbidden(svc, conn, st);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX)
			return send_error(svc, conn, st,
					  t9k_err(-EMSGSIZE, "request body of %s bytes is over the limit of %u",
						  cl, API_BODY_MAX));
		return MHD_YES;
	}
	if (st->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!st->too_large && st->body.len + *upload_data_size > API_BODY_MAX) {
			st->too_large = true; /* drain the rest, then answer 413 */
			buf_release(&st->body);
		}
		if (!st->too_large && buf_add(&st->body, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	t9k_err_clear();
	if (st->too_large)
		return send_error(svc, conn, st,
				  t9k_err(-EMSGSIZE, "request body is over the limit of %u bytes",
					  API_BODY_MAX));
	if (st->session) {
		ok = send_session(svc, conn, st, method);
		buf_release(&st->body);
		return ok;
	}
	if (!meta_api_is_public(method, url)) {
		int rc = authz_request(svc, conn, st, method, url, &ok);

		if (rc <= 0)
			return rc < 0 ? MHD_NO : ok;
	}
	/* a HEAD is the GET without its body (MHD drops the body) */
	req = (struct api_request){ .method = strcmp(method, "HEAD") ? method : "GET", .path = url,
				    .query = query_value, .query_arg = conn,
				    .body = (const char *)st->body.data, .body_len = st->body.len,
				    .header = header_value };
	api_reply_init(&rep);
	if (meta_api_handle(svc->api, &req, &rep) < 0) {
		api_reply_release(&rep);
		return MHD_NO;
	}
	if ((st->auth == AUTH_TOKEN || st->auth == AUTH_COOKIE) && !st->id.admin &&
	    rep.status == 200 && authz_filter_repos(&st->id, url, &rep) < 0) {
		api_reply_release(&rep);
		return MHD_NO;
	}
	buf_release(&st->body);
	ok = send_reply(svc, conn, st, &rep);
	api_reply_release(&rep);
	return ok;
}

static const char *term_reason(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "(timed out)";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "(server stopping)";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "(client went away)";
	case MHD_REQUEST_TERMINATED_READ_ERROR: return "(read error)";
	case MHD_REQUEST_TERMINATED_WITH_ERROR: return "(connection error)";
	default: return "(connection closed)";
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct meta_service *svc = cls;
	struct req_state *st = *con_cls;

	(void)conn;
	if (!st)
		return;
	t9k_log(T9K_LOG_INFO, "%s %s %u %.1fms%s%s", st->method, st->path, st->status,
		(now_sec() - st->t0) * 1000,
		toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " ", term_reason(toe));
	buf_release(&st->body);
	free(st);
	*con_cls = NULL;
	atomic_fetch_sub(&svc->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	t9k_log(T9K_LOG_WARN, "http: %s", msg);
}

/* ---- listening sockets ---- */

static int listen_unix(struct listener *l, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *slash = strrchr(path, '/');
	struct stat st;
	int fd, rc;

	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return t9k_err(-ENAMETOOLONG, "unix socket path '%s' is empty or longer than %zu bytes",
			       path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path));
	if (slash && slash != path) {
		char dir[sizeof(sa.sun_path)];

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		rc = mkdir_p(dir, 0700);
		if (rc < 0)
			return t9k_err(rc, "creating directory %s: %s", dir, strerror(-rc));
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return t9k_err(-EEXIST, "%s exists and is not a socket", path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return t9k_err(-errno, "socket: %s", strerror(errno));
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
		close(fd);
		if (rc == 0)
			return t9k_err(-EADDRINUSE, "a server is already listening on %s", path);
		if (rc != -ECONNREFUSED && rc != -ENOENT)
			return t9k_err(rc, "checking socket %s: %s", path, strerror(-rc));
		/* nobody answers: left by a server that died */
		if (unlink(path) < 0 && errno != ENOENT)
			return t9k_err(-errno, "removing stale socket %s: %s", path, strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return t9k_err(-errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = t9k_err(-errno, "binding %s: %s", path, strerror(errno));
		goto fail;
	}
	/* nobody can connect before listen(), so this leaves no window */
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0) {
		rc = t9k_err(-errno, "socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	l->unix_path = strdup(path);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (!l->unix_path) {
		unlink(path);
		rc = t9k_err(-ENOMEM, "out of memory");
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		rc = t9k_err(-errno, "listening on %s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(l->addr, sizeof(l->addr), "unix:%s", path);
	l->fd = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

static int listen_tcp(struct listener *l, const char *spec)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	const char *colon = strrchr(spec, ':');
	size_t hlen;
	int fd = -1, rc;

	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port))
		return t9k_err(-EINVAL, "bad listen address '%s': want HOST:PORT or unix:PATH", spec);
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') /* [::1]:8080 */
		spec++, hlen -= 2;
	if (hlen >= sizeof(host))
		return t9k_err(-EINVAL, "bad listen address '%s': host too long", spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	rc = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
	if (rc != 0)
		return t9k_err(-EINVAL, "bad listen address '%s': %s", spec, gai_strerror(rc));
	fd = listen_first(res, SOCK_CLOEXEC | SOCK_NONBLOCK, LISTEN_BACKLOG);
	freeaddrinfo(res);
	if (fd < 0)
		return t9k_err(fd, "cannot listen on %s: %s", spec, strerror(-fd));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		rc = t9k_err(-errno ? -errno : -EINVAL, "cannot name the address of %s", spec);
		close(fd);
		return rc;
	}
	snprintf(l->addr, sizeof(l->addr), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", hbuf,
		 pbuf);
	l->fd = fd;
	return 0;
}

static int listener_start(struct meta_service *svc, struct listener *l, const char *spec,
			  unsigned max_conn)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int rc;

	l->fd = -1;
	rc = !strncmp(spec, "unix:", 5) ? listen_unix(l, spec + 5) : listen_tcp(l, spec);
	if (rc < 0)
		return rc;
	l->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, svc,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)l->fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, svc,
				MHD_OPTION_CONNECTION_LIMIT, max_conn,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
				MHD_OPTION_END);
	if (!l->d)
		return t9k_err(-EIO, "cannot start the HTTP server on %s (libmicrohttpd failed; see the log)",
			       l->addr);
	l->fd = -1; /* MHD's now */
	return 0;
}

/* Undoes a listener: its daemon, its fd, its socket file (only ours). */
static void listener_close(struct listener *l)
{
	struct stat st;

	if (l->d)
		MHD_stop_daemon(l->d);
	l->d = NULL;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->unix_path && stat(l->unix_path, &st) == 0 && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->unix_path);
	free(l->unix_path);
	l->unix_path = NULL;
}

/* ---- start and stop ---- */

static void service_free(struct meta_service *svc)
{
	for (int i = 0; i < svc->nls; i++)
		listener_close(&svc->ls[i]);
	meta_api_free(svc->api);
	meta_db_close(svc->db);
	webui_sessions_free(svc->sessions);
	free(svc);
}

int meta_service_start(const struct meta_service_opts *o, struct meta_service **out)
{
	struct meta_service *svc;
	struct store *st = NULL;
	char tok[META_TOKEN_MAX + 2];
	unsigned max_conn = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
	int rc;

	*out = NULL;
	if (o->nlisten < 1 || o->nlisten > META_SERVICE_MAX_LISTEN)
		return t9k_err(-EINVAL, "want 1..%d listen addresses, got %d", META_SERVICE_MAX_LISTEN,
			       o->nlisten);
	if (!o->db_dir || !*o->db_dir || !o->store_url || !*o->store_url)
		return t9k_err(-EINVAL, "the metadata service needs a database directory and a store URL");
	/* a bad default store is a start-up error, not a surprise at the first repo */
	rc = store_open(o->store_url, &st);
	store_close(st);
	if (rc < 0)
		return rc;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return t9k_err(-ENOMEM, "out of memory");
	atomic_init(&svc->inflight, 0);
	atomic_init(&svc->stopping, false);
	svc->public_read = o->ui_public_read;
	rc = webui_sessions_new(&svc->sessions);
	if (rc < 0) {
		free(svc);
		return rc;
	}
	rc = meta_token_load(o->token_file, false, tok, sizeof(tok));
	if (rc >= 0) {
		struct oid h;

		rc = oid_hash(&h, tok, strlen(tok));
		memcpy(svc->token_hash, h.b, sizeof(h.b));
		OPENSSL_cleanse(tok, sizeof(tok));
	}
	if (rc < 0)
		goto fail;
	rc = mkdir_p(o->db_dir, 0700);
	if (rc < 0) {
		rc = t9k_err(rc, "creating database directory %s: %s", o->db_dir, strerror(-rc));
		goto fail;
	}
	rc = meta_db_open(o->db_dir, &svc->db);
	if (rc == 0)
		rc = meta_api_new(svc->db, o->store_url, &svc->api);
	if (rc < 0)
		goto fail;
	for (int i = 0; i < o->nlisten; i++) {
		svc->nls++;
		rc = listener_start(svc, &svc->ls[i], o->listen[i], max_conn);
		if (rc < 0)
			goto fail;
	}
	if (o->ui_listen) {
		struct listener *l = &svc->ls[svc->nls++];
		int urc = listener_start(svc, l, o->ui_listen, max_conn);

		if (urc < 0) {
			t9k_log(T9K_LOG_WARN, "meta: no web console on %s: %s", o->ui_listen,
				t9k_errmsg(urc));
			listener_close(l);
			memset(l, 0, sizeof(*l));
			svc->nls--;
		}
	}
	*out = svc;
	return 0;
fail:
	service_free(svc);
	return rc;
}

int meta_service_naddr(const struct meta_service *svc)
{
	return svc->nls;
}

const char *meta_service_address(const struct meta_service *svc, int i)
{
	return i >= 0 && i < svc->nls ? svc->ls[i].addr : NULL;
}

void meta_service_stop(struct meta_service *svc, unsigned grace_ms)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	double deadline = now_sec() + grace_ms / 1000.0;

	if (!svc)
		return;
	atomic_store(&svc->stopping, true);
	for (int i = 0; i < svc->nls; i++) {
		struct listener *l = &svc->ls[i];
		MHD_socket fd = l->d ? MHD_quiesce_daemon(l->d) : MHD_INVALID_SOCKET;

		if (fd != MHD_INVALID_SOCKET)
			close(fd); /* no new connections; a client gets ECONNREFUSED */
	}
	while (atomic_load(&svc->inflight) > 0 && now_sec() < deadline)
		nanosleep(&pause, NULL);
	if (atomic_load(&svc->inflight) > 0)
		t9k_log(T9K_LOG_WARN, "meta: %d requests still running after %u ms; closing them",
			atomic_load(&svc->inflight), grace_ms);
	service_free(svc);
}
