/* JSON codecs of entries, repositories and commits for the HTTP API, and
 * the error-code table. Pure functions: no state, no locks, thread-safe.
 *
 * Invariants: every builder emits valid UTF-8 (bytes that are not become
 * U+FFFD, so a listing never fails on an odd name); every parser checks
 * the same limits the binary codecs of meta/object.h check, so anything a
 * parser accepts encodes, and a server can answer 400 with the parser's
 * message before touching any state.
 */
#include "meta/json.h"

#include "lib/err.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the error table: the one place codes meet statuses ---- */

struct err_map {
	int err;
	const char *name;
	unsigned status;
};

/* The first row of each name is the code a client gets back for it. */
static const struct err_map err_map[] = {
	{ -EINVAL, "bad_request", 400 },
	{ -EACCES, "unauthorized", 401 },
	{ T9K_ENOTFOUND, "not_found", 404 },
	{ -EOPNOTSUPP, "method_not_allowed", 405 },
	{ T9K_ECONFLICT, "conflict", 409 },
	{ -EEXIST, "exists", 409 },
	{ -ENODATA, "nothing_to_commit", 409 },
	{ -EMSGSIZE, "too_large", 413 },
	{ T9K_ECORRUPT, "corrupt", 500 },
	{ -EIO, "internal", 500 },
	/* other codes with the same meaning */
	{ T9K_EUSAGE, "bad_request", 400 },
	{ T9K_EBADURL, "bad_request", 400 },
	{ -ENAMETOOLONG, "bad_request", 400 },
	{ -ENOTDIR, "bad_request", 400 },
	{ -EISDIR, "bad_request", 400 },
	{ -ERANGE, "bad_request", 400 },
	{ -EPERM, "unauthorized", 401 },
	{ -ENOENT, "not_found", 404 },
	{ -E2BIG, "too_large", 413 },
	{ -ENOSPC, "no_space", 507 }, /* a bounded table is full (cache groups) */
	{ -EBUSY, "busy", 409 },      /* a gc of the repository is running */
};

#define ERR_MAP_N (sizeof(err_map) / sizeof(err_map[0]))

const char *meta_json_error_name(int code, unsigned *http_status)
{
	const struct err_map *m = &err_map[9]; /* internal */

	for (size_t i = 0; i < ERR_MAP_N; i++) {
		if (err_map[i].err == code) {
			m = &err_map[i];
			break;
		}
	}
	if (http_status)
		*http_status = m->status;
	return m->name;
}

int meta_json_error_code(const char *api_code)
{
	for (size_t i = 0; api_code && i < ERR_MAP_N; i++)
		if (!strcmp(err_map[i].name, api_code))
			return err_map[i].err;
	return -EPROTO;
}

int meta_json_status_code(unsigned http_status)
{
	if (http_status >= 200 && http_status < 300)
		return 0;
	for (size_t i = 0; i < ERR_MAP_N; i++)
		if (err_map[i].status == http_status)
			return err_map[i].err;
	return http_status >= 400 && http_status < 500 ? -EINVAL : -EIO;
}

/* ---- helpers ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of n bytes; invalid UTF-8 bytes become U+FFFD. */
static json_t *str_lossy(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	json_t *j = json_stringn(s ? s : "", n);

	if (j || !s)
		return j;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);

		if (k ? buf_add(&b, s + i, k) : buf_add(&b, "\xef\xbf\xbd", 3)) {
			buf_release(&b);
			return NULL;
		}
		i += k ? k : 1;
	}
	j = json_stringn(b.data ? (const char *)b.data : "", b.len);
	buf_release(&b);
	return j;
}

json_t *meta_json_str(const char *s, size_t n)
{
	return str_lossy(s, n);
}

/* json_object_set_new that also fails on a NULL value. */
static int set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

json_t *meta_json_oid_new(const struct oid *id)
{
	char hex[OID_HEXSZ + 1];

	return json_string(oid_to_hex(id, hex));
}

/* String member: 0 with *s and *len set, 1 if absent (and not required),
 * or -EINVAL. what names the object in messages. */
