/* Import, export and ranged reads of files.
 *
 * Import: the calling thread walks the source tree with fd-relative calls
 * (openat/fstatat, so path length never matters) and hands regular files
 * up to the maximum chunk size to a pool of workers through a bounded
 * queue; larger files it cuts itself through the chunk pipeline, whose own
 * workers hash and store. Results gather in a batch that is staged with
 * one synced write per IMPORT_BATCH files. Names of a hard-linked file
 * wait in their link group until the walk is done (only then is their
 * count known), and are staged last.
 * Export writes entries in tree order: the first name of a link group as
 * any entry, each later one by link(2) to it.
 * Locking: imp->lock guards the queue, the batch, the link groups' names,
 * the stats and the first error; file I/O, hashing and staging run
 * outside it.
 */
#include "meta/transfer.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/fetch.h"
#include "meta/repo-internal.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define IMPORT_QUEUE 256
#define IMPORT_BATCH 1024
#define LINK_BUCKETS 1024

/* ---- storing one file ---- */

/* ---- the pipeline's chunk index ---- */

static int index_lookup(void *arg, const struct oid *id, struct chunk_loc *out)
{
	struct manifest_chunk mc;
	int rc = repo_chunk_index_get(arg, id, &mc);

	if (rc == 0)
		*out = (struct chunk_loc){ .id = mc.id, .len = mc.len, .packed = true, .pack = mc.pack,
					   .pack_off = mc.pack_off, .pack_len = mc.pack_len };
	return rc;
}

static int index_stored(void *arg, const struct chunk_loc *v, size_t n)
{
	struct manifest_builder b = { 0 };
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = meta_manifest_add(&b, &v[i], 0);
	if (rc == 0)
		rc = repo_chunk_index_put(arg, b.m.chunks, n);
	manifest_release(&b.m);
	return rc;
}

int repo_pipeline_opts(struct repo *r, struct chunk_pipeline_opts *po)
{
	chunk_pipeline_opts_init(po);
	po->pack_size = r->info.pack_size;
	/* a lookup is a request to the service for a remote handle */
	po->pack = (struct pack_ops){ .lookup = index_lookup, .stored = index_stored, .arg = r,
				      .lookup_costly = r->db == NULL };
	return cdc_params_init(&po->cdc, r->info.cdc_min, r->info.cdc_avg, r->info.cdc_max);
}

int repo_file_store(struct repo *r, struct chunk_pipeline *p, struct chunk_writer *w, int fd,
		    const struct stat *sb, struct tree_entry *e, uint8_t *inline_buf,
		    struct transfer_stats *st)
{
	struct manifest_builder mb = { 0 };
	uint64_t size = (uint64_t)sb->st_size;
	ssize_t n;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	e->mode = S_IFREG | (sb->st_mode & 07777);
	e->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	if (size <= META_INLINE_MAX) {
		/* read one byte more to notice a file that grew meanwhile */
		uint8_t extra;

		n = read_full(fd, inline_buf, (size_t)size);
		if (n >= 0 && (size_t)n == size && read_full(fd, &extra, 1) != 0)
			n = -EAGAIN;
		if (n < 0)
			return n == -EAGAIN ? t9k_err(-EAGAIN, "file changed while being read")
					    : t9k_err((int)n, "read: %s", strerror((int)-n));
		e->is_inline = true;
		e->data = inline_buf;
		e->data_len = (uint32_t)n;
		e->size = (uint64_t)n;
		if (st)
			st->bytes += (uint64_t)n;
		return 0;
	}
	if (w && size <= r->info.cdc_max) {
		/* Cut here, on the caller's thread: the import workers store many
		 * such files at once, where the pipeline would take them one by one. */
		struct buf data = BUF_INIT;
		struct cdc_params cp;
		uint64_t off = 0;

		rc = cdc_params_init(&cp, r->info.cdc_min, r->info.cdc_avg, r->info.cdc_max);
		if (rc == 0)
			rc = buf_grow(&data, (size_t)size);
		n = rc < 0 ? rc : read_full(fd, data.data, (size_t)size);
		if (n >= 0 && (size_t)n != size)
			n = t9k_err(-EAGAIN, "file changed while being read");
		else if (n < 0 && n != rc)
			n = t9k_err((int)n, "read: %s", strerror((int)-n));
		rc = n < 0 ? (int)n : 0;
		while (rc == 0 && off < size) {
			size_t len = cdc_cut(&cp, data.data + off, (size_t)(size - off));
			struct chunk_put_result res;

			rc = chunk_put(w, r->store, data.data + off, len, &res);
			if (rc == 0)
				rc = meta_manifest_add(&mb, &(struct chunk_loc){ .id = res.id,
										   .len = (uint32_t)len },
						       off);
			if (rc == 0 && st) {
				st->chunks_new += !res.existed;
				st->bytes_stored += res.stored_bytes;
			}
			off += len;
		}
		buf_release(&data);
	} else {
		struct chunk_stats cs;

		rc = chunk_pipeline_run(p, chunk_read_fd, &fd, meta_manifest_add, &mb, &cs);
		if (rc == 0 && st) {
			st->chunks_new += cs.chunks_new;
			st->bytes_stored += cs.bytes_stored;
		}
	}
	/* one chunk becomes a payload-2 entry, more a manifest */
	if (rc == 0)
		rc = meta_manifest_put(r->mo, &mb.m, e);
	if (rc == 0 && st)
		st->bytes += e->size;
	manifest_release(&mb.m);
	return rc;
}

