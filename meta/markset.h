/* A set of fixed-size keys whose memory is bounded by a budget, not by
 * how many keys it holds: gc's mark set (meta/gc.c), where a key is a
 * kind byte and an object id.
 *
 * Keys go into an in-memory hash table; when it is full it is sorted and
 * written to an unlinked temporary file as a run, with a Bloom filter and
 * a sparse index kept in memory (about 1.3 bytes a key), and the table is
 * emptied. A lookup asks the table, then each run whose filter says
 * "maybe" (one pread of a 128-key block). More than MARKSET_RUNS_MAX runs
 * are merged into one; when the filters alone would pass half the budget,
 * they get fewer bits a key (more false "maybe"s, each one pread).
 *
 * Calling sequence:
 *   struct markset *m;
 *   markset_new(NULL, 128 << 20, &m);   // NULL: $TMPDIR or /tmp
 *   markset_add(m, key);                // 1: was not there, 0: was
 *   markset_has(m, key);                // 1 or 0
 *   markset_free(m);
 * All calls are thread-safe (one mutex). Errors (-ENOMEM, disk I/O) come
 * with a message; after one the set must not be trusted (gc aborts).
 */
#ifndef T9K_META_MARKSET_H
#define T9K_META_MARKSET_H

#include <stddef.h>
#include <stdint.h>

#define MARKSET_KEY 33      /* kind byte (never 0) + 32-byte id */
#define MARKSET_RUNS_MAX 8
#define MARKSET_MIN_BUDGET (64u << 10)

struct markset;

struct markset_stats {
	uint64_t keys;        /* in the set */
	uint64_t runs;        /* on disk now */
	uint64_t spills;      /* tables written out so far */
	uint64_t merges;      /* runs merged so far */
	uint64_t disk_bytes;  /* bytes of the runs */
	uint64_t mem_bytes;   /* table + filters + indexes now */
	uint64_t mem_peak;
	uint64_t reads;       /* preads of run blocks */
};

/* budget: bytes of memory the set may use (at least MARKSET_MIN_BUDGET). */
int markset_new(const char *tmpdir, size_t budget, struct markset **out);
void markset_free(struct markset *m);
/* 1 when key was added, 0 when it was there, < 0 on error. key[0] != 0. */
int markset_add(struct markset *m, const uint8_t key[MARKSET_KEY]);
/* 1 when key is in the set, 0 when not, < 0 on error. */
int markset_has(struct markset *m, const uint8_t key[MARKSET_KEY]);
void markset_get_stats(struct markset *m, struct markset_stats *out);

#endif
