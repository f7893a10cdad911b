/* Metadata objects: file manifests, tree nodes and commits, with their
 * canonical binary encodings. An object's id is the SHA-256 of its
 * encoding, so equal content has one id everywhere.
 *
 * Every encoding starts with a 4-byte magic and a version byte; integers
 * are little-endian; strings and byte runs are length-prefixed. Decoders
 * check everything and reject malformed input with T9K_ECORRUPT and a
 * message saying what is wrong; they never read past the input.
 *
 * Ownership: a decoded object (meta_*_decode) points into the bytes it was
 * decoded from for names, keys and inline data (zero copy). The caller
 * keeps those bytes alive while it uses the object and frees the object's
 * arrays with the matching *_release(). Encoders append to a struct buf.
 *
 * ---- File manifest ("T9KM") -------------------------------------------
 *   0   4   magic "T9KM"
 *   4   1   version 1
 *   5   3   reserved, 0
 *   8   8   file size in bytes (== sum of chunk lengths)
 *   16  4   chunk count n
 *   20  ... n chunk records:
 *           1   location: 0 = object "chunks/<id>", 1 = range of a pack
 *           32  chunk id (SHA-256 of the plaintext)
 *           4   plaintext length (> 0)
 *           if location == 1: 32 pack id, 8 offset, 4 stored length (> 0)
 *
 * ---- Tree node ("T9KT") -----------------------------------------------
 * A directory is a tree of nodes (a prolly tree, see meta/tree.h); a
 * small directory is a single leaf. Leaves hold entries, inner nodes hold
 * references to nodes one level down. Items are sorted by name / key
 * bytes (memcmp, shorter first on a tie), strictly increasing.
 *   0   4   magic "T9KT"
 *   4   1   version: 1, or 2 for a leaf holding an entry that needs it
 *           (an owner, a hard-link group, a subdirectory count or a
 *           special file); a leaf whose
 *           entries all fit version 1 is written as version 1, so trees
 *           of datasets without owners stay byte-identical to what binaries
 *           before version 2 write, and those binaries refuse a version 2
 *           node ("tree node: unsupported version 2"). Inner nodes are
 *           always version 1.
 *   5   1   level: 0 = leaf, 1..15 = inner
 *   6   2   reserved, 0
 *   8   4   item count n
 *   12  ... n items
 * Leaf item (an entry), version 1:
 *   2   name length (1..255), then the name bytes (meta_name_check)
 *   4   mode: S_IFREG, S_IFDIR or S_IFLNK | permission bits (07777)
 *   8   size: file bytes; symlink target length; directory entry count
 *   8   mtime, nanoseconds since the epoch (signed)
 *   1   payload: 0 = id, 1 = inline bytes, 2 = chunk
 *   payload 0: 32 id (file: manifest; dir: root node of its tree)
 *   payload 1: 4 length, then the bytes (files up to META_INLINE_MAX whose
 *              length equals size; symlinks: the target). Dirs never inline.
 *   payload 2: 32 chunk id: a regular file whose bytes are exactly one
 *              chunk, stored as the standalone object "chunks/<id>" (no
 *              manifest object). Only files with META_INLINE_MAX < size <=
 *              META_CHUNK_ENTRY_MAX. Its implied manifest is {size, one
 *              chunk: id, length size, location 0} (meta_manifest_get).
 *              Added after version 1 shipped, without a version bump:
 *              older binaries refuse such trees ("unknown payload kind 2").
 *              Files of several chunks keep payload 0.
 * Leaf item, version 2: the same name, mode, size and mtime, then
 *   1   flags: 1 = owner, 2 = hard-link group, 4 = subdirectory count;
 *           other bits 0
 *   flags & 1:          4 uid, 4 gid (neither 0xffffffff)
 *   S_IFCHR or S_IFBLK: 4 major, 4 minor (the device, rdev)
 *   flags & 2:          8 link group id (not 0), 4 nlink (>= 2)
 *   flags & 4:          4 subdirectories (directories only; <= size): a
 *                       mount shows st_nlink 2 + this; without it (all
 *                       version 1 directories) st_nlink is 1, "not
 *                       counted" (find and fts then look at every entry)
 *   1   payload: 0, 1 and 2 as in version 1, or 3 = none
 *   mode may also be S_IFIFO, S_IFSOCK, S_IFCHR or S_IFBLK: such special
 *   files have size 0 and always payload 3 (no data); only they have it.
 *   An entry without flags (no owner: shown as the mounting user, as
 *   every version 1 entry) may sit in a version 2 leaf beside others.
 *   Hard links: every name of one file is an entry of the same content
 *   (so its bytes are stored once) carrying the same link group id, which
 *   is unique within a commit's tree, and nlink, the number of names the
 *   group had when written (a hint: tools that remove a name outside a
 *   mount leave the others' count as it was). Group ids are random in a
 *   mount, derived from the first name's path on import.
 * Inner item (a reference to a child node):
 *   2   key length (1..255), then the key: the last name under the child
 *   32  child node id
 *   8   number of entries under the child (> 0)
 *
 * ---- Commit ("T9KC" is taken by chunks: "T9KK") -----------------------
 *   0   4   magic "T9KK"
 *   4   1   version 1
 *   5   1   parent count p (0..META_MAX_PARENTS)
 *   6   2   reserved, 0
 *   8   32  root tree id
 *   40  32*p parent commit ids
 *   ..  8   time, nanoseconds since the epoch (signed)
 *   ..  2+  author: 2-byte length, bytes (UTF-8, no NUL)
 *   ..  4+  message: 4-byte length, bytes (no NUL)
 *   ..  2   metadata pair count m, then m pairs sorted by key, unique:
 *           2-byte key length (1..255), key, 4-byte value length, value
 */
