/* s3:// backend: objects in an S3-compatible bucket (AWS S3, Ceph RGW,
 * MinIO), over libcurl with its built-in AWS Signature V4.
 *
 * Key K of store s3://B/P is object "P/K" of bucket B. Configuration comes
 * from the URL, the environment and ~/.aws (s3-conf.c).
 *
 * Connections: every request takes an easy handle from a LIFO free list
 * and gives it back, so the next request reuses the handle's open
 * connection (no new TCP or TLS handshake) and the list grows to the
 * number of requests ever in flight at once. Handles share DNS and TLS
 * sessions through one curl share handle; they do not share the
 * connection cache, which libcurl 7.88 does not make safe across threads.
 *
 * Signing: curl 7.88 signs the query string exactly as given and every
 * header we add, and computes no payload hash for uploads. So query
 * parameters go out sorted and UriEncoded, never as a bare name
 * ("?uploads=", not "?uploads"), and we always send x-amz-content-sha256:
 * the body's SHA-256 over http (the server then rejects damaged bodies),
 * UNSIGNED-PAYLOAD over https (TLS already protects them) or when the URL
 * says sign_payload=0 (the server then hashes nothing: measured on Ceph
 * RGW, ~1 CPU-s less per GiB uploaded; chunks are still verified on read).
 *
 * Faults: an attempt fails on a transient HTTP status (5xx, 429, S3's
 * SlowDown and friends), a network error (refused, reset, timeout,
 * truncated body) or a reply whose length does not match; it is retried
 * after a full-jitter exponential backoff until conf.deadline seconds have
 * passed since the first attempt. Other 4xx fail at once. Every final
 * error names the store, the operation, the key, the HTTP status and S3's
 * error code.
 *
 * Locking: pool_lock protects pool/npool; share_locks[] serve curl's share
 * callbacks; counters are atomics. No two locks are ever held together and
 * none is held during a request.
 */
#include "store/store-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/oid.h"
#include "lib/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define S3_POOL_MAX 256          /* idle handles kept */
#define S3_ERRBODY_MAX 16384     /* bytes of an error reply kept for its <Code> */
#define S3_MAX_PARTS 10000
#define S3_DELETE_BATCH 1000
#define S3_BACKOFF_BASE 0.1
#define S3_BACKOFF_CAP 5.0
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_handle {
	CURL *curl;
	char err[CURL_ERROR_SIZE];
};

struct s3_store {
	struct store base;
	struct s3_conf conf;
	char *sigv4;  /* "aws:amz:REGION:s3" */
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	struct s3_handle *pool[S3_POOL_MAX]; /* idle handles, under pool_lock */
	int npool;                           /* under pool_lock */
	atomic_uint_fast64_t requests, retries, connects, bytes_up, bytes_down;
};

/* One logical request and what its last attempt got back. */
struct s3_req {
	/* what to send */
	const char *method;        /* GET, HEAD, PUT, POST, DELETE */
	const char *op;            /* names it in messages; method when NULL */
	const char *key;           /* store key, or NULL for the bucket */
	const char *subject;       /* what messages quote; key when NULL */
	const char *query;         /* sorted and encoded, or NULL */
	const char *range;         /* "bytes=A-B" or NULL */
	const char *content_md5;   /* base64, or NULL */
	const char *content_type;  /* or NULL */
	const struct iovec *iov;   /* body: bytes [body_off, body_off + body_len) */
	int iovcnt;
	uint64_t body_off, body_len;
	bool has_body;
	double deadline;           /* seconds; 0 = conf.deadline */
	/* where a 2xx body goes (appended; may be NULL to drop it) */
	struct buf *sink;
	uint64_t sink_max;         /* a 206 body longer than this is an error */
	/* Called on a 2xx reply: 0 accepts it, 1 makes the attempt a transient
	 * failure (why filled in), < 0 fails the request with that code. */
	int (*check)(struct s3_req *r, char *why, size_t whysz);
	void *check_arg;

	/* what came back from the last attempt */
	long status;
	char reason[64];           /* the status line's reason phrase */
	char code[64];             /* S3 <Code> */
	char msg[160];             /* S3 <Message> */
	bool have_length;
	uint64_t content_length;
	char content_range[96];
	char etag[128];
	int attempts;

