/* Metadata objects: canonical encoders and strict decoders of file
 * manifests, tree nodes and commits (byte layouts in meta/object.h).
 * Invariant: encoder and decoder share one validity check per object, so a
 * decoder accepts exactly the bytes the encoder writes and ids are stable.
 */
#include "meta/object.h"

#include "lib/endian.h"
#include "lib/err.h"
#include "store/cdc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OBJ_VERSION 1
#define TREE_VERSION_MAX META_TREE_V2
#define MAGIC_MANIFEST "T9KM"
#define MAGIC_TREE "T9KT"
#define MAGIC_COMMIT "T9KK"

#define MANIFEST_HDR 20
#define MANIFEST_REC_OBJECT (1 + OID_RAWSZ + 4)
#define MANIFEST_REC_PACK (MANIFEST_REC_OBJECT + OID_RAWSZ + 8 + 4)
#define TREE_HDR 12
#define ENTRY_FIXED (2 + 4 + 8 + 8 + 1)       /* without name and payload (v1) */
#define ENTRY_OWNER (4 + 4)                   /* v2: uid, gid */
#define ENTRY_RDEV (4 + 4)                    /* v2 devices: major, minor */
#define ENTRY_LINK (8 + 4)                    /* v2: link group id, nlink */
#define ENTRY_SUBDIRS 4                       /* v2 directories: subdirectory count */
#define ENTRY_MIN (ENTRY_FIXED + 1 + 4)       /* 1-byte name, empty inline */
#define ENTRY_MIN_V2 (ENTRY_FIXED + 1 + 1)    /* 1-byte name, flags, no payload */
#define CHILD_FIXED (2 + OID_RAWSZ + 8)       /* without key */
#define CHILD_MIN (CHILD_FIXED + 1)
#define COMMIT_HDR (8 + OID_RAWSZ)
#define KV_FIXED (2 + 4)
#define KV_MIN (KV_FIXED + 1)

_Static_assert(META_CHUNK_ENTRY_MAX == CDC_MAX_LIMIT,
	       "a one-chunk entry must hold the largest chunk a repository can cut");

enum { PAYLOAD_ID = 0, PAYLOAD_INLINE = 1, PAYLOAD_CHUNK = 2, PAYLOAD_NONE = 3 };
enum { ENTRY_F_OWNER = 1, ENTRY_F_LINK = 2, ENTRY_F_SUBDIRS = 4, ENTRY_F_ALL = 7 }; /* v2 flags */

#define QUOTE_MAX 48 /* bytes of a name shown in a message */
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

/* Writes s as a printable string for messages: non-printing bytes as \xNN,
 * cut after QUOTE_MAX bytes with "...". */