/* ---- import ---- */

struct staged_file {
	struct staged_file *next;     /* in a link group */
	char *path;
	struct tree_entry e;
	bool dir_attrs;
	uint8_t data[]; /* inline bytes */
};

/* The names of one hard-linked source file (one dev and inode). */
struct link_group {
	struct link_group *next;      /* hash chain */
	dev_t dev;
	ino_t ino;
	struct staged_file *names;    /* [imp->lock] */
	size_t n;
};

struct job {
	int fd;
	char *path;
	struct stat sb;
	struct link_group *group;     /* a hard-linked file's, or NULL */
};

struct importer {
	struct repo *r;
	const char *branch;
	struct oid head;
	pthread_mutex_t lock;
	pthread_cond_t cv;       /* queue changed */
	struct job queue[IMPORT_QUEUE];
	size_t qhead, qlen;
	int busy, stop, nthreads;
	struct staged_file *batch[IMPORT_BATCH];
	size_t nbatch;
	struct link_group *groups[LINK_BUCKETS]; /* changed by the walk only */
	bool owners;              /* record owners */
	int err;                  /* first failure */
	char errmsg[512];
	struct transfer_stats st;
};

static void fail(struct importer *imp, int rc)
{
	pthread_mutex_lock(&imp->lock);
	if (!imp->err) {
		imp->err = rc;
		snprintf(imp->errmsg, sizeof(imp->errmsg), "%s", t9k_errmsg(rc));
	}
	imp->stop = 1;
	pthread_cond_broadcast(&imp->cv);
	pthread_mutex_unlock(&imp->lock);
}

static int flush_batch(struct importer *imp, struct staged_file **v, size_t n)
{
	struct repo_stage_item items[IMPORT_BATCH];
	int rc;

	for (size_t i = 0; i < n; i++) {
		items[i].path = v[i]->path;
		items[i].entry = &v[i]->e;
		items[i].dir_attrs = v[i]->dir_attrs;
	}
	rc = n ? repo_stage_batch(imp->r, imp->branch, items, n) : 0;
	for (size_t i = 0; i < n; i++) {
		free(v[i]->path);
		free(v[i]);
	}
	return rc;
}

/* The owner of a source entry, unless owners are not recorded. */
static void set_owner(const struct importer *imp, struct tree_entry *e, const struct stat *sb)
{
	e->has_owner = imp->owners;
	e->uid = imp->owners ? (uint32_t)sb->st_uid : 0;
	e->gid = imp->owners ? (uint32_t)sb->st_gid : 0;
}

/* Adds a result; stages the batch when it is full, or keeps it in its
 * link group (group not NULL). Takes path. */
static int add_result(struct importer *imp, char *path, const struct tree_entry *e,
		      const struct transfer_stats *delta, struct link_group *group)
{
	struct staged_file *sf = malloc(sizeof(*sf) + (e->is_inline ? e->data_len : 0));
	struct staged_file *full[IMPORT_BATCH];
	size_t nfull = 0;

	if (!sf) {
		free(path);
		return t9k_err(-ENOMEM, "out of memory");
	}
	sf->next = NULL;
	sf->path = path;
	sf->e = *e;
	sf->dir_attrs = S_ISDIR(e->mode);
	if (e->is_inline) {
		memcpy(sf->data, e->data, e->data_len);
		sf->e.data = sf->data;
	}
	pthread_mutex_lock(&imp->lock);
	if (group) {
		sf->next = group->names;
		group->names = sf;
		group->n++;
	} else {
		imp->batch[imp->nbatch++] = sf;
	}
	if (imp->nbatch == IMPORT_BATCH) {
		memcpy(full, imp->batch, sizeof(full));
		nfull = imp->nbatch;
		imp->nbatch = 0;
	}
	if (delta) {
		imp->st.files += delta->files;
		imp->st.symlinks += delta->symlinks;
		imp->st.dirs += delta->dirs;
		imp->st.specials += delta->specials;
		imp->st.bytes += delta->bytes;
		imp->st.chunks_new += delta->chunks_new;
		imp->st.bytes_stored += delta->bytes_stored;
	}
	pthread_mutex_unlock(&imp->lock);
	return flush_batch(imp, full, nfull);
}

