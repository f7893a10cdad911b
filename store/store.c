/* Store front end: picks the backend from the URL scheme and checks keys
 * once, so backends see only valid keys. */
#include "store/store-internal.h"

#include "lib/err.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct store_ops *const backends[] = {
	&store_file_ops,
	&store_s3_ops,
};

int store_open(const char *url, struct store **out)
{
	const char *sep = strstr(url, "://");
	int rc;

	*out = NULL;
	if (!sep)
		return t9k_err(T9K_EBADURL, "store URL '%s' has no scheme "
			       "(want file:///DIR or s3://BUCKET[/PREFIX])", url);
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct store_ops *ops = backends[i];
		size_t n = strlen(ops->scheme);

		if ((size_t)(sep - url) != n || strncmp(url, ops->scheme, n))
			continue;
		rc = ops->open(url, sep + 3, out);
		if (rc < 0)
			return rc;
		(*out)->ops = ops;
		(*out)->url = strdup(url);
		if (!(*out)->url) {
			ops->close(*out);
			*out = NULL;
			return t9k_err(-ENOMEM, "out of memory");
		}
		return 0;
	}
	return t9k_err(T9K_EBADURL,
		       "store URL '%s': unknown scheme '%.*s' (supported: file://, s3://)", url,
		       (int)(sep - url), url);
}

void store_close(struct store *s)
{
	char *url;

	if (!s)
		return;
	url = s->url;
	s->ops->close(s);
	free(url);
}

const char *store_url(const struct store *s)
{
	return s->url;
}

int store_key_check(const char *key)
{
	size_t len = strlen(key), comp = 0;

	if (len == 0 || len > STORE_KEY_MAX)
		return t9k_err(-EINVAL, "invalid store key '%.80s': length must be 1..%d",
			       key, STORE_KEY_MAX);
	for (size_t i = 0; i <= len; i++) {
		char c = key[i];

		if (c == '/' || c == '\0') {
			if (comp == 0)
				return t9k_err(-EINVAL, "invalid store key '%s': empty component", key);
			comp = 0;
			continue;
		}
		if (comp == 0 && c == '.')
			return t9k_err(-EINVAL, "invalid store key '%s': component starts with '.'", key);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return t9k_err(-EINVAL, "invalid store key '%s': character 0x%02x not allowed",
				       key, (unsigned char)c);
		comp++;
	}
	return 0;
}

int store_put(struct store *s, const char *key, const struct iovec *iov, int iovcnt)
{
	int rc = store_key_check(key);

	return rc < 0 ? rc : s->ops->put(s, key, iov, iovcnt);
}

int store_put_buf(struct store *s, const char *key, const void *data, size_t len)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };

	return store_put(s, key, &iov, 1);
}

int store_get(struct store *s, const char *key, uint64_t off, uint64_t len, struct buf *out)
{
	int rc = store_key_check(key);

	return rc < 0 ? rc : s->ops->get(s, key, off, len, out);
}

int store_head(struct store *s, const char *key, uint64_t *size)
{
	int rc = store_key_check(key);

	return rc < 0 ? rc : s->ops->head(s, key, size);
}

bool store_probe_ask(struct store_probe *p)
{
	return atomic_load(&p->misses) < STORE_PROBE_WARMUP ||
	       atomic_fetch_add(&p->turn, 1) % STORE_PROBE_EVERY == 0;
}

void store_probe_answer(struct store_probe *p, bool found)
{
	if (found)
		atomic_store(&p->misses, 0);
	else
		atomic_fetch_add(&p->misses, 1);
}

int store_head_maybe(struct store *s, const char *key, uint64_t *size)
{
	int rc = store_key_check(key);

	if (rc < 0)
		return rc;
	if (s->ops->head_costly && !store_probe_ask(&s->probe)) {
		atomic_fetch_add(&s->heads_skipped, 1);
		return -ENOENT; /* no message: callers put the object */
	}
	rc = s->ops->head(s, key, size);
	if (rc == 0 || rc == -ENOENT)
		store_probe_answer(&s->probe, rc == 0);
	return rc;
}

int store_list(struct store *s, const char *prefix, store_list_fn fn, void *arg)
{
	return s->ops->list(s, prefix, fn, arg);
}

struct list_plain {
	store_list_ex_fn fn;
	void *arg;
};

static int list_plain_one(const char *key, uint64_t size, void *arg)
{
	struct list_plain *l = arg;
	struct store_obj o = { key, size, STORE_MTIME_UNKNOWN };

	return l->fn(&o, l->arg);
}

int store_list_ex(struct store *s, const char *prefix, store_list_ex_fn fn, void *arg)
{
	struct list_plain l = { fn, arg };

	if (s->ops->list_ex)
		return s->ops->list_ex(s, prefix, fn, arg);
	return s->ops->list(s, prefix, list_plain_one, &l);
}

int store_delete(struct store *s, const char *key)
{
	int rc = store_key_check(key);

	return rc < 0 ? rc : s->ops->del(s, key);
}

int store_delete_many(struct store *s, const char *const *keys, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = store_key_check(keys[i]);
	if (rc < 0 || n == 0)
		return rc;
	if (s->ops->del_many)
		return s->ops->del_many(s, keys, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = s->ops->del(s, keys[i]);
		if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}

int store_concurrency(struct store *s)
{
	return s->ops->concurrency ? s->ops->concurrency(s) : cpu_count();
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s->ops->stats)
		s->ops->stats(s, out);
	out->heads_skipped = atomic_load(&s->heads_skipped);
}
