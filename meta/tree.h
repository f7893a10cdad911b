/* Directories as prolly trees: sorted entries cut into nodes at boundaries
 * chosen by the entry names themselves, so that
 *   - the shape depends only on the set of entries (the same directory has
 *     the same root id however it was built: diff skips equal subtrees);
 *   - changing k entries of a directory of n rewrites O(k * log n) bytes.
 *
 * Level 0 nodes (leaves) hold entries; a node at level L > 0 holds
 * references to level L-1 nodes, keyed by the last name under each. An item
 * with key K ends its node at level L when the low 6*(L+1) bits of
 * H(K) = first 8 bytes of SHA-256(K) are zero (fan-out 64), or when the node
 * reaches TREE_NODE_MAX_BYTES (a safety cap that only adversarial names
 * reach). The root is the lowest level with a single node; an empty
 * directory is an empty leaf. The cut rule is part of the format.
 */
#ifndef T9K_META_TREE_H
#define T9K_META_TREE_H

#include "meta/objects.h"

#include <stdbool.h>

#define TREE_FANOUT_BITS 6
#define TREE_NODE_MAX_BYTES (512u << 10)

/* One change to a directory: delete name, or set it to entry (whose name
 * must equal name). Edits passed together are sorted by name, unique. */
struct tree_edit {
	const char *name;
	uint16_t name_len;
	bool del;
	struct tree_entry entry;
};

/* Writes the empty directory (an empty leaf) and returns its id. */
int tree_empty(struct meta_objects *mo, struct oid *id);

/* Applies edits to the directory rooted at *root (NULL: empty) and writes
 * the new nodes. Deleting an absent name is not an error. *new_root gets
 * the new root, *count (may be NULL) its number of entries. An edit that
 * would only turn a file's manifest of exactly one chunk (payload 0) into
 * that chunk (payload 2), all else equal, keeps the old entry: re-imports
 * of unchanged data change nothing across the format's two forms. */
int tree_apply(struct meta_objects *mo, const struct oid *root, const struct tree_edit *edits,
	       size_t n, struct oid *new_root, uint64_t *count);
/* The same, and *dirs_delta (may be NULL) gets the change in the number
 * of entries that are directories (added ones less removed ones), for
 * the directory's subdirectory count (meta/object.h). */
int tree_apply_ex(struct meta_objects *mo, const struct oid *root, const struct tree_edit *edits,
		  size_t n, struct oid *new_root, uint64_t *count, int64_t *dirs_delta);

/* Number of entries in a directory. */
int tree_count(struct meta_objects *mo, const struct oid *root, uint64_t *count);

/* Looks name up. On success *e points into *hold, which the caller
 * releases with meta_node_put(). T9K_ENOTFOUND if absent. */
int tree_lookup(struct meta_objects *mo, const struct oid *root, const char *name,
		size_t len, struct tree_entry *e, struct meta_node **hold);

/* In-order iteration, optionally starting after a name (for readdir
 * offsets and paging). Entries returned by next stay valid until the next
 * call to next or free. */
struct tree_iter;
int tree_iter_new(struct meta_objects *mo, const struct oid *root, const char *after,
		  size_t after_len, struct tree_iter **out);
/* 1 and *e filled, 0 at the end, or < 0. */
int tree_iter_next(struct tree_iter *it, struct tree_entry *e);
void tree_iter_free(struct tree_iter *it);

/* Calls fn for each name whose entry differs between directories a and b
 * (either may be NULL: empty): old NULL = added, new NULL = removed. Reads
 * only the nodes that differ: equal subtrees are skipped by id. */
typedef int (*tree_diff_fn)(void *arg, const struct tree_entry *old, const struct tree_entry *new);
int tree_diff(struct meta_objects *mo, const struct oid *a, const struct oid *b, tree_diff_fn fn,
	      void *arg);

/* True when two entries are the same (name, mode, size, mtime, owner,
 * device, hard-link group, payload kind and its id or bytes). The same
 * bytes stored as a manifest (payload 0) and as one chunk (payload 2)
 * compare unequal: diff reports them as modified. */
bool tree_entry_eq(const struct tree_entry *a, const struct tree_entry *b);
/* Only the version 2 fields: owner, device numbers, hard-link group,
 * subdirectory count. */
bool tree_entry_meta_eq(const struct tree_entry *a, const struct tree_entry *b);

#endif