	/* per attempt */
	struct buf errbody;
	size_t sink_start;
	uint64_t got;
	bool overflow, oom, stalled;
	double last_progress;      /* when a byte last moved */
	curl_off_t last_ul, last_dl;
	double stall_timeout;
	int cur_iov;
	size_t cur_off;
	uint64_t sent;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static struct s3_store *s3_of(struct store *s)
{
	return (struct s3_store *)s;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct s3_store *st = arg;

	(void)h, (void)access;
	pthread_mutex_lock(&st->share_locks[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct s3_store *st = arg;

	(void)h;
	pthread_mutex_unlock(&st->share_locks[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

/* ---- request bodies and replies (curl callbacks) ---- */

static void body_seek(struct s3_req *r, uint64_t pos)
{
	uint64_t abs = r->body_off + pos;

	r->cur_iov = 0;
	while (r->cur_iov < r->iovcnt && abs >= r->iov[r->cur_iov].iov_len) {
		abs -= r->iov[r->cur_iov].iov_len;
		r->cur_iov++;
	}
	r->cur_off = (size_t)abs;
	r->sent = pos;
}

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t want = size * nmemb, done = 0;

	while (done < want && r->sent < r->body_len && r->cur_iov < r->iovcnt) {
		const struct iovec *v = &r->iov[r->cur_iov];
		size_t k = v->iov_len - r->cur_off;

		if (k == 0) {
			r->cur_iov++;
			r->cur_off = 0;
			continue;
		}
		if (k > want - done)
			k = want - done;
		if (k > r->body_len - r->sent)
			k = (size_t)(r->body_len - r->sent);
		memcpy(dst + done, (const char *)v->iov_base + r->cur_off, k);
		done += k;
		r->cur_off += k;
		r->sent += k;
	}
	return done;
}

static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct s3_req *r = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_FAIL;
	body_seek(r, (uint64_t)off);
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * nmemb;

	if (r->status < 200 || r->status > 299) {
		size_t room = S3_ERRBODY_MAX - r->errbody.len;

		if (r->errbody.len < S3_ERRBODY_MAX && buf_add(&r->errbody, data, len < room ? len : room))
			r->oom = true;
		return len;
	}
	if (r->status == 206 && r->got + len > r->sink_max) {
		r->overflow = true;
		return 0;
	}
	if (r->sink) {
		/* One allocation for the whole body (bounded: the length is the server's word). */
		if (r->got == 0 && r->have_length && r->content_length <= (256u << 20) &&
		    buf_grow(r->sink, (size_t)r->content_length) < 0) {
			r->oom = true;
			return 0;
		}
		if (buf_add(r->sink, data, len) < 0) {
			r->oom = true;
			return 0;
		}
	}
	r->got += len;
	return len;
}

/* Stall detection: libcurl's low-speed limit averages over several seconds,
 * so bytes sent before a server goes quiet hide the stall; this aborts an
 * attempt when no byte has moved either way for conf.timeout seconds. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct s3_req *r = arg;
	double now = now_sec();

	(void)dltotal, (void)ultotal;
	if (dlnow != r->last_dl || ulnow != r->last_ul) {
		r->last_dl = dlnow;
		r->last_ul = ulnow;
		r->last_progress = now;
		return 0;
	}
	if (now - r->last_progress < r->stall_timeout)
		return 0;
	r->stalled = true;
	return 1;
}

/* Copies a header's value, trimmed, when the line is "name: value". */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name), i = n + 1, j = len;

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n))
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
		j--;
	if (j - i >= outsz)
		j = i + outsz - 1;
	memcpy(out, line + i, j - i);
	out[j - i] = '\0';
	return true;
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * nmemb;
	char v[128], *end;

	if (len > 5 && !strncmp(line, "HTTP/", 5)) {
		/* A new response (also after "100 Continue"): forget the last. */
		const char *sp = memchr(line, ' ', len);
		char status[128];

		r->have_length = false;
		r->content_range[0] = r->etag[0] = r->reason[0] = '\0';
		r->status = 0;
		if (sp) {
			size_t n = len - (size_t)(sp + 1 - line);

			if (n >= sizeof(status))
				n = sizeof(status) - 1;
			memcpy(status, sp + 1, n);
			status[n] = '\0';
			r->status = strtol(status, &end, 10);
			while (*end == ' ')
				end++;
			snprintf(r->reason, sizeof(r->reason), "%s", end);
			r->reason[strcspn(r->reason, "\r\n")] = '\0';
		}
	} else if (header_value(line, len, "content-length", v, sizeof(v))) {
		errno = 0;
		r->content_length = strtoull(v, &end, 10);
		r->have_length = !errno && *v >= '0' && *v <= '9' && !*end;
	} else if (header_value(line, len, "content-range", r->content_range,
				sizeof(r->content_range))) {
	} else if (header_value(line, len, "etag", r->etag, sizeof(r->etag))) {
	}
	return len;
}

/* ---- the handle pool ---- */

static struct s3_handle *handle_new(struct s3_store *st)
{
	struct s3_handle *h = calloc(1, sizeof(*h));
	const struct s3_conf *c = &st->conf;
	CURLcode cc = CURLE_OK;

	if (!h || !(h->curl = curl_easy_init())) {
		free(h);
		return NULL;
	}
#define SET(opt, val) \
	do { if (cc == CURLE_OK) cc = curl_easy_setopt(h->curl, opt, val); } while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_SHARE, st->share);
	SET(CURLOPT_ERRORBUFFER, h->err);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_READFUNCTION, read_cb);
	SET(CURLOPT_SEEKFUNCTION, seek_cb);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_BUFFERSIZE, 256L * 1024);
	SET(CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
	SET(CURLOPT_AWS_SIGV4, st->sigv4);
	SET(CURLOPT_USERNAME, c->access_key);
	SET(CURLOPT_PASSWORD, c->secret_key);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		SET(CURLOPT_CAINFO, c->ca_file);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout * 1000));
	SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
	SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
	if (cc != CURLE_OK) {
		t9k_log(T9K_LOG_ERROR, "store %s: libcurl option refused: %s", c->name,
			curl_easy_strerror(cc));
		curl_easy_cleanup(h->curl);
		free(h);
		return NULL;
	}
	return h;
}

static void handle_free(struct s3_handle *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

static struct s3_handle *pool_get(struct s3_store *st)
{
	struct s3_handle *h = NULL;

	pthread_mutex_lock(&st->pool_lock);
	if (st->npool > 0)
		h = st->pool[--st->npool];
	pthread_mutex_unlock(&st->pool_lock);
	return h ? h : handle_new(st);
}

static void pool_put(struct s3_store *st, struct s3_handle *h)
{
	pthread_mutex_lock(&st->pool_lock);
	if (st->npool < S3_POOL_MAX) {
		st->pool[st->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&st->pool_lock);
	handle_free(h);
}

/* ---- one request, with retries ---- */

static bool curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR: return -EPROTO;
	default: return -EIO;
	}
}

static int status_errno(long status)
{
	switch (status) {
	case 401:
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 409:
	case 412: return -EBUSY;
	case 429:
	case 503: return -EAGAIN;
	default: return status >= 400 && status < 500 ? -EINVAL : -EIO;
	}
}