static int get_str(const json_t *j, const char *what, const char *key, bool required,
		   const char **s, size_t *len)
{
	json_t *v = json_object_get(j, key);

	*s = NULL;
	*len = 0;
	if (!v) {
		if (required)
			return t9k_err(-EINVAL, "%s has no \"%s\"", what, key);
		return 1;
	}
	if (!json_is_string(v))
		return t9k_err(-EINVAL, "%s \"%s\" is not a string", what, key);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

/* Integer member in [lo, hi]: 0, 1 if absent (and !required), or -EINVAL. */
static int get_int(const json_t *j, const char *what, const char *key, bool required,
		   json_int_t lo, json_int_t hi, json_int_t *out)
{
	json_t *v = json_object_get(j, key);

	if (!v) {
		if (required)
			return t9k_err(-EINVAL, "%s has no \"%s\"", what, key);
		return 1;
	}
	if (!json_is_integer(v))
		return t9k_err(-EINVAL, "%s \"%s\" is not an integer", what, key);
	*out = json_integer_value(v);
	if (*out < lo || *out > hi)
		return t9k_err(-EINVAL, "%s \"%s\" is %" JSON_INTEGER_FORMAT ", want %" JSON_INTEGER_FORMAT
				       "..%" JSON_INTEGER_FORMAT, what, key, *out, lo, hi);
	return 0;
}

int meta_json_oid(const json_t *j, const char *key, struct oid *out)
{
	json_t *v = json_object_get(j, key);
	const char *s;

	memset(out, 0, sizeof(*out));
	if (!v || json_is_null(v))
		return 1;
	if (!json_is_string(v))
		return t9k_err(-EINVAL, "\"%s\" is not a string of %d hex digits", key, OID_HEXSZ);
	s = json_string_value(v);
	if (json_string_length(v) != OID_HEXSZ || oid_from_hex(out, s) < 0) {
		memset(out, 0, sizeof(*out));
		return t9k_err(-EINVAL, "\"%s\" is '%.80s', not an id of %d hex digits", key, s,
			       OID_HEXSZ);
	}
	return 0;
}

/* ---- entries ---- */

/* Entry "type" names and their S_IF* types. */
static const struct {
	const char *name;
	uint32_t fmt;
} types[] = {
	{ "file", S_IFREG }, { "dir", S_IFDIR }, { "symlink", S_IFLNK }, { "fifo", S_IFIFO },
	{ "socket", S_IFSOCK }, { "chardev", S_IFCHR }, { "blockdev", S_IFBLK },
};

static const char *type_name(uint32_t mode)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].fmt == (mode & S_IFMT))
			return types[i].name;
	return "file";
}

static bool is_special(uint32_t fmt)
{
	return fmt == S_IFIFO || fmt == S_IFSOCK || fmt == S_IFCHR || fmt == S_IFBLK;
}

/* The version 2 members of an entry: owner, device, link group, count. */
static int entry_v2_members(json_t *j, const struct tree_entry *e)
{
	char hex[17];
	int rc = 0;

	if (e->has_owner) {
		rc |= set(j, "uid", json_integer(e->uid));
		rc |= set(j, "gid", json_integer(e->gid));
	}
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		rc |= set(j, "rdev", json_pack("{s:I,s:I}", "major", (json_int_t)e->dev_major,
					       "minor", (json_int_t)e->dev_minor));
	if (e->link_id) {
		snprintf(hex, sizeof(hex), "%016" PRIx64, e->link_id);
		rc |= set(j, "link", json_pack("{s:s,s:I}", "id", hex, "nlink",
					       (json_int_t)e->nlink));
	}
	if (e->has_subdirs)
		rc |= set(j, "subdirs", json_integer(e->subdirs));
	return rc;
}

