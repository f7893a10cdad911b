/* Chunk encode/decode/verify and put/get through a store.
 *
 * Compression policy: zstd at a low level when it pays. Incompressible data
 * (media, already-compressed archives: most of a training set) is detected
 * by compressing a 64 KiB sample first, so it costs ~6% of a full attempt;
 * a chunk is kept compressed only if that saves at least 1/32 of its size.
 */
#include "store/chunk.h"

#include "lib/endian.h"
#include "lib/err.h"
#include "store/cdc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#define SAMPLE_SIZE (64u << 10)

struct chunk_writer {
	ZSTD_CCtx *cctx;
	int zlevel;
	uint8_t hdr[CHUNK_HDR_SIZE];
	struct buf scratch;
};

struct chunk_writer *chunk_writer_new(int zlevel)
{
	struct chunk_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->zlevel = zlevel;
	if (zlevel > 0 && !(w->cctx = ZSTD_createCCtx())) {
		free(w);
		return NULL;
	}
	return w;
}

void chunk_writer_free(struct chunk_writer *w)
{
	if (!w)
		return;
	ZSTD_freeCCtx(w->cctx);
	buf_release(&w->scratch);
	free(w);
}

/* Compresses src into scratch; returns compressed size, or 0 if it did not
 * fit in limit bytes (not worth it), or a negative code. */
static long try_compress(struct chunk_writer *w, const void *src, size_t len, size_t limit)
{
	size_t bound = ZSTD_compressBound(len), n;
	int rc;

	w->scratch.len = 0;
	rc = buf_grow(&w->scratch, bound);
	if (rc < 0)
		return t9k_err(rc, "out of memory compressing a chunk");
	n = ZSTD_compressCCtx(w->cctx, w->scratch.data, limit < bound ? limit : bound, src, len,
			      w->zlevel);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall
			? 0
			: t9k_err(-EIO, "zstd: %s", ZSTD_getErrorName(n));
	return (long)n;
}

int chunk_encode(struct chunk_writer *w, const void *data, size_t len,
		 struct iovec iov[2], uint8_t *codec)
{
	long n = 0;

	if (len > UINT32_MAX)
		return t9k_err(-EINVAL, "chunk of %zu bytes is too large", len);
	*codec = CHUNK_RAW;
	if (w->cctx && len >= 1024) {
		const uint8_t *sample = data;
		size_t slen = len;

		if (len > 2 * SAMPLE_SIZE) {
			sample += len / 2 - SAMPLE_SIZE / 2;
			slen = SAMPLE_SIZE;
		}
		n = slen < len ? try_compress(w, sample, slen, slen - slen / 32) : 1;
		if (n < 0)
			return (int)n;
		if (n > 0)
			n = try_compress(w, data, len, len - len / 32);
		if (n < 0)
			return (int)n;
		if (n > 0)
			*codec = CHUNK_ZSTD;
	}
	memcpy(w->hdr, "T9KC", 4);
	w->hdr[4] = 1;
	w->hdr[5] = *codec;
	w->hdr[6] = w->hdr[7] = 0;
	put_le32(w->hdr + 8, (uint32_t)len);
	iov[0].iov_base = w->hdr;
	iov[0].iov_len = CHUNK_HDR_SIZE;
	iov[1].iov_base = *codec == CHUNK_ZSTD ? (void *)w->scratch.data : (void *)data;
	iov[1].iov_len = *codec == CHUNK_ZSTD ? (size_t)n : len;
	return 0;
}

void chunk_key_ns(const char *ns, const struct oid *id, char key[CHUNK_KEY_MAX])
{
	size_t n = strlen(ns); /* namespaces are at most as long as "chunks" */

	memcpy(key, ns, n);
	key[n] = '/';
	oid_to_hex(id, key + n + 1);
}

void chunk_key(const struct oid *id, char key[CHUNK_KEY_MAX])
{
	chunk_key_ns(CHUNK_NS_DATA, id, key);
}

int chunk_key_parse(const char *key, struct oid *id)
{
	if (strncmp(key, "chunks/", 7))
		return t9k_err(-EINVAL, "'%s' is not a chunk key", key);
	return oid_from_hex(id, key + 7);
}

