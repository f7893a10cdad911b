/* The metadata API of meta/API.md, without the transport: routing of a
 * (method, path, query, body) request to meta/repo.h calls, validation of
 * every name and path before anything changes, and the JSON reply. The
 * HTTP server (meta/service.c) feeds it requests; tests can too.
 *
 * Calling sequence:
 *   meta_api_new(db, "file:///srv/store", &api);
 *   struct api_reply rep;
 *   api_reply_init(&rep);
 *   meta_api_handle(api, &req, &rep);    // any number of threads at once
 *   ... send rep.status and rep.body (or rep.fd) ...
 *   api_reply_release(&rep);
 *   meta_api_free(api);                  // after the last handle returned
 *
 * The api keeps a bounded cache of open struct repo handles by name,
 * shared by all threads (reference-counted; deleting a repository drops
 * its handle once the last request using it is done). The db is the
 * caller's: it must outlive the api.
 */
#ifndef T9K_META_API_H
#define T9K_META_API_H

#include "lib/buf.h"
#include "meta/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_BODY_MAX (16u << 20) /* request bodies above are 413 */

struct meta_api;

/* default_store: repositories created without "store" get
 * default_store + "/" + name. */
int meta_api_new(struct meta_db *db, const char *default_store, struct meta_api **out);
void meta_api_free(struct meta_api *api);

struct api_request {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* as sent: percent-encoded, without the query */
	/* The raw (still percent-encoded) value of query parameter key, or
	 * NULL when absent. */
	const char *(*query)(void *arg, const char *key);
	void *query_arg;
	const char *body; /* may be NULL when body_len is 0 */
	size_t body_len;
	/* A request header's value or NULL (may itself be NULL: none); takes
	 * query_arg. */
	const char *(*header)(void *arg, const char *name);
};

/* A reply: status and a JSON body, in memory or, when large, in an
 * unlinked temporary file (fd >= 0, fd_len bytes from offset 0; whoever
 * sends it takes the fd and sets it to -1). The console's file endpoint
 * (meta/console.c) instead sends bytes of another type, from memory or
 * from a stream: read(arg, pos, buf, max) gives the next bytes at pos of
 * stream_len (> 0: bytes, 0: end, < 0: error) and free(arg) ends it;
 * whoever sends it takes the stream and sets read to NULL. */
struct api_reply {
	unsigned status;
	char allow[48];     /* 405: the methods the path takes, for Allow */
	bool challenge;     /* 401: add WWW-Authenticate */
	struct buf body;
	int fd;
	uint64_t fd_len;
	int err;            /* our code of an error reply, 0 on success */
	const char *content_type; /* static; NULL: application/json */
	struct buf headers; /* more headers, "Name: value\n" each */
	long (*read)(void *arg, uint64_t pos, char *buf, size_t max);
	void (*free)(void *arg);
	void *stream_arg;
	uint64_t stream_len;
};

void api_reply_init(struct api_reply *rep);
void api_reply_release(struct api_reply *rep);
/* Makes rep an error reply for code with message (NULL: the thread's
 * t9k_errmsg). Used by the transport too (401, 413). */
void api_reply_error(struct api_reply *rep, int code, const char *message);

/* Serves one request. Always fills rep (an error reply on failure) and
 * returns 0, or -ENOMEM when not even an error reply could be built. */
int meta_api_handle(struct meta_api *api, const struct api_request *req, struct api_reply *rep);

/* True for the one request that needs no token. */
bool meta_api_is_public(const char *method, const char *path);
/* Route i of the router (false past the last): its method and path
 * pattern after /api/v1/ (':' is one segment), so the permission table
 * of meta/authz.c can be checked against every route. */
bool meta_api_route(size_t i, const char **method, const char **pattern);

#endif