json_t *meta_json_entry(const struct tree_entry *e)
{
	json_t *j = json_object();
	int rc;

	if (!j)
		return NULL;
	rc = set(j, "name", str_lossy(e->name, e->name_len));
	rc |= set(j, "type", json_string(type_name(e->mode)));
	rc |= set(j, "mode", json_integer(e->mode & 07777));
	rc |= set(j, "size", json_integer((json_int_t)e->size));
	rc |= set(j, "mtime_ns", json_integer(e->mtime_ns));
	rc |= entry_v2_members(j, e);
	if (is_special(e->mode & S_IFMT)) {
		/* no data */
	} else if (e->is_inline) {
		size_t n = 4 * (((size_t)e->data_len + 2) / 3) + 1;
		unsigned char *b64 = malloc(n);

		if (b64) {
			EVP_EncodeBlock(b64, e->data ? e->data : (const unsigned char *)"",
					(int)e->data_len);
			rc |= set(j, "inline", json_string((const char *)b64));
			free(b64);
		} else {
			rc = -1;
		}
	} else {
		rc |= set(j, e->is_chunk ? "chunk" : "id", meta_json_oid_new(&e->id));
	}
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Strict base64 (padded, no whitespace) of at most max bytes into hold. */
static int b64_decode(const char *s, size_t n, size_t max, struct buf *hold)
{
	size_t pad = 0, out;
	int got;

	buf_reset(hold);
	if (n % 4)
		return t9k_err(-EINVAL, "entry \"inline\" is not base64: length %zu is not a multiple of 4",
			       n);
	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char((unsigned char)s[i]))
			return t9k_err(-EINVAL, "entry \"inline\" is not base64: bad character at %zu",
				       i);
	out = n / 4 * 3 - pad;
	if (out > max)
		return t9k_err(-EINVAL, "entry \"inline\" holds %zu bytes, more than %zu", out, max);
	if (buf_grow(hold, n / 4 * 3) < 0)
		return t9k_err(-ENOMEM, "out of memory");
	got = n ? EVP_DecodeBlock(hold->data, (const unsigned char *)s, (int)n) : 0;
	if (got < 0 || (size_t)got != n / 4 * 3)
		return t9k_err(-EINVAL, "entry \"inline\" is not base64");
	hold->len = out;
	hold->data[out] = 0;
	return 0;
}

/* Parses the version 2 members ("uid" and "gid", "rdev", "link",
 * "subdirs") into e, whose type is set. */
static int entry_v2_parse(const json_t *j, struct tree_entry *e, bool attrs)
{
	json_t *rdev = json_object_get(j, "rdev"), *link = json_object_get(j, "link");
	uint32_t fmt = e->mode & S_IFMT;
	json_int_t uid = 0, gid = 0, v;
	int ru, rg, rc;

	if ((ru = get_int(j, "entry", "uid", false, 0, UINT32_MAX - 1, &uid)) < 0)
		return ru;
	if ((rg = get_int(j, "entry", "gid", false, 0, UINT32_MAX - 1, &gid)) < 0)
		return rg;
	if (ru != rg)
		return t9k_err(-EINVAL, "entry has \"%s\" without \"%s\": an owner is both",
			       ru ? "gid" : "uid", ru ? "uid" : "gid");
	e->has_owner = ru == 0;
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	if (fmt == S_IFCHR || fmt == S_IFBLK) {
		if (!json_is_object(rdev))
			return t9k_err(-EINVAL, "a device entry needs \"rdev\": {\"major\", \"minor\"}");
		if ((rc = get_int(rdev, "entry rdev", "major", true, 0, UINT32_MAX, &v)) < 0)
			return rc;
		e->dev_major = (uint32_t)v;
		if ((rc = get_int(rdev, "entry rdev", "minor", true, 0, UINT32_MAX, &v)) < 0)
			return rc;
		e->dev_minor = (uint32_t)v;
	} else if (rdev) {
		return t9k_err(-EINVAL, "only a device entry carries \"rdev\"");
	}
	if (link) {
		const char *id;
		size_t idlen;
		char *end;

		if (attrs || fmt == S_IFDIR)
			return t9k_err(-EINVAL, "a directory cannot carry \"link\"");
		if (!json_is_object(link))
			return t9k_err(-EINVAL, "entry \"link\" is not an object");
		if ((rc = get_str(link, "entry link", "id", true, &id, &idlen)) < 0)
			return rc;
		errno = 0;
		e->link_id = idlen == 16 ? strtoull(id, &end, 16) : 0;
		if (idlen != 16 || errno || *end || !e->link_id || !isxdigit((unsigned char)id[0]))
			return t9k_err(-EINVAL, "entry \"link\" \"id\" is '%.40s', not 16 hex digits "
				       "(not all 0)", id);
		if ((rc = get_int(link, "entry link", "nlink", true, 2, UINT32_MAX, &v)) < 0)
			return rc;
		e->nlink = (uint32_t)v;
	}
	if ((rc = get_int(j, "entry", "subdirs", false, 0, UINT32_MAX, &v)) < 0)
		return rc;
	if (rc == 0 && fmt != S_IFDIR)
		return t9k_err(-EINVAL, "only a directory entry carries \"subdirs\"");
	if (rc == 0 && !attrs) {
		if ((uint64_t)v > e->size)
			return t9k_err(-EINVAL, "entry \"subdirs\" is %" JSON_INTEGER_FORMAT
				       ", more than its \"size\"", v);
		e->has_subdirs = true;
		e->subdirs = (uint32_t)v;
	}
	return 0;
}

