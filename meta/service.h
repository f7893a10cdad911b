/* The metadata service: the API of meta/API.md (meta/api.h) over
 * HTTP/1.1 (libmicrohttpd) on unix sockets and/or TCP, with bearer-token
 * authentication, the request-size limit and one log line per request;
 * and the web console (ui/, meta/webui.h) at /ui/, whose login cookie
 * the API accepts in place of the token.
 *
 * Calling sequence (what `t9kfs meta serve` does):
 *   block SIGINT/SIGTERM in the calling thread, so server threads inherit it;
 *   meta_token_load(token_file, true, tok, sizeof(tok));   // first start
 *   meta_service_start(&opts, &svc);
 *   sigwait(...);
 *   meta_service_stop(svc, 30000);  // drains in-flight requests, frees svc
 *
 * The service owns the RocksDB database (opened in start, closed in stop);
 * a second server on the same database fails to start with a clear error.
 */
#ifndef T9K_META_SERVICE_H
#define T9K_META_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#define META_SERVICE_MAX_LISTEN 8
#define META_TOKEN_MAX 256

struct meta_service_opts {
	const char *db_dir;      /* RocksDB directory, created if missing */
	const char *store_url;   /* default store: repos get store_url/NAME */
	const char *listen[META_SERVICE_MAX_LISTEN]; /* "unix:PATH" or "HOST:PORT" */
	int nlisten;
	const char *token_file;  /* plain token; the server keeps its SHA-256 */
	unsigned max_connections; /* 0: 64 */
	/* One more listener for the web console ("HOST:PORT", NULL: none)
	 * that may fail: then the service runs without it and logs why (a
	 * host without loopback must not lose its metadata service). */
	const char *ui_listen;
	/* The web console (meta/webui.h, under /ui/) lets anyone read
	 * without a token or login: every GET of /api/v1/repos... is served
	 * anonymously; changes still need the token or a login. */
	bool ui_public_read;
};

struct meta_service;

/* Opens the database, reads the token file (which must exist: see
 * meta_token_load) and starts listening. A unix socket file left by a
 * dead server is replaced; one a live server answers on is -EADDRINUSE.
 * Port 0 picks a free port (see meta_service_address). */
int meta_service_start(const struct meta_service_opts *opts, struct meta_service **out);

/* Where listener i (0..meta_service_naddr()-1: the nlisten addresses,
 * then ui_listen's when it started) is bound: "unix:PATH" or "HOST:PORT"
 * with the real port. Owned by the service. */
const char *meta_service_address(const struct meta_service *svc, int i);
int meta_service_naddr(const struct meta_service *svc);

/* Stops accepting, lets requests in flight finish (up to grace_ms), then
 * closes connections, unlinks the unix sockets it created, closes the
 * database and frees svc. NULL is a no-op. */
void meta_service_stop(struct meta_service *svc, unsigned grace_ms);

/* Reads the plain token from path into tok (NUL-terminated, trailing
 * whitespace dropped). When the file is missing and create is set, first
 * writes a new random token (32 bytes as 64 hex digits) with mode 0600,
 * durably, creating the directory; returns 1 then, 0 when it existed. A
 * token file that group or others can read is refused (-EACCES). */
int meta_token_load(const char *path, bool create, char *tok, size_t size);

#endif