static void *import_worker(void *arg)
{
	struct importer *imp = arg;
	struct chunk_writer *w = chunk_writer_new(CHUNK_ZLEVEL_DEFAULT);
	uint8_t *inl = malloc(META_INLINE_MAX);

	pthread_mutex_lock(&imp->lock);
	for (;;) {
		struct transfer_stats d = { .files = 1 };
		struct tree_entry e;
		struct job j;
		int rc;

		while (!imp->stop && imp->qlen == 0)
			pthread_cond_wait(&imp->cv, &imp->lock);
		if (imp->qlen == 0)
			break;
		j = imp->queue[imp->qhead];
		imp->qhead = (imp->qhead + 1) % IMPORT_QUEUE;
		imp->qlen--;
		imp->busy++;
		pthread_cond_broadcast(&imp->cv);
		pthread_mutex_unlock(&imp->lock);

		t9k_err_clear();
		if (!w || !inl)
			rc = t9k_err(-ENOMEM, "out of memory");
		else if (imp->err)
			rc = 0; /* drain quietly after a failure */
		else
			rc = repo_file_store(imp->r, NULL, w, j.fd, &j.sb, &e, inl, &d);
		close(j.fd);
		if (rc == 0 && !imp->err) {
			set_owner(imp, &e, &j.sb);
			rc = add_result(imp, j.path, &e, &d, j.group);
			j.path = NULL;
		} else if (rc < 0) {
			t9k_err_wrap(rc, "'%s'", j.path);
		}
		free(j.path);
		if (rc < 0)
			fail(imp, rc);
		pthread_mutex_lock(&imp->lock);
		imp->busy--;
		pthread_cond_broadcast(&imp->cv);
	}
	pthread_mutex_unlock(&imp->lock);
	chunk_writer_free(w);
	free(inl);
	return NULL;
}

/* Queues a small file for the workers; takes fd and path. */
static int enqueue(struct importer *imp, int fd, char *path, const struct stat *sb,
		   struct link_group *group)
{
	pthread_mutex_lock(&imp->lock);
	while (!imp->stop && imp->qlen == IMPORT_QUEUE)
		pthread_cond_wait(&imp->cv, &imp->lock);
	if (imp->stop) {
		pthread_mutex_unlock(&imp->lock);
		close(fd);
		free(path);
		return imp->err ? imp->err : -ECANCELED;
	}
	imp->queue[(imp->qhead + imp->qlen) % IMPORT_QUEUE] = (struct job){ fd, path, *sb, group };
	imp->qlen++;
	pthread_cond_signal(&imp->cv);
	pthread_mutex_unlock(&imp->lock);
	return 0;
}

struct walk {
	struct importer *imp;
	struct chunk_pipeline *p;
	const struct import_opts *o;
	uint8_t inl[META_INLINE_MAX];
	double last_progress;
};

static void maybe_progress(struct walk *w, bool force)
{
	struct transfer_stats copy;
	double t = now_sec();

	if (!w->o || !w->o->progress || (!force && t - w->last_progress < 0.25))
		return;
	w->last_progress = t;
	pthread_mutex_lock(&w->imp->lock);
	copy = w->imp->st;
	pthread_mutex_unlock(&w->imp->lock);
	w->o->progress(w->o->arg, &copy);
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + (la > 0), b, lb + 1);
	return s;
}

static int import_entry(struct walk *w, int dirfd, const char *name, const char *rpath);

static int import_dir(struct walk *w, int fd, const char *rpath)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat sb;
	int rc = 0;

	if (!d) {
		rc = t9k_err(-errno, "cannot read directory '%s': %s", *rpath ? rpath : ".",
			     strerror(errno));
		close(fd);
		return rc;
	}
	if (fstat(dirfd(d), &sb) < 0)
		rc = t9k_err(-errno, "cannot stat '%s': %s", rpath, strerror(errno));
	while (rc == 0 && !w->imp->stop && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = import_entry(w, dirfd(d), de->d_name, rpath);
	}
	if (rc == 0 && errno)
		rc = t9k_err(-errno, "cannot read directory '%s': %s", rpath, strerror(errno));
	closedir(d);
	if (rc == 0 && *rpath) {
		/* the directory's own mode, mtime and owner; its contents stay */
		struct tree_entry e = { .mode = S_IFDIR | (sb.st_mode & 07777) };
		char *p = strdup(rpath);

		e.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		set_owner(w->imp, &e, &sb);
		rc = p ? add_result(w->imp, p, &e, NULL, NULL) : t9k_err(-ENOMEM, "out of memory");
	}
	return rc;
}

/* The link group of a file with more than one name (walk thread only). */
static int link_group_of(struct importer *imp, const struct stat *sb, struct link_group **out)
{
	size_t b = ((uint64_t)sb->st_ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)sb->st_dev) %
		   LINK_BUCKETS;
	struct link_group *g;

	*out = NULL;
	if (S_ISDIR(sb->st_mode) || sb->st_nlink < 2)
		return 0;
	for (g = imp->groups[b]; g; g = g->next)
		if (g->dev == sb->st_dev && g->ino == sb->st_ino)
			break;
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return t9k_err(-ENOMEM, "out of memory");
		g->dev = sb->st_dev;
		g->ino = sb->st_ino;
		pthread_mutex_lock(&imp->lock);
		g->next = imp->groups[b];
		imp->groups[b] = g;
		pthread_mutex_unlock(&imp->lock);
	}
	*out = g;
	return 0;
}