int meta_json_to_entry_ex(const json_t *j, struct tree_entry *e, struct buf *hold, unsigned flags)
{
	bool attrs = flags & META_JSON_ATTRS_ONLY;
	const char *name, *type, *b64;
	size_t name_len, type_len, b64_len;
	json_int_t mode = -1, size = 0, mtime = 0;
	uint32_t fmt;
	int rc, has_id, has_inline, has_chunk;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(j))
		return t9k_err(-EINVAL, "entry is not a JSON object");
	rc = get_str(j, "entry", "name", !(flags & META_JSON_NAME_OPTIONAL), &name, &name_len);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (name_len > META_NAME_MAX)
			return t9k_err(-EINVAL, "entry \"name\" is longer than %d bytes", META_NAME_MAX);
		if ((rc = meta_name_check(name, name_len)) < 0)
			return rc;
		e->name = name;
		e->name_len = (uint16_t)name_len;
	}
	rc = get_str(j, "entry", "type", true, &type, &type_len);
	if (rc < 0)
		return rc;
	if (type_len != strlen(type))
		return t9k_err(-EINVAL, "entry \"type\" contains a NUL byte");
	fmt = 0;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i].name))
			fmt = types[i].fmt;
	if (!fmt)
		return t9k_err(-EINVAL, "entry \"type\" is '%.40s': want file, dir, symlink, fifo, "
			       "socket, chardev or blockdev", type);
	if (attrs && fmt != S_IFDIR)
		return t9k_err(-EINVAL, "directory attributes need \"type\": \"dir\"");
	if ((rc = get_int(j, "entry", "mode", false, 0, 07777, &mode)) < 0)
		return rc;
	if (rc == 1)
		mode = fmt == S_IFDIR ? 0755 : fmt == S_IFLNK ? 0777 : 0644;
	if ((rc = get_int(j, "entry", "size", false, 0, INT64_MAX, &size)) < 0)
		return rc;
	if ((rc = get_int(j, "entry", "mtime_ns", false, INT64_MIN, INT64_MAX, &mtime)) < 0)
		return rc;
	e->mode = fmt | (uint32_t)mode;
	e->size = (uint64_t)size;
	e->mtime_ns = mtime;
	if ((rc = entry_v2_parse(j, e, attrs)) < 0)
		return rc;

	has_id = json_object_get(j, "id") != NULL;
	has_inline = json_object_get(j, "inline") != NULL;
	has_chunk = json_object_get(j, "chunk") != NULL;
	if (attrs) {
		if (has_id || has_inline || has_chunk)
			return t9k_err(-EINVAL, "directory attributes take no \"id\", \"inline\" or \"chunk\"");
		return 0;
	}
	if (is_special(fmt)) {
		if (has_id || has_inline || has_chunk)
			return t9k_err(-EINVAL, "a %s entry carries no \"id\", \"inline\" or \"chunk\"",
				       type);
		if (size)
			return t9k_err(-EINVAL, "a %s entry has \"size\" 0", type);
		return 0;
	}
	if (has_id && has_inline)
		return t9k_err(-EINVAL, "entry has both \"id\" and \"inline\"");
	if (has_chunk && (has_id || has_inline))
		return t9k_err(-EINVAL, "entry has both \"chunk\" and \"%s\": one payload only",
			       has_id ? "id" : "inline");
	if (!has_id && !has_inline && !has_chunk)
		return t9k_err(-EINVAL, "entry has neither \"id\" nor \"inline\" nor \"chunk\"");
	if (has_chunk) {
		if (fmt != S_IFREG)
			return t9k_err(-EINVAL, "only a file entry may carry \"chunk\"");
		if (!json_object_get(j, "size"))
			return t9k_err(-EINVAL, "entry has no \"size\"");
		if (e->size <= META_INLINE_MAX || e->size > META_CHUNK_ENTRY_MAX)
			return t9k_err(-EINVAL, "entry \"chunk\" needs a \"size\" of %d to %u bytes, "
				       "not %" JSON_INTEGER_FORMAT, META_INLINE_MAX + 1,
				       META_CHUNK_ENTRY_MAX, size);
		e->is_chunk = true;
		rc = meta_json_oid(j, "chunk", &e->id);
		return rc < 0 ? rc : 0;
	}
	if (has_id) {
		if (fmt == S_IFLNK)
			return t9k_err(-EINVAL, "symlink entry needs \"inline\" (its target), not \"id\"");
		if (!json_object_get(j, "size"))
			return t9k_err(-EINVAL, "entry has no \"size\"");
		rc = meta_json_oid(j, "id", &e->id);
		return rc < 0 ? rc : 0;
	}
	if (fmt == S_IFDIR)
		return t9k_err(-EINVAL, "directory entry needs \"id\", not \"inline\"");
	if ((rc = get_str(j, "entry", "inline", true, &b64, &b64_len)) < 0)
		return rc;
	if ((rc = b64_decode(b64, b64_len, META_INLINE_MAX, hold)) < 0)
		return rc;
	if (json_object_get(j, "size") && (uint64_t)size != hold->len)
		return t9k_err(-EINVAL, "entry \"size\" is %" JSON_INTEGER_FORMAT " but \"inline\" holds %zu bytes",
			       size, hold->len);
	if (fmt == S_IFLNK && hold->len == 0)
		return t9k_err(-EINVAL, "symlink target is empty");
	if (fmt == S_IFLNK && memchr(hold->data, '\0', hold->len))
		return t9k_err(-EINVAL, "symlink target contains a NUL byte");
	e->is_inline = true;
	e->size = hold->len;
	e->data = hold->data;
	e->data_len = (uint32_t)hold->len;
	return 0;
}

