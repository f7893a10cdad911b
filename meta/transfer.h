/* Moving data between local files and a repository: import of a directory
 * tree into a branch's staging, export of a commit's tree to a directory,
 * and reading a file's bytes by range. The CLI and the mount use these.
 *
 * Memory is bounded by the options (queue depth, batch size, the chunk
 * pipeline's window, import workers times the maximum chunk size, the
 * export's fetch threads: meta/fetch.h), never by the number or size of
 * the files.
 */
#ifndef T9K_META_TRANSFER_H
#define T9K_META_TRANSFER_H

#include "meta/repo.h"

#include <stdbool.h>
#include <sys/stat.h>

struct transfer_stats {
	uint64_t files, dirs, symlinks, skipped;
	uint64_t specials;     /* fifos, sockets, devices */
	uint64_t links;        /* names linked to a file already there (export) or
				* to another name (import: every name of a group) */
	uint64_t bytes;        /* file bytes read or written */
	uint64_t chunks_new;   /* chunks the store did not have (import) */
	uint64_t bytes_stored; /* encoded bytes written for them */
	uint64_t total_bytes;  /* when known up front (export), else 0 */
};

/* Called from the calling thread now and then, and once at the end. */
typedef void (*transfer_progress_fn)(void *arg, const struct transfer_stats *st);

struct import_opts {
	int threads;           /* 0: one per CPU */
	bool no_owner;         /* record no owners (entries then show the
				* mounting user, as before tree version 2) */
	transfer_progress_fn progress;
	void *arg;
};

/* Stages every regular file, symlink, directory, fifo, socket and device
 * under local directory src at prefix ("" for the root) of branch, adding
 * to what is there. Everything keeps its mode, mtime and owner (uid and
 * gid, as tar records them; none with no_owner); devices their numbers.
 * Names of one file (hard links: one inode, st_nlink > 1) become entries
 * of one link group whose count is the names found under src; they are
 * held, path and entry, until the walk ends (memory: the hard-linked
 * names), and their group id derives from the first of their paths, so
 * that importing the same tree again stages the same entries. On failure
 * what was staged so far stays staged (repo_reset drops it) and the
 * error names the file. */
int repo_import(struct repo *r, const char *branch, const char *src, const char *prefix,
		const struct import_opts *o, struct transfer_stats *st);

struct export_opts {
	bool no_owner;         /* leave owners as the exporting user's */
	transfer_progress_fn progress;
	void *arg;
};

/* Writes path of commit (a directory or a file) to dst, which must not
 * exist. Modes, mtimes, symlinks, fifos and sockets are restored, and the
 * names of a link group as hard links; as root also owners (unless
 * no_owner) and devices, else devices are skipped and counted. o may be
 * NULL. Memory: one path per link group exported. */
int repo_export_ex(struct repo *r, const struct oid *commit, const char *path, const char *dst,
		   const struct export_opts *o, struct transfer_stats *st);
int repo_export(struct repo *r, const struct oid *commit, const char *path, const char *dst,
		transfer_progress_fn progress, void *arg, struct transfer_stats *st);

/* Appends bytes [off, off+len) of file entry e to out (cut at the end). */
int repo_file_read(struct repo *r, const struct tree_entry *e, uint64_t off, uint64_t len,
		   struct buf *out);
/* Writes the whole content of file entry e to fd. */
int repo_file_to_fd(struct repo *r, const struct tree_entry *e, int fd);

/* Stores the content of an open regular file and fills *e (name unset)
 * for staging: inline up to META_INLINE_MAX bytes (inline_buf, of that
 * size, backs e->data), cut and stored through w on this thread up to
 * the repository's maximum chunk size (when w is given), else through
 * the pipeline p. st may be NULL. */
struct chunk_pipeline;
struct chunk_pipeline_opts;
struct chunk_writer;
/* The chunk pipeline options every writer of repository r uses: its chunk
 * sizes, and its packs (pack_size) with its chunk index, which finds
 * packed chunks again. r must outlive the pipeline. */
int repo_pipeline_opts(struct repo *r, struct chunk_pipeline_opts *po);
int repo_file_store(struct repo *r, struct chunk_pipeline *p, struct chunk_writer *w, int fd,
		    const struct stat *sb, struct tree_entry *e, uint8_t *inline_buf,
		    struct transfer_stats *st);

#endif
