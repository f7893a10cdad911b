/* Object-store interface: a flat namespace of immutable-by-convention
 * objects named by keys, behind one set of calls whatever the backend.
 *
 * Calling sequence:
 *   struct store *s;
 *   store_open("file:///var/lib/t9kfs/store", &s);   // or s3://BUCKET/PREFIX
 *   store_put(s, "chunks/ab12...", iov, n);
 *   store_get(s, key, 0, STORE_WHOLE, &buf);
 *   store_close(s);
 *
 * URLs: file:///DIR, or s3://BUCKET[/PREFIX][?NAME=VALUE&...] with the
 * parameters endpoint, region, path_style, ca_file, profile, concurrency,
 * deadline, timeout, multipart_threshold, part_size and sign_payload
 * (store/s3-conf.c, README "S3 backend"); S3 credentials come from the
 * environment or ~/.aws, never from the URL.
 *
 * Keys are 1..STORE_KEY_MAX bytes of [A-Za-z0-9._-] in '/'-separated
 * components; no component is empty or starts with '.'. A put replaces the
 * whole object atomically: readers see the old bytes or the new, never a mix.
 * All calls are thread-safe on one struct store. Every call returns 0 (or a
 * count) or a negative code with a message naming the store and the key
 * (lib/err.h); a missing key is -ENOENT.
 */
#ifndef T9K_STORE_H
#define T9K_STORE_H

#include "lib/buf.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define STORE_KEY_MAX 512
#define STORE_WHOLE UINT64_MAX

struct store;

/* Called once per key by store_list, in no particular order. A non-zero
 * return stops the listing and becomes store_list's result. */
typedef int (*store_list_fn)(const char *key, uint64_t size, void *arg);

/* Opens a store by URL. The object store is not touched beyond checking
 * that it can be used: a file:// directory that does not exist yet is
 * created by the first put. *out is freed with store_close(). */
int store_open(const char *url, struct store **out);
void store_close(struct store *s);
/* The URL the store was opened with (owned by the store). */
const char *store_url(const struct store *s);

/* Writes the concatenation of iov[0..iovcnt) as key. Durable on return. */
int store_put(struct store *s, const char *key, const struct iovec *iov, int iovcnt);
int store_put_buf(struct store *s, const char *key, const void *data, size_t len);

/* Appends bytes [off, off+len) of key to out (len may be STORE_WHOLE).
 * A range past the end is cut at the end; an offset past the end is -EINVAL. */
int store_get(struct store *s, const char *key, uint64_t off, uint64_t len, struct buf *out);

/* Returns 0 and the size when key exists, -ENOENT when it does not. */
int store_head(struct store *s, const char *key, uint64_t *size);

/* For content-addressed keys only, where putting an object that exists
 * is harmless and costs just the upload: like store_head, but while the
 * store keeps answering "absent" (STORE_PROBE_WARMUP times in a row) it
 * answers -ENOENT without asking for all but one key in
 * STORE_PROBE_EVERY, and asks for every key again as soon as one exists.
 * So a fresh upload sends few heads, and a re-upload of what the store
 * has sends every one and uploads nothing again. On stores whose head is
 * cheap (file://) it always asks. */
#define STORE_PROBE_WARMUP 8
#define STORE_PROBE_EVERY 16
int store_head_maybe(struct store *s, const char *key, uint64_t *size);

/* That rule for any costly question "is this content-addressed thing
 * stored?" (the pack writer's index lookups): store_probe_ask says whether
 * to ask this time, store_probe_answer records what the answer was. */
struct store_probe {
	atomic_uint misses; /* answers in a row that found nothing */
	atomic_uint turn;   /* questions skipped or asked while skipping */
};
bool store_probe_ask(struct store_probe *p);
void store_probe_answer(struct store_probe *p, bool found);

/* Calls fn for every key that starts with prefix. */
int store_list(struct store *s, const char *prefix, store_list_fn fn, void *arg);

/* One object of a listing with its age (gc's grace period). mtime_ns is
 * when the object was last written, by the store's clock, or
 * STORE_MTIME_UNKNOWN when the backend did not say (callers must then
 * treat the object as new). */
#define STORE_MTIME_UNKNOWN INT64_MAX
struct store_obj {
	const char *key;
	uint64_t size;
	int64_t mtime_ns;
};
typedef int (*store_list_ex_fn)(const struct store_obj *o, void *arg);
/* store_list with each object's modification time; the same rules. */
int store_list_ex(struct store *s, const char *prefix, store_list_ex_fn fn, void *arg);

/* Deletes key; deleting a missing key is -ENOENT. */
int store_delete(struct store *s, const char *key);

/* Deletes many keys (gc): one request per 1000 keys on S3, a loop on
 * file://. Missing keys are not errors. Stops at the first failure, whose
 * code and message it returns; keys deleted before it stay deleted. */
int store_delete_many(struct store *s, const char *const *keys, size_t n);

/* Validates a key (see above); returns 0 or -EINVAL with a message. */
int store_key_check(const char *key);

/* How many requests the store serves well in flight at once: the CPU
 * count for file://, the URL's concurrency= (default 16) for s3://. */
int store_concurrency(struct store *s);

/* Counters since store_open, summed over all threads. Backends without
 * requests (file://) report zeros. */
struct store_stats {
	uint64_t requests;   /* HTTP requests sent, retries included */
	uint64_t retries;    /* requests that were retried after a transient failure */
	uint64_t connects;   /* new connections opened (the rest were reused) */
	uint64_t bytes_up;   /* request bodies sent */
	uint64_t bytes_down; /* response bodies received */
	uint64_t heads_skipped; /* store_head_maybe answers given without a request */
};
void store_get_stats(struct store *s, struct store_stats *out);

#endif