int meta_json_to_entry(const json_t *j, struct tree_entry *e, struct buf *hold)
{
	return meta_json_to_entry_ex(j, e, hold, 0);
}

/* ---- repositories ---- */

json_t *meta_json_repo(const struct meta_repo *r)
{
	json_t *j = json_object(), *chunk = json_object();
	int rc;

	if (!j || !chunk) {
		json_decref(j);
		json_decref(chunk);
		return NULL;
	}
	rc = set(j, "name", str_lossy(r->name, strnlen(r->name, sizeof(r->name))));
	rc |= set(j, "store", str_lossy(r->store_url, strnlen(r->store_url, sizeof(r->store_url))));
	rc |= set(chunk, "min", json_integer(r->cdc_min));
	rc |= set(chunk, "avg", json_integer(r->cdc_avg));
	rc |= set(chunk, "max", json_integer(r->cdc_max));
	rc |= set(j, "chunk", json_incref(chunk));
	rc |= set(j, "created_ns", json_integer(r->created_ns));
	rc |= set(j, "pack_size", json_integer(r->pack_size));
	json_decref(chunk);
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int meta_json_to_repo(const json_t *j, struct meta_repo *r)
{
	const char *name, *url;
	size_t name_len, url_len;
	json_int_t v[3] = { 0, 0, 0 }, created = 0, pack_size = 0;
	static const char *const keys[3] = { "min", "avg", "max" };
	json_t *chunk;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(j))
		return t9k_err(-EINVAL, "repository is not a JSON object");
	if ((rc = get_str(j, "repository", "name", true, &name, &name_len)) < 0)
		return rc;
	if (name_len != strlen(name) || (rc = meta_repo_name_check(name)) < 0)
		return rc < 0 ? rc : t9k_err(-EINVAL, "repository name contains a NUL byte");
	if ((rc = get_str(j, "repository", "store", true, &url, &url_len)) < 0)
		return rc;
	if (url_len != strlen(url) || url_len > META_URL_MAX)
		return t9k_err(-EINVAL, "repository \"store\" is longer than %d bytes or has a NUL byte",
			       META_URL_MAX);
	chunk = json_object_get(j, "chunk");
	if (chunk && !json_is_object(chunk))
		return t9k_err(-EINVAL, "repository \"chunk\" is not an object");
	for (int i = 0; chunk && i < 3; i++)
		if ((rc = get_int(chunk, "repository chunk", keys[i], true, 1, UINT32_MAX, &v[i])) < 0)
			return rc;
	if ((rc = get_int(j, "repository", "created_ns", false, INT64_MIN, INT64_MAX, &created)) < 0)
		return rc;
	if ((rc = get_int(j, "repository", "pack_size", false, 0, UINT32_MAX, &pack_size)) < 0)
		return rc;
	memcpy(r->name, name, name_len);
	memcpy(r->store_url, url, url_len);
	r->cdc_min = (uint32_t)v[0];
	r->cdc_avg = (uint32_t)v[1];
	r->cdc_max = (uint32_t)v[2];
	r->created_ns = created;
	r->pack_size = (uint32_t)pack_size;
	return 0;
}