static uint64_t *rng_state(void)
{
	static _Thread_local uint64_t rng;

	if (!rng) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&rng ^
		      ((uint64_t)getpid() << 40);
		rng |= 1;
	}
	return &rng;
}

static void sleep_sec(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int build_url(struct s3_store *st, const struct s3_req *r, struct buf *url)
{
	const struct s3_conf *c = &st->conf;
	const char *host = strstr(c->endpoint, "://") + 3;
	int rc;

	if (c->path_style)
		rc = buf_addf(url, "%s/%s/", c->endpoint, c->bucket);
	else
		rc = buf_addf(url, "%.*s%s.%s/", (int)(host - c->endpoint), c->endpoint, c->bucket,
			      host);
	if (rc == 0 && r->key) {
		rc = s3_uri_encode(url, c->prefix, strlen(c->prefix), true);
		if (rc == 0)
			rc = s3_uri_encode(url, r->key, strlen(r->key), true);
	} else if (rc == 0 && c->path_style) {
		url->data[--url->len] = '\0'; /* "ENDPOINT/BUCKET", not ".../" */
	}
	if (rc == 0 && r->query)
		rc = buf_addf(url, "?%s", r->query);
	return rc;
}

/* The SHA-256 of the request body, hashed where it lies (no copy). */
static int body_sha256(struct s3_req *r, char hex[OID_HEXSZ + 1])
{
	struct oid_hasher *h = oid_hasher_new();
	uint64_t skip = r->body_off, left = r->body_len;
	struct oid id;
	int rc = 0;

	if (!h)
		return -ENOMEM;
	for (int i = 0; rc == 0 && left > 0 && i < r->iovcnt; i++) {
		size_t k = r->iov[i].iov_len;

		if (skip >= k) {
			skip -= k;
			continue;
		}
		k -= (size_t)skip;
		if (k > left)
			k = (size_t)left;
		rc = oid_hasher_update(h, (const char *)r->iov[i].iov_base + skip, k);
		skip = 0;
		left -= k;
	}
	if (rc == 0 && left > 0)
		rc = -EIO; /* the body is shorter than it says */
	if (rc == 0)
		rc = oid_hasher_final(h, &id);
	oid_hasher_free(h);
	if (rc == 0)
		oid_to_hex(&id, hex);
	return rc;
}

static struct curl_slist *add_header(struct curl_slist *list, bool *fail, const char *fmt,
				     const char *val)
{
	char line[4200];
	struct curl_slist *n;

	if (*fail)
		return list;
	if ((size_t)snprintf(line, sizeof(line), fmt, val) >= sizeof(line)) {
		*fail = true;
		return list;
	}
	n = curl_slist_append(list, line);
	if (!n)
		*fail = true;
	return n ? n : list;
}

/* Sets t9k_err for the request's final failure and returns its code;
 * elapsed >= 0 says the failure was transient and retries ran out. */
static int req_fail(struct s3_store *st, struct s3_req *r, int code, const char *what,
		    double elapsed)
{
	char tail[80] = "";

	if (elapsed >= 0)
		snprintf(tail, sizeof(tail), " (gave up after %d attempt%s in %.1f s)", r->attempts,
			 r->attempts == 1 ? "" : "s", elapsed);
	const char *subj = r->subject ? r->subject : r->key;

	if (subj)
		return t9k_err(code, "store %s: %s '%s': %s%s", st->conf.name,
			       r->op ? r->op : r->method, subj, what, tail);
	return t9k_err(code, "store %s: %s: %s%s", st->conf.name, r->op ? r->op : r->method, what,
		       tail);
}

static int s3_request(struct s3_store *st, struct s3_req *r)
{
	const struct s3_conf *c = &st->conf;
	double start = now_sec(), limit = r->deadline > 0 ? r->deadline : c->deadline;
	char sha[OID_HEXSZ + 1], what[400];
	struct buf url = BUF_INIT;
	struct curl_slist *hdrs = NULL;
	struct s3_handle *h = NULL;
	bool fail = false, transient;
	int rc = 0;

	r->attempts = 0;
	buf_init(&r->errbody);
	r->sink_start = r->sink ? r->sink->len : 0;
	if (build_url(st, r, &url) < 0) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (r->has_body && !c->https && c->sign_payload) {
		if (body_sha256(r, sha) < 0) {
			rc = t9k_err(-EIO, "store %s: hashing a request body failed", c->name);
			goto out;
		}
	} else {
		snprintf(sha, sizeof(sha), "%s", r->has_body ? "UNSIGNED-PAYLOAD" : S3_EMPTY_SHA256);
	}
	hdrs = add_header(hdrs, &fail, "x-amz-content-sha256: %s", sha);
	if (c->session_token)
		hdrs = add_header(hdrs, &fail, "x-amz-security-token: %s", c->session_token);
	if (r->range)
		hdrs = add_header(hdrs, &fail, "Range: %s", r->range);
	if (r->content_md5)
		hdrs = add_header(hdrs, &fail, "Content-MD5: %s", r->content_md5);
	if (r->content_type)
		hdrs = add_header(hdrs, &fail, "Content-Type: %s", r->content_type);
	if (fail) {
		rc = t9k_err(-ENOMEM, "store %s: cannot build request headers", c->name);
		goto out;
	}
	h = pool_get(st);
	if (!h) {
		rc = t9k_err(-ENOMEM, "store %s: cannot create a libcurl handle", c->name);
		goto out;
	}

	for (;;) {
		double elapsed, left, delay;
		curl_off_t up = 0, down = 0;
		long nconn = 0;
		CURLcode cc = CURLE_OK;
		int code = 0;

		r->attempts++;
		r->status = 0;
		r->code[0] = r->msg[0] = r->reason[0] = r->etag[0] = r->content_range[0] = '\0';
		r->have_length = r->overflow = r->oom = r->stalled = false;
		r->got = 0;
		r->last_ul = r->last_dl = 0;
		r->last_progress = now_sec();
		r->stall_timeout = c->timeout;
		if (r->sink) {
			r->sink->len = r->sink_start;
			if (r->sink->data)
				r->sink->data[r->sink->len] = '\0';
		}
		buf_reset(&r->errbody);
		body_seek(r, 0);
		h->err[0] = '\0';
		left = limit - (now_sec() - start);

#define SET(opt, val) \
	do { if (cc == CURLE_OK) cc = curl_easy_setopt(h->curl, opt, val); } while (0)
		SET(CURLOPT_HTTPGET, 1L); /* back to a plain GET, then the method */
		SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
		if (!strcmp(r->method, "HEAD")) {
			SET(CURLOPT_NOBODY, 1L);
		} else if (!strcmp(r->method, "PUT")) {
			SET(CURLOPT_UPLOAD, 1L);
			SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		} else if (!strcmp(r->method, "POST")) {
			SET(CURLOPT_POST, 1L);
			SET(CURLOPT_POSTFIELDS, (char *)NULL);
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		} else if (strcmp(r->method, "GET")) {
			SET(CURLOPT_CUSTOMREQUEST, r->method);
		}
		SET(CURLOPT_URL, (char *)url.data);
		SET(CURLOPT_HTTPHEADER, hdrs);
		SET(CURLOPT_WRITEDATA, r);
		SET(CURLOPT_HEADERDATA, r);
		SET(CURLOPT_READDATA, r);
		SET(CURLOPT_SEEKDATA, r);
		SET(CURLOPT_XFERINFODATA, r);
		/* No attempt outlives the deadline. */
		SET(CURLOPT_TIMEOUT_MS, (long)(left > 0.001 ? left * 1000 : 1));
#undef SET
		if (cc == CURLE_OK)
			cc = curl_easy_perform(h->curl);
		atomic_fetch_add(&st->requests, 1);
		if (curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
			atomic_fetch_add(&st->connects, (uint64_t)nconn);
		if (curl_easy_getinfo(h->curl, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
			atomic_fetch_add(&st->bytes_up, (uint64_t)up);
		if (curl_easy_getinfo(h->curl, CURLINFO_SIZE_DOWNLOAD_T, &down) == CURLE_OK && down > 0)
			atomic_fetch_add(&st->bytes_down, (uint64_t)down);

		if (r->oom) {
			rc = req_fail(st, r, -ENOMEM, "out of memory", -1);
			goto out;
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK && r->stalled) {
			transient = true;
			snprintf(what, sizeof(what), "stalled: no byte moved for %.1f s", c->timeout);
			code = -ETIMEDOUT;
		} else if (cc == CURLE_WRITE_ERROR && r->overflow) {
			transient = true;
			snprintf(what, sizeof(what), "reply longer than the %llu bytes asked for",
				 (unsigned long long)r->sink_max);
			code = -EIO;
		} else if (cc == CURLE_OPERATION_TIMEDOUT && now_sec() - start >= limit - 0.01) {
			transient = true;
			snprintf(what, sizeof(what), "no reply within the deadline of %.1f s", limit);
			code = -ETIMEDOUT;
		} else if (cc != CURLE_OK) {
			transient = curl_transient(cc);
			snprintf(what, sizeof(what), "%s%s%s%s", curl_easy_strerror(cc),
				 h->err[0] ? " (" : "", h->err, h->err[0] ? ")" : "");
			code = curl_errno(cc);
		} else if (r->status >= 200 && r->status <= 299) {
			int ck = 0;

			if (r->have_length && strcmp(r->method, "HEAD") && r->got != r->content_length) {
				ck = 1;
				snprintf(what, sizeof(what), "truncated reply: %llu of %llu bytes",
					 (unsigned long long)r->got,
					 (unsigned long long)r->content_length);
			} else if (r->check) {
				ck = r->check(r, what, sizeof(what));
			}
			if (ck == 0)
				break;
			if (ck < 0) {
				rc = ck;
				goto out;
			}
			transient = true;
			code = -EIO;
		} else {
			s3_xml_error((char *)r->errbody.data, r->errbody.len, r->code, sizeof(r->code),
				     r->msg, sizeof(r->msg));
			transient = s3_status_transient(r->status, r->code);
			snprintf(what, sizeof(what), "HTTP %ld %s%s%s", r->status,
				 r->code[0] ? r->code : r->reason[0] ? r->reason : "(no error code)",
				 r->msg[0] ? ": " : "", r->msg);
			code = status_errno(r->status);
		}
		elapsed = now_sec() - start;
		delay = s3_backoff(r->attempts, S3_BACKOFF_BASE, S3_BACKOFF_CAP, rng_state());
		if (!transient || elapsed + delay >= limit) {
			rc = req_fail(st, r, code, what, transient ? elapsed : -1);
			goto out;
		}
		atomic_fetch_add(&st->retries, 1);
		t9k_log(T9K_LOG_INFO, "store %s: %s '%s': %s; retry %d in %.2f s", c->name,
			r->op ? r->op : r->method, r->subject ? r->subject : r->key ? r->key : "",
			what, r->attempts, delay);
		sleep_sec(delay);
	}
out:
	if (h) {
		/* Drop pointers into this request before the handle is reused. */
		(void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
		pool_put(st, h);
	}
	curl_slist_free_all(hdrs);
	buf_release(&url);
	buf_release(&r->errbody);
	return rc;
}

/* ---- operations ---- */

static int head_req(struct s3_store *st, const char *key, uint64_t *size)
{
	struct s3_req r = { .method = "HEAD", .key = key };
	char first[512];
	int rc = s3_request(st, &r);

	if (rc == 0) {
		if (!r.have_length)
			return t9k_err(-EIO, "store %s: HEAD '%s': reply has no Content-Length",
				       st->conf.name, key);
		if (size)
			*size = r.content_length;
		return 0;
	}
	if (r.status == 404)
		return t9k_err(-ENOENT, "store %s: object '%s' not found", st->conf.name, key);
	if (r.status >= 400 && r.status < 500 && !r.code[0]) {
		/* HEAD replies carry no body, so no <Code>: ask again with a GET
		 * of one byte to name the cause (SignatureDoesNotMatch, ...). */
		struct s3_req g = { .method = "GET", .op = "HEAD", .key = key, .range = "bytes=0-0",
				    .sink_max = 1 };

		snprintf(first, sizeof(first), "%s", t9k_errmsg(rc));
		if (s3_request(st, &g) < 0 && g.status == r.status && g.code[0])
			return rc; /* g's message stands */
		t9k_err(rc, "%s", first);
	}
	return rc;
}

static int s3_head(struct store *s, const char *key, uint64_t *size)
{
	return head_req(s3_of(s), key, size);
}

struct range_check {
	uint64_t off, len;
};

static int check_range(struct s3_req *r, char *why, size_t whysz)
{
	struct range_check *rc = r->check_arg;
	uint64_t first, last, total, want;

	if (r->status == 200)
		return 0; /* whole object: s3_get cuts the range out */
	if (r->status != 206 ||
	    s3_parse_content_range(r->content_range, &first, &last, &total) < 0) {
		snprintf(why, whysz, "HTTP %ld with Content-Range '%s'", r->status, r->content_range);
		return 1;
	}
	want = rc->len;
	if (total != UINT64_MAX && want > total - rc->off)
		want = total - rc->off;
	if (first != rc->off || last - first + 1 != r->got ||
	    (rc->len != STORE_WHOLE && r->got != want) ||
	    (rc->len == STORE_WHOLE && total != UINT64_MAX && r->got != want)) {
		snprintf(why, whysz, "reply range '%s' with %llu bytes does not match bytes %llu+%llu",
			 r->content_range, (unsigned long long)r->got, (unsigned long long)rc->off,
			 (unsigned long long)rc->len);
		return 1;
	}
	return 0;
}

static int s3_get(struct store *s, const char *key, uint64_t off, uint64_t len, struct buf *out)
{
	struct s3_store *st = s3_of(s);
	struct range_check want = { off, len };
	struct s3_req r = { .method = "GET", .key = key, .sink = out, .sink_max = len,
			    .check = check_range, .check_arg = &want };
	size_t start = out->len;
	char range[64];
	uint64_t size;
	int rc;

	if (len == 0) {
		rc = head_req(st, key, &size);
		if (rc == 0 && off > size)
			rc = t9k_err(-EINVAL, "store %s: offset %llu past the end of '%s' (%llu bytes)",
				     st->conf.name, (unsigned long long)off, key,
				     (unsigned long long)size);
		return rc;
	}
	if (off != 0 || len != STORE_WHOLE) {
		if (len == STORE_WHOLE || off + len - 1 < off)
			snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long)off);
		else
			snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
				 (unsigned long long)(off + len - 1));
		r.range = range;
	}
	rc = s3_request(st, &r);
	if (rc < 0) {
		if (r.status == 404 && (!r.code[0] || !strcmp(r.code, "NoSuchKey")))
			return t9k_err(-ENOENT, "store %s: object '%s' not found", st->conf.name, key);
		if (r.status != 416)
			return rc;
		/* Range not satisfiable: empty at the very end, else past it. */
		rc = head_req(st, key, &size);
		if (rc == 0 && off > size)
			rc = t9k_err(-EINVAL, "store %s: offset %llu past the end of '%s' (%llu bytes)",
				     st->conf.name, (unsigned long long)off, key,
				     (unsigned long long)size);
		return rc;
	}
	if (r.status == 200 && r.range) {
		uint64_t total = out->len - start;

		if (off > total)
			return t9k_err(-EINVAL, "store %s: offset %llu past the end of '%s' (%llu bytes)",
				       st->conf.name, (unsigned long long)off, key,
				       (unsigned long long)total);
		if (len > total - off)
			len = total - off;
		memmove(out->data + start, out->data + start + off, (size_t)len);
		out->len = start + (size_t)len;
		out->data[out->len] = 0;
	}
	return 0;
}

static uint64_t iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* A 200 reply whose body is an <Error> (CompleteMultipartUpload does this). */
static int check_no_error(struct s3_req *r, char *why, size_t whysz)
{
	if (!r->sink || !r->sink->data)
		return 0;
	s3_xml_error((char *)r->sink->data + r->sink_start, r->sink->len - r->sink_start, r->code,
		     sizeof(r->code), r->msg, sizeof(r->msg));
	if (!r->code[0])
		return 0;
	snprintf(why, whysz, "HTTP %ld with error %s%s%s", r->status, r->code, r->msg[0] ? ": " : "",
		 r->msg);
	return s3_status_transient(500, r->code) ? 1 : -EIO;
}

static int put_single(struct s3_store *st, const char *key, const struct iovec *iov, int iovcnt,
		      uint64_t total)
{
	struct s3_req r = { .method = "PUT", .key = key, .iov = iov, .iovcnt = iovcnt,
			    .body_len = total, .has_body = true };

	return s3_request(st, &r);
}

static int add_query_value(struct buf *q, const char *name, const char *v)
{
	int rc = buf_addf(q, "%s%s=", q->len ? "&" : "", name);

	return rc < 0 ? rc : s3_uri_encode(q, v, strlen(v), false);
}

static int xml_escape(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		switch (*s) {
		case '&': rc = buf_addstr(out, "&amp;"); break;
		case '<': rc = buf_addstr(out, "&lt;"); break;
		case '>': rc = buf_addstr(out, "&gt;"); break;
		default: rc = buf_add(out, s, 1);
		}
	}
	return rc;
}

static int abort_upload(struct s3_store *st, const char *key, const char *upload_id)
{
	struct buf q = BUF_INIT;
	struct s3_req r = { .method = "DELETE", .op = "abort multipart upload of", .key = key,
			    .deadline = st->conf.deadline < 10 ? st->conf.deadline : 10 };
	int rc = add_query_value(&q, "uploadId", upload_id);

	if (rc == 0) {
		r.query = (char *)q.data;
		rc = s3_request(st, &r);
	}
	buf_release(&q);
	return rc;
}

static int put_multipart(struct s3_store *st, const char *key, const struct iovec *iov,
			 int iovcnt, uint64_t total)
{
	uint64_t part = st->conf.part_size, nparts;
	struct buf xml = BUF_INIT, q = BUF_INIT, id = BUF_INIT, done = BUF_INIT;
	struct s3_req r = { .method = "POST", .op = "start multipart upload of", .key = key,
			    .query = "uploads=", .has_body = true, .sink = &xml,
			    .content_type = "application/xml" };
	const char *v;
	size_t n;
	int rc;

	if ((total + part - 1) / part > S3_MAX_PARTS) { /* whole MiB parts, at most 10,000 */
		part = (total + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		part = (part + (1 << 20) - 1) & ~(uint64_t)((1 << 20) - 1);
	}
	nparts = (total + part - 1) / part;
	rc = s3_request(st, &r);
	if (rc < 0)
		goto out;
	if (!s3_xml_find((char *)xml.data, xml.len, "UploadId", &v, &n) || n == 0 ||
	    s3_xml_text(&id, v, n) < 0) {
		rc = t9k_err(-EIO, "store %s: start multipart upload of '%s': no <UploadId> in the reply",
			     st->conf.name, key);
		goto out;
	}
	rc = buf_addstr(&done, "<CompleteMultipartUpload>");
	for (uint64_t i = 0; i < nparts && rc == 0; i++) {
		struct s3_req p = { .method = "PUT", .op = "upload part of", .key = key, .iov = iov,
				    .iovcnt = iovcnt, .body_off = i * part, .has_body = true };
		char num[24];

		p.body_len = total - p.body_off < part ? total - p.body_off : part;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)i + 1);
		buf_reset(&q);
		rc = add_query_value(&q, "partNumber", num);
		if (rc == 0)
			rc = add_query_value(&q, "uploadId", (char *)id.data);
		if (rc < 0) {
			rc = t9k_err(-ENOMEM, "out of memory");
			break;
		}
		p.query = (char *)q.data;
		rc = s3_request(st, &p);
		if (rc < 0)
			break;
		if (!p.etag[0]) {
			rc = t9k_err(-EIO, "store %s: upload part %s of '%s': reply has no ETag",
				     st->conf.name, num, key);
			break;
		}
		rc = buf_addf(&done, "<Part><PartNumber>%s</PartNumber><ETag>", num);
		if (rc == 0)
			rc = xml_escape(&done, p.etag);
		if (rc == 0)
			rc = buf_addstr(&done, "</ETag></Part>");
		if (rc < 0)
			rc = t9k_err(-ENOMEM, "out of memory");
	}
	if (rc == 0 && (rc = buf_addstr(&done, "</CompleteMultipartUpload>")) < 0)
		rc = t9k_err(-ENOMEM, "out of memory");
	buf_reset(&q);
	if (rc == 0 && (rc = add_query_value(&q, "uploadId", (char *)id.data)) < 0)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc == 0) {
		struct iovec body = { done.data, done.len };
		struct s3_req cm = { .method = "POST", .op = "complete multipart upload of", .key = key,
				     .query = (char *)q.data, .iov = &body, .iovcnt = 1,
				     .body_len = done.len, .has_body = true,
				     .content_type = "application/xml", .sink = &xml,
				     .check = check_no_error };
		uint64_t size = 0;

		buf_reset(&xml);
		rc = s3_request(st, &cm);
		/* A retry after a lost reply finds the upload already completed. */
		if (rc < 0 && cm.attempts > 1 && !strcmp(cm.code, "NoSuchUpload") &&
		    head_req(st, key, &size) == 0 && size == total)
			rc = 0;
	}
	if (rc < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", t9k_errmsg(rc));
		if (abort_upload(st, key, (char *)id.data) < 0)
			t9k_log(T9K_LOG_WARN, "%s; the incomplete upload %s stays in the bucket",
				t9k_errmsg(-EIO), (char *)id.data);
		t9k_err(rc, "%s", msg);
	}