#ifndef T9K_META_OBJECT_H
#define T9K_META_OBJECT_H

#include "lib/buf.h"
#include "lib/oid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_NAME_MAX 255
#define META_INLINE_MAX 4096     /* files up to this size live in their entry */
#define META_CHUNK_ENTRY_MAX (64u << 20) /* largest one-chunk entry (payload 2):
					  * CDC_MAX_LIMIT, the largest chunk any
					  * repository can cut */
#define META_TREE_V1 1          /* tree node versions (byte 4) */
#define META_TREE_V2 2          /* owners, hard links, special files */
#define META_MAX_PARENTS 16
#define META_TREE_MAX_LEVEL 15
#define META_MSG_MAX (1u << 20)
#define META_AUTHOR_MAX 1024
#define META_KV_MAX 1024         /* metadata pairs per commit */
#define META_VALUE_MAX (64u << 10)

/* A name in a directory: 1..255 bytes, no '/', no NUL, not "." or "..".
 * Returns 0 or -EINVAL with a message quoting the name. */
int meta_name_check(const char *name, size_t len);

/* Name order used everywhere: memcmp, then the shorter first. */
int meta_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* ---- manifests ---- */
enum { MANIFEST_LOC_OBJECT = 0, MANIFEST_LOC_PACK = 1 };

struct manifest_chunk {
	struct oid id;
	uint32_t len;
	uint8_t loc;
	struct oid pack;   /* loc == MANIFEST_LOC_PACK */
	uint64_t pack_off;
	uint32_t pack_len;
};

struct manifest {
	uint64_t size;
	uint32_t nchunks;
	struct manifest_chunk *chunks; /* malloc'd; manifest_release frees */
};

int manifest_encode(const struct manifest *m, struct buf *out);
int manifest_decode(const uint8_t *data, size_t len, struct manifest *m);
void manifest_release(struct manifest *m);

/* ---- tree nodes ---- */
struct tree_entry {
	const char *name; /* not NUL-terminated */
	uint16_t name_len;
	uint32_t mode;          /* type (S_IFREG, ... S_IFBLK) | 07777 */
	uint64_t size;
	int64_t mtime_ns;
	/* version 2 fields (all zero: a version 1 entry) */
	bool has_owner;         /* uid and gid are the owner (else: none stored) */
	uint32_t uid, gid;
	uint32_t dev_major;     /* S_IFCHR, S_IFBLK: the device */
	uint32_t dev_minor;
	uint64_t link_id;       /* hard-link group, unique in a tree; 0: none */
	uint32_t nlink;         /* with link_id: names in the group (>= 2) */
	bool has_subdirs;       /* directories: subdirs is known */
	uint32_t subdirs;       /* entries of the directory that are directories */
	bool is_inline;         /* payload 1 */
	bool is_chunk;          /* payload 2: id is a chunk (never with is_inline) */
	struct oid id;          /* !is_inline: manifest, tree node or (is_chunk) chunk */
	const uint8_t *data;    /* is_inline */
	uint32_t data_len;
};

struct tree_child {
	const char *key; /* last name under the child; not NUL-terminated */
	uint16_t key_len;
	struct oid id;
	uint64_t count;
};

struct tree_node {
	uint8_t version;        /* set by decode; encode picks the lowest that fits */
	uint8_t level;
	uint32_t count;
	struct tree_entry *entries;   /* level == 0 */
	struct tree_child *children;  /* level > 0 */
};

/* The lowest tree version that holds e: META_TREE_V2 when it has an
 * owner, a hard-link group, a subdirectory count or is a special file,
 * else META_TREE_V1. */
int tree_entry_version(const struct tree_entry *e);

/* One leaf item on its own, laid out as in a leaf of `version` (same
 * bytes): used by the staging area, which records the version beside it.
 * Encoding an entry that needs version 2 as version 1 is -EINVAL.
 * decode returns the bytes consumed. */
int tree_entry_encode(const struct tree_entry *e, int version, struct buf *out);
int tree_entry_decode(const uint8_t *data, size_t len, int version, struct tree_entry *e);

/* Checks order, names, modes and payload rules, then encodes. */
int tree_node_encode(const struct tree_node *n, struct buf *out);
int tree_node_decode(const uint8_t *data, size_t len, struct tree_node *n);
void tree_node_release(struct tree_node *n);

/* ---- commits ---- */
struct commit_kv {
	const char *key; /* not NUL-terminated */
	uint16_t key_len;
	const char *value;
	uint32_t value_len;
};

struct commit {
	struct oid root;
	uint8_t nparents;
	struct oid parents[META_MAX_PARENTS];
	int64_t time_ns;
	const char *author;
	uint16_t author_len;
	const char *message;
	uint32_t message_len;
	uint16_t nkv;
	struct commit_kv *kv; /* malloc'd by decode; sorted by key */
};

/* Encode sorts nothing: kv must already be sorted and unique (checked). */
int commit_encode(const struct commit *c, struct buf *out);
int commit_decode(const uint8_t *data, size_t len, struct commit *c);
void commit_release(struct commit *c);

/* The type of an encoded object from its magic, for tools that walk any
 * object: 'M' manifest, 'T' tree node, 'K' commit, 0 unknown. */
char meta_object_type(const uint8_t *data, size_t len);

#endif