/* ---- chunk index ---- */

json_t *meta_json_chunk_loc(const struct manifest_chunk *c)
{
	return json_pack("{s:o,s:I,s:I,s:I}", "pack", meta_json_oid_new(&c->pack), "offset",
			 (json_int_t)c->pack_off, "stored_length", (json_int_t)c->pack_len, "length",
			 (json_int_t)c->len);
}

/* The offset, stored length and length members of a ChunkLoc or of one
 * entry of a ChunkIndex. */
static int chunk_range(const json_t *j, const char *what, struct manifest_chunk *out)
{
	json_int_t off, slen, len;
	int rc;

	if ((rc = get_int(j, what, "offset", true, 0, INT64_MAX, &off)) < 0 ||
	    (rc = get_int(j, what, "stored_length", true, 1, UINT32_MAX, &slen)) < 0 ||
	    (rc = get_int(j, what, "length", true, 1, UINT32_MAX, &len)) < 0)
		return rc;
	out->loc = MANIFEST_LOC_PACK;
	out->pack_off = (uint64_t)off;
	out->pack_len = (uint32_t)slen;
	out->len = (uint32_t)len;
	return 0;
}

int meta_json_to_chunk_loc(const json_t *j, const struct oid *id, struct manifest_chunk *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return t9k_err(-EINVAL, "chunk location is not a JSON object");
	rc = meta_json_oid(j, "pack", &out->pack);
	if (rc == 1)
		rc = t9k_err(-EINVAL, "chunk location has no \"pack\"");
	if (rc == 0)
		rc = chunk_range(j, "chunk location", out);
	out->id = *id;
	return rc;
}

json_t *meta_json_chunk_index(const struct manifest_chunk *v, size_t n)
{
	json_t *j = json_object(), *a = json_array();
	int rc = !j || !a || !n;

	for (size_t i = 0; !rc && i < n; i++)
		rc = json_array_append_new(a, json_pack("{s:o,s:I,s:I,s:I}", "id",
							meta_json_oid_new(&v[i].id), "length",
							(json_int_t)v[i].len, "offset",
							(json_int_t)v[i].pack_off, "stored_length",
							(json_int_t)v[i].pack_len)) != 0;
	if (!rc)
		rc = set(j, "pack", meta_json_oid_new(&v[0].pack));
	if (!rc)
		rc = set(j, "chunks", json_incref(a));
	json_decref(a);
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int meta_json_to_chunk_index(const json_t *j, size_t max, struct manifest_chunk **v, size_t *n)
{
	json_t *a = json_object_get(j, "chunks");
	struct manifest_chunk *out;
	struct oid pack;
	size_t count;
	char what[64];
	int rc;

	*v = NULL;
	*n = 0;
	if (!json_is_object(j))
		return t9k_err(-EINVAL, "chunk index is not a JSON object");
	rc = meta_json_oid(j, "pack", &pack);
	if (rc == 1)
		return t9k_err(-EINVAL, "chunk index has no \"pack\"");
	if (rc < 0)
		return rc;
	if (!json_is_array(a))
		return t9k_err(-EINVAL, "chunk index needs \"chunks\": an array");
	count = json_array_size(a);
	if (count == 0)
		return t9k_err(-EINVAL, "chunk index \"chunks\" is empty");
	if (count > max)
		return t9k_err(-EINVAL, "chunk index has %zu chunks: at most %zu per request", count, max);
	out = calloc(count, sizeof(*out));
	if (!out)
		return t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; i < count && rc == 0; i++) {
		json_t *it = json_array_get(a, i);

		snprintf(what, sizeof(what), "chunks[%zu]", i);
		if (!json_is_object(it)) {
			rc = t9k_err(-EINVAL, "%s is not an object", what);
			break;
		}
		rc = meta_json_oid(it, "id", &out[i].id);
		if (rc == 1)
			rc = t9k_err(-EINVAL, "%s has no \"id\"", what);
		else if (rc < 0)
			rc = t9k_err_wrap(rc, "%s", what);
		if (rc == 0)
			rc = chunk_range(it, what, &out[i]);
		out[i].pack = pack;
	}
	if (rc < 0) {
		free(out);
		return rc;
	}
	*v = out;
	*n = count;
	return 0;
}

