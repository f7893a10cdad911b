/* The FUSE session of a mount: options, the operations table, the one
 * conversion of our error codes to errnos, the inode operations that are
 * neither file data nor directory changes (lookup, forget, getattr,
 * readlink, statfs), and mounting with a larger readahead.
 *
 * Kernel settings, and why: a commit never changes, so entries and
 * attributes are cached for o.timeout (a day by default) and file pages
 * are kept across opens (keep_cache); a branch mount changes only through
 * this kernel, so the same holds there. A read-only mount also answers
 * the first open and flush with ENOSYS, the kernel's no-open and
 * no-flush: from then on it opens and closes files without asking, so a
 * warm open/read/close of a cached file is the kernel's alone (reads
 * then come without a handle: fs/file.c). Requests are as large as the
 * kernel allows (max_write 1 MiB, hence max_pages 256), readdirplus is
 * always on (ls -l needs no lookups), and the backing device's readahead
 * is raised (as root) because FUSE's default of 128 KiB caps sequential
 * reads well below what the store gives. A read-only branch mount that
 * follows its branch keeps the same settings: fs/follow.c tells the
 * kernel what to drop when the head moves.
 * Locking: see fs-internal.h; this file only takes fs->lock briefly.
 */
#include "fs/fs-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"
#include "meta/tree.h"
#include "store/chunk.h"
#include "store/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_WRITE (1u << 20)

/* ---- errors: the one place ---- */

int fs_errno(int rc)
{
	if (rc >= 0)
		return 0;
	switch (rc) {
	case T9K_ENOTFOUND:
		return ENOENT;
	case T9K_EUSAGE:
		return EINVAL;
	case T9K_ECORRUPT:
	case T9K_EBADURL:
	case T9K_ECONFLICT:
	/* the metadata service or the store is unreachable or misbehaves */
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ETIMEDOUT:
	case -EPROTO:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -EPIPE:
	case -EACCES: /* from us only as the service refusing our token */
		return EIO;
	default:
		return -rc < 4096 ? -rc : EIO;
	}
}

void fs_reply_err(fuse_req_t req, int rc)
{
	int e = fs_errno(rc);

	if (e == EIO || e == ENOMEM || e == ENOSPC)
		t9k_log(T9K_LOG_ERROR, "%s: %s", e == EIO ? "I/O error" : strerror(e),
			t9k_errmsg(rc));
	fuse_reply_err(req, e);
}

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), as the service's JSON library wants it. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		uint32_t cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if ((c & 0xf0) == 0xe0)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return false;
		if (i + k >= n)
			return false;
		cp = c & (0x3fu >> k);
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3fu);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

int fs_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n > META_NAME_MAX)
		return -ENAMETOOLONG;
	if (n == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (!utf8_ok((const unsigned char *)name, n))
		return t9k_err(-EINVAL, "name is not UTF-8, which staging through the service needs");
	return 0;
}

/* ---- inode operations ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	}
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (fs->rw && (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC))
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* A read-only mount's files never change under an open one (a
	 * following mount gives a changed file a new inode): opening and
	 * closing need nothing of us, so the kernel may do them alone (it
	 * then keeps pages across opens, as keep_cache), and a warm
	 * open/read/close of a cached file costs no round trip. */
	fs->no_open = !fs->rw && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT);
	/* pages change only through us: no invalidation on mtime changes */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	conn->max_write = MAX_WRITE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	t9k_log(T9K_LOG_INFO, "%s: FUSE protocol %u.%u, max_write %u, max_readahead %u%s",
		fs->mountpoint, conn->proto_major, conn->proto_minor, conn->max_write,
		conn->max_readahead, fs->no_open ? ", opens without the daemon" : "");
}

