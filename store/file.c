/* file:// backend: one file per object under a root directory.
 *
 * Layout: key "D/NAME" lives at ROOT/D/FF/NAME, where FF is the first two
 * bytes of NAME (the whole NAME if shorter), so a million "chunks/<hex>"
 * keys spread over 256 directories of ~4k entries instead of one.
 * Invariant used by listing: every file sits inside a fan-out directory, so
 * a file ROOT/P/F/NAME is key "P/NAME", and a directory ROOT/P/F/G is the
 * fan-out directory G of key directory "P/F".
 *
 * Writes go to a temp file ".tmp-*" in the final directory, are fsynced,
 * renamed over the key and the directory is fsynced (git's
 * finalize_object_file). rename() is atomic, so two writers of one key leave
 * one complete object and readers never see a partial one. Temp files start
 * with '.', which keys cannot, so listings skip them.
 */
#include "store/store-internal.h"

#include "lib/err.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_store {
	struct store base;
	char root[PATH_MAX / 2];
};

static struct file_store *fs_of(struct store *s)
{
	return (struct file_store *)s;
}

static int fs_open(const char *url, const char *rest, struct store **out)
{
	struct file_store *fs;
	struct stat st;
	size_t len = strlen(rest);

	if (rest[0] != '/')
		return t9k_err(T9K_EBADURL, "store URL '%s': want an absolute path, as file:///DIR", url);
	while (len > 1 && rest[len - 1] == '/')
		len--;
	if (len >= sizeof(fs->root))
		return t9k_err(T9K_EBADURL, "store URL '%s': path too long", url);
	if (stat(rest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return t9k_err(-ENOTDIR, "store %s: %s is not a directory", url, rest);
		if (access(rest, R_OK | W_OK | X_OK) < 0)
			return t9k_err(-errno, "store %s: cannot use directory: %s", url, strerror(errno));
	} else if (errno != ENOENT) {
		return t9k_err(-errno, "store %s: %s", url, strerror(errno));
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return t9k_err(-ENOMEM, "out of memory");
	memcpy(fs->root, rest, len);
	fs->root[len] = '\0';
	*out = &fs->base;
	return 0;
}

static void fs_close(struct store *s)
{
	free(fs_of(s));
}

/* ROOT/D/FF/NAME into path; dirlen gets the length of ROOT/D/FF. */
static int key_path(struct file_store *fs, const char *key, char *path, size_t *dirlen)
{
	const char *slash = strrchr(key, '/');
	const char *name = slash ? slash + 1 : key;
	int dlen = slash ? (int)(slash - key) : 0;
	int n;

	n = snprintf(path, PATH_MAX, "%s/%.*s%s%.2s", fs->root, dlen, key, slash ? "/" : "", name);
	if (n < 0 || n >= PATH_MAX)
		return t9k_err(-ENAMETOOLONG, "store %s: key '%s' too long", fs->base.url, key);
	*dirlen = (size_t)n;
	n = snprintf(path + n, PATH_MAX - (size_t)n, "/%s", name);
	if (n < 0 || *dirlen + (size_t)n >= PATH_MAX)
		return t9k_err(-ENAMETOOLONG, "store %s: key '%s' too long", fs->base.url, key);
	return 0;
}

static int io_err(struct file_store *fs, const char *key, const char *what, int err)
{
	if (err == ENOENT)
		return t9k_err(-ENOENT, "store %s: object '%s' not found", fs->base.url, key);
	return t9k_err(-err, "store %s: %s '%s': %s", fs->base.url, what, key, strerror(err));
}

static int writev_full(int fd, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		int rc = write_full(fd, iov[i].iov_base, iov[i].iov_len);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int fs_put(struct store *s, const char *key, const struct iovec *iov, int iovcnt)
{
	struct file_store *fs = fs_of(s);
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t dirlen;
	int fd, rc;

	rc = key_path(fs, key, path, &dirlen);
	if (rc < 0)
		return rc;
	if (dirlen + sizeof("/.tmp-XXXXXX") > sizeof(tmp))
		return t9k_err(-ENAMETOOLONG, "store %s: key '%s' too long", fs->base.url, key);
	memcpy(tmp, path, dirlen);
	memcpy(tmp + dirlen, "/.tmp-XXXXXX", sizeof("/.tmp-XXXXXX"));
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		path[dirlen] = '\0';
		rc = mkdir_p(path, 0755);
		path[dirlen] = '/';
		if (rc < 0)
			return io_err(fs, key, "creating directory for", -rc);
		memcpy(tmp + dirlen, "/.tmp-XXXXXX", sizeof("/.tmp-XXXXXX"));
		fd = mkostemp(tmp, O_CLOEXEC);
	}
	if (fd < 0)
		return io_err(fs, key, "creating temp file for", errno);
	rc = writev_full(fd, iov, iovcnt);
	if (rc == 0 && fchmod(fd, 0444) < 0)
		rc = -errno;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return io_err(fs, key, "writing", -rc);
	}
	path[dirlen] = '\0';
	rc = fsync_dir(path);
	if (rc < 0)
		return io_err(fs, key, "syncing directory of", -rc);
	return 0;
}

#define DIRECT_MIN (64u << 10)

static int fs_get(struct store *s, const char *key, uint64_t off, uint64_t len, struct buf *out)
{
	struct file_store *fs = fs_of(s);
	char path[PATH_MAX];
	struct stat st;
	size_t dirlen;
	ssize_t n;
	int fd, rc;

	rc = key_path(fs, key, path, &dirlen);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return io_err(fs, key, "opening", errno);
	if (fstat(fd, &st) < 0) {
		rc = io_err(fs, key, "reading", errno);
		goto out;
	}
	if (off > (uint64_t)st.st_size) {
		rc = t9k_err(-EINVAL, "store %s: offset %llu past the end of '%s' (%lld bytes)",
			     fs->base.url, (unsigned long long)off, key, (long long)st.st_size);
		goto out;
	}
	if (len > (uint64_t)st.st_size - off)
		len = (uint64_t)st.st_size - off;
	rc = buf_grow(out, len);
	if (rc < 0) {
		rc = t9k_err(rc, "store %s: out of memory reading '%s'", fs->base.url, key);
		goto out;
	}
	/* A large object into a page-aligned buffer with room to spare (the
	 * mount's chunk buffers) comes straight from the device: no page
	 * cache to fill and copy out of, and no second copy of bytes that the
	 * mount's own page cache keeps. Anything else reads through it. */
	n = len >= DIRECT_MIN ? pread_direct(fd, out->data + out->len, len, (off_t)off,
					     out->cap - out->len - 1)
			      : -EINVAL;
	if (n == -EINVAL)
		n = pread_full(fd, out->data + out->len, len, (off_t)off);
	if (n < 0) {
		rc = io_err(fs, key, "reading", (int)-n);
		goto out;
	}
	if ((uint64_t)n != len) {
		rc = t9k_err(-EIO, "store %s: '%s' shrank while being read", fs->base.url, key);
		goto out;
	}
	out->len += len;
	out->data[out->len] = 0;
out:
	close(fd);
	return rc;
}

static int fs_head(struct store *s, const char *key, uint64_t *size)
{
	struct file_store *fs = fs_of(s);
	char path[PATH_MAX];
	struct stat st;
	size_t dirlen;
	int rc = key_path(fs, key, path, &dirlen);

	if (rc < 0)
		return rc;
	if (stat(path, &st) < 0)
		return io_err(fs, key, "checking", errno);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

static int fs_del(struct store *s, const char *key)
{
	struct file_store *fs = fs_of(s);
	char path[PATH_MAX];
	size_t dirlen;
	int rc = key_path(fs, key, path, &dirlen);

	if (rc < 0)
		return rc;
	if (unlink(path) < 0)
		return io_err(fs, key, "deleting", errno);
	path[dirlen] = '\0';
	rc = fsync_dir(path);
	return rc < 0 ? io_err(fs, key, "syncing directory of", -rc) : 0;
}

/* gc's batch delete: one unlink and directory sync per key. */
static int fs_del_many(struct store *s, const char *const *keys, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = fs_del(s, keys[i]);
		if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}

static int fs_concurrency(struct store *s)
{
	(void)s;
	return cpu_count();
}

struct walk {
	struct file_store *fs;
	const char *prefix;
	store_list_ex_fn fn;
	void *arg;
};

static int fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

/* Keys under fan-out directory ROOT/KDIR/FAN all start with "KDIR/FAN"
 * (files: KDIR/NAME with NAME starting FAN; dirs: key dir KDIR/FAN). */
static int could_match(const char *start, const char *prefix)
{
	size_t a = strlen(start), b = strlen(prefix);

	return strncmp(start, prefix, a < b ? a : b) == 0;
}

static int walk_fanout(struct walk *w, const char *kdir, const char *fan)
{
	char path[PATH_MAX], key[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!fits(snprintf(sub, sizeof(sub), "%s%s%s", kdir, *kdir ? "/" : "", fan), sizeof(sub)) ||
	    !fits(snprintf(path, sizeof(path), "%s/%s", w->fs->root, sub), sizeof(path)))
		return t9k_err(-ENAMETOOLONG, "store %s: path too long under %s", w->fs->base.url, kdir);
	if (!could_match(sub, w->prefix))
		return 0;
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* removed while we listed */
		return t9k_err(-errno, "store %s: listing %s: %s", w->fs->base.url, path,
			       strerror(errno));
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed while we listed */
		if (S_ISDIR(st.st_mode)) {
			rc = walk_fanout(w, sub, de->d_name);
		} else if (S_ISREG(st.st_mode)) {
			if (!fits(snprintf(key, sizeof(key), "%s%s%s", kdir, *kdir ? "/" : "",
					   de->d_name), sizeof(key)))
				continue; /* not a key we could have written */
			if (!strncmp(key, w->prefix, strlen(w->prefix))) {
				struct store_obj o = { key, (uint64_t)st.st_size,
						       (int64_t)st.st_mtim.tv_sec * 1000000000 +
							       st.st_mtim.tv_nsec };

				rc = w->fn(&o, w->arg);
			}
		}
	}
	if (rc == 0 && errno)
		rc = t9k_err(-errno, "store %s: listing %s: %s", w->fs->base.url, path,
			     strerror(errno));
	closedir(d);
	return rc;
}

static int fs_list_ex(struct store *s, const char *prefix, store_list_ex_fn fn, void *arg)
{
	struct walk w = { fs_of(s), prefix, fn, arg };
	struct dirent *de;
	DIR *d = opendir(w.fs->root);
	int rc = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0; /* no object written yet */
		return t9k_err(-errno, "store %s: listing: %s", s->url, strerror(errno));
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type == DT_REG)
			continue;
		rc = walk_fanout(&w, "", de->d_name);
	}
	if (rc == 0 && errno)
		rc = t9k_err(-errno, "store %s: listing: %s", s->url, strerror(errno));
	closedir(d);
	return rc;
}

struct plain {
	store_list_fn fn;
	void *arg;
};

static int plain_one(const struct store_obj *o, void *arg)
{
	struct plain *p = arg;

	return p->fn(o->key, o->size, p->arg);
}

static int fs_list(struct store *s, const char *prefix, store_list_fn fn, void *arg)
{
	struct plain p = { fn, arg };

	return fs_list_ex(s, prefix, plain_one, &p);
}

const struct store_ops store_file_ops = {
	.scheme = "file",
	.open = fs_open,
	.close = fs_close,
	.put = fs_put,
	.get = fs_get,
	.head = fs_head,
	.list = fs_list,
	.list_ex = fs_list_ex,
	.del = fs_del,
	.del_many = fs_del_many,
	.concurrency = fs_concurrency,
};
