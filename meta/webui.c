/* The console's files, sessions and request checks (meta/webui.h). */
#include "meta/webui.h"

#include "lib/err.h"
#include "lib/oid.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- files ---- */

static pthread_once_t etags_once = PTHREAD_ONCE_INIT;
static char (*etags)[OID_HEXSZ + 3]; /* one per asset, "\"HEX\"" */

static void etags_make(void)
{
	size_t n = 0;

	while (webui_assets[n].path)
		n++;
	etags = calloc(n + 1, sizeof(*etags));
	for (size_t i = 0; etags && i < n; i++) {
		struct oid id;
		char hex[OID_HEXSZ + 1];

		if (oid_hash(&id, webui_assets[i].data, webui_assets[i].len) < 0)
			memset(&id, 0, sizeof(id));
		snprintf(etags[i], sizeof(etags[i]), "\"%s\"", oid_to_hex(&id, hex));
	}
}

const struct webui_asset *webui_asset_find(const char *path, const char **etag)
{
	pthread_once(&etags_once, etags_make);
	for (size_t i = 0; webui_assets[i].path; i++) {
		if (strcmp(webui_assets[i].path, path))
			continue;
		*etag = etags ? etags[i] : "\"\"";
		return &webui_assets[i];
	}
	return NULL;
}

/* ---- sessions ---- */

struct session {
	struct oid hash; /* of the cookie's 64 hex digits */
	int64_t expires_ns;
	char who[65];    /* the name of the token that logged in (meta/authz.h) */
};

struct webui_sessions {
	pthread_mutex_t lock;
	struct session v[WEBUI_SESSIONS_MAX]; /* lock; expires_ns 0: free */
};

/* Wall-clock time: expiries are also told to the browser. */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int webui_sessions_new(struct webui_sessions **out)
{
	struct webui_sessions *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void webui_sessions_free(struct webui_sessions *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	OPENSSL_cleanse(s->v, sizeof(s->v));
	free(s);
}

int webui_session_create(struct webui_sessions *s, char cookie[65], int64_t *expires_ns)
{
	return webui_session_create_as(s, "", cookie, expires_ns);
}

int webui_session_create_as(struct webui_sessions *s, const char *who, char cookie[65],
			    int64_t *expires_ns)
{
	unsigned char raw[32];
	int64_t now = now_ns();
	struct oid h;
	size_t slot = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return t9k_err(-EIO, "no random bytes for a session (OpenSSL RAND_bytes failed)");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(cookie + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (oid_hash(&h, cookie, 64) < 0)
		return t9k_err(-EIO, "cannot hash a session id");
	*expires_ns = now + (int64_t)WEBUI_SESSION_TTL_S * 1000000000;
	pthread_mutex_lock(&s->lock);
	/* a free or expired slot, else the one that expires first */
	for (size_t i = 0; i < WEBUI_SESSIONS_MAX; i++) {
		if (s->v[i].expires_ns <= now) {
			slot = i;
			break;
		}
		if (s->v[i].expires_ns < s->v[slot].expires_ns)
			slot = i;
	}
	s->v[slot].hash = h;
	s->v[slot].expires_ns = *expires_ns;
	snprintf(s->v[slot].who, sizeof(s->v[slot].who), "%s", who);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The slot of cookie's live session, or -1; with s->lock held. */
static int session_find(struct webui_sessions *s, const char *cookie, int64_t now)
{
	struct oid h;
	int found = -1;

	if (!cookie || strlen(cookie) != 64 || oid_hash(&h, cookie, 64) < 0)
		return -1;
	for (int i = 0; i < WEBUI_SESSIONS_MAX; i++) /* no early exit: constant time */
		if (s->v[i].expires_ns > now && !CRYPTO_memcmp(s->v[i].hash.b, h.b, sizeof(h.b)))
			found = i;
	return found;
}

bool webui_session_check(struct webui_sessions *s, const char *cookie)
{
	return webui_session_who(s, cookie, NULL, 0);
}

bool webui_session_who(struct webui_sessions *s, const char *cookie, char *who, size_t size)
{
	int i;

	pthread_mutex_lock(&s->lock);
	i = session_find(s, cookie, now_ns());
	if (i >= 0 && who)
		snprintf(who, size, "%s", s->v[i].who);
	pthread_mutex_unlock(&s->lock);
	return i >= 0;
}

void webui_session_drop(struct webui_sessions *s, const char *cookie)
{
	int i;

	pthread_mutex_lock(&s->lock);
	i = session_find(s, cookie, now_ns());
	if (i >= 0)
		memset(&s->v[i], 0, sizeof(s->v[i]));
	pthread_mutex_unlock(&s->lock);
}

/* ---- request checks ---- */

bool webui_same_origin(const char *csrf_header, const char *origin, const char *host,
		       const char *fetch_site)
{
	const char *rest;

	if (!csrf_header)
		return false;
	if (fetch_site && strcasecmp(fetch_site, "same-origin") && strcasecmp(fetch_site, "none"))
		return false;
	if (!origin)
		return true; /* not a browser, or one that sends none for same-origin */
	if (!host)
		return false;
	if (!strncasecmp(origin, "http://", 7))
		rest = origin + 7;
	else if (!strncasecmp(origin, "https://", 8))
		rest = origin + 8;
	else
		return false;
	return !strcasecmp(rest, host);
}