static void op_destroy(void *userdata)
{
	fs_file_commit_all(userdata, false);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *dir = fs_node_get(fs, parent), *n = NULL;
	struct fuse_entry_param e;
	int rc = dir ? fs_lookup(fs, dir, name, strlen(name), &n) : -ENOENT;

	fs_node_put(fs, dir);
	if (rc == -ENOENT && dir) { /* a negative entry the kernel may cache */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->o.timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		fs_reply_err(req, rc);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	fs_entry_locked(fs, n, &e);
	fs_node_put_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
	if (fuse_reply_entry(req, &e) < 0)
		fs_node_forget(fs, e.ino, 1); /* interrupted: the kernel did not get it */
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_node_forget(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		fs_node_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	struct stat st;

	(void)fi;
	if (!n) {
		fs_reply_err(req, -ENOENT);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	fs_node_stat_locked(fs, n, &st);
	fs_node_put_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_attr(req, &st, fs->o.timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_node *n = fs_node_get(fs, ino);
	char target[META_INLINE_MAX + 1];
	int rc = 0;

	if (!n) {
		fs_reply_err(req, -ENOENT);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	if (!S_ISLNK(n->mode) || !n->is_inline || n->data_len >= sizeof(target)) {
		rc = -EINVAL;
	} else {
		memcpy(target, n->data, n->data_len);
		target[n->data_len] = '\0';
	}
	fs_node_put_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_readlink(req, target);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct statvfs sv, local;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = META_NAME_MAX;
	if (statvfs(fs->spool_dir, &local) == 0) { /* what a branch mount can take */
		sv.f_blocks = local.f_blocks * local.f_frsize / sv.f_frsize;
		if (fs->rw) {
			sv.f_bfree = local.f_bfree * local.f_frsize / sv.f_frsize;
			sv.f_bavail = local.f_bavail * local.f_frsize / sv.f_frsize;
		}
	}
	/* used inodes (files - ffree) are the nodes this mount holds */
	sv.f_ffree = fs->rw ? UINT32_MAX : 0;
	sv.f_favail = sv.f_ffree;
	pthread_mutex_lock(&fs->lock);
	sv.f_files = fs->nnodes + sv.f_ffree;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_statfs(req, &sv);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino, (void)datasync, (void)fi;
	fs_reply_err(req, 0); /* directory changes are staged before they are answered */
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = fs_op_setattr,
	.readlink = op_readlink,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.releasedir = fs_op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.create = fs_op_create,
	.readdirplus = fs_op_readdirplus,
};

/* ---- the mount ---- */

void fs_opts_init(struct fs_opts *o)
{
	int cpus = cpu_count();

	memset(o, 0, sizeof(*o));
	o->uid = getuid();
	o->gid = getgid();
	o->cache_bytes = 256u << 20;
	o->prefetch_bytes = 64u << 20;
	o->prefetch_threads = cpus > 4 ? cpus : 4;
	o->read_ahead_kb = 16384;
	o->max_threads = 16;
	o->timeout = 86400;
	o->poll_s = 2;
}

static int parse_num(const char *opt, const char *v, long lo, long hi, long *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < lo || n > hi)
		return t9k_err(T9K_EUSAGE, "invalid value '%s' for %s (want %ld..%ld)", v, opt, lo, hi);
	*out = n;
	return 0;
}

int fs_opts_parse(struct fs_opts *o, bool *cache_data, char *list)
{
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *v = eq ? eq + 1 : NULL;
		uint64_t size;
		long n;
		int rc = 0;

		if (eq)
			*eq = '\0';
		if (!strcmp(tok, "ro") && !v)
			o->read_only = true;
		else if (!strcmp(tok, "rw") && !v)
			o->read_only = false;
		else if (!strcmp(tok, "allow_other") && !v)
			o->allow_other = true;
		else if (!strcmp(tok, "default_permissions") && !v)
			o->default_permissions = true;
		else if (!strcmp(tok, "cache_data") && !v && cache_data)
			*cache_data = true;
		else if ((!strcmp(tok, "cache_size") || !strcmp(tok, "prefetch")) && v) {
			if (parse_size(v, &size) < 0)
				return t9k_err(T9K_EUSAGE, "-o %s: bad size '%s'", tok, v);
			if (!strcmp(tok, "cache_size"))
				o->cache_bytes = size;
			else
				o->prefetch_bytes = size;
		} else if (!strcmp(tok, "prefetch_threads") && v) {
			rc = parse_num("-o prefetch_threads", v, 0, 64, &n);
			o->prefetch_threads = (int)n;
		} else if (!strcmp(tok, "read_ahead_kb") && v) {
			rc = parse_num("-o read_ahead_kb", v, 0, 1 << 20, &n);
			o->read_ahead_kb = (unsigned)n;
		} else if (!strcmp(tok, "max_threads") && v) {
			rc = parse_num("-o max_threads", v, 1, 256, &n);
			o->max_threads = (int)n;
		} else if (!strcmp(tok, "timeout") && v) {
			rc = parse_num("-o timeout", v, 0, 1L << 30, &n);
			o->timeout = (double)n;
		} else if (!strcmp(tok, "poll") && v) {
			rc = parse_num("-o poll", v, 0, 86400, &n);
			o->poll_s = (unsigned)n;
		} else if ((!strcmp(tok, "uid") || !strcmp(tok, "gid")) && v) {
			rc = parse_num(!strcmp(tok, "uid") ? "-o uid" : "-o gid", v, 0, INT32_MAX, &n);
			if (!strcmp(tok, "uid"))
				o->uid = (uid_t)n, o->uid_set = true;
			else
				o->gid = (gid_t)n, o->gid_set = true;
		} else {
			return t9k_err(T9K_EUSAGE, "unknown mount option '%s' (see 't9kfs mount --help')",
				       tok);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The root has no entry to carry its subdirectory count: a small root
 * is counted here (its one leaf is read anyway), a large one shows
 * st_nlink 1 ("not counted"). */
#define ROOT_COUNT_MAX 4096

int fs_root_subdirs(struct fs *fs, struct tree_entry *root)
{
	struct tree_iter *it;
	struct tree_entry e;
	int rc;

	if (root->size > ROOT_COUNT_MAX)
		return 0;
	rc = tree_iter_new(fs->mo, &root->id, NULL, 0, &it);
	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		root->subdirs += S_ISDIR(e.mode);
		rc = 0;
	}
	tree_iter_free(it);
	root->has_subdirs = rc == 0;
	return rc;
}

int fs_new(struct meta_client *mc, struct repo *r, const char *ref, const struct oid *commit,
	   bool is_branch, const struct fs_opts *o, struct fs **out)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	struct tree_entry root = { .mode = S_IFDIR | 0755 };
	struct fs_chunk_source src;
	struct repo_commit c;
	int rc;

	*out = NULL;
	if (!fs)
		return t9k_err(-ENOMEM, "out of memory");
	fs->o = *o;
	fs->mountpoint = strdup(o->mountpoint);
	fs->spool_dir = strdup(o->spool_dir ? o->spool_dir : "/tmp");
	fs->fsname = strdup(o->fsname ? o->fsname : "t9kfs");
	fs->mc = mc;
	fs->r = r;
	fs->mo = repo_objects(r);
	fs->store = repo_store(r);
	fs->commit = *commit;
	fs->rw = is_branch && !o->read_only;
	fs->follow = is_branch && o->read_only && o->poll_s > 0;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->pipe_lock, NULL);
	pthread_cond_init(&fs->pipe_cv, NULL);
	pthread_mutex_init(&fs->bg_lock, NULL);
	pthread_cond_init(&fs->bg_cv, NULL);
	if (!fs->mountpoint || !fs->spool_dir || !fs->fsname) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (snprintf(fs->branch, sizeof(fs->branch), "%s", ref) >= (int)sizeof(fs->branch)) {
		rc = t9k_err(-EINVAL, "ref name too long");
		goto out;
	}
	rc = repo_commit_read(r, commit, &c);
	if (rc < 0)
		goto out;
	root.id = c.c.root;
	fs->commit_time_ns = c.c.time_ns;
	repo_commit_release(&c);
	rc = tree_count(fs->mo, &root.id, &root.size);
	if (rc == 0)
		rc = fs_root_subdirs(fs, &root);
	if (rc == 0)
		rc = fs_nodes_init(fs, &root);
	if (rc == 0 && fs->rw) {
		rc = tree_empty(fs->mo, &fs->empty_tree);
		if (rc == 0 && (rc = mkdir_p(fs->spool_dir, 0700)) > 0)
			rc = 0;
		if (rc < 0)
			rc = t9k_err(rc, "cannot create the spool directory %s: %s", fs->spool_dir,
				     t9k_strerror(rc));
		if (rc == 0)
			rc = fs_stage_replay(fs);
	}
	if (rc == 0 && o->source) {
		src = *o->source;
		src.free = NULL; /* the caller's */
	} else if (rc == 0) {
		rc = fs_chunk_source_store(fs->store, &src);
	}
	if (rc == 0)
		rc = fs_chunks_new(&src, o->cache_bytes, o->prefetch_threads, &fs->chunks);
out:
	if (rc < 0) {
		fs_free(fs);
		return rc;
	}
	*out = fs;
	return 0;
}

int fs_mounts_each(fs_mount_fn fn, void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	int rc = 0;

	if (!f)
		return -errno;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char mp[4096], dec[4096], fstype[256];
		const char *dash = strstr(line, " - ");
		unsigned ma, mi;
		size_t j = 0;

		if (!dash || sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, mp) != 3 ||
		    sscanf(dash + 3, "%255s", fstype) != 1)
			continue;
		for (size_t i = 0; mp[i] && j + 1 < sizeof(dec); i++) { /* \040 and friends */
			if (mp[i] == '\\' && mp[i + 1] >= '0' && mp[i + 1] <= '3' && mp[i + 2] &&
			    mp[i + 3]) {
				dec[j++] = (char)((mp[i + 1] - '0') * 64 + (mp[i + 2] - '0') * 8 +
						  (mp[i + 3] - '0'));
				i += 3;
			} else {
				dec[j++] = mp[i];
			}
		}
		dec[j] = '\0';
		rc = fn(arg, dec, ma, mi, fstype);
	}
	fclose(f);
	return rc < 0 ? rc : 0;
}

struct mount_info {
	const char *mountpoint;
	unsigned *major, *minor;
	char *type;
	size_t typesz;
	bool found;
};

static int info_one(void *arg, const char *mountpoint, unsigned major, unsigned minor,
		    const char *type)
{
	struct mount_info *mi = arg;

	if (strcmp(mountpoint, mi->mountpoint))
		return 0;
	if (mi->major)
		*mi->major = major;
	if (mi->minor)
		*mi->minor = minor;
	if (mi->type && mi->typesz)
		snprintf(mi->type, mi->typesz, "%s", type);
	mi->found = true; /* the last one wins: mounts stack */
	return 0;
}

int fs_mount_info(const char *mountpoint, unsigned *major, unsigned *minor, char *type,
		  size_t typesz)
{
	struct mount_info mi = { mountpoint, major, minor, type, typesz, false };
	int rc = fs_mounts_each(info_one, &mi);

	return rc < 0 ? rc : mi.found ? 0 : -ENOENT;
}

static void raise_readahead(struct fs *fs)
{
	unsigned ma, mi;
	char path[128], val[32];
	int fd, rc;

	if (!fs->o.read_ahead_kb || geteuid() != 0)
		return;
	rc = fs_mount_info(fs->mountpoint, &ma, &mi, NULL, 0);
	if (rc < 0) {
		t9k_log(T9K_LOG_WARN, "%s: cannot find the mount's device: %s", fs->mountpoint,
			strerror(-rc));
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", ma, mi);
	snprintf(val, sizeof(val), "%u\n", fs->o.read_ahead_kb);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_full(fd, val, strlen(val)) < 0)
		t9k_log(T9K_LOG_WARN, "%s: cannot raise the readahead in %s: %s", fs->mountpoint,
			path, strerror(errno));
	else
		t9k_log(T9K_LOG_INFO, "%s: readahead %u KiB (%s)", fs->mountpoint,
			fs->o.read_ahead_kb, path);
	if (fd >= 0)
		close(fd);
}

int fs_mount(struct fs *fs)
{
	struct buf opts = BUF_INIT;
	char *argv[4] = { "t9kfs", "-o", NULL, NULL };
	struct fuse_args args;
	int rc = buf_addf(&opts, "fsname=%s,subtype=t9kfs%s%s%s", fs->fsname,
			  fs->rw ? "" : ",ro", fs->o.allow_other ? ",allow_other" : "",
			  fs->o.default_permissions ? ",default_permissions" : "");

	if (rc < 0)
		return t9k_err(-ENOMEM, "out of memory");
	argv[2] = (char *)opts.data;
	args = (struct fuse_args)FUSE_ARGS_INIT(3, argv);
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	fuse_opt_free_args(&args);
	buf_release(&opts);
	if (!fs->se)
		return t9k_err(-EINVAL, "cannot start a FUSE session (see the log)");
	if (fuse_set_signal_handlers(fs->se) < 0)
		return t9k_err(-EIO, "cannot install signal handlers");
	if (fuse_session_mount(fs->se, fs->mountpoint) < 0)
		return t9k_err(-EIO, "cannot mount at %s (is /dev/fuse usable? see the log)",
			       fs->mountpoint);
	fs->mounted = true;
	return 0;
}

/* Waits for the loop to answer (a stat of the mount point needs INIT and
 * GETATTR done), then raises the readahead and says the mount is up. */
static void *ready_main(void *arg)
{
	struct fs *fs = arg;
	struct stat sb;
	int rc = stat(fs->mountpoint, &sb) < 0 ? -errno : 0;

	if (rc == 0) {
		raise_readahead(fs);
		pthread_mutex_lock(&fs->bg_lock); /* notifications may go out now */
		fs->up = true;
		pthread_cond_broadcast(&fs->bg_cv);
		pthread_mutex_unlock(&fs->bg_lock);
	} else {
		t9k_err(rc, "the mount at %s does not answer: %s", fs->mountpoint, strerror(-rc));
	}
	if (fs->o.ready)
		fs->o.ready(fs->o.ready_arg, rc);
	return NULL;
}

#define RETRY_SECONDS 2

/* Stores closed files whose close failed to (the service was down), now
 * and then, so they are staged when it is back without another close. */
static void *retry_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->bg_lock);
	while (!fs->bg_stop) {
		struct timespec ts;
		bool retry;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += RETRY_SECONDS;
		pthread_cond_timedwait(&fs->bg_cv, &fs->bg_lock, &ts);
		if (fs->bg_stop)
			break;
		pthread_mutex_lock(&fs->lock);
		retry = fs->retry;
		fs->retry = false;
		pthread_mutex_unlock(&fs->lock);
		if (!retry)
			continue;
		pthread_mutex_unlock(&fs->bg_lock);
		fs_file_commit_all(fs, true);
		pthread_mutex_lock(&fs->bg_lock);
	}
	pthread_mutex_unlock(&fs->bg_lock);
	return NULL;
}

