/* What the parts of gc share: meta/gc.c (runs, phases, the registry, the
 * guards, the API's side), meta/gc-walk.c (keys, temporary files, the
 * parallel walk that marks, the commit table and the retention rules
 * applied to it) and meta/du.c (accounting). Nothing outside them.
 *
 * Keys of the mark sets: a kind byte and a 32-byte id. K_META is a
 * metadata object "meta/<id>" (commit, tree node, manifest), K_CHUNK a
 * standalone chunk "chunks/<id>", K_PACK a pack "packs/<id>", K_PCHUNK one
 * chunk range of a pack (id: the chunk's id xor the pack's), counted once
 * for the pack's live bytes. Only the first three name store objects.
 */
#ifndef T9K_META_GC_INTERNAL_H
#define T9K_META_GC_INTERNAL_H

#include "meta/gc.h"
#include "meta/markset.h"
#include "meta/objects.h"
#include "meta/retention.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { K_META = 1, K_CHUNK = 2, K_PACK = 3, K_PCHUNK = 4, K_OTHER = 0 };

enum { W_TREE = 1, W_MANIFEST, W_ANY, W_COMMIT };

enum { C_KEPT = 1, C_KEPT_ALL = 2, C_COLLECTED = 4 };

#define REC 49               /* listing record: key 33, size 8, mtime 8 */
#define TF_BUF (256u << 10)
#define WALK_QUEUE 8192
#define WALK_THREADS_MAX 32
#define OBJ_CACHE_BYTES (8u << 20)
#define LIST_IDS_MAX 1000    /* collected commits named in a result */
#define STATE_LAST "last_run"
#define STATE_COLLECTED "collected/"

/* A temporary file of fixed-size records (unlinked), written then read
 * in order through one buffer: the listing, the candidates. */
struct tfile {
	int fd;
	uint8_t *buf;
	size_t len, pos;  /* writer: bytes buffered; reader: bytes in buf, next */
	uint64_t off;     /* file offset of the next write or read */
	uint64_t n;       /* records written */
};

/* Live bytes per pack (chunk ranges marked), for the dead bytes of live
 * packs; in memory, one entry a pack. */
struct packmap {
	pthread_mutex_t mu;
	struct pm_slot {
		struct oid id;
		uint64_t live;
		bool used;
	} *v;
	size_t cap, n;
};

/* A set of ids in memory (commits). */
struct idset {
	struct oid *v;
	uint8_t *used;
	size_t cap, n;
};

/* An object to visit (already marked). */
struct witem {
	uint8_t type;
	struct oid id;
	uint64_t size; /* W_MANIFEST: the entry's file size */
};

/* What a walk marks into. skip (may be NULL): keys that count as marked
 * already (accounting: what other refs reach). */
struct walk_ctx {
	struct meta_objects *mo;
	struct store *store;
	struct markset *set, *skip;
	struct packmap *packs;          /* may be NULL */
	struct gc_run *run;             /* guards: doomed checks; NULL otherwise */
	atomic_bool *stop;              /* may be NULL */
	atomic_uint_fast64_t marked;    /* keys newly marked */
	atomic_uint_fast64_t reads;     /* objects read */
};

/* Threads visiting a bounded queue of objects; a full queue is visited
 * by whoever emits (so memory is the queue, not the tree). */
struct walker {
	struct walk_ctx *w;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	struct witem *q;
	size_t head, n;
	int busy;        /* items being visited by threads */
	int rc;          /* first error */
	char errmsg[512]; /* its message (messages are per thread) */
	bool quit;
	pthread_t tid[WALK_THREADS_MAX];
	int nthreads;
};

/* The history every ref reaches: one record a commit, parents by index. */
struct ccommit {
	struct oid id, root;
	int64_t time_ns;
	uint32_t p0;     /* first parent in ctab.parents */
	uint8_t np;
	uint8_t flags;
	uint32_t seen;   /* generation of the last per-branch walk */
};

struct ctab {
	struct ccommit *v;
	size_t n, cap;
	uint32_t *parents; /* indexes into v, UINT32_MAX until resolved */
	struct oid *pids;
	size_t np, pcap;
	uint32_t *hash;    /* index + 1; 0: empty */
	size_t hcap;
};

enum { PH_START, PH_LIST, PH_EXPIRE, PH_MARK, PH_PLAN, PH_INDEX, PH_SWEEP, PH_DONE };

struct counts {
	uint64_t n, bytes;
};

/* What a run deleted, as a Bloom filter kept for a while after it ended:
 * a writer that found an object in the store before the run deleted it
 * may stage an entry naming it afterwards (README "Retention and gc"). */
#define WINDOWS_MAX 4
#define WINDOW_BITS_MAX (128ull << 20) /* 16 MiB of filter a run */
#define WINDOW_MIN_S 600

struct window {
	int64_t until_ns;
	uint64_t nbits;
	uint8_t *bits;
};

