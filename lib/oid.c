/* SHA-256 object ids through OpenSSL EVP. The digest implementation is
 * fetched once (EVP_MD_fetch) and shared: fetching per call costs more than
 * hashing a small object. */
#include "lib/oid.h"

#include "lib/err.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

int oid_hash(struct oid *out, const void *data, size_t len)
{
	unsigned int n = 0;
	const EVP_MD *md = sha256();

	if (!md || !EVP_Digest(data, len, out->b, &n, md, NULL) || n != OID_RAWSZ)
		return t9k_err(-EIO, "SHA-256 failed in OpenSSL");
	return 0;
}

struct oid_hasher {
	EVP_MD_CTX *ctx;
	bool started;
};

struct oid_hasher *oid_hasher_new(void)
{
	struct oid_hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !sha256()) {
		oid_hasher_free(h);
		return NULL;
	}
	return h;
}

int oid_hasher_update(struct oid_hasher *h, const void *data, size_t len)
{
	if (!h->started) {
		if (!EVP_DigestInit_ex(h->ctx, sha256(), NULL))
			return t9k_err(-EIO, "SHA-256 init failed in OpenSSL");
		h->started = true;
	}
	if (!EVP_DigestUpdate(h->ctx, data, len))
		return t9k_err(-EIO, "SHA-256 update failed in OpenSSL");
	return 0;
}

int oid_hasher_final(struct oid_hasher *h, struct oid *out)
{
	unsigned int n = 0;
	int rc;

	if (!h->started && (rc = oid_hasher_update(h, "", 0)) < 0)
		return rc;
	h->started = false;
	if (!EVP_DigestFinal_ex(h->ctx, out->b, &n) || n != OID_RAWSZ)
		return t9k_err(-EIO, "SHA-256 final failed in OpenSSL");
	return 0;
}

int oid_hasher_copy(struct oid_hasher *dst, const struct oid_hasher *src)
{
	if (!src->started) {
		dst->started = false;
		return 0;
	}
	if (!EVP_MD_CTX_copy_ex(dst->ctx, src->ctx))
		return t9k_err(-EIO, "SHA-256 state copy failed in OpenSSL");
	dst->started = true;
	return 0;
}

void oid_hasher_free(struct oid_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

char *oid_to_hex(const struct oid *id, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < OID_RAWSZ; i++) {
		hex[2 * i] = digits[id->b[i] >> 4];
		hex[2 * i + 1] = digits[id->b[i] & 15];
	}
	hex[OID_HEXSZ] = '\0';
	return hex;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int oid_from_hex(struct oid *out, const char *hex)
{
	size_t n = strnlen(hex, OID_HEXSZ + 1);

	if (n != OID_HEXSZ)
		return t9k_err(-EINVAL, "malformed object id '%.80s': want %d hex digits, got %zu",
			       hex, OID_HEXSZ, strlen(hex));
	for (int i = 0; i < OID_RAWSZ; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return t9k_err(-EINVAL, "malformed object id '%s': not hex", hex);
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

bool oid_eq(const struct oid *a, const struct oid *b)
{
	return memcmp(a->b, b->b, OID_RAWSZ) == 0;
}

int oid_cmp(const struct oid *a, const struct oid *b)
{
	return memcmp(a->b, b->b, OID_RAWSZ);
}

/* ---- sets of ids: open addressing, linear probing, at most half full ---- */

static int oidset_grow(struct oidset *s)
{
	struct oidset t = { .cap = s->cap ? s->cap * 2 : 1024 };

	t.v = malloc(t.cap * sizeof(*t.v));
	t.used = calloc(t.cap, 1);
	if (!t.v || !t.used) {
		free(t.v);
		free(t.used);
		return t9k_err(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->used[i])
			continue;
		size_t h;

		memcpy(&h, s->v[i].b, sizeof(h));
		for (h %= t.cap; t.used[h]; h = (h + 1) % t.cap)
			;
		t.used[h] = 1;
		t.v[h] = s->v[i];
	}
	t.n = s->n;
	free(s->v);
	free(s->used);
	*s = t;
	return 0;
}

bool oidset_has(const struct oidset *s, const struct oid *id)
{
	size_t h;

	if (!s->n)
		return false;
	memcpy(&h, id->b, sizeof(h));
	for (h %= s->cap; s->used[h]; h = (h + 1) % s->cap)
		if (oid_eq(&s->v[h], id))
			return true;
	return false;
}

int oidset_add(struct oidset *s, const struct oid *id)
{
	size_t h;
	int rc;

	if ((s->n + 1) * 2 > s->cap && (rc = oidset_grow(s)) < 0)
		return rc;
	memcpy(&h, id->b, sizeof(h));
	for (h %= s->cap; s->used[h]; h = (h + 1) % s->cap)
		if (oid_eq(&s->v[h], id))
			return 0;
	s->used[h] = 1;
	s->v[h] = *id;
	s->n++;
	return 1;
}

void oidset_release(struct oidset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof(*s));
}