static const char *quote(const void *s, size_t len, char *dst)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = s;
	size_t n = len < QUOTE_MAX ? len : QUOTE_MAX, o = 0;

	for (size_t i = 0; i < n && p; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			dst[o++] = (char)p[i];
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[p[i] >> 4];
			dst[o++] = hex[p[i] & 15];
		}
	}
	if (n < len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

int meta_name_check(const char *name, size_t len)
{
	char q[QUOTE_BUF];

	if (len == 0)
		return t9k_err(-EINVAL, "empty name");
	if (!name)
		return t9k_err(-EINVAL, "name is NULL");
	if (len > META_NAME_MAX)
		return t9k_err(-EINVAL, "name '%s' is longer than %d bytes", quote(name, len, q),
			       META_NAME_MAX);
	if (memchr(name, '/', len))
		return t9k_err(-EINVAL, "name '%s' contains '/'", quote(name, len, q));
	if (memchr(name, '\0', len))
		return t9k_err(-EINVAL, "name '%s' contains a NUL byte", quote(name, len, q));
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return t9k_err(-EINVAL, "name '%s' is not allowed", quote(name, len, q));
	return 0;
}

int meta_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c < 0 ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

char meta_object_type(const uint8_t *data, size_t len)
{
	if (!data || len < 4)
		return 0;
	if (!memcmp(data, MAGIC_MANIFEST, 4))
		return 'M';
	if (!memcmp(data, MAGIC_TREE, 4))
		return 'T';
	if (!memcmp(data, MAGIC_COMMIT, 4))
		return 'K';
	return 0;
}

/* ---- reading: every read checks the bytes left; errors are T9K_ECORRUPT
 * with an unprefixed message that the caller wraps with its context ---- */

struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static int rd_bytes(struct rd *r, size_t n, const uint8_t **out)
{
	*out = NULL; /* set on every path: callers never read garbage */
	if (r->len - r->pos < n)
		return t9k_err(T9K_ECORRUPT, "truncated at byte %zu", r->len);
	*out = r->p + r->pos;
	r->pos += n;
	return 0;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	*v = 0;
	rc = rd_bytes(r, 1, &p);

	if (rc == 0)
		*v = p[0];
	return rc;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	*v = 0;
	rc = rd_bytes(r, 2, &p);

	if (rc == 0)
		*v = get_le16(p);
	return rc;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	*v = 0;
	rc = rd_bytes(r, 4, &p);

	if (rc == 0)
		*v = get_le32(p);
	return rc;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	*v = 0;
	rc = rd_bytes(r, 8, &p);

	if (rc == 0)
		*v = get_le64(p);
	return rc;
}

static int rd_i64(struct rd *r, int64_t *v)
{
	uint64_t u;
	int rc = rd_u64(r, &u);

	if (rc == 0)
		*v = (int64_t)u; /* two's complement, as written */
	return rc;
}

static int rd_oid(struct rd *r, struct oid *id)
{
	const uint8_t *p = NULL;
	int rc = rd_bytes(r, OID_RAWSZ, &p);

	if (rc == 0)
		memcpy(id->b, p, OID_RAWSZ);
	return rc;
}

/* Magic and version, the first 5 bytes of every object: versions
 * OBJ_VERSION..max are accepted, the one read goes to *version. */
static int rd_header_v(struct rd *r, const char *magic, uint8_t max, uint8_t *version)
{
	const uint8_t *p;
	int rc = rd_bytes(r, 4, &p);

	if (rc < 0)
		return rc;
	if (memcmp(p, magic, 4))
		return t9k_err(T9K_ECORRUPT, "wrong magic (want %s)", magic);
	rc = rd_u8(r, version);
	if (rc < 0)
		return rc;
	if (*version < OBJ_VERSION || *version > max)
		return t9k_err(T9K_ECORRUPT, "unsupported version %u", *version);
	return 0;
}

static int rd_header(struct rd *r, const char *magic)
{
	uint8_t version;

	return rd_header_v(r, magic, OBJ_VERSION, &version);
}

static int rd_reserved(struct rd *r, size_t n)
{
	const uint8_t *p;
	int rc = rd_bytes(r, n, &p);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return t9k_err(T9K_ECORRUPT, "reserved byte %zu is not 0", r->pos - n + i);
	return 0;
}

/* Fails unless count items of at least min bytes each fit in what is left:
 * checked before an array of count items is allocated. */
static int rd_count_fits(struct rd *r, uint64_t count, size_t min, const char *what)
{
	size_t left = r->len - r->pos;

	if (count > left / min)
		return t9k_err(T9K_ECORRUPT, "%" PRIu64 " %s need at least %" PRIu64 " bytes, %zu left",
			       count, what, count * min, left);
	return 0;
}

static int rd_end(struct rd *r)
{
	if (r->pos != r->len)
		return t9k_err(T9K_ECORRUPT, "trailing bytes: %zu after byte %zu", r->len - r->pos,
			       r->pos);
	return 0;
}

/* ---- writing: encoders validate, size the output, grow the buffer once,
 * then store; so they never fail halfway with a partial object ---- */

struct wr {
	uint8_t *p;
};

static void wr_bytes(struct wr *w, const void *d, size_t n)
{
	if (n)
		memcpy(w->p, d, n);
	w->p += n;
}

static void wr_u8(struct wr *w, uint8_t v)
{
	*w->p++ = v;
}

static void wr_u16(struct wr *w, uint16_t v)
{
	put_le16(w->p, v);
	w->p += 2;
}

static void wr_u32(struct wr *w, uint32_t v)
{
	put_le32(w->p, v);
	w->p += 4;
}

static void wr_u64(struct wr *w, uint64_t v)
{
	put_le64(w->p, v);
	w->p += 8;
}

static void wr_header_v(struct wr *w, const char *magic, uint8_t version, uint8_t b5)
{
	wr_bytes(w, magic, 4);
	wr_u8(w, version);
	wr_u8(w, b5);
}

static void wr_header(struct wr *w, const char *magic, uint8_t b5)
{
	wr_header_v(w, magic, OBJ_VERSION, b5);
}

static int wr_begin(struct buf *out, size_t size, struct wr *w)
{
	int rc = buf_grow(out, size);

	if (rc < 0)
		return t9k_err(rc, "out of memory encoding a %zu-byte object", size);
	w->p = out->data + out->len;
	return 0;
}

static void wr_finish(struct buf *out, size_t size, const struct wr *w)
{
	assert(w->p == out->data + out->len + size);
	(void)w;
	out->len += size;
	out->data[out->len] = 0;
}

/* ---- manifests ---- */

/* Validates m with code as the error and sets *size to its encoded size. */
static int manifest_check(const struct manifest *m, int code, size_t *size)
{
	uint64_t sum = 0;
	size_t total = MANIFEST_HDR;

	if (m->nchunks && !m->chunks)
		return t9k_err(code, "%" PRIu32 " chunks but no chunk array", m->nchunks);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		const struct manifest_chunk *c = &m->chunks[i];

		if (c->len == 0)
			return t9k_err(code, "chunk %" PRIu32 " has length 0", i);
		if (c->loc == MANIFEST_LOC_OBJECT) {
			total += MANIFEST_REC_OBJECT;
		} else if (c->loc == MANIFEST_LOC_PACK) {
			if (c->pack_len == 0)
				return t9k_err(code, "chunk %" PRIu32 " has a stored length of 0", i);
			if (c->pack_off > UINT64_MAX - c->pack_len)
				return t9k_err(code, "chunk %" PRIu32 " pack range overflows", i);
			total += MANIFEST_REC_PACK;
		} else {
			return t9k_err(code, "chunk %" PRIu32 " has unknown location %u", i, c->loc);
		}
		if (sum > UINT64_MAX - c->len)
			return t9k_err(code, "chunk lengths overflow");
		sum += c->len;
	}
	if (sum != m->size)
		return t9k_err(code, "size %" PRIu64 " is not the sum of chunk lengths %" PRIu64,
			       m->size, sum);
	*size = total;
	return 0;
}