out:
	buf_release(&xml);
	buf_release(&q);
	buf_release(&id);
	buf_release(&done);
	return rc;
}

static int s3_put(struct store *s, const char *key, const struct iovec *iov, int iovcnt)
{
	struct s3_store *st = s3_of(s);
	uint64_t total = iov_total(iov, iovcnt);

	if (total >= st->conf.multipart_threshold && total > st->conf.part_size)
		return put_multipart(st, key, iov, iovcnt, total);
	return put_single(st, key, iov, iovcnt, total);
}

static int s3_del(struct store *s, const char *key)
{
	struct s3_store *st = s3_of(s);
	struct s3_req r = { .method = "DELETE", .key = key };
	int rc;

	/* S3 deletes a missing key without complaint; the interface wants -ENOENT. */
	rc = head_req(st, key, NULL);
	if (rc < 0)
		return rc;
	rc = s3_request(st, &r);
	if (rc < 0 && r.status == 404)
		return t9k_err(-ENOENT, "store %s: object '%s' not found", st->conf.name, key);
	return rc;
}

struct list_ctx {
	struct s3_store *st;
	store_list_ex_fn fn;
	void *arg;
};

static int list_entry(const struct store_obj *o, void *arg)
{
	struct list_ctx *l = arg;
	size_t plen = strlen(l->st->conf.prefix);
	const char *key = o->key;
	struct store_obj mine = *o;

	if (strncmp(key, l->st->conf.prefix, plen))
		return 0;
	key += plen;
	if (store_key_check(key) < 0) {
		t9k_log(T9K_LOG_DEBUG, "store %s: skipping foreign object '%s'", l->st->conf.name, key);
		t9k_err_clear();
		return 0;
	}
	mine.key = key;
	return l->fn(&mine, l->arg);
}

