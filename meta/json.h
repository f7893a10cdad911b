/* JSON forms of the metadata objects for the HTTP API (meta/API.md), and
 * the one table mapping our error codes to the API's error codes and
 * HTTP statuses. Shared by the server (meta/service.c, meta/api.c) and the
 * client (meta/client.c), so both sides agree by construction.
 *
 * Builders (meta_json_entry, _repo, _commit, _error) return a new json_t
 * with one reference (json_decref it), or NULL when out of memory.
 *
 * Parsers (meta_json_to_*) check every field and return 0, or -EINVAL
 * with a message naming the field (t9k_err), so a server can hand the
 * message back as a 400 unchanged. They never keep a reference to j:
 * where an output points into j (documented per call), j must outlive it.
 *
 * JSON shapes (see meta/API.md):
 *   Entry  {"name", "type": "file"|"dir"|"symlink"|"fifo"|"socket"|"chardev"|
 *           "blockdev", "mode": permission bits, "size", "mtime_ns",
 *           "id": 64 hex | "inline": base64 | "chunk": 64 hex (none for
 *           fifos, sockets and devices), and optionally "uid" and "gid",
 *           "rdev": {"major", "minor"} (devices), "link": {"id": 16 hex,
 *           "nlink"} (a hard-link group), "subdirs" (directories)}
 *   Repo   {"name", "store", "chunk": {"min", "avg", "max"}, "created_ns",
 *           "pack_size" (absent: 0)}
 *   ChunkLoc {"pack": id, "offset", "stored_length", "length"} (one chunk)
 *   ChunkIndex {"pack": id, "chunks": [{"id", "length", "offset",
 *           "stored_length"}]} (chunks of one pack)
 *   Commit {"id", "root", "parents": [ids], "time_ns", "author",
 *           "message", "meta": {key: value strings, sorted by key}}
 *   Error  {"error": {"code": "not_found", "message": "..."}}
 */
#ifndef T9K_META_JSON_H
#define T9K_META_JSON_H

#include "lib/buf.h"
#include "lib/oid.h"
#include "meta/db.h"
#include "meta/object.h"

#include <jansson.h>

/* ---- entries ---- */

json_t *meta_json_entry(const struct tree_entry *e);

/* Flags of meta_json_to_entry_ex. */
enum {
	META_JSON_NAME_OPTIONAL = 1, /* "name" may be absent (e->name NULL, name_len 0) */
	META_JSON_ATTRS_ONLY = 2,    /* a directory's mode, mtime and owner: no "id"/"inline"/
				      * "chunk" (e->id is zero); "size" optional, "subdirs"
				      * ignored */
};

/* Parses an Entry. e->name points into j's string storage (valid while j
 * lives); inline bytes are decoded into hold (reset first) and e->data
 * points there, so use one hold per entry that must stay alive. Checks
 * the name (meta_name_check), type, permission bits, and the payload
 * rules of meta/object.h (symlinks inline and non-empty, directories
 * never inline, inline size == bytes <= META_INLINE_MAX, "chunk" only on
 * files of META_INLINE_MAX < size <= META_CHUNK_ENTRY_MAX, exactly one of
 * "id", "inline" and "chunk"). */
int meta_json_to_entry(const json_t *j, struct tree_entry *e, struct buf *hold);
int meta_json_to_entry_ex(const json_t *j, struct tree_entry *e, struct buf *hold, unsigned flags);

/* ---- repositories ---- */

json_t *meta_json_repo(const struct meta_repo *r);
/* Fills *r (zeroed first); checks the name and the lengths. */
int meta_json_to_repo(const json_t *j, struct meta_repo *r);

/* ---- chunk index (meta/repo.h repo_chunk_index_*) ---- */

/* ChunkLoc of c (a MANIFEST_LOC_PACK chunk), and back for chunk id. */
json_t *meta_json_chunk_loc(const struct manifest_chunk *c);
int meta_json_to_chunk_loc(const json_t *j, const struct oid *id, struct manifest_chunk *out);
/* ChunkIndex of n chunks of v[0].pack, and back: *v (malloc'd, the caller
 * frees) gets at most max entries (more is -EINVAL), each
 * MANIFEST_LOC_PACK. Ranges are checked by repo_chunk_index_put. */
json_t *meta_json_chunk_index(const struct manifest_chunk *v, size_t n);
int meta_json_to_chunk_index(const json_t *j, size_t max, struct manifest_chunk **v, size_t *n);

/* ---- commits ---- */

/* id may be NULL (no "id" member). Author, message, keys and values that
 * are not valid UTF-8 are shown with U+FFFD in place of the bad bytes. */
json_t *meta_json_commit(const struct oid *id, const struct commit *c);
/* Parses a Commit into *c; id may be NULL (then "id" is not required).
 * Author, message, keys and values are copied into hold (reset first),
 * and c->kv is malloc'd, sorted by key: the caller calls commit_release(c)
 * and buf_release(hold), in any order; j may be freed at once. */
int meta_json_to_commit(const json_t *j, struct oid *id, struct commit *c, struct buf *hold);

/* Parses a "meta" member (absent, null, or an object of string values)
 * into *kv, sorted by key; keys and values point into meta (valid while
 * it lives); *kv is malloc'd (free() it), NULL when there are no pairs. */
int meta_json_to_kv(const json_t *meta, struct commit_kv **kv, uint16_t *nkv);

/* ---- ids ---- */

/* Reads member key of object j as an id: 0 when set, 1 when the member is
 * absent or null (*out zeroed), -EINVAL when it is not 64 hex digits. */
int meta_json_oid(const json_t *j, const char *key, struct oid *out);
/* A new JSON string of the id's 64 lowercase hex digits. */
json_t *meta_json_oid_new(const struct oid *id);

/* A JSON string of n bytes, with U+FFFD for bytes that are not UTF-8
 * (paths and names are bytes; JSON strings are Unicode). */
json_t *meta_json_str(const char *s, size_t n);

/* ---- errors ---- */

/* {"error": {"code": CODE, "message": message}} for one of our codes
 * (-errno or T9K_E*); message NULL uses t9k_strerror(code). Sets the API
 * code name (static string) and the HTTP status when the pointers are
 * not NULL. */
json_t *meta_json_error(int code, const char *message, const char **http_code_name,
			unsigned *http_status);
/* The API code name and HTTP status for one of our codes. */
const char *meta_json_error_name(int code, unsigned *http_status);
/* The reverse, for clients: API code name -> our negative code (-EPROTO
 * for a name this version does not know). */
int meta_json_error_code(const char *api_code);
/* Our code for a bare HTTP status, when a reply has no JSON error body. */
int meta_json_status_code(unsigned http_status);

#endif