/* ---- commits ---- */

json_t *meta_json_commit(const struct oid *id, const struct commit *c)
{
	json_t *j = json_object(), *parents = json_array(), *meta = json_object();
	int rc = !j || !parents || !meta;

	if (!rc && id)
		rc |= set(j, "id", meta_json_oid_new(id));
	if (!rc) {
		rc |= set(j, "root", meta_json_oid_new(&c->root));
		for (unsigned i = 0; i < c->nparents && !rc; i++)
			rc |= json_array_append_new(parents, meta_json_oid_new(&c->parents[i]));
		rc |= set(j, "parents", json_incref(parents));
		rc |= set(j, "time_ns", json_integer(c->time_ns));
		rc |= set(j, "author", str_lossy(c->author, c->author_len));
		rc |= set(j, "message", str_lossy(c->message, c->message_len));
	}
	/* kv is sorted by key, and jansson keeps insertion order */
	for (unsigned i = 0; i < c->nkv && !rc; i++) {
		const struct commit_kv *kv = &c->kv[i];
		json_t *v = str_lossy(kv->value, kv->value_len);
		json_t *k = str_lossy(kv->key, kv->key_len);

		if (!k || !v)
			rc = -1;
		else
			rc = json_object_setn_new_nocheck(meta, json_string_value(k),
							  json_string_length(k), json_incref(v));
		json_decref(k);
		json_decref(v);
	}
	if (!rc)
		rc = set(j, "meta", json_incref(meta));
	json_decref(parents);
	json_decref(meta);
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct commit_kv *x = a, *y = b;

	return meta_name_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Checks a "meta" member (absent, null or an object of strings): sets the
 * pair count and the bytes of keys and values. */
static int kv_check(const json_t *meta, size_t *nkv, size_t *bytes)
{
	const char *key;
	json_t *v;

	*nkv = *bytes = 0;
	if (!meta || json_is_null(meta))
		return 0;
	if (!json_is_object(meta))
		return t9k_err(-EINVAL, "\"meta\" is not an object");
	json_object_foreach((json_t *)meta, key, v) {
		size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));

		if (klen == 0 || klen > META_NAME_MAX || memchr(key, '\0', klen))
			return t9k_err(-EINVAL, "\"meta\" key '%.40s' must be 1..%d bytes without NUL",
				       key, META_NAME_MAX);
		if (!json_is_string(v))
			return t9k_err(-EINVAL, "\"meta\" value of '%.80s' is not a string", key);
		if (json_string_length(v) > META_VALUE_MAX)
			return t9k_err(-EINVAL, "\"meta\" value of '%.80s' is longer than %u bytes", key,
				       META_VALUE_MAX);
		*bytes += klen + json_string_length(v) + 2;
		(*nkv)++;
	}
	if (*nkv > META_KV_MAX)
		return t9k_err(-EINVAL, "%zu \"meta\" pairs, more than %d", *nkv, META_KV_MAX);
	return 0;
}

int meta_json_to_kv(const json_t *meta, struct commit_kv **kv, uint16_t *nkv)
{
	size_t n, bytes, i = 0;
	const char *key;
	json_t *v;
	int rc = kv_check(meta, &n, &bytes);

	*kv = NULL;
	*nkv = 0;
	if (rc < 0 || n == 0)
		return rc;
	if (!(*kv = calloc(n, sizeof(**kv))))
		return t9k_err(-ENOMEM, "out of memory");
	json_object_foreach((json_t *)meta, key, v) {
		(*kv)[i].key = key;
		(*kv)[i].key_len = (uint16_t)json_object_iter_key_len(json_object_key_to_iter(key));
		(*kv)[i].value = json_string_value(v);
		(*kv)[i].value_len = (uint32_t)json_string_length(v);
		i++;
	}
	qsort(*kv, n, sizeof(**kv), kv_cmp);
	*nkv = (uint16_t)n;
	return 0;
}