int chunk_put(struct chunk_writer *w, struct store *s, const void *data, size_t len,
	      struct chunk_put_result *res)
{
	return chunk_put_ns(w, s, CHUNK_NS_DATA, data, len, res);
}

static int put_hashed(struct chunk_writer *w, struct store *s, const char *ns, const void *data,
		      size_t len, struct chunk_put_result *res)
{
	char key[CHUNK_KEY_MAX];
	struct iovec iov[2];
	int rc;

	chunk_key_ns(ns, &res->id, key);
	rc = store_head_maybe(s, key, NULL);
	if (rc == 0) {
		res->existed = true;
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	rc = chunk_encode(w, data, len, iov, &res->codec);
	if (rc < 0)
		return rc;
	rc = store_put(s, key, iov, 2);
	if (rc < 0)
		return rc;
	res->stored_bytes = (uint32_t)(iov[0].iov_len + iov[1].iov_len);
	return 0;
}

int chunk_put_ns(struct chunk_writer *w, struct store *s, const char *ns, const void *data,
		 size_t len, struct chunk_put_result *res)
{
	int rc;

	memset(res, 0, sizeof(*res));
	rc = oid_hash(&res->id, data, len);
	return rc < 0 ? rc : put_hashed(w, s, ns, data, len, res);
}

int chunk_put_id(struct chunk_writer *w, struct store *s, const struct oid *id, const void *data,
		 size_t len, struct chunk_put_result *res)
{
	memset(res, 0, sizeof(*res));
	res->id = *id;
	return put_hashed(w, s, CHUNK_NS_DATA, data, len, res);
}

/* ---- deltas ---- */

int chunk_put_delta(struct chunk_writer *w, struct store *s, const struct oid *id, uint32_t len,
		    const struct oid *base, uint32_t prefix, const void *suffix, size_t suffix_len,
		    struct chunk_put_result *res)
{
	uint8_t hdr[CHUNK_DELTA_HDR_SIZE];
	char key[CHUNK_KEY_MAX];
	struct iovec iov[2];
	uint8_t codec;
	int rc;

	memset(res, 0, sizeof(*res));
	res->id = *id;
	if ((uint64_t)prefix + suffix_len != len || len > CDC_MAX_LIMIT)
		return t9k_err(-EINVAL, "delta chunk: %u + %zu bytes do not make %u", prefix,
			       suffix_len, len);
	rc = chunk_encode(w, suffix, suffix_len, iov, &codec);
	if (rc < 0)
		return rc;
	memcpy(hdr, "T9KD", 4);
	hdr[4] = 1;
	hdr[5] = codec;
	hdr[6] = hdr[7] = 0;
	put_le32(hdr + 8, len);
	memcpy(hdr + 12, base->b, OID_RAWSZ);
	put_le32(hdr + 44, prefix);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	chunk_key_ns(CHUNK_NS_DELTA, id, key);
	rc = store_put(s, key, iov, 2);
	if (rc < 0)
		return rc;
	res->codec = codec;
	res->stored_bytes = (uint32_t)(iov[0].iov_len + iov[1].iov_len);
	return 0;
}

bool chunk_delta_base(const uint8_t *obj, size_t objlen, struct oid *base)
{
	if (objlen < CHUNK_DELTA_HDR_SIZE || memcmp(obj, "T9KD", 4))
		return false;
	if (base)
		memcpy(base->b, obj + 12, OID_RAWSZ);
	return true;
}

int chunk_delta_decode(struct store *s, const struct oid *id, const uint8_t *obj, size_t objlen,
		       struct buf *out)
{
	char hex[OID_HEXSZ + 1], bhex[OID_HEXSZ + 1], key[CHUNK_KEY_MAX];
	struct buf bobj = BUF_INIT, bdata = BUF_INIT;
	size_t start = out->len, plen, prefix, slen, n;
	struct oid base, got;
	int rc;

	oid_to_hex(id, hex);
	if (!chunk_delta_base(obj, objlen, &base))
		return t9k_err(T9K_ECORRUPT, "delta chunk %s is corrupt: bad header", hex);
	if (obj[4] != 1)
		return t9k_err(T9K_ECORRUPT, "delta chunk %s: unsupported format version %u", hex,
			       obj[4]);
	plen = get_le32(obj + 8);
	prefix = get_le32(obj + 44);
	if (plen > CDC_MAX_LIMIT || prefix > plen)
		return t9k_err(T9K_ECORRUPT, "delta chunk %s is corrupt: lengths %zu, %zu", hex, plen,
			       prefix);
	slen = plen - prefix;
	chunk_key_ns(CHUNK_NS_DATA, &base, key);
	rc = store_get(s, key, 0, STORE_WHOLE, &bobj);
	if (rc == -ENOENT)
		rc = t9k_err(-ENOENT, "chunk %s (the base of delta chunk %s) not found in store %s",
			     oid_to_hex(&base, bhex), hex, store_url(s));
	if (rc == 0)
		rc = chunk_decode(&base, bobj.data, bobj.len, &bdata);
	if (rc == 0 && bdata.len < prefix)
		rc = t9k_err(T9K_ECORRUPT, "delta chunk %s is corrupt: its base holds %zu bytes, not %zu",
			     hex, bdata.len, prefix);
	if (rc == 0)
		rc = buf_grow(out, plen);
	if (rc < 0)
		goto out;
	memcpy(out->data + start, bdata.data, prefix);
	switch (obj[5]) {
	case CHUNK_RAW:
		if (objlen - CHUNK_DELTA_HDR_SIZE != slen)
			rc = t9k_err(T9K_ECORRUPT, "delta chunk %s is corrupt: %zu suffix bytes, header says %zu",
				     hex, objlen - CHUNK_DELTA_HDR_SIZE, slen);
		else
			memcpy(out->data + start + prefix, obj + CHUNK_DELTA_HDR_SIZE, slen);
		break;
	case CHUNK_ZSTD:
		n = ZSTD_decompress(out->data + start + prefix, slen, obj + CHUNK_DELTA_HDR_SIZE,
				    objlen - CHUNK_DELTA_HDR_SIZE);
		if (ZSTD_isError(n) || n != slen)
			rc = t9k_err(T9K_ECORRUPT, "delta chunk %s is corrupt: %s", hex,
				     ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length");
		break;
	default:
		rc = t9k_err(T9K_ECORRUPT, "delta chunk %s: unknown codec %u", hex, obj[5]);
	}
	if (rc == 0)
		rc = oid_hash(&got, out->data + start, plen);
	if (rc == 0 && !oid_eq(&got, id))
		rc = t9k_err(T9K_ECORRUPT, "delta chunk %s is corrupt: content does not match its id",
			     hex);
	if (rc == 0) {
		out->len += plen;
		out->data[out->len] = 0;
	} else if (out->data) {
		out->data[start] = 0;
	}
out:
	buf_release(&bobj);
	buf_release(&bdata);
	return rc;
}

int chunk_decode(const struct oid *id, const uint8_t *obj, size_t objlen, struct buf *out)
{
	char hex[OID_HEXSZ + 1];
	size_t start = out->len, plen, n;
	struct oid got;
	int rc;

	oid_to_hex(id, hex);
	if (objlen < CHUNK_HDR_SIZE || memcmp(obj, "T9KC", 4))
		return t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: bad header", hex);
	if (obj[4] != 1)
		return t9k_err(T9K_ECORRUPT, "chunk %s: unsupported format version %u", hex, obj[4]);
	plen = get_le32(obj + 8);
	if (plen > CDC_MAX_LIMIT)
		return t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: length %zu too large", hex, plen);
	rc = buf_grow(out, plen);
	if (rc < 0)
		return t9k_err(rc, "out of memory reading chunk %s", hex);
	switch (obj[5]) {
	case CHUNK_RAW:
		if (objlen - CHUNK_HDR_SIZE != plen)
			return t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: %zu payload bytes, header says %zu",
				       hex, objlen - CHUNK_HDR_SIZE, plen);
		memcpy(out->data + start, obj + CHUNK_HDR_SIZE, plen);
		break;
	case CHUNK_ZSTD:
		n = ZSTD_decompress(out->data + start, plen, obj + CHUNK_HDR_SIZE,
				    objlen - CHUNK_HDR_SIZE);
		if (ZSTD_isError(n) || n != plen) {
			out->data[start] = 0;
			return t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: %s", hex,
				       ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length");
		}
		break;
	default:
		return t9k_err(T9K_ECORRUPT, "chunk %s: unknown codec %u", hex, obj[5]);
	}
	rc = oid_hash(&got, out->data + start, plen);
	if (rc == 0 && !oid_eq(&got, id))
		rc = t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: content does not match its id", hex);
	if (rc < 0) {
		out->data[start] = 0;
		return rc;
	}
	out->len += plen;
	out->data[out->len] = 0;
	return 0;
}

int chunk_decode_tail(const struct oid *id, struct buf *out, size_t start)
{
	uint8_t *obj = out->data + start;
	size_t objlen = out->len - start, plen;
	char hex[OID_HEXSZ + 1];
	struct oid got;
	uint8_t *copy;
	int rc;

	if (objlen >= CHUNK_HDR_SIZE && !memcmp(obj, "T9KC", 4) && obj[4] == 1 &&
	    obj[5] == CHUNK_RAW) {
		/* raw: the plaintext is already here, verify it and shift it
		 * over the header (cache-hot, cheaper than a second buffer) */
		plen = get_le32(obj + 8);
		if (objlen - CHUNK_HDR_SIZE != plen) {
			rc = t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: %zu payload bytes, header says %zu",
				     oid_to_hex(id, hex), objlen - CHUNK_HDR_SIZE, plen);
			goto fail;
		}
		rc = oid_hash(&got, obj + CHUNK_HDR_SIZE, plen);
		if (rc == 0 && !oid_eq(&got, id))
			rc = t9k_err(T9K_ECORRUPT, "chunk %s is corrupt: content does not match its id",
				     oid_to_hex(id, hex));
		if (rc < 0)
			goto fail;
		memmove(obj, obj + CHUNK_HDR_SIZE, plen);
		out->len = start + plen;
		out->data[out->len] = 0;
		return 0;
	}
	/* compressed, or bad: decoded from a copy of the object */
	copy = malloc(objlen ? objlen : 1);
	if (!copy) {
		rc = t9k_err(-ENOMEM, "out of memory reading chunk %s", oid_to_hex(id, hex));
		goto fail;
	}
	memcpy(copy, obj, objlen);
	out->len = start;
	rc = chunk_decode(id, copy, objlen, out);
	free(copy);
	if (rc == 0)
		return 0;
fail:
	out->len = start;
	out->data[start] = 0;
	return rc;
}