int manifest_encode(const struct manifest *m, struct buf *out)
{
	struct wr w = { NULL };
	size_t size;
	int rc = manifest_check(m, -EINVAL, &size);

	if (rc < 0)
		return t9k_err_wrap(rc, "manifest");
	rc = wr_begin(out, size, &w);
	if (rc < 0)
		return rc;
	wr_header(&w, MAGIC_MANIFEST, 0);
	wr_u16(&w, 0);
	wr_u64(&w, m->size);
	wr_u32(&w, m->nchunks);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		const struct manifest_chunk *c = &m->chunks[i];

		wr_u8(&w, c->loc);
		wr_bytes(&w, c->id.b, OID_RAWSZ);
		wr_u32(&w, c->len);
		if (c->loc == MANIFEST_LOC_PACK) {
			wr_bytes(&w, c->pack.b, OID_RAWSZ);
			wr_u64(&w, c->pack_off);
			wr_u32(&w, c->pack_len);
		}
	}
	wr_finish(out, size, &w);
	return 0;
}

static int manifest_parse_chunk(struct rd *r, struct manifest_chunk *c)
{
	int rc;

	if ((rc = rd_u8(r, &c->loc)) < 0 || (rc = rd_oid(r, &c->id)) < 0 ||
	    (rc = rd_u32(r, &c->len)) < 0)
		return rc;
	if (c->loc == MANIFEST_LOC_PACK) {
		if ((rc = rd_oid(r, &c->pack)) < 0 || (rc = rd_u64(r, &c->pack_off)) < 0 ||
		    (rc = rd_u32(r, &c->pack_len)) < 0)
			return rc;
	} else if (c->loc != MANIFEST_LOC_OBJECT) {
		return t9k_err(T9K_ECORRUPT, "unknown location %u", c->loc);
	}
	return 0;
}

int manifest_decode(const uint8_t *data, size_t len, struct manifest *m)
{
	struct rd r = { data, len, 0 };
	size_t size;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = rd_header(&r, MAGIC_MANIFEST)) < 0 || (rc = rd_reserved(&r, 3)) < 0 ||
	    (rc = rd_u64(&r, &m->size)) < 0 || (rc = rd_u32(&r, &m->nchunks)) < 0 ||
	    (rc = rd_count_fits(&r, m->nchunks, MANIFEST_REC_OBJECT, "chunks")) < 0)
		goto out;
	if (m->nchunks && !(m->chunks = calloc(m->nchunks, sizeof(*m->chunks)))) {
		rc = t9k_err(-ENOMEM, "out of memory for %" PRIu32 " chunks", m->nchunks);
		goto out;
	}
	for (uint32_t i = 0; i < m->nchunks; i++) {
		if ((rc = manifest_parse_chunk(&r, &m->chunks[i])) < 0) {
			t9k_err_wrap(rc, "chunk %" PRIu32, i);
			goto out;
		}
	}
	if ((rc = rd_end(&r)) < 0 || (rc = manifest_check(m, T9K_ECORRUPT, &size)) < 0)
		goto out;
	assert(size == len);
out:
	if (rc < 0) {
		manifest_release(m);
		t9k_err_wrap(rc, "manifest");
	}
	return rc;
}

void manifest_release(struct manifest *m)
{
	if (!m)
		return;
	free(m->chunks);
	memset(m, 0, sizeof(*m));
}

/* ---- tree nodes ---- */

static bool is_special(uint32_t type)
{
	return type == S_IFIFO || type == S_IFSOCK || type == S_IFCHR || type == S_IFBLK;
}

int tree_entry_version(const struct tree_entry *e)
{
	if (e->has_owner || e->link_id || e->has_subdirs || is_special(e->mode & S_IFMT))
		return META_TREE_V2;
	return META_TREE_V1;
}

static int mode_check(uint32_t mode, int version, int code)
{
	uint32_t type = mode & S_IFMT;

	if (mode & ~(uint32_t)(S_IFMT | 07777))
		return t9k_err(code, "mode 0%" PRIo32 " has bits beyond the type and 07777", mode);
	if (type == S_IFREG || type == S_IFDIR || type == S_IFLNK)
		return 0;
	if (!is_special(type))
		return t9k_err(code, "mode 0%" PRIo32 " is not a file, directory, symlink, fifo, "
			       "socket or device", mode);
	if (version < META_TREE_V2)
		return t9k_err(code, "mode 0%" PRIo32 " is not a file, directory or symlink", mode);
	return 0;
}