static int s3_list_ex(struct store *s, const char *prefix, store_list_ex_fn fn, void *arg)
{
	struct s3_store *st = s3_of(s);
	struct buf xml = BUF_INIT, q = BUF_INIT, token = BUF_INIT, prev = BUF_INIT, full = BUF_INIT;
	struct list_ctx l = { st, fn, arg };
	bool truncated = true;
	int rc = 0, pages = 0;

	if (buf_addf(&full, "%s%s", st->conf.prefix, prefix) < 0) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	while (truncated && rc == 0) {
		struct s3_req r = { .method = "GET", .op = "list", .subject = prefix, .sink = &xml };

		buf_reset(&q);
		buf_reset(&xml);
		if ((token.len && add_query_value(&q, "continuation-token", (char *)token.data) < 0) ||
		    add_query_value(&q, "list-type", "2") < 0 ||
		    add_query_value(&q, "prefix", (char *)full.data) < 0) {
			rc = t9k_err(-ENOMEM, "out of memory");
			break;
		}
		r.query = (char *)q.data;
		rc = s3_request(st, &r);
		if (rc < 0)
			break;
		pages++;
		buf_reset(&prev);
		if (token.len && buf_add(&prev, token.data, token.len) < 0) {
			rc = t9k_err(-ENOMEM, "out of memory");
			break;
		}
		rc = s3_xml_list_ex((char *)xml.data, xml.len, list_entry, &l, &truncated, &token);
		if (rc == 0 && truncated && prev.len == token.len &&
		    !memcmp(prev.data, token.data, token.len))
			rc = t9k_err(T9K_ECORRUPT, "reply repeats the continuation token");
		if (rc == T9K_ECORRUPT)
			rc = t9k_err_wrap(rc, "store %s: list '%s'", st->conf.name, prefix);
	}
	t9k_log(T9K_LOG_DEBUG, "store %s: listed '%s' in %d pages", st->conf.name, prefix, pages);
out:
	buf_release(&xml);
	buf_release(&q);
	buf_release(&token);
	buf_release(&prev);
	buf_release(&full);
	return rc;
}