int chunk_get(struct store *s, const struct oid *id, struct buf *out)
{
	return chunk_get_ns(s, CHUNK_NS_DATA, id, out);
}

int chunk_get_ns(struct store *s, const char *ns, const struct oid *id, struct buf *out)
{
	char key[CHUNK_KEY_MAX];
	size_t start = out->len;
	int rc;

	/* the object is read where its plaintext goes: no buffer of its own */
	chunk_key_ns(ns, id, key);
	rc = store_get(s, key, 0, STORE_WHOLE, out);
	if (rc == -ENOENT && !strcmp(ns, CHUNK_NS_DATA)) {
		/* not stored whole: a delta, or absent */
		struct buf obj = BUF_INIT;

		if (out->data) {
			out->len = start;
			out->data[start] = 0;
		}
		chunk_key_ns(CHUNK_NS_DELTA, id, key);
		rc = store_get(s, key, 0, STORE_WHOLE, &obj);
		if (rc == 0) { /* its errors, a missing base too, are its own */
			rc = chunk_delta_decode(s, id, obj.data, obj.len, out);
			buf_release(&obj);
			return rc;
		}
		buf_release(&obj);
		chunk_key_ns(ns, id, key);
	}
	if (rc == -ENOENT)
		rc = t9k_err(-ENOENT, "%s %s not found in store %s",
			     strcmp(ns, CHUNK_NS_DATA) ? "object" : "chunk", key + strlen(ns) + 1,
			     store_url(s));
	if (rc == 0)
		return chunk_decode_tail(id, out, start);
	if (out->data) { /* nothing of a failed read stays */
		out->len = start;
		out->data[start] = 0;
	}
	return rc;
}