/* The bytes of the v2 fields between mtime and the payload. */
static size_t entry_v2_bytes(const struct tree_entry *e)
{
	uint32_t type = e->mode & S_IFMT;

	return 1 + (e->has_owner ? ENTRY_OWNER : 0) +
	       (type == S_IFCHR || type == S_IFBLK ? ENTRY_RDEV : 0) +
	       (e->link_id ? ENTRY_LINK : 0) + (e->has_subdirs ? ENTRY_SUBDIRS : 0);
}

/* Validates one leaf item on its own for a node of `version` and sets
 * *size to its encoded size there. */
static int entry_check(const struct tree_entry *e, int version, int code, size_t *size)
{
	uint32_t type = e->mode & S_IFMT;
	size_t fixed = ENTRY_FIXED + e->name_len;
	int rc = meta_name_check(e->name, e->name_len);

	if (rc < 0)
		return code; /* keeps the message quoting the name */
	if ((rc = mode_check(e->mode, version, code)) < 0)
		return rc;
	if (version < META_TREE_V2 && tree_entry_version(e) > version)
		return t9k_err(code, "entry needs tree version %d (owner, hard link or "
			       "subdirectory count)", tree_entry_version(e));
	if (e->has_owner && (e->uid == UINT32_MAX || e->gid == UINT32_MAX))
		return t9k_err(code, "owner %" PRIu32 ":%" PRIu32 " is not valid (-1 means none)",
			       e->uid, e->gid);
	if (!e->has_owner && (e->uid || e->gid))
		return t9k_err(code, "uid or gid set without an owner");
	if ((e->dev_major || e->dev_minor) && type != S_IFCHR && type != S_IFBLK)
		return t9k_err(code, "device numbers on an entry that is not a device");
	if (e->link_id && (e->nlink < 2 || type == S_IFDIR))
		return t9k_err(code, type == S_IFDIR ? "a directory cannot be hard-linked"
			       : "hard-link group with a link count of %" PRIu32 " (want 2 or more)",
			       e->nlink);
	if (!e->link_id && e->nlink)
		return t9k_err(code, "link count %" PRIu32 " without a hard-link group", e->nlink);
	if (e->has_subdirs && type != S_IFDIR)
		return t9k_err(code, "a subdirectory count on an entry that is not a directory");
	if (e->has_subdirs && e->subdirs > e->size)
		return t9k_err(code, "%" PRIu32 " subdirectories, more than its %" PRIu64 " entries",
			       e->subdirs, e->size);
	if (!e->has_subdirs && e->subdirs)
		return t9k_err(code, "subdirectory count set without its flag");
	if (version >= META_TREE_V2)
		fixed += entry_v2_bytes(e);
	if (is_special(type)) {
		static const struct oid zero;

		if (e->is_inline || e->is_chunk || !oid_eq(&e->id, &zero))
			return t9k_err(code, "bad payload: special files carry no data");
		if (e->size)
			return t9k_err(code, "special file of size %" PRIu64 " (want 0)", e->size);
		*size = fixed;
		return 0;
	}
	if (e->is_chunk) {
		if (e->is_inline)
			return t9k_err(code, "entry is both inline and one chunk");
		if (type != S_IFREG)
			return t9k_err(code, "bad payload: only regular files may name a single chunk");
		if (e->size <= META_INLINE_MAX)
			return t9k_err(code, "bad payload: one-chunk file of %" PRIu64 " bytes, "
				       "but files up to %d bytes are inline", e->size, META_INLINE_MAX);
		if (e->size > META_CHUNK_ENTRY_MAX)
			return t9k_err(code, "bad payload: one-chunk file of %" PRIu64 " bytes, "
				       "more than the largest chunk (%u)", e->size,
				       META_CHUNK_ENTRY_MAX);
	}
	if (!e->is_inline) {
		if (type == S_IFLNK)
			return t9k_err(code, "symlink is not inline");
		*size = fixed + OID_RAWSZ;
		return 0;
	}
	if (type == S_IFDIR)
		return t9k_err(code, "directory is inline");
	if (e->data_len && !e->data)
		return t9k_err(code, "%" PRIu32 " inline bytes but no data", e->data_len);
	if (e->size != e->data_len)
		return t9k_err(code, "size %" PRIu64 " but %" PRIu32 " inline bytes", e->size,
			       e->data_len);
	if (e->data_len > META_INLINE_MAX)
		return t9k_err(code, "%" PRIu32 " inline bytes, more than %d", e->data_len,
			       META_INLINE_MAX);
	if (type == S_IFLNK && e->data_len == 0)
		return t9k_err(code, "symlink target is empty");
	if (type == S_IFLNK && memchr(e->data, '\0', e->data_len))
		return t9k_err(code, "symlink target contains a NUL byte");
	*size = fixed + 4 + e->data_len;
	return 0;
}

