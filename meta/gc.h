/* Garbage collection of a repository's store, storage accounting, and the
 * guards that keep writers safe while a collection runs. Runs inside the
 * metadata service (it owns refs, staging and the chunk index); the API
 * (meta/api.c) starts runs and reports on them, the CLI (tools/cmd_gc.c)
 * drives it.
 *
 * A run, in order (README "Retention and gc" has the safety argument):
 *  1. takes the repository's lease (one run at a time: -EBUSY) and arms the
 *     guards: from now on every stage, ref move and chunk index hit the
 *     service handles marks what it names (gc_guard_*);
 *  2. lists the store into a temporary file: key, size, modification time;
 *  3. deletes the branches and tags the retention rules expire (by
 *     compare-and-swap: one that moved stays);
 *  4. marks from a snapshot of every branch's staging, then from the refs:
 *     every commit of their history (commit objects stay), and the trees,
 *     manifests, chunks and packs of the commits the rules keep, each tree
 *     once; then from every metadata object younger than the cutoff (an
 *     upload or a commit in flight);
 *  5. any error so far ends the run before anything is deleted;
 *  6. the candidates are the listed objects that are not marked and are
 *     older than the run's start minus the grace period; commits whose
 *     data goes are recorded as collected; chunk index entries of the
 *     packs that go are dropped; then the candidates are deleted in
 *     batches of 1,000, each under the guard lock, minus what a guard
 *     marked meanwhile.
 * Memory: the mark sets (meta/markset.h) share max_memory; commits are
 * kept in memory (about 120 bytes each).
 *
 * Calling sequence (the service):
 *   gc_start(db, "imagenet", &opts, &id);    // a thread runs it
 *   gc_status(db, "imagenet", &json);        // progress, the last result
 *   gc_wait(db, "imagenet", id);             // optional
 *   gc_shutdown(db);                         // before meta_db_close
 */
#ifndef T9K_META_GC_H
#define T9K_META_GC_H

#include "meta/db.h"
#include "meta/repo.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define GC_MAX_MEMORY_DEFAULT (256ull << 20)
#define GC_MAX_MEMORY_MIN (256ull << 10)
#define GC_DELETE_BATCH 1000

struct gc_opts {
	bool dry_run;
	int64_t grace_s;       /* RETENTION_UNSET (-1): the repository's rule */
	uint64_t max_memory;   /* bytes for the mark sets; 0: the default */
	const char *tmpdir;    /* NULL: $TMPDIR or /tmp */
};

/* Starts a run of repo in a thread of its own; *run_id names it. -EBUSY
 * with a message when one runs already; -EINVAL for bad options (grace
 * below the repository's min_grace, memory below GC_MAX_MEMORY_MIN). */
int gc_start(struct meta_db *db, const char *repo, const struct gc_opts *o, uint64_t *run_id);
/* Waits for run run_id of repo to end. */
void gc_wait(struct meta_db *db, const char *repo, uint64_t run_id);
/* {"running": bool, "run": {...progress...} or null, "last": {...} or null}
 * ("last" also after a restart: it is stored with the repository). */
int gc_status(struct meta_db *db, const char *repo, json_t **out);
/* Asks every run on db to stop and waits for them (before db closes). */
void gc_shutdown(struct meta_db *db);

/* Accounting (t9kfs du): the repository's stored objects and bytes, what
 * is reachable under the retention rules and what is garbage; with ref
 * (NULL: none) that ref's logical bytes and files and the stored bytes
 * only it reaches (what deleting it would free). */
int gc_du(struct meta_db *db, const char *repo, const char *ref, uint64_t max_memory,
	  json_t **out);

/* The API's side (meta/api.c): GET/PUT of the rules (body NULL: get; a
 * body updates the fields it has) and POST of a run ({"dry_run",
 * "grace_s", "max_memory", "wait"}: 202 {"id"}, or with wait 200 and the
 * result). */
int gc_api_retention(struct meta_db *db, const char *repo, const json_t *body, json_t **out);
int gc_api_start(struct meta_db *db, const char *repo, const json_t *body, unsigned *status,
		 json_t **out);

/* When commit id of repo lost its data to gc: 0 and *when_ns, or -ENOENT. */
int gc_collected_get(struct meta_db *db, const char *repo, const struct oid *id,
		     int64_t *when_ns);
/* The one error for reading such a commit's data. */
int gc_collected_error(const struct oid *id, int64_t when_ns);

/* ---- guards (the service's write paths call these; cheap when no run is
 * active). Each makes what it names safe from the running sweep, or
 * fails with T9K_ENOTFOUND when the run already deleted part of it. ---- */
int gc_guard_stage(struct repo *r, const struct repo_stage_item *items, size_t n);
int gc_guard_commit(struct repo *r, const struct oid *commit);
/* A chunk index hit in pack: -ENOENT (a miss, no message) when the run
 * deleted the pack. */
int gc_guard_pack(struct repo *r, const struct oid *pack);

#endif
