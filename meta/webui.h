/* The web console's side of the HTTP server (meta/service.c): its files
 * (ui/, built into the binary by scripts/embed-ui.sh), the login sessions
 * behind its cookie, and the checks of a browser's request.
 *
 * Sessions: a login (POST /api/v1/session with the service's token) gets
 * a random 32-byte session id in an HttpOnly, SameSite=Strict cookie; the
 * server keeps only its SHA-256 and expiry, in memory (a restart logs
 * everyone out), at most WEBUI_SESSIONS_MAX at once (the oldest goes).
 * Thread-safe.
 */
#ifndef T9K_META_WEBUI_H
#define T9K_META_WEBUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One embedded file: path below ui/ ("index.html", "app.js"). */
struct webui_asset {
	const char *path;
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The generated table, ending with a NULL path. */
extern const struct webui_asset webui_assets[];

/* The asset at path (below ui/), or NULL; *etag gets its quoted ETag. */
const struct webui_asset *webui_asset_find(const char *path, const char **etag);

#define WEBUI_COOKIE "t9kfs_session"
#define WEBUI_SESSION_TTL_S (12 * 3600)
#define WEBUI_SESSIONS_MAX 1024
/* The header a browser's changing request must carry (with any value):
 * a page of another site cannot set it without a CORS preflight, which
 * this server never grants. */
#define WEBUI_CSRF_HEADER "X-T9kfs-Request"

struct webui_sessions;
int webui_sessions_new(struct webui_sessions **out);
void webui_sessions_free(struct webui_sessions *s);
/* A new session: its id as 64 hex digits in cookie[65]; *expires_ns. */
int webui_session_create(struct webui_sessions *s, char cookie[65], int64_t *expires_ns);
/* Whether cookie names a live session. */
bool webui_session_check(struct webui_sessions *s, const char *cookie);
/* The same, remembering who logged in (the token's name, meta/authz.h):
 * _who copies it into who (size bytes) for a live session. */
int webui_session_create_as(struct webui_sessions *s, const char *who, char cookie[65],
			    int64_t *expires_ns);
bool webui_session_who(struct webui_sessions *s, const char *cookie, char *who, size_t size);
void webui_session_drop(struct webui_sessions *s, const char *cookie);

/* Content-Security-Policy of the console's pages, and of everything else
 * (JSON, file bytes): nothing runs, nothing loads. */
#define WEBUI_CSP_PAGE                                                                       \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " \
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "            \
	"frame-ancestors 'none'"
#define WEBUI_CSP_DATA "default-src 'none'; frame-ancestors 'none'; sandbox"

/* Whether a browser's changing request may be served: it carries
 * WEBUI_CSRF_HEADER, and its Origin (when sent) is this server (host as
 * in the Host header) and Sec-Fetch-Site (when sent) is not cross-site.
 * Values are NULL when absent. */
bool webui_same_origin(const char *csrf_header, const char *origin, const char *host,
		       const char *fetch_site);

#endif