/* A group's id: from the first of its paths (byte order), so the same
 * tree imported again gets the same ids; never 0. */
static uint64_t link_group_id(const struct link_group *g)
{
	static const char tag[] = "t9kfs import link group";
	const struct staged_file *first = g->names;
	char buf[sizeof(tag) + REPO_PATH_MAX + 1];
	size_t len;
	struct oid md;
	uint64_t id = 0;

	for (const struct staged_file *sf = g->names; sf; sf = sf->next)
		if (strcmp(sf->path, first->path) < 0)
			first = sf;
	len = strlen(first->path);
	if (len > REPO_PATH_MAX)
		len = REPO_PATH_MAX;
	memcpy(buf, tag, sizeof(tag)); /* with its NUL */
	memcpy(buf + sizeof(tag), first->path, len);
	if (oid_hash(&md, buf, sizeof(tag) + len) < 0)
		return (uint64_t)(uintptr_t)g | 1; /* (unique enough in one import) */
	for (int i = 0; i < 8; i++)
		id |= (uint64_t)md.b[i] << (8 * i);
	return id ? id : 1;
}

/* Stages the names of every link group, each with the group's id and
 * count (after the workers are done); frees the groups. */
static int flush_links(struct importer *imp)
{
	struct staged_file *batch[IMPORT_BATCH];
	size_t n = 0;
	int rc = 0;

	for (size_t b = 0; b < LINK_BUCKETS; b++) {
		struct link_group *g = imp->groups[b], *gnext;

		for (; g; g = gnext) {
			uint64_t id = g->n > 1 ? link_group_id(g) : 0;
			struct staged_file *sf = g->names, *next;

			gnext = g->next;
			for (; sf; sf = next) {
				next = sf->next;
				sf->e.link_id = id;
				sf->e.nlink = id ? (uint32_t)g->n : 0;
				if (rc < 0) {
					free(sf->path);
					free(sf);
					continue;
				}
				batch[n++] = sf;
				if (n == IMPORT_BATCH) {
					rc = flush_batch(imp, batch, n);
					n = 0;
				}
			}
			imp->st.links += g->n > 1 ? g->n : 0;
			free(g);
		}
		imp->groups[b] = NULL;
	}
	if (rc == 0)
		rc = flush_batch(imp, batch, n);
	for (size_t i = 0; rc < 0 && i < n; i++) {
		free(batch[i]->path);
		free(batch[i]);
	}
	return rc;
}

static int import_entry(struct walk *w, int dirfd, const char *name, const char *rpath)
{
	struct importer *imp = w->imp;
	char *path = join(rpath, name);
	struct link_group *group = NULL;
	struct stat sb;
	int fd, rc = 0;

	if (!path)
		return t9k_err(-ENOMEM, "out of memory");
	if (strlen(path) > REPO_PATH_MAX) {
		rc = t9k_err(-ENAMETOOLONG, "path too long: '%.100s...'", path);
		goto out;
	}
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = t9k_err(-errno, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = link_group_of(imp, &sb, &group);
	if (rc < 0)
		goto out;
	if (S_ISDIR(sb.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = t9k_err(-errno, "cannot open directory '%s': %s", path, strerror(errno));
			goto out;
		}
		pthread_mutex_lock(&imp->lock);
		imp->st.dirs++;
		pthread_mutex_unlock(&imp->lock);
		rc = import_dir(w, fd, path);
	} else if (S_ISLNK(sb.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		struct tree_entry e = { .mode = S_IFLNK | 0777, .is_inline = true };
		struct transfer_stats d = { .symlinks = 1 };

		if (n < 0 || (size_t)n >= sizeof(target)) {
			rc = t9k_err(n < 0 ? -errno : -ENAMETOOLONG, "cannot read symlink '%s'", path);
			goto out;
		}
		e.data = (const uint8_t *)target;
		e.data_len = (uint32_t)n;
		e.size = (uint64_t)n;
		e.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		set_owner(imp, &e, &sb);
		rc = add_result(imp, path, &e, &d, group);
		path = NULL;
	} else if (S_ISREG(sb.st_mode)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = t9k_err(-errno, "cannot open '%s': %s", path, strerror(errno));
			goto out;
		}
		if ((uint64_t)sb.st_size <= imp->r->info.cdc_max) {
			rc = enqueue(imp, fd, path, &sb, group);
			path = NULL;
		} else {
			struct transfer_stats d = { .files = 1 };
			struct tree_entry e;

			rc = repo_file_store(imp->r, w->p, NULL, fd, &sb, &e, w->inl, &d);
			close(fd);
			if (rc < 0) {
				t9k_err_wrap(rc, "'%s'", path);
			} else {
				set_owner(imp, &e, &sb);
				rc = add_result(imp, path, &e, &d, group); /* takes path */
				path = NULL;
			}
		}
	} else if (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode) || S_ISCHR(sb.st_mode) ||
		   S_ISBLK(sb.st_mode)) {
		/* an entry without data: type, mode, owner, device numbers */
		struct tree_entry e = { .mode = (sb.st_mode & S_IFMT) | (sb.st_mode & 07777) };
		struct transfer_stats d = { .specials = 1 };

		e.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
			e.dev_major = major(sb.st_rdev);
			e.dev_minor = minor(sb.st_rdev);
		}
		set_owner(imp, &e, &sb);
		rc = add_result(imp, path, &e, &d, group);
		path = NULL;
	} else {
		t9k_log(T9K_LOG_WARN, "import: skipping '%s': of a type tree entries do not hold", path);
		pthread_mutex_lock(&imp->lock);
		imp->st.skipped++;
		pthread_mutex_unlock(&imp->lock);
	}
	maybe_progress(w, false);
