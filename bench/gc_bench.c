/* gc benchmark (bench/gc.sh): builds a repository whose commits share
 * most of their data, then runs one gc of it in a fresh process, so its
 * peak RSS is the run's (and opening the database), not the build's.
 *
 *   gc_bench build DIR FILES COMMITS   FILES one-chunk files (4,200 bytes)
 *                                      in directories of 500; each later
 *                                      commit rewrites 2% of them; then a
 *                                      branch with 5% more is deleted, and
 *                                      the rules keep the last 10 commits
 *   gc_bench gc DIR MAX_MEMORY         one run (grace 0), then one JSON
 *                                      line: the run's result plus wall
 *                                      seconds and peak RSS
 *
 * A reference is a file entry of a commit's tree naming its chunk, so the
 * repository holds FILES x COMMITS chunk references; the distinct chunks
 * are about FILES x (1 + 0.02 x (COMMITS - 1)). Library calls, RocksDB and
 * a file:// store (tmpfs in bench/gc.sh), as bench/meta_bench does.
 */
#include "lib/err.h"
#include "lib/log.h"
#include "meta/gc.h"
#include "meta/repo.h"
#include "meta/retention.h"
#include "store/chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#define FILE_BYTES 4200
#define DIR_FILES 500
#define BATCH 1024

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(int rc, const char *what)
{
	fprintf(stderr, "gc_bench: %s: %s\n", what, t9k_errmsg(rc));
	exit(1);
}

/* Stores the chunk of (file, version) and stages it. */
static void stage_range(struct repo *r, const char *branch, struct chunk_writer *w, long from,
			long to, long step, unsigned version)
{
	static struct repo_stage_item items[BATCH];
	static struct tree_entry es[BATCH];
	static char paths[BATCH][48];
	uint8_t data[FILE_BYTES];
	size_t n = 0;
	int rc;

	for (long f = from; f < to; f += step) {
		struct chunk_put_result res;

		for (size_t i = 0; i < sizeof(data); i += 8) {
			uint64_t x = ((uint64_t)f << 20 | version) * 0x9e3779b97f4a7c15ULL + i;

			x ^= x >> 29;
			x *= 0xbf58476d1ce4e5b9ULL;
			memcpy(data + i, &x, sizeof(data) - i < 8 ? sizeof(data) - i : 8);
		}
		rc = chunk_put(w, repo_store(r), data, sizeof(data), &res);
		if (rc < 0)
			die(rc, "chunk put");
		memset(&es[n], 0, sizeof(es[n]));
		es[n].mode = S_IFREG | 0644;
		es[n].size = sizeof(data);
		es[n].is_chunk = true;
		es[n].id = res.id;
		snprintf(paths[n], sizeof(paths[n]), "d%05ld/f%07ld", f / DIR_FILES, f);
		items[n].path = paths[n];
		items[n].entry = &es[n];
		if (++n == BATCH || f + step >= to) {
			rc = repo_stage_batch(r, branch, items, n);
			if (rc < 0)
				die(rc, "stage");
			n = 0;
		}
	}
}

static int build(const char *dir, long files, long commits)
{
	char dbdir[4200], url[4200];
	struct commit_info ci = { .author = "bench", .message = "v" };
	struct chunk_writer *w = chunk_writer_new(0);
	struct retention rt;
	struct meta_db *db;
	struct repo *r;
	struct oid id;
	int rc;

	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(url, sizeof(url), "file://%s/store", dir);
	if ((rc = meta_db_open(dbdir, &db)) < 0 || (rc = repo_create(db, "bench", url, NULL, 0, &r)) < 0)
		die(rc, "create");
	for (long c = 0; c < commits; c++) {
		long step = c == 0 ? 1 : 50; /* 2% after the first */

		stage_range(r, "main", w, c == 0 ? 0 : c % 50, files, step, (unsigned)c);
		ci.time_ns = (int64_t)(1700000000 + c * 3600) * 1000000000;
		if ((rc = repo_commit(r, "main", &ci, &id)) < 0)
			die(rc, "commit");
		fprintf(stderr, "\rgc_bench: commit %ld/%ld", c + 1, commits);
	}
	fprintf(stderr, "\n");
	if ((rc = repo_branch_create(r, "tmp", "main")) < 0)
		die(rc, "branch");
	stage_range(r, "tmp", w, 0, files, 20, 1u << 19);
	if ((rc = repo_commit(r, "tmp", &ci, &id)) < 0 || (rc = repo_branch_delete(r, "tmp")) < 0)
		die(rc, "tmp branch");
	retention_init(&rt);
	rt.def.keep_last = 10;
	rt.grace_s = rt.min_grace_s = 0;
	if ((rc = retention_save(db, "bench", &rt)) < 0)
		die(rc, "rules");
	chunk_writer_free(w);
	repo_close(r);
	meta_db_close(db);
	return 0;
}

static int run(const char *dir, const char *mem)
{
	char dbdir[4200];
	struct gc_opts o = { .grace_s = RETENTION_UNSET };
	struct meta_db *db;
	struct rusage ru;
	json_t *st, *last;
	uint64_t id;
	double t0;
	int rc;

	o.max_memory = strtoull(mem, NULL, 10);
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	if ((rc = meta_db_open(dbdir, &db)) < 0)
		die(rc, "open");
	t0 = now();
	if ((rc = gc_start(db, "bench", &o, &id)) < 0)
		die(rc, "gc");
	gc_wait(db, "bench", id);
	if ((rc = gc_status(db, "bench", &st)) < 0)
		die(rc, "status");
	last = json_object_get(st, "last");
	getrusage(RUSAGE_SELF, &ru);
	json_object_set_new(last, "wall_s", json_real(now() - t0));
	json_object_set_new(last, "peak_rss", json_integer((json_int_t)ru.ru_maxrss * 1024));
	json_object_del(last, "commits");
	json_dumpf(last, stdout, JSON_COMPACT);
	printf("\n");
	json_decref(st);
	gc_shutdown(db);
	meta_db_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	t9k_log_init();
	if (argc == 5 && !strcmp(argv[1], "build"))
		return build(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "gc"))
		return run(argv[2], argv[3]);
	fprintf(stderr, "usage: gc_bench build DIR FILES COMMITS | gc_bench gc DIR MAX_MEMORY\n");
	return 2;
}