static void entry_write(struct wr *w, const struct tree_entry *e, int version)
{
	uint32_t type = e->mode & S_IFMT;

	wr_u16(w, e->name_len);
	wr_bytes(w, e->name, e->name_len);
	wr_u32(w, e->mode);
	wr_u64(w, e->size);
	wr_u64(w, (uint64_t)e->mtime_ns);
	if (version >= META_TREE_V2) {
		wr_u8(w, (e->has_owner ? ENTRY_F_OWNER : 0) | (e->link_id ? ENTRY_F_LINK : 0) |
			 (e->has_subdirs ? ENTRY_F_SUBDIRS : 0));
		if (e->has_owner) {
			wr_u32(w, e->uid);
			wr_u32(w, e->gid);
		}
		if (type == S_IFCHR || type == S_IFBLK) {
			wr_u32(w, e->dev_major);
			wr_u32(w, e->dev_minor);
		}
		if (e->link_id) {
			wr_u64(w, e->link_id);
			wr_u32(w, e->nlink);
		}
		if (e->has_subdirs)
			wr_u32(w, e->subdirs);
	}
	if (is_special(type)) {
		wr_u8(w, PAYLOAD_NONE);
		return;
	}
	wr_u8(w, e->is_inline ? PAYLOAD_INLINE : e->is_chunk ? PAYLOAD_CHUNK : PAYLOAD_ID);
	if (e->is_inline) {
		wr_u32(w, e->data_len);
		wr_bytes(w, e->data, e->data_len);
	} else {
		wr_bytes(w, e->id.b, OID_RAWSZ);
	}
}

/* Reads one leaf item's fields as `version` lays them out; entry_check
 * judges them afterwards. */
static int entry_parse(struct rd *r, struct tree_entry *e, int version)
{
	const uint8_t *p;
	uint8_t payload;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = rd_u16(r, &e->name_len)) < 0 || (rc = rd_bytes(r, e->name_len, &p)) < 0)
		return rc;
	e->name = (const char *)p;
	if ((rc = rd_u32(r, &e->mode)) < 0 || (rc = rd_u64(r, &e->size)) < 0 ||
	    (rc = rd_i64(r, &e->mtime_ns)) < 0)
		return rc;
	if (version >= META_TREE_V2) {
		uint32_t type = e->mode & S_IFMT;
		uint8_t flags;

		if ((rc = rd_u8(r, &flags)) < 0)
			return rc;
		if (flags & ~ENTRY_F_ALL)
			return t9k_err(T9K_ECORRUPT, "unknown entry flags 0x%x", flags);
		e->has_owner = flags & ENTRY_F_OWNER;
		if (e->has_owner && ((rc = rd_u32(r, &e->uid)) < 0 || (rc = rd_u32(r, &e->gid)) < 0))
			return rc;
		if ((type == S_IFCHR || type == S_IFBLK) &&
		    ((rc = rd_u32(r, &e->dev_major)) < 0 || (rc = rd_u32(r, &e->dev_minor)) < 0))
			return rc;
		if (flags & ENTRY_F_LINK) {
			if ((rc = rd_u64(r, &e->link_id)) < 0 || (rc = rd_u32(r, &e->nlink)) < 0)
				return rc;
			if (!e->link_id)
				return t9k_err(T9K_ECORRUPT, "hard-link group id is 0");
		}
		e->has_subdirs = flags & ENTRY_F_SUBDIRS;
		if (e->has_subdirs && (rc = rd_u32(r, &e->subdirs)) < 0)
			return rc;
	}
	if ((rc = rd_u8(r, &payload)) < 0)
		return rc;
	if (version >= META_TREE_V2 && (payload == PAYLOAD_NONE || is_special(e->mode & S_IFMT))) {
		if (payload != PAYLOAD_NONE)
			return t9k_err(T9K_ECORRUPT, "bad payload: special files carry no data");
		if (!is_special(e->mode & S_IFMT))
			return t9k_err(T9K_ECORRUPT, "bad payload: only special files carry none");
		return 0;
	}
	if (payload == PAYLOAD_ID || payload == PAYLOAD_CHUNK) {
		e->is_chunk = payload == PAYLOAD_CHUNK;
		return rd_oid(r, &e->id);
	}
	if (payload != PAYLOAD_INLINE)
		return t9k_err(T9K_ECORRUPT, "unknown payload kind %u", payload);
	e->is_inline = true;
	if ((rc = rd_u32(r, &e->data_len)) < 0 || (rc = rd_bytes(r, e->data_len, &e->data)) < 0)
		return rc;
	return 0;
}

static int version_check(int version, int code)
{
	if (version != META_TREE_V1 && version != META_TREE_V2)
		return t9k_err(code, "unsupported tree version %d", version);
	return 0;
}

int tree_entry_encode(const struct tree_entry *e, int version, struct buf *out)
{
	struct wr w = { NULL };
	size_t size;
	int rc = version_check(version, -EINVAL);

	if (rc == 0)
		rc = entry_check(e, version, -EINVAL, &size);
	if (rc < 0)
		return t9k_err_wrap(rc, "tree entry");
	rc = wr_begin(out, size, &w);
	if (rc < 0)
		return rc;
	entry_write(&w, e, version);
	wr_finish(out, size, &w);
	return 0;
}

int tree_entry_decode(const uint8_t *data, size_t len, int version, struct tree_entry *e)
{
	struct rd r = { data, len, 0 };
	size_t size;
	int rc = version_check(version, -EINVAL);

	if (rc == 0 && (rc = entry_parse(&r, e, version)) == 0)
		rc = entry_check(e, version, T9K_ECORRUPT, &size);
	if (rc < 0) {
		memset(e, 0, sizeof(*e));
		return t9k_err_wrap(rc, "tree entry");
	}
	assert(size == r.pos && r.pos <= INT32_MAX);
	return (int)r.pos;
}