out:
	free(path);
	return rc;
}

int repo_import(struct repo *r, const char *branch, const char *src, const char *prefix,
		const struct import_opts *o, struct transfer_stats *st)
{
	struct importer *imp = calloc(1, sizeof(*imp));
	struct walk *w = calloc(1, sizeof(*w));
	struct chunk_pipeline_opts po;
	pthread_t threads[64];
	struct stat sb;
	int rc = 0, fd = -1, conc;

	if (!imp || !w) {
		free(imp);
		free(w);
		return t9k_err(-ENOMEM, "out of memory");
	}
	imp->r = r;
	imp->branch = branch;
	imp->owners = !(o && o->no_owner);
	w->imp = imp;
	w->o = o;
	pthread_mutex_init(&imp->lock, NULL);
	pthread_cond_init(&imp->cv, NULL);
	/* check everything before staging anything */
	rc = meta_ref_name_check(branch);
	if (rc == 0) {
		bool is_branch = false;

		rc = repo_resolve_ex(r, branch, &imp->head, &is_branch);
		if (rc == 0 && !is_branch)
			rc = t9k_err(T9K_ENOTFOUND, "branch '%s' not found in repository '%s'", branch,
				     r->info.name);
	}
	if (rc == 0 && *prefix)
		rc = meta_path_check(prefix);
	if (rc == 0 && (fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = t9k_err(-errno, "cannot open directory '%s': %s", src, strerror(errno));
	if (rc == 0 && fstat(fd, &sb) < 0)
		rc = t9k_err(-errno, "cannot stat '%s': %s", src, strerror(errno));
	if (rc == 0)
		rc = repo_pipeline_opts(r, &po);
	/* A remote store wants more requests in flight than there are CPUs. */
	conc = store_concurrency(r->store);
	if (conc < cpu_count())
		conc = 0; /* the CPU-bound defaults are right */
	po.threads = o && o->threads ? o->threads : conc;
	if (rc == 0)
		rc = chunk_pipeline_new(r->store, &po, &w->p);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	imp->nthreads = o && o->threads ? o->threads : conc ? conc : cpu_count();
	if (imp->nthreads > 64)
		imp->nthreads = 64;
	for (int i = 0; i < imp->nthreads; i++) {
		int err = pthread_create(&threads[i], NULL, import_worker, imp);

		if (err) {
			imp->nthreads = i;
			fail(imp, t9k_err(-err, "cannot start import workers: %s", strerror(err)));
			close(fd);
			fd = -1;
			break;
		}
	}
	if (fd >= 0) {
		rc = import_dir(w, fd, prefix);
		if (rc < 0 && rc != -ECANCELED)
			fail(imp, rc);
	}
	/* let the workers finish the queue, then stop them */
	pthread_mutex_lock(&imp->lock);
	while (imp->qlen || imp->busy)
		pthread_cond_wait(&imp->cv, &imp->lock);
	imp->stop = 1;
	pthread_cond_broadcast(&imp->cv);
	pthread_mutex_unlock(&imp->lock);
	for (int i = 0; i < imp->nthreads; i++)
		pthread_join(threads[i], NULL);
	rc = imp->err;
	if (rc == 0) {
		rc = flush_batch(imp, imp->batch, imp->nbatch); /* frees the batch */
		imp->nbatch = 0;
		if (rc == 0)
			rc = flush_links(imp); /* their counts are known now */
	} else {
		rc = t9k_err(rc, "%s", imp->errmsg);
	}
	maybe_progress(w, true);
out:
	for (size_t i = 0; i < imp->nbatch; i++) {
		free(imp->batch[i]->path);
		free(imp->batch[i]);
	}
	for (size_t b = 0; b < LINK_BUCKETS; b++) { /* (after a failure) */
		while (imp->groups[b]) {
			struct link_group *g = imp->groups[b];

			imp->groups[b] = g->next;
			while (g->names) {
				struct staged_file *sf = g->names;

				g->names = sf->next;
				free(sf->path);
				free(sf);
			}
			free(g);
		}
	}
	if (st)
		*st = imp->st;
	chunk_pipeline_free(w->p);
	pthread_mutex_destroy(&imp->lock);
	pthread_cond_destroy(&imp->cv);
	free(w);
	free(imp);
	return rc;
}

/* ---- reading files ---- */

int repo_file_read(struct repo *r, const struct tree_entry *e, uint64_t off, uint64_t len,
		   struct buf *out)
{
	struct buf chunk = BUF_INIT;
	struct manifest m = { 0 };
	uint64_t pos = 0;
	int rc = 0;

	if (!S_ISREG(e->mode) && !S_ISLNK(e->mode))
		return t9k_err(-EISDIR, "not a file");
	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = e->size - off;
	if (e->is_inline)
		return buf_add(out, e->data + off, (size_t)len);
	rc = meta_manifest_get(r->mo, e, &m);
	for (uint32_t i = 0; rc == 0 && i < m.nchunks && len; i++) {
		uint64_t clen = m.chunks[i].len;

		if (pos + clen > off) {
			uint64_t from = off - pos, n = clen - from < len ? clen - from : len;

			buf_reset(&chunk);
			rc = repo_chunk_read(r, &m.chunks[i], &chunk);
			if (rc == 0)
				rc = buf_add(out, chunk.data + from, (size_t)n);
			off += n;
			len -= n;
		}
		pos += clen;
	}
	manifest_release(&m);
	buf_release(&chunk);
	return rc;
}

/* Large files into a regular file go through a fetch (chunks in parallel,
 * written at their offsets from the fd's position); the rest in order. */
int repo_file_to_fd(struct repo *r, const struct tree_entry *e, int fd)
{
	struct buf chunk = BUF_INIT;
	struct manifest m = { 0 };
	struct stat sb;
	int rc, fl;

	if (e->is_inline)
		return write_full(fd, e->data, e->data_len) < 0
			       ? t9k_err(-errno, "write: %s", strerror(errno)) : 0;
	if (e->size >= r->info.cdc_max && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (fl = fcntl(fd, F_GETFL)) >= 0 && !(fl & O_APPEND)) {
		off_t base = lseek(fd, 0, SEEK_CUR);
		int threads = store_concurrency(r->store);
		uint64_t chunks = e->size / (r->info.cdc_avg ? r->info.cdc_avg : 1) + 1;
		struct fetch *f = NULL;

		if (base < 0)
			return t9k_err(-errno, "seek: %s", strerror(errno));
		if ((uint64_t)threads > chunks)
			threads = (int)chunks;
		rc = fetch_new(r, threads, &f);
		if (rc == 0) {
			rc = fetch_file(f, e, fd, base, -1, NULL, "", 0);
			rc = fetch_finish(f, rc);
		}
		fetch_free(f);
		if (rc == 0 && lseek(fd, base + (off_t)e->size, SEEK_SET) < 0)
			rc = t9k_err(-errno, "seek: %s", strerror(errno));
		return rc;
	}
	rc = meta_manifest_get(r->mo, e, &m);
	for (uint32_t i = 0; rc == 0 && i < m.nchunks; i++) {
		buf_reset(&chunk);
		rc = repo_chunk_read(r, &m.chunks[i], &chunk);
		if (rc == 0 && (rc = write_full(fd, chunk.data, chunk.len)) < 0)
			rc = t9k_err(rc, "write: %s", strerror(-rc));
	}
	manifest_release(&m);
	buf_release(&chunk);
	return rc;
}

/* ---- export ---- */

/* The first name exported of a link group: the others are linked to it.
 * path NULL: it could not be made (a device, not as root). */
struct export_link {
	struct export_link *next;
	uint64_t id;
	char *path;
};

struct exporter {
	struct repo *r;
	struct fetch *f; /* writes the files that are not inline */
	transfer_progress_fn progress;
	void *arg;
	double last;
	bool owners;     /* restore owners (root, not no_owner) */
	bool devices;    /* make devices (root) */
	struct export_link *links[LINK_BUCKETS];
	char **made;     /* the names made by link(2), removed on failure */
	size_t nmade, capmade;
	struct transfer_stats st;
};

static int set_times(int dirfd, const char *name, int64_t mtime_ns, int flags)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { mtime_ns / 1000000000, mtime_ns % 1000000000 } };

	if (ts[1].tv_nsec < 0) {
		ts[1].tv_nsec += 1000000000;
		ts[1].tv_sec--;
	}
	return utimensat(dirfd, name, ts, flags) < 0 ? -errno : 0;
}