struct gc_run {
	struct gc_slot *slot;
	struct meta_db *db;
	char repo[META_REPO_NAME_MAX + 1];
	uint64_t id;
	struct gc_opts o;
	char tmpdir[4096];
	struct retention rt;
	int64_t grace_s, start_ns, cutoff_ns;
	struct repo *r;
	struct meta_objects *mo;
	struct markset *marks;
	struct markset *doomed;  /* set before deleting starts, then read-only */
	struct packmap packs;
	struct idset collected;  /* commits collected by earlier runs */
	struct walk_ctx w;
	struct ctab commits;
	struct tfile list, cand;
	struct tfile deltas;     /* ids of the "deltas/<id>" objects listed */
	uint64_t cand_bytes;
	char exclude[META_REF_MAX + 8]; /* accounting: the ref left out of the mark */
	bool no_young;              /* accounting: no young roots */
	unsigned pause_ms;          /* tests: $T9KFS_GC_TEST_PAUSE_MS before each batch */
	unsigned batch;             /* keys a delete batch (tests: $T9KFS_GC_TEST_BATCH) */
	/* shared with the guards */
	pthread_mutex_t fence;
	atomic_bool armed, deleting, poisoned, stop;
	atomic_uint_fast64_t guarded;
	int users;               /* reg_mu: guards inside the run */
	/* progress, read by gc_status */
	atomic_int phase;
	atomic_uint_fast64_t listed, listed_bytes, ncommits, ncand, deleted, deleted_bytes;
	/* the result, built by the run's thread */
	struct counts by_kind_listed[4], marked, grace, del_kind[4], other;
	uint64_t packs_live, packs_dead_bytes, index_dropped, staged, kept, collected_now,
		collected_before;
	json_t *collected_ids, *expired_branches, *expired_tags;
	struct store_stats st0;
	struct window win;       /* what this run deleted */
};

struct ref_item {
	char name[META_REF_MAX];
	struct oid id;
};

struct refs {
	struct ref_item *v;
	size_t n, cap;
};

/* ---- gc-walk.c ---- */

int64_t gc_clock_ns(void);
void gc_key_make(uint8_t *k, int kind, const struct oid *id);
/* A store key's kind and id; K_OTHER for keys gc never touches. */
int gc_key_parse(const char *key, struct oid *id);
void gc_key_name(const uint8_t *k, char *out, size_t size);

int gc_tfile_open(struct tfile *t, const char *tmpdir);
void gc_tfile_close(struct tfile *t);
int gc_tfile_add(struct tfile *t, const void *rec, size_t n);
/* Switches a written file to reading from its start. */
int gc_tfile_rewind(struct tfile *t);
/* 1 with *rec pointing at the next n bytes, 0 at the end, < 0. */
int gc_tfile_next(struct tfile *t, size_t n, const uint8_t **rec);

int gc_packmap_add(struct packmap *p, const struct oid *id, uint64_t bytes);
uint64_t gc_packmap_get(struct packmap *p, const struct oid *id);
void gc_packmap_release(struct packmap *p);

bool gc_idset_has(const struct idset *s, const struct oid *id);
/* 1 when added, 0 when there, < 0. */
int gc_idset_add(struct idset *s, const struct oid *id);
void gc_idset_release(struct idset *s);

/* 1 when key is newly marked (its children need a visit), 0 when it was
 * marked (or is in skip), < 0. With check (a guard during the sweep), a
 * newly marked candidate of the run must still exist. */
int gc_mark(struct walk_ctx *w, const uint8_t *key, bool check);
int gc_mark_id(struct walk_ctx *w, int kind, const struct oid *id, bool check);
/* Marks what a tree entry names and visits it (queued on wk, or here). */
int gc_visit_entry(struct walk_ctx *w, struct walker *wk, const struct tree_entry *e,
		   bool check);
/* Visits one object already marked (wk NULL: synchronously, a guard). */
int gc_visit(struct walk_ctx *w, struct walker *wk, const struct witem *it, bool check);
int gc_walker_start(struct walker *wk, struct walk_ctx *w, int nthreads);
/* Waits until nothing is queued or being visited; the first error. */
int gc_walker_wait(struct walker *wk);
/* Emits a root from the calling thread. */
int gc_walker_root(struct walker *wk, const struct witem *it);
void gc_walker_stop(struct walker *wk);

void gc_ctab_release(struct ctab *t);
uint32_t gc_ctab_find(const struct ctab *t, const struct oid *id);
/* Adds a decoded commit (parents resolved by the caller). */
int gc_ctab_add(struct ctab *t, const struct oid *id, const struct commit *c);
/* Flags the commits branch head (index h) keeps under policy p at now;
 * gen tells this walk's visits apart. */
int gc_keep_branch(struct ctab *t, int64_t now, uint32_t h, const struct retention_policy *p,
		   uint32_t gen);

/* ---- gc.c ---- */

/* Is key among g's candidates, once deleting has started? */
bool gc_run_doomed(struct gc_run *g, const uint8_t *key);
int gc_phase_list(struct gc_run *g);
int gc_phase_mark(struct gc_run *g);
int gc_load_history(struct gc_run *g, struct ctab *t, struct walk_ctx *w, const struct refs *rs);
int gc_commit_load(struct gc_run *g, const struct oid *id, struct buf *raw, struct commit *c);
int gc_refs_add(const char *refname, const struct oid *id, void *arg);
int gc_load_collected_one(const char *name, const void *val, size_t len, void *arg);
json_t *gc_counts_json(const struct counts *c);
void gc_run_free(struct gc_run *g);

#endif
