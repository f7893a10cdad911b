/* Object ids: the SHA-256 of an object's canonical bytes, 32 bytes, shown
 * as 64 lowercase hex digits. The same type names chunks, trees and commits. */
#ifndef T9K_OID_H
#define T9K_OID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OID_RAWSZ 32
#define OID_HEXSZ 64

struct oid {
	uint8_t b[OID_RAWSZ];
};

/* Hashes len bytes. Thread-safe; returns 0 or -ENOMEM / -EIO. */
int oid_hash(struct oid *out, const void *data, size_t len);

/* Incremental hashing for data that arrives in pieces. */
struct oid_hasher;
struct oid_hasher *oid_hasher_new(void);
int oid_hasher_update(struct oid_hasher *h, const void *data, size_t len);
int oid_hasher_final(struct oid_hasher *h, struct oid *out); /* then reusable */
/* Makes dst hash what src has hashed so far (both go on independently):
 * the hash of a growing chunk is finished on a copy, and the original
 * takes the next bytes. */
int oid_hasher_copy(struct oid_hasher *dst, const struct oid_hasher *src);
void oid_hasher_free(struct oid_hasher *h);

/* Writes 64 hex digits and a NUL into hex[OID_HEXSZ + 1]; returns hex. */
char *oid_to_hex(const struct oid *id, char *hex);
/* Parses exactly 64 hex digits (either case). Returns 0 or -EINVAL with a
 * message naming the bad input. */
int oid_from_hex(struct oid *out, const char *hex);
bool oid_eq(const struct oid *a, const struct oid *b);
int oid_cmp(const struct oid *a, const struct oid *b);

/* A set of ids, for walks that must visit each object once: 32 bytes and
 * a flag per slot, at most half the slots used. Zero-initialise it
 * (struct oidset s = { 0 }); oidset_release frees it. */
struct oidset {
	struct oid *v;
	unsigned char *used;
	size_t cap, n;
};
/* Adds id; returns 1 if it was new, 0 if present, -ENOMEM (with a message). */
int oidset_add(struct oidset *s, const struct oid *id);
bool oidset_has(const struct oidset *s, const struct oid *id);
void oidset_release(struct oidset *s);

#endif
