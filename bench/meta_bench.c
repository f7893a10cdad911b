/* Metadata benchmark: latencies of branch create, a commit of 10 changed
 * files, diff and log on a branch whose head has N files (default
 * 1,000,000, in 1,000 directories), through the library with a real
 * RocksDB and a file:// store. Prints one JSON line per measurement. */
#include "lib/err.h"
#include "lib/util.h"
#include "meta/repo-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int die(int rc, const char *what)
{
	fprintf(stderr, "meta_bench: %s: %s\n", what, t9k_errmsg(rc));
	return 1;
}

static int count_diff(void *arg, const char *path, const struct tree_entry *o,
		      const struct tree_entry *n)
{
	(void)path, (void)o, (void)n;
	++*(size_t *)arg;
	return 0;
}

static int count_log(void *arg, const struct repo_commit *c)
{
	(void)c;
	++*(size_t *)arg;
	return 0;
}

static void report(const char *what, size_t files, double seconds, const struct meta_stats *ms)
{
	printf("{\"bench\":\"meta\",\"op\":\"%s\",\"files\":%zu,\"seconds\":%.6f,"
	       "\"objects_written\":%llu,\"bytes_written\":%llu,\"objects_read\":%llu}\n",
	       what, files, seconds, (unsigned long long)ms->writes_new,
	       (unsigned long long)ms->bytes_new, (unsigned long long)ms->reads);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	const char *dir = argc > 1 ? argv[1] : NULL;
	char dbdir[4096], url[4200];
	struct tree_entry e = { .mode = S_IFREG | 0644, .size = 5, .is_inline = true,
				.data = (const uint8_t *)"hello", .data_len = 5 };
	struct commit_info ci = { .author = "bench", .message = "bench" };
	struct path_edit *pe;
	char (*paths)[32];
	struct meta_stats ms;
	struct meta_db *db;
	struct repo *r;
	struct repo_commit head;
	struct oid c0, root, id, c1;
	size_t cnt = 0;
	double t;
	int rc;

	if (!dir || !n) {
		fprintf(stderr, "usage: meta_bench DIR [FILES]\n");
		return 2;
	}
	snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
	snprintf(url, sizeof(url), "file://%s/store", dir);
	pe = calloc(n, sizeof(*pe));
	paths = malloc(n * sizeof(*paths));
	if (!pe || !paths)
		return die(-ENOMEM, "allocating");
	for (size_t i = 0; i < n; i++) {
		snprintf(paths[i], sizeof(paths[i]), "d%04zu/f%07zu.jpg", i % 1000, i);
		pe[i].path = paths[i];
		pe[i].entry = &e;
	}
	if ((rc = meta_db_open(dbdir, &db)) < 0 ||
	    (rc = repo_create(db, "bench", url, NULL, REPO_PACK_SIZE_AUTO, &r)) < 0)
		return die(rc, "creating the repository");
	/* the head: n files, built in one go as an import would */
	t = now_sec();
	rc = repo_resolve(r, "main", &c0);
	if (rc == 0)
		rc = repo_commit_read(r, &c0, &head);
	if (rc == 0)
		rc = repo_apply_paths(r, &head.c.root, pe, n, 1, &root);
	if (rc == 0)
		rc = repo_write_commit(r, &root, &c0, 1, &ci, &id);
	if (rc == 0)
		rc = repo_branch_move(r, "main", &c0, &id);
	if (rc < 0)
		return die(rc, "building the head");
	meta_objects_stats(r->mo, &ms);
	report("build_head", n, now_sec() - t, &ms);

	meta_objects_stats_reset(r->mo);
	t = now_sec();
	rc = repo_branch_create(r, "exp", "main");
	if (rc < 0)
		return die(rc, "branch create");
	meta_objects_stats(r->mo, &ms);
	report("branch_create", n, now_sec() - t, &ms);

	for (int i = 0; i < 10; i++) {
		struct tree_entry ch = e;

		ch.mtime_ns = 42;
		if ((rc = repo_stage(r, "exp", paths[((size_t)i * 99991 + 7) % n], &ch)) < 0)
			return die(rc, "staging");
	}
	meta_objects_stats_reset(r->mo);
	t = now_sec();
	rc = repo_commit(r, "exp", &ci, &c1);
	if (rc < 0)
		return die(rc, "commit");
	meta_objects_stats(r->mo, &ms);
	report("commit_10_changes", n, now_sec() - t, &ms);

	/* diff and log from a cold cache: a fresh object cache */
	meta_objects_free(r->mo);
	if ((rc = meta_objects_new(r->store, 64u << 20, &r->mo)) < 0)
		return die(rc, "cache");
	t = now_sec();
	rc = repo_diff(r, &id, &c1, count_diff, &cnt);
	if (rc < 0 || cnt != 10)
		return die(rc < 0 ? rc : -EIO, "diff");
	meta_objects_stats(r->mo, &ms);
	report("diff_10_changes", n, now_sec() - t, &ms);

	meta_objects_stats_reset(r->mo);
	cnt = 0;
	t = now_sec();
	rc = repo_log(r, &c1, false, 0, count_log, &cnt);
	if (rc < 0)
		return die(rc, "log");
	meta_objects_stats(r->mo, &ms);
	report("log", n, now_sec() - t, &ms);

	repo_commit_release(&head);
	repo_close(r);
	meta_db_close(db);
	free(pe);
	free(paths);
	return 0;
}