struct list_plain {
	store_list_fn fn;
	void *arg;
};

static int list_plain_one(const struct store_obj *o, void *arg)
{
	struct list_plain *l = arg;

	return l->fn(o->key, o->size, l->arg);
}

static int s3_list(struct store *s, const char *prefix, store_list_fn fn, void *arg)
{
	struct list_plain l = { fn, arg };

	return s3_list_ex(s, prefix, list_plain_one, &l);
}

/* <DeleteResult> lists only failures (Quiet mode); a missing key is none.
 * A transient code retries the whole batch (deleting is idempotent). */
static int check_deleted(struct s3_req *r, char *why, size_t whysz)
{
	const char *p = (char *)r->sink->data, *end, *v, *t;
	struct buf code = BUF_INIT, key = BUF_INIT;
	size_t n, tn;
	int rc = 0;

	if (!p)
		return 0;
	end = p + r->sink->len;
	while (rc == 0 && p < end && s3_xml_find(p, (size_t)(end - p), "Error", &v, &n)) {
		buf_reset(&code);
		buf_reset(&key);
		if (s3_xml_find(v, n, "Code", &t, &tn) && tn < 64 && s3_xml_text(&code, t, tn) < 0)
			buf_reset(&code); /* undecodable: reported as unknown */
		if (!code.data || strcmp((char *)code.data, "NoSuchKey")) {
			if (s3_xml_find(v, n, "Key", &t, &tn) && tn <= STORE_KEY_MAX + 64 &&
			    s3_xml_text(&key, t, tn) < 0)
				buf_reset(&key);
			snprintf(r->code, sizeof(r->code), "%s", code.data ? (char *)code.data : "");
			if (s3_status_transient(500, r->code)) {
				snprintf(why, whysz, "deleting '%s' failed with %s",
					 key.data ? (char *)key.data : "?", r->code);
				rc = 1;
			} else {
				rc = t9k_err(-EIO, "delete '%s': %s", key.data ? (char *)key.data : "?",
					     r->code[0] ? r->code : "failed");
			}
		}
		p = v + n;
	}
	buf_release(&code);
	buf_release(&key);
	return rc;
}