/* Gives name (fd when >= 0) e's owner, when owners are restored: before
 * the mode, since chown clears set-ID bits. */
static int set_owner_at(const struct exporter *x, int fd, int dirfd, const char *name,
			const struct tree_entry *e, const char *path)
{
	int rc;

	if (!x->owners || !e->has_owner)
		return 0;
	rc = fd >= 0 ? fchown(fd, e->uid, e->gid)
		     : fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
	return rc < 0 ? t9k_err(-errno, "chown '%s' to %u:%u: %s", path, e->uid, e->gid,
				strerror(errno)) : 0;
}

static struct export_link **link_slot(struct exporter *x, uint64_t id)
{
	struct export_link **pp = &x->links[(id * 0x9e3779b97f4a7c15ULL >> 7) % LINK_BUCKETS];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

/* A later name of a link group already exported: 1 when linked (or left
 * out with the first), 0 when e is the first, or a failure. */
static int export_link(struct exporter *x, int dirfd, const struct tree_entry *e,
		       const char *name, const char *path)
{
	struct export_link **pp, *l;

	if (!e->link_id || S_ISDIR(e->mode))
		return 0;
	pp = link_slot(x, e->link_id);
	l = *pp;
	if (!l) {
		if (!(l = calloc(1, sizeof(*l))) || !(l->path = strdup(path))) {
			free(l);
			return t9k_err(-ENOMEM, "out of memory");
		}
		l->id = e->link_id;
		*pp = l;
		return 0;
	}
	if (!l->path) {
		x->st.skipped++;
		return 1;
	}
	if (x->nmade == x->capmade) {
		size_t cap = x->capmade ? x->capmade * 2 : 64;
		char **v = realloc(x->made, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		x->made = v;
		x->capmade = cap;
	}
	if (!(x->made[x->nmade] = strdup(path)))
		return t9k_err(-ENOMEM, "out of memory");
	if (linkat(AT_FDCWD, l->path, dirfd, name, 0) < 0) {
		int err = errno;

		free(x->made[x->nmade]);
		return t9k_err(-err, "cannot link '%s' to '%s': %s", path, l->path, strerror(err));
	}
	x->nmade++;
	x->st.links++;
	return 1;
}

/* The first name of a group could not be made: nor will the others. */
static void export_link_skipped(struct exporter *x, const struct tree_entry *e)
{
	struct export_link *l = e->link_id ? *link_slot(x, e->link_id) : NULL;

	if (l) {
		free(l->path);
		l->path = NULL;
	}
}

static void export_links_free(struct exporter *x, bool remove)
{
	for (size_t b = 0; b < LINK_BUCKETS; b++) {
		while (x->links[b]) {
			struct export_link *l = x->links[b];

			x->links[b] = l->next;
			free(l->path);
			free(l);
		}
	}
	for (size_t i = 0; i < x->nmade; i++) {
		if (remove && unlink(x->made[i]) < 0 && errno != ENOENT)
			t9k_log(T9K_LOG_WARN, "cannot remove '%s': %s", x->made[i], strerror(errno));
		free(x->made[i]);
	}
	free(x->made);
}

static int export_entry(struct exporter *x, int dirfd, const struct tree_entry *e, const char *name,
			const char *path);

static int export_tree(struct exporter *x, int dirfd, const struct oid *tree, const char *path)
{
	struct tree_iter *it;
	struct tree_entry e;
	int rc = tree_iter_new(x->r->mo, tree, NULL, 0, &it);

	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		char name[META_NAME_MAX + 1], *sub;

		memcpy(name, e.name, e.name_len);
		name[e.name_len] = '\0';
		sub = join(path, name);
		rc = sub ? export_entry(x, dirfd, &e, name, sub) : t9k_err(-ENOMEM, "out of memory");
		free(sub);
	}
	tree_iter_free(it);
	return rc;
}

/* A fifo, socket or device (devices only as root: else counted as
 * skipped). 1 when skipped. */
static int export_special(struct exporter *x, int dirfd, const struct tree_entry *e,
			  const char *name, const char *path)
{
	dev_t dev = 0;
	int rc;

	if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		if (!x->devices) {
			t9k_log(T9K_LOG_WARN, "export: skipping the device '%s' (only root makes devices)",
				path);
			x->st.skipped++;
			return 1;
		}
		dev = makedev(e->dev_major, e->dev_minor);
	}
	if (mknodat(dirfd, name, (e->mode & S_IFMT) | 0600, dev) < 0)
		return t9k_err(-errno, "cannot create '%s': %s", path, strerror(errno));
	x->st.specials++;
	rc = set_owner_at(x, -1, dirfd, name, e, path);
	if (rc == 0 && fchmodat(dirfd, name, e->mode & 07777, 0) < 0)
		rc = t9k_err(-errno, "chmod '%s': %s", path, strerror(errno));
	return rc;
}

