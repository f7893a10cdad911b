/* What only store/ shares: the backend vtable, and the pieces of the s3://
 * backend that its unit tests reach (configuration, XML, retry policy).
 * Each backend fills one struct store_ops and embeds struct store at the
 * start of its own state. The ops may assume the key is valid (store.c
 * checks it first) and must record an error message naming the key on
 * failure. */
#ifndef T9K_STORE_INTERNAL_H
#define T9K_STORE_INTERNAL_H

#include "store/store.h"

#include <stdatomic.h>
#include <stdbool.h>

struct store_ops {
	const char *scheme; /* "file" for file://... */
	/* rest is the URL after "scheme://" */
	int (*open)(const char *url, const char *rest, struct store **out);
	void (*close)(struct store *s);
	int (*put)(struct store *s, const char *key, const struct iovec *iov, int iovcnt);
	int (*get)(struct store *s, const char *key, uint64_t off, uint64_t len, struct buf *out);
	int (*head)(struct store *s, const char *key, uint64_t *size);
	int (*list)(struct store *s, const char *prefix, store_list_fn fn, void *arg);
	/* Optional: list with modification times (NULL: list, times unknown). */
	int (*list_ex)(struct store *s, const char *prefix, store_list_ex_fn fn, void *arg);
	int (*del)(struct store *s, const char *key);
	/* Optional (NULL: store.c's fallback). del_many: missing keys are not
	 * errors (fallback: del one by one); concurrency: requests worth
	 * having in flight (fallback: cpu count); stats: counters (zeros). */
	int (*del_many)(struct store *s, const char *const *keys, size_t n);
	int (*concurrency)(struct store *s);
	void (*stats)(struct store *s, struct store_stats *out);
	/* A head costs a round trip and server work worth saving: lets
	 * store_head_maybe answer without asking (store.c). */
	bool head_costly;
};

/* Filled with zeros by the backend's open. */
struct store {
	const struct store_ops *ops;
	char *url;
	/* store_head_maybe's state, shared by all threads (atomics) */
	struct store_probe probe;
	atomic_uint_fast64_t heads_skipped;
};

extern const struct store_ops store_file_ops;
extern const struct store_ops store_s3_ops;

/* ---- s3:// internals (store/s3.c, s3-conf.c, s3-xml.c) ---- */

/* Everything an s3:// store needs, from its URL, the environment and the
 * AWS files (s3-conf.c; README "S3 backend" lists the sources and their
 * order). Strings are heap-allocated and freed by s3_conf_release(). */
struct s3_conf {
	char *bucket;
	char *prefix;        /* "" or "PREFIX/" (prepended to every key) */
	char *name;          /* "s3://BUCKET[/PREFIX]": names the store in messages */
	char *endpoint;      /* "http[s]://HOST[:PORT]", no trailing '/' */
	char *region;
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL when none */
	char *ca_file;       /* NULL: libcurl's default CA bundle */
	bool https;
	bool path_style;     /* ENDPOINT/BUCKET/KEY, else BUCKET.HOST/KEY */
	bool sign_payload;   /* over http: sign the body's SHA-256 (default) */
	int concurrency;
	double deadline;     /* seconds of retrying before a request fails */
	double timeout;      /* seconds without progress before an attempt fails */
	uint64_t multipart_threshold; /* objects of at least this size (and more */
	uint64_t part_size;           /* than one part) go up in parts of this size */
};

/* Parses "s3://BUCKET[/PREFIX][?NAME=VALUE&...]" (rest: after "s3://").
 * Returns 0, T9K_EBADURL for a bad URL, -ENOENT/-EACCES for missing
 * credentials; *c is released on failure. */
int s3_conf_parse(const char *url, const char *rest, struct s3_conf *c);
void s3_conf_release(struct s3_conf *c);

/* Appends AWS's UriEncode of s[0..len): A-Za-z0-9-_.~ kept, '/' kept when
 * keep_slash, every other byte as %XX (upper case). */
int s3_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash);

/* Minimal XML for S3 replies (s3-xml.c). Replies are small, flat and
 * never use CDATA or comments inside elements, so elements are found by
 * scanning for their tags; text is decoded from the five named entities
 * and numeric references. */

/* Finds the first element <tag> in xml[0..len) and points *val at its
 * content. Returns 1 when found, 0 when not. */
int s3_xml_find(const char *xml, size_t len, const char *tag, const char **val, size_t *vlen);
/* Appends the decoded text of an element's content; -EINVAL when it holds
 * markup or a malformed entity. */
int s3_xml_text(struct buf *out, const char *val, size_t vlen);
/* A ListObjectsV2 page: fn(key, size, arg) for each <Contents> (non-zero
 * stops and is returned), *truncated from <IsTruncated>, next token into
 * *token (reset first). T9K_ECORRUPT with a message when malformed. */
int s3_xml_list(const char *xml, size_t len, store_list_fn fn, void *arg, bool *truncated,
		struct buf *token);
/* The same with each entry's <LastModified> (ISO 8601, UTC) as mtime_ns;
 * an entry without one, or with one that does not parse, is
 * STORE_MTIME_UNKNOWN (treated as new by gc, never as old). */
int s3_xml_list_ex(const char *xml, size_t len, store_list_ex_fn fn, void *arg, bool *truncated,
		   struct buf *token);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" into ns since the epoch; -EINVAL. */
int s3_parse_iso8601(const char *s, size_t len, int64_t *ns);
/* The <Code> and <Message> of an error reply, cut to fit ("" if none). */
void s3_xml_error(const char *xml, size_t len, char *code, size_t codesz, char *msg,
		  size_t msgsz);

/* Parses a Content-Range value "bytes FIRST-LAST/TOTAL" (TOTAL may be '*'
 * -> UINT64_MAX). Returns 0 or -EINVAL. */
int s3_parse_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total);

/* Retry policy. A status or curl result is transient when retrying the
 * same request may succeed: 5xx, 429, S3's SlowDown/RequestTimeout/
 * InternalError codes, and network failures (reset, timeout, refused). */
bool s3_status_transient(long status, const char *code);
/* Seconds to wait before attempt n+1 (n >= 1): "full jitter" backoff,
 * uniform in [0, min(cap, base * 2^(n-1))], from the caller's RNG state. */
double s3_backoff(int attempt, double base, double cap, uint64_t *rng);

#endif