static int child_check(const struct tree_child *c, int code, size_t *size)
{
	if (meta_name_check(c->key, c->key_len) < 0)
		return code; /* keeps the message quoting the key */
	if (c->count == 0)
		return t9k_err(code, "count is 0");
	*size = CHILD_FIXED + c->key_len;
	return 0;
}

static int child_parse(struct rd *r, struct tree_child *c)
{
	const uint8_t *p;
	int rc;

	if ((rc = rd_u16(r, &c->key_len)) < 0 || (rc = rd_bytes(r, c->key_len, &p)) < 0)
		return rc;
	c->key = (const char *)p;
	if ((rc = rd_oid(r, &c->id)) < 0 || (rc = rd_u64(r, &c->count)) < 0)
		return rc;
	return 0;
}

/* The version a node is written in: the highest any of its entries
 * needs (inner nodes: 1). */
static int node_version(const struct tree_node *n)
{
	int v = META_TREE_V1;

	for (uint32_t i = 0; n->level == 0 && n->entries && i < n->count && v < META_TREE_V2; i++)
		if (tree_entry_version(&n->entries[i]) > v)
			v = tree_entry_version(&n->entries[i]);
	return v;
}

/* Validates a whole node of `version`: each item, then strict order of
 * names/keys. */
static int node_check(const struct tree_node *n, int version, int code, size_t *size)
{
	const bool leaf = n->level == 0;
	const char *what = leaf ? "entry" : "child";
	char q1[QUOTE_BUF], q2[QUOTE_BUF];
	uint64_t under = 0;
	size_t total = TREE_HDR;

	if (n->level > META_TREE_MAX_LEVEL)
		return t9k_err(code, "level %u is above %d", n->level, META_TREE_MAX_LEVEL);
	if (!leaf && n->count == 0)
		return t9k_err(code, "inner node has no children");
	if (n->count && !(leaf ? (const void *)n->entries : (const void *)n->children))
		return t9k_err(code, "%" PRIu32 " items but no array", n->count);
	for (uint32_t i = 0; i < n->count; i++) {
		const char *name, *prev;
		size_t len, prev_len, one;
		int c, rc;

		if (leaf) {
			rc = entry_check(&n->entries[i], version, code, &one);
			name = n->entries[i].name;
			len = n->entries[i].name_len;
		} else {
			rc = child_check(&n->children[i], code, &one);
			name = n->children[i].key;
			len = n->children[i].key_len;
			if (rc == 0 && under > UINT64_MAX - n->children[i].count)
				rc = t9k_err(code, "entry counts overflow");
			under += n->children[i].count;
		}
		if (rc < 0)
			return t9k_err_wrap(rc, "%s %" PRIu32, what, i);
		total += one;
		if (i == 0)
			continue;
		prev = leaf ? n->entries[i - 1].name : n->children[i - 1].key;
		prev_len = leaf ? n->entries[i - 1].name_len : n->children[i - 1].key_len;
		c = meta_name_cmp(prev, prev_len, name, len);
		if (c == 0)
			return t9k_err(code, "%s %" PRIu32 " name '%s' duplicates %s %" PRIu32, what, i,
				       quote(name, len, q1), what, i - 1);
		if (c > 0)
			return t9k_err(code, "%s %" PRIu32 " name '%s' sorts before %s %" PRIu32 " '%s'",
				       what, i, quote(name, len, q1), what, i - 1,
				       quote(prev, prev_len, q2));
	}
	/* one encoding per node: a version 2 node holds an entry that needs it */
	if (version != node_version(n))
		return t9k_err(code, "version %d %s, but its entries need version %d", version,
			       leaf ? "leaf" : "inner node", node_version(n));
	*size = total;
	return 0;
}

int tree_node_encode(const struct tree_node *n, struct buf *out)
{
	struct wr w = { NULL };
	int version = node_version(n);
	size_t size;
	int rc = node_check(n, version, -EINVAL, &size);

	if (rc < 0)
		return t9k_err_wrap(rc, "tree node");
	rc = wr_begin(out, size, &w);
	if (rc < 0)
		return rc;
	wr_header_v(&w, MAGIC_TREE, (uint8_t)version, n->level);
	wr_u16(&w, 0);
	wr_u32(&w, n->count);
	for (uint32_t i = 0; i < n->count; i++) {
		if (n->level == 0) {
			entry_write(&w, &n->entries[i], version);
		} else {
			const struct tree_child *c = &n->children[i];

			wr_u16(&w, c->key_len);
			wr_bytes(&w, c->key, c->key_len);
			wr_bytes(&w, c->id.b, OID_RAWSZ);
			wr_u64(&w, c->count);
		}
	}
	wr_finish(out, size, &w);
	return 0;
}