int fs_serve(struct fs *fs)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	void *(*bg_main)(void *) = fs->rw ? retry_main : fs->follow ? fs_follow_main : NULL;
	pthread_t ready, bg;
	int rc, err;

	if (!cfg)
		return t9k_err(-ENOMEM, "out of memory");
	fuse_loop_cfg_set_max_threads(cfg, (unsigned)fs->o.max_threads);
	fuse_loop_cfg_set_idle_threads(cfg, (unsigned)fs->o.max_threads);
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	err = pthread_create(&ready, NULL, ready_main, fs);
	if (err) {
		fuse_loop_cfg_destroy(cfg);
		return t9k_err(-err, "cannot start a thread: %s", strerror(err));
	}
	err = bg_main ? pthread_create(&bg, NULL, bg_main, fs) : 0;
	if (err)
		t9k_log(T9K_LOG_WARN, "no %s thread: %s", fs->rw ? "retry" : "follow",
			strerror(err));
	rc = fuse_session_loop_mt(fs->se, cfg);
	pthread_join(ready, NULL);
	if (bg_main && !err) {
		pthread_mutex_lock(&fs->bg_lock);
		fs->bg_stop = true;
		pthread_cond_broadcast(&fs->bg_cv);
		pthread_mutex_unlock(&fs->bg_lock);
		pthread_join(bg, NULL);
	}
	fuse_loop_cfg_destroy(cfg);
	if (rc < 0)
		return t9k_err(rc, "FUSE session: %s", strerror(-rc));
	return 0;
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	if (fs->se) {
		fuse_remove_signal_handlers(fs->se);
		if (fs->mounted)
			fuse_session_unmount(fs->se);
		fuse_session_destroy(fs->se); /* runs op_destroy once initialised */
	}
	fs_chunks_free(fs->chunks);
	for (int i = 0; i < fs->npipes; i++) {
		chunk_pipeline_free(fs->pipes[i]);
		chunk_writer_free(fs->writers[i]);
	}
	if (fs->root)
		fs_nodes_release(fs);
	pthread_mutex_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->pipe_lock);
	pthread_cond_destroy(&fs->pipe_cv);
	pthread_mutex_destroy(&fs->bg_lock);
	pthread_cond_destroy(&fs->bg_cv);
	free(fs->mountpoint);
	free(fs->spool_dir);
	free(fs->fsname);
	free(fs);
}