static int export_entry(struct exporter *x, int dirfd, const struct tree_entry *e, const char *name,
			const char *path)
{
	int fd, rc = export_link(x, dirfd, e, name, path);

	if (rc != 0)
		return rc < 0 ? rc : 0; /* a later name of a link group */
	if (S_ISDIR(e->mode)) {
		if (mkdirat(dirfd, name, 0700) < 0)
			return t9k_err(-errno, "cannot create directory '%s': %s", path, strerror(errno));
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return t9k_err(-errno, "cannot open '%s': %s", path, strerror(errno));
		rc = export_tree(x, fd, &e->id, path);
		if (rc == 0)
			rc = set_owner_at(x, fd, -1, NULL, e, path);
		if (rc == 0 && fchmod(fd, e->mode & 07777) < 0)
			rc = t9k_err(-errno, "chmod '%s': %s", path, strerror(errno));
		close(fd);
		x->st.dirs++;
	} else if (S_ISLNK(e->mode)) {
		char target[PATH_MAX];

		if (!e->is_inline || e->data_len >= sizeof(target))
			return t9k_err(T9K_ECORRUPT, "symlink '%s' has no inline target", path);
		memcpy(target, e->data, e->data_len);
		target[e->data_len] = '\0';
		if (symlinkat(target, dirfd, name) < 0)
			return t9k_err(-errno, "cannot create symlink '%s': %s", path, strerror(errno));
		x->st.symlinks++;
		rc = set_owner_at(x, -1, dirfd, name, e, path);
	} else if (!S_ISREG(e->mode)) {
		rc = export_special(x, dirfd, e, name, path);
		if (rc == 1) {
			export_link_skipped(x, e);
			return 0;
		}
	} else {
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return t9k_err(-errno, "cannot create '%s': %s", path, strerror(errno));
		x->st.files++;
		x->st.bytes += e->size;
		if (!e->is_inline) { /* the fetch sets owner, mode and time, closes or removes it */
			rc = fetch_file(x->f, e, fd, 0, dirfd, name, path,
					FETCH_OWN | (x->owners ? FETCH_OWNER : 0));
			goto progress;
		}
		rc = repo_file_to_fd(x->r, e, fd);
		if (rc < 0)
			t9k_err_wrap(rc, "'%s'", path);
		if (rc == 0)
			rc = set_owner_at(x, fd, -1, NULL, e, path);
		if (rc == 0 && fchmod(fd, e->mode & 07777) < 0)
			rc = t9k_err(-errno, "chmod '%s': %s", path, strerror(errno));
		if (close(fd) < 0 && rc == 0)
			rc = t9k_err(-errno, "writing '%s': %s", path, strerror(errno));
	}
	if (rc == 0 && (rc = set_times(dirfd, name, e->mtime_ns, AT_SYMLINK_NOFOLLOW)) < 0)
		rc = t9k_err(rc, "cannot set the time of '%s': %s", path, strerror(-rc));
progress:
	if (x->progress && now_sec() - x->last > 0.25) {
		x->last = now_sec();
		x->progress(x->arg, &x->st);
	}
	return rc;
}