static int s3_del_many(struct store *s, const char *const *keys, size_t nkeys)
{
	struct s3_store *st = s3_of(s);
	struct buf body = BUF_INIT, reply = BUF_INIT;
	int rc = 0;

	for (size_t at = 0; at < nkeys && rc == 0; at += S3_DELETE_BATCH) {
		size_t end = nkeys - at < S3_DELETE_BATCH ? nkeys : at + S3_DELETE_BATCH;
		unsigned char md5[EVP_MAX_MD_SIZE];
		char md5b64[64];
		unsigned int mlen = 0;
		struct iovec iov;
		struct s3_req r = { .method = "POST", .op = "delete objects from", .query = "delete=",
				    .subject = keys[at],
				    .content_type = "application/xml", .has_body = true,
				    .sink = &reply, .check = check_deleted };

		buf_reset(&body);
		buf_reset(&reply);
		rc = buf_addstr(&body, "<Delete><Quiet>true</Quiet>");
		for (size_t i = at; i < end && rc == 0; i++) {
			rc = buf_addf(&body, "<Object><Key>%s", st->conf.prefix);
			if (rc == 0)
				rc = xml_escape(&body, keys[i]);
			if (rc == 0)
				rc = buf_addstr(&body, "</Key></Object>");
		}
		if (rc == 0)
			rc = buf_addstr(&body, "</Delete>");
		if (rc < 0) {
			rc = t9k_err(-ENOMEM, "out of memory");
			break;
		}
		if (!EVP_Digest(body.data, body.len, md5, &mlen, EVP_md5(), NULL) || mlen != 16) {
			rc = t9k_err(-EIO, "store %s: MD5 failed in OpenSSL", st->conf.name);
			break;
		}
		EVP_EncodeBlock((unsigned char *)md5b64, md5, 16);
		iov.iov_base = body.data;
		iov.iov_len = body.len;
		r.iov = &iov;
		r.iovcnt = 1;
		r.body_len = body.len;
		r.content_md5 = md5b64;
		rc = s3_request(st, &r);
		if (rc < 0 && r.status >= 200 && r.status < 300)
			rc = t9k_err_wrap(rc, "store %s", st->conf.name);
	}
	buf_release(&body);
	buf_release(&reply);
	return rc;
}