int tree_node_decode(const uint8_t *data, size_t len, struct tree_node *n)
{
	struct rd r = { data, len, 0 };
	uint8_t version = 0;
	size_t size;
	int rc;

	memset(n, 0, sizeof(*n));
	if ((rc = rd_header_v(&r, MAGIC_TREE, TREE_VERSION_MAX, &version)) < 0 ||
	    (rc = rd_u8(&r, &n->level)) < 0 || (rc = rd_reserved(&r, 2)) < 0 ||
	    (rc = rd_u32(&r, &n->count)) < 0)
		goto out;
	n->version = version;
	if (n->level > META_TREE_MAX_LEVEL) {
		rc = t9k_err(T9K_ECORRUPT, "level %u is above %d", n->level, META_TREE_MAX_LEVEL);
		goto out;
	}
	if (n->level == 0) {
		rc = rd_count_fits(&r, n->count, version >= META_TREE_V2 ? ENTRY_MIN_V2 : ENTRY_MIN,
				   "entries");
		if (rc == 0 && n->count && !(n->entries = calloc(n->count, sizeof(*n->entries))))
			rc = t9k_err(-ENOMEM, "out of memory for %" PRIu32 " entries", n->count);
	} else {
		rc = rd_count_fits(&r, n->count, CHILD_MIN, "children");
		if (rc == 0 && n->count && !(n->children = calloc(n->count, sizeof(*n->children))))
			rc = t9k_err(-ENOMEM, "out of memory for %" PRIu32 " children", n->count);
	}
	if (rc < 0)
		goto out;
	for (uint32_t i = 0; i < n->count; i++) {
		if (n->level == 0)
			rc = entry_parse(&r, &n->entries[i], version);
		else
			rc = child_parse(&r, &n->children[i]);
		if (rc < 0) {
			t9k_err_wrap(rc, "%s %" PRIu32, n->level ? "child" : "entry", i);
			goto out;
		}
	}
	if ((rc = rd_end(&r)) < 0 || (rc = node_check(n, version, T9K_ECORRUPT, &size)) < 0)
		goto out;
	assert(size == len);
out:
	if (rc < 0) {
		tree_node_release(n);
		t9k_err_wrap(rc, "tree node");
	}
	return rc;
}

void tree_node_release(struct tree_node *n)
{
	if (!n)
		return;
	free(n->entries);
	free(n->children);
	memset(n, 0, sizeof(*n));
}

/* ---- commits ---- */

static int commit_check(const struct commit *c, int code, size_t *size)
{
	char q1[QUOTE_BUF], q2[QUOTE_BUF];
	size_t total;

	if (c->nparents > META_MAX_PARENTS)
		return t9k_err(code, "%u parents, more than %d", c->nparents, META_MAX_PARENTS);
	for (unsigned i = 0; i < c->nparents; i++)
		for (unsigned j = 0; j < i; j++)
			if (oid_eq(&c->parents[i], &c->parents[j]))
				return t9k_err(code, "parent %u repeats parent %u", i, j);
	if (c->author_len > META_AUTHOR_MAX)
		return t9k_err(code, "author is %u bytes, more than %d", c->author_len,
			       META_AUTHOR_MAX);
	if (c->author_len && !c->author)
		return t9k_err(code, "author length %u but no author", c->author_len);
	if (c->author_len && memchr(c->author, '\0', c->author_len))
		return t9k_err(code, "author contains a NUL byte");
	if (c->message_len > META_MSG_MAX)
		return t9k_err(code, "message is %" PRIu32 " bytes, more than %u", c->message_len,
			       META_MSG_MAX);
	if (c->message_len && !c->message)
		return t9k_err(code, "message length %" PRIu32 " but no message", c->message_len);
	if (c->message_len && memchr(c->message, '\0', c->message_len))
		return t9k_err(code, "message contains a NUL byte");
	if (c->nkv > META_KV_MAX)
		return t9k_err(code, "%u metadata pairs, more than %d", c->nkv, META_KV_MAX);
	if (c->nkv && !c->kv)
		return t9k_err(code, "%u metadata pairs but no array", c->nkv);
	total = COMMIT_HDR + (size_t)c->nparents * OID_RAWSZ + 8 + 2 + c->author_len + 4 +
		c->message_len + 2;
	for (unsigned i = 0; i < c->nkv; i++) {
		const struct commit_kv *kv = &c->kv[i];

		if (kv->key_len == 0 || kv->key_len > META_NAME_MAX)
			return t9k_err(code, "metadata key %u has length %u (want 1..%d)", i,
				       kv->key_len, META_NAME_MAX);
		if (!kv->key)
			return t9k_err(code, "metadata key %u is NULL", i);
		if (memchr(kv->key, '\0', kv->key_len))
			return t9k_err(code, "metadata key %u '%s' contains a NUL byte", i,
				       quote(kv->key, kv->key_len, q1));
		if (kv->value_len > META_VALUE_MAX)
			return t9k_err(code, "metadata value %u is %" PRIu32 " bytes, more than %u", i,
				       kv->value_len, META_VALUE_MAX);
		if (kv->value_len && !kv->value)
			return t9k_err(code, "metadata value %u has length %" PRIu32 " but no bytes",
				       i, kv->value_len);
		if (i > 0) {
			const struct commit_kv *pk = &c->kv[i - 1];
			int cmp = meta_name_cmp(pk->key, pk->key_len, kv->key, kv->key_len);

			if (cmp == 0)
				return t9k_err(code, "metadata key %u '%s' duplicates key %u", i,
					       quote(kv->key, kv->key_len, q1), i - 1);
			if (cmp > 0)
				return t9k_err(code, "metadata key %u '%s' sorts before key %u '%s'",
					       i, quote(kv->key, kv->key_len, q1), i - 1,
					       quote(pk->key, pk->key_len, q2));
		}
		total += KV_FIXED + kv->key_len + kv->value_len;
	}
	*size = total;
	return 0;
}