int repo_export_ex(struct repo *r, const struct oid *commit, const char *path, const char *dst,
		   const struct export_opts *o, struct transfer_stats *st)
{
	struct exporter *x = calloc(1, sizeof(*x));
	struct meta_node *hold;
	struct tree_entry e;
	char *parent = strdup(dst), *slash;
	const char *base;
	int dirfd, rc;

	if (!parent || !x) {
		free(parent);
		free(x);
		return t9k_err(-ENOMEM, "out of memory");
	}
	x->r = r;
	x->progress = o ? o->progress : NULL;
	x->arg = o ? o->arg : NULL;
	x->devices = geteuid() == 0;
	x->owners = x->devices && !(o && o->no_owner);
	rc = repo_lookup(r, commit, path, &e, &hold);
	if (rc < 0)
		goto out;
	while (strlen(parent) > 1 && parent[strlen(parent) - 1] == '/')
		parent[strlen(parent) - 1] = '\0';
	slash = strrchr(parent, '/');
	base = slash ? slash + 1 : parent;
	if (slash == parent)
		dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash)
		*slash = '\0', dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = t9k_err(-errno, "cannot open the directory of '%s': %s", dst, strerror(errno));
	} else {
		if (faccessat(dirfd, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			rc = t9k_err(-EEXIST, "'%s' already exists", dst);
		else
			rc = fetch_new(r, 0, &x->f);
		if (rc == 0) {
			rc = export_entry(x, dirfd, &e, base, dst);
			rc = fetch_finish(x->f, rc);
		}
		fetch_free(x->f);
		if (rc == 0 && fsync(dirfd) < 0 && errno != EINVAL)
			rc = t9k_err(-errno, "sync '%s': %s", dst, strerror(errno));
		close(dirfd);
	}
	meta_node_put(r->mo, hold);
	if (x->progress)
		x->progress(x->arg, &x->st);
out:
	export_links_free(x, rc < 0);
	if (st)
		*st = x->st;
	free(parent);
	free(x);
	return rc;
}

int repo_export(struct repo *r, const struct oid *commit, const char *path, const char *dst,
		transfer_progress_fn progress, void *arg, struct transfer_stats *st)
{
	struct export_opts o = { .progress = progress, .arg = arg };

	return repo_export_ex(r, commit, path, dst, &o, st);
}