int meta_json_to_commit(const json_t *j, struct oid *id, struct commit *c, struct buf *hold)
{
	const char *author = "", *message = "";
	size_t author_len = 0, message_len = 0, nkv = 0, total, off;
	json_t *parents, *meta, *v;
	json_int_t t = 0;
	const char *key;
	int rc;

	memset(c, 0, sizeof(*c));
	buf_reset(hold);
	if (!json_is_object(j))
		return t9k_err(-EINVAL, "commit is not a JSON object");
	if (id && (rc = meta_json_oid(j, "id", id)) != 0)
		return rc < 0 ? rc : t9k_err(-EINVAL, "commit has no \"id\"");
	if ((rc = meta_json_oid(j, "root", &c->root)) != 0)
		return rc < 0 ? rc : t9k_err(-EINVAL, "commit has no \"root\"");
	parents = json_object_get(j, "parents");
	if (parents && !json_is_array(parents))
		return t9k_err(-EINVAL, "commit \"parents\" is not an array");
	if (json_array_size(parents) > META_MAX_PARENTS)
		return t9k_err(-EINVAL, "commit has %zu parents, more than %d", json_array_size(parents),
			       META_MAX_PARENTS);
	for (size_t i = 0; i < json_array_size(parents); i++) {
		json_t *p = json_array_get(parents, i);

		if (!json_is_string(p) || json_string_length(p) != OID_HEXSZ ||
		    oid_from_hex(&c->parents[i], json_string_value(p)) < 0)
			return t9k_err(-EINVAL, "commit parent %zu is not an id of %d hex digits", i,
				       OID_HEXSZ);
	}
	c->nparents = (uint8_t)json_array_size(parents);
	if ((rc = get_int(j, "commit", "time_ns", false, INT64_MIN, INT64_MAX, &t)) < 0)
		return rc;
	c->time_ns = t;
	if ((rc = get_str(j, "commit", "author", false, &author, &author_len)) < 0 ||
	    (rc = get_str(j, "commit", "message", false, &message, &message_len)) < 0)
		return rc;
	if (!author)
		author = "";
	if (!message)
		message = "";
	if (author_len > META_AUTHOR_MAX || memchr(author, '\0', author_len))
		return t9k_err(-EINVAL, "commit \"author\" is longer than %d bytes or has a NUL byte",
			       META_AUTHOR_MAX);
	if (message_len > META_MSG_MAX || memchr(message, '\0', message_len))
		return t9k_err(-EINVAL, "commit \"message\" is longer than %u bytes or has a NUL byte",
			       META_MSG_MAX);
	total = author_len + message_len + 2;
	meta = json_object_get(j, "meta");
	if ((rc = kv_check(meta, &nkv, &off)) < 0)
		return t9k_err_wrap(rc, "commit");
	total += off;
	/* one allocation, so pointers into hold stay put */
	if (buf_grow(hold, total) < 0 || (nkv && !(c->kv = calloc(nkv, sizeof(*c->kv)))))
		return t9k_err(-ENOMEM, "out of memory");
	off = 0;
#define HOLD_ADD(p, n) (memcpy(hold->data + off, (p), (n)), hold->data[off + (n)] = 0, \
			off += (n) + 1, (const char *)hold->data + off - (n) - 1)
	c->author = HOLD_ADD(author, author_len);
	c->author_len = (uint16_t)author_len;
	c->message = HOLD_ADD(message, message_len);
	c->message_len = (uint32_t)message_len;
	if (nkv) {
		size_t i = 0;

		json_object_foreach(meta, key, v) {
			size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));

			c->kv[i].key = HOLD_ADD(key, klen);
			c->kv[i].key_len = (uint16_t)klen;
			c->kv[i].value = HOLD_ADD(json_string_value(v), json_string_length(v));
			c->kv[i].value_len = (uint32_t)json_string_length(v);
			i++;
		}
		qsort(c->kv, nkv, sizeof(*c->kv), kv_cmp);
	}
#undef HOLD_ADD
	hold->len = off;
	c->nkv = (uint16_t)nkv;
	return 0;
}

/* ---- errors ---- */

json_t *meta_json_error(int code, const char *message, const char **http_code_name,
			unsigned *http_status)
{
	const char *name = meta_json_error_name(code, http_status);
	const char *msg = message ? message : t9k_strerror(code);

	if (http_code_name)
		*http_code_name = name;
	return json_pack("{s:{s:s,s:o}}", "error", "code", name, "message",
			 str_lossy(msg, strlen(msg)));
}