static int s3_concurrency(struct store *s)
{
	return s3_of(s)->conf.concurrency;
}

static void s3_stats(struct store *s, struct store_stats *out)
{
	struct s3_store *st = s3_of(s);

	out->requests = atomic_load(&st->requests);
	out->retries = atomic_load(&st->retries);
	out->connects = atomic_load(&st->connects);
	out->bytes_up = atomic_load(&st->bytes_up);
	out->bytes_down = atomic_load(&st->bytes_down);
}

static void s3_close(struct store *s)
{
	struct s3_store *st = s3_of(s);

	if (atomic_load(&st->requests) > 0) {
		char up[32], down[32];

		t9k_log(T9K_LOG_INFO, "store %s: %llu requests, %llu retries, %llu connections, "
			"%llu heads skipped, %s up, %s down", st->conf.name,
			(unsigned long long)atomic_load(&st->requests),
			(unsigned long long)atomic_load(&st->retries),
			(unsigned long long)atomic_load(&st->connects),
			(unsigned long long)atomic_load(&st->base.heads_skipped),
			format_size(atomic_load(&st->bytes_up), up, sizeof(up)),
			format_size(atomic_load(&st->bytes_down), down, sizeof(down)));
	}
	for (int i = 0; i < st->npool; i++)
		handle_free(st->pool[i]);
	if (st->share)
		curl_share_cleanup(st->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&st->share_locks[i]);
	pthread_mutex_destroy(&st->pool_lock);
	s3_conf_release(&st->conf);
	free(st->sigv4);
	free(st);
}

static int s3_open(const char *url, const char *rest, struct store **out)
{
	const curl_version_info_data *vi;
	struct s3_store *st;
	struct buf sig = BUF_INIT;
	CURLSHcode sc = CURLSHE_OK;
	int rc;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return t9k_err(-EIO, "store URL '%s': libcurl failed to start: %s", url,
			       curl_easy_strerror(curl_init_rc));
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi->version_num < 0x074b00) /* CURLOPT_AWS_SIGV4 */
		return t9k_err(-ENOTSUP, "store URL '%s': libcurl %s is too old (need 7.75)", url,
			       vi->version);
	st = calloc(1, sizeof(*st));
	if (!st)
		return t9k_err(-ENOMEM, "out of memory");
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&st->share_locks[i], NULL);
	pthread_mutex_init(&st->pool_lock, NULL);
	rc = s3_conf_parse(url, rest, &st->conf);
	if (rc < 0)
		goto out;
	if (st->conf.https && !(vi->features & CURL_VERSION_SSL)) {
		rc = t9k_err(-ENOTSUP, "store %s: this libcurl has no TLS support", st->conf.name);
		goto out;
	}
	rc = buf_addf(&sig, "aws:amz:%s:s3", st->conf.region);
	if (rc < 0)
		goto out;
	st->sigv4 = buf_detach(&sig, NULL);
	st->share = curl_share_init();
	if (!st->share) {
		rc = t9k_err(-ENOMEM, "store %s: cannot create a libcurl share handle", st->conf.name);
		goto out;
	}
	sc = curl_share_setopt(st->share, CURLSHOPT_USERDATA, st);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(st->share, CURLSHOPT_LOCKFUNC, share_lock);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(st->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(st->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(st->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (sc != CURLSHE_OK) {
		rc = t9k_err(-EIO, "store %s: libcurl share setup failed: %s", st->conf.name,
			     curl_share_strerror(sc));
		goto out;
	}
	t9k_log(T9K_LOG_DEBUG, "store %s: endpoint %s, region %s, %s-style, concurrency %d",
		st->conf.name, st->conf.endpoint, st->conf.region,
		st->conf.path_style ? "path" : "virtual-host", st->conf.concurrency);
	*out = &st->base;
out:
	buf_release(&sig);
	if (rc < 0)
		s3_close(&st->base);
	return rc;
}

const struct store_ops store_s3_ops = {
	.scheme = "s3",
	.open = s3_open,
	.close = s3_close,
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.list = s3_list,
	.list_ex = s3_list_ex,
	.del = s3_del,
	.del_many = s3_del_many,
	.concurrency = s3_concurrency,
	.stats = s3_stats,
	.head_costly = true,
};