int commit_encode(const struct commit *c, struct buf *out)
{
	struct wr w = { NULL };
	size_t size;
	int rc = commit_check(c, -EINVAL, &size);

	if (rc < 0)
		return t9k_err_wrap(rc, "commit");
	rc = wr_begin(out, size, &w);
	if (rc < 0)
		return rc;
	wr_header(&w, MAGIC_COMMIT, c->nparents);
	wr_u16(&w, 0);
	wr_bytes(&w, c->root.b, OID_RAWSZ);
	for (unsigned i = 0; i < c->nparents; i++)
		wr_bytes(&w, c->parents[i].b, OID_RAWSZ);
	wr_u64(&w, (uint64_t)c->time_ns);
	wr_u16(&w, c->author_len);
	wr_bytes(&w, c->author, c->author_len);
	wr_u32(&w, c->message_len);
	wr_bytes(&w, c->message, c->message_len);
	wr_u16(&w, c->nkv);
	for (unsigned i = 0; i < c->nkv; i++) {
		wr_u16(&w, c->kv[i].key_len);
		wr_bytes(&w, c->kv[i].key, c->kv[i].key_len);
		wr_u32(&w, c->kv[i].value_len);
		wr_bytes(&w, c->kv[i].value, c->kv[i].value_len);
	}
	wr_finish(out, size, &w);
	return 0;
}

static int kv_parse(struct rd *r, struct commit_kv *kv)
{
	const uint8_t *p;
	int rc;

	if ((rc = rd_u16(r, &kv->key_len)) < 0 || (rc = rd_bytes(r, kv->key_len, &p)) < 0)
		return rc;
	kv->key = (const char *)p;
	if ((rc = rd_u32(r, &kv->value_len)) < 0 || (rc = rd_bytes(r, kv->value_len, &p)) < 0)
		return rc;
	kv->value = (const char *)p;
	return 0;
}

int commit_decode(const uint8_t *data, size_t len, struct commit *c)
{
	struct rd r = { data, len, 0 };
	const uint8_t *p;
	size_t size;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = rd_header(&r, MAGIC_COMMIT)) < 0 || (rc = rd_u8(&r, &c->nparents)) < 0 ||
	    (rc = rd_reserved(&r, 2)) < 0 || (rc = rd_oid(&r, &c->root)) < 0)
		goto out;
	if (c->nparents > META_MAX_PARENTS) {
		rc = t9k_err(T9K_ECORRUPT, "%u parents, more than %d", c->nparents,
			     META_MAX_PARENTS);
		goto out;
	}
	for (unsigned i = 0; i < c->nparents; i++)
		if ((rc = rd_oid(&r, &c->parents[i])) < 0)
			goto out;
	if ((rc = rd_i64(&r, &c->time_ns)) < 0 || (rc = rd_u16(&r, &c->author_len)) < 0 ||
	    (rc = rd_bytes(&r, c->author_len, &p)) < 0)
		goto out;
	c->author = (const char *)p;
	if ((rc = rd_u32(&r, &c->message_len)) < 0 || (rc = rd_bytes(&r, c->message_len, &p)) < 0)
		goto out;
	c->message = (const char *)p;
	if ((rc = rd_u16(&r, &c->nkv)) < 0)
		goto out;
	if (c->nkv > META_KV_MAX) {
		rc = t9k_err(T9K_ECORRUPT, "%u metadata pairs, more than %d", c->nkv, META_KV_MAX);
		goto out;
	}
	if ((rc = rd_count_fits(&r, c->nkv, KV_MIN, "metadata pairs")) < 0)
		goto out;
	if (c->nkv && !(c->kv = calloc(c->nkv, sizeof(*c->kv)))) {
		rc = t9k_err(-ENOMEM, "out of memory for %u metadata pairs", c->nkv);
		goto out;
	}
	for (unsigned i = 0; i < c->nkv; i++) {
		if ((rc = kv_parse(&r, &c->kv[i])) < 0) {
			t9k_err_wrap(rc, "metadata pair %u", i);
			goto out;
		}
	}
	if ((rc = rd_end(&r)) < 0 || (rc = commit_check(c, T9K_ECORRUPT, &size)) < 0)
		goto out;
	assert(size == len);
out:
	if (rc < 0) {
		commit_release(c);
		t9k_err_wrap(rc, "commit");
	}
	return rc;
}

void commit_release(struct commit *c)
{
	if (!c)
		return;
	free(c->kv);
	memset(c, 0, sizeof(*c));
}
