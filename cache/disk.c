/* The cache daemon's chunk files, index, capacity and LRU (disk.h).
 *
 * Eviction is LRU: O(1) per access, and what readers of a dataset reuse
 * is what they touched last (directory trees, the files of this epoch).
 * Its known weakness, cyclic scans larger than the capacity, is answered
 * by the group (capacity adds up across members) rather than the policy.
 *
 * Invariants: used = the lengths of all entries in the table that are
 * FILLING (their reservation) or READY, and used <= capacity always. An
 * entry evicted or dropped turns DOOMED: its bytes are given up at once,
 * it stays in the hash table until its file is deleted (so a new fill of
 * the same chunk waits rather than write a file that the deletion would
 * take), then leaves it and is freed once nobody holds it. Only READY
 * entries nobody holds are evicted.
 *
 * Locking: d->lock guards the table, the LRU, every entry's state, refs
 * and in_table, used and the stats. File I/O (write, rename, unlink,
 * read) runs without it; callers waiting for a fill or a deletion sleep
 * on d->filled.
 */
#include "cache/disk.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_FILE_MAX (64u << 20)

enum { E_FILLING, E_READY, E_DOOMED }; /* DOOMED: out of the LRU, its file being deleted */

struct cache_entry {
	struct oid id;
	uint32_t len;
	int state;
	int refs;       /* callers holding it */
	bool in_table;
	struct cache_entry *hnext, *prev, *next;
};

struct cache_disk {
	char *dir;
	struct cache_io *io;
	uint64_t cap, used;
	pthread_mutex_t lock;
	pthread_cond_t filled;
	struct cache_entry **tab;
	size_t nb; /* power of two */
	struct cache_entry lru; /* sentinel: lru.next is the most recent */
	uint64_t tmp_seq;
	struct cache_disk_stats st;
};

uint32_t cache_entry_len(const struct cache_entry *e)
{
	return e->len;
}

static void entry_path(const struct cache_disk *d, const struct oid *id, char *out, size_t size)
{
	char hex[OID_HEXSZ + 1];

	snprintf(out, size, "%s/chunks/%02x/%s", d->dir, id->b[0], oid_to_hex(id, hex));
}

static size_t bucket(const struct cache_disk *d, const struct oid *id)
{
	uint64_t h;

	memcpy(&h, id->b + 8, sizeof(h));
	return (size_t)h & (d->nb - 1);
}

static struct cache_entry *find(struct cache_disk *d, const struct oid *id)
{
	for (struct cache_entry *e = d->tab[bucket(d, id)]; e; e = e->hnext)
		if (oid_eq(&e->id, id))
			return e;
	return NULL;
}

static void lru_unlink(struct cache_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = e;
}

static void lru_front(struct cache_disk *d, struct cache_entry *e)
{
	lru_unlink(e);
	e->next = d->lru.next;
	e->prev = &d->lru;
	d->lru.next->prev = e;
	d->lru.next = e;
}

static struct cache_entry *insert(struct cache_disk *d, const struct oid *id, uint32_t len, int state)
{
	struct cache_entry *e = calloc(1, sizeof(*e));
	size_t b = bucket(d, id);

	if (!e)
		return NULL;
	e->id = *id;
	e->len = len;
	e->state = state;
	e->in_table = true;
	e->prev = e->next = e;
	e->hnext = d->tab[b];
	d->tab[b] = e;
	lru_front(d, e);
	d->used += len;
	d->st.chunks++;
	return e;
}

/* Takes e out of the hash table (and the LRU, if still there). */
static void hash_remove(struct cache_disk *d, struct cache_entry *e)
{
	struct cache_entry **pp = &d->tab[bucket(d, &e->id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->hnext = NULL;
	lru_unlink(e);
	e->in_table = false;
}

/* Removes a FILLING entry that never got a file. */
static void table_remove(struct cache_disk *d, struct cache_entry *e)
{
	hash_remove(d, e);
	d->used -= e->len;
	d->st.chunks--;
}

/* Entries whose files are deleted after the lock is dropped. */
struct victims {
	struct cache_entry *v[64];
	int n;
};

/* Gives up e's bytes now and queues its file for deletion. It stays in
 * the hash table as DOOMED until the file is gone, so a new fill of the
 * same chunk waits instead of writing a file the deletion would take. */
static void doom(struct cache_disk *d, struct cache_entry *e, struct victims *vs)
{
	lru_unlink(e);
	e->state = E_DOOMED;
	d->used -= e->len;
	d->st.chunks--;
	e->refs++; /* the victim list's */
	vs->v[vs->n++] = e;
}

/* Evicts idle READY entries, oldest first, until need more bytes fit or
 * the victim list is full. */
static void evict(struct cache_disk *d, uint64_t need, struct victims *vs)
{
	struct cache_entry *e = d->lru.prev;

	while (d->used + need > d->cap && e != &d->lru && vs->n < (int)(sizeof(vs->v) / sizeof(vs->v[0]))) {
		struct cache_entry *prev = e->prev;

		if (e->state == E_READY && e->refs == 0) {
			doom(d, e, vs);
			d->st.evictions++;
		}
		e = prev;
	}
}

/* Called without the lock: deletes the victims' files, then forgets them. */
static void unlink_victims(struct cache_disk *d, struct victims *vs)
{
	if (vs->n == 0)
		return;
	for (int i = 0; i < vs->n; i++) {
		char path[4400];

		entry_path(d, &vs->v[i]->id, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			t9k_log(T9K_LOG_WARN, "cache: cannot delete %s: %s", path, strerror(errno));
	}
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < vs->n; i++) {
		struct cache_entry *e = vs->v[i];

		hash_remove(d, e);
		if (--e->refs == 0)
			free(e);
	}
	pthread_cond_broadcast(&d->filled);
	pthread_mutex_unlock(&d->lock);
	vs->n = 0;
}

int cache_disk_begin(struct cache_disk *d, const struct oid *id, uint32_t len,
		     struct cache_entry **out)
{
	struct victims vs = { .n = 0 };
	struct cache_entry *e = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		e = find(d, id);
		if (e && e->state != E_READY) { /* being filled or deleted */
			pthread_cond_wait(&d->filled, &d->lock);
			continue;
		}
		if (e && e->len == len) {
			e->refs++;
			lru_front(d, e);
			rc = CACHE_DISK_HIT;
			break;
		}
		if (e) { /* a file of the wrong size (corrupt): delete, then refill */
			d->st.corrupt_dropped++;
			if (vs.n == (int)(sizeof(vs.v) / sizeof(vs.v[0]))) {
				pthread_mutex_unlock(&d->lock);
				unlink_victims(d, &vs);
				pthread_mutex_lock(&d->lock);
				continue;
			}
			doom(d, e, &vs);
			pthread_mutex_unlock(&d->lock);
			unlink_victims(d, &vs);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		rc = CACHE_DISK_NOROOM;
		if (len > d->cap)
			break;
		evict(d, len, &vs);
		if (d->used + len <= d->cap) {
			e = insert(d, id, len, E_FILLING);
			if (!e) {
				rc = t9k_err(-ENOMEM, "out of memory");
				break;
			}
			e->refs = 1;
			d->st.fills++;
			rc = CACHE_DISK_FILL;
			break;
		}
		if (vs.n == 0)
			break; /* everything left is in use */
		/* delete what was evicted, then look again: another caller may
		 * have started filling id meanwhile */
		pthread_mutex_unlock(&d->lock);
		unlink_victims(d, &vs);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	unlink_victims(d, &vs);
	*out = rc == CACHE_DISK_HIT || rc == CACHE_DISK_FILL ? e : NULL;
	return rc;
}

int cache_disk_lookup(struct cache_disk *d, const struct oid *id, struct cache_entry **out)
{
	struct cache_entry *e;

	pthread_mutex_lock(&d->lock);
	e = find(d, id);
	if (e && e->state == E_READY) {
		e->refs++;
		lru_front(d, e);
	} else {
		e = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	*out = e;
	return e ? 1 : 0;
}

static void entry_free_locked(struct cache_entry *e)
{
	if (e->refs == 0 && !e->in_table)
		free(e);
}

void cache_disk_put(struct cache_disk *d, struct cache_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&d->lock);
	e->refs--;
	entry_free_locked(e);
	pthread_mutex_unlock(&d->lock);
}

void cache_disk_abort(struct cache_disk *d, struct cache_entry *e)
{
	pthread_mutex_lock(&d->lock);
	if (e->in_table && e->state == E_FILLING) {
		table_remove(d, e);
		d->st.fill_aborts++;
	}
	e->state = E_READY;
	pthread_cond_broadcast(&d->filled);
	pthread_mutex_unlock(&d->lock);
}

int cache_disk_commit(struct cache_disk *d, struct cache_entry *e, const void *data)
{
	char tmp[4400], path[4400];
	uint64_t seq;
	ssize_t n;
	int fd, rc = 0;

	pthread_mutex_lock(&d->lock);
	seq = ++d->tmp_seq;
	pthread_mutex_unlock(&d->lock);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%llu", d->dir, (unsigned long long)seq);
	entry_path(d, &e->id, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = t9k_err(-errno, "cache: cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	n = cache_io_pwrite(d->io, fd, data, e->len, 0);
	if (close(fd) < 0 && n >= 0)
		n = -errno;
	if (n < 0)
		rc = t9k_err((int)n, "cache: cannot write %s: %s", tmp, strerror((int)-n));
	else if (rename(tmp, path) < 0)
		rc = t9k_err(-errno, "cache: cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
out:
	if (rc < 0) {
		cache_disk_abort(d, e);
		return rc;
	}
	pthread_mutex_lock(&d->lock);
	e->state = E_READY;
	pthread_cond_broadcast(&d->filled);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int cache_disk_open_fd(struct cache_disk *d, struct cache_entry *e)
{
	char path[4400];
	int fd;

	entry_path(d, &e->id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? t9k_err(-errno, "cache: cannot open %s: %s", path, strerror(errno)) : fd;
}

int cache_disk_read(struct cache_disk *d, struct cache_entry *e, struct buf *out)
{
	int fd = cache_disk_open_fd(d, e), rc;
	ssize_t n;

	if (fd < 0)
		return fd;
	rc = buf_grow(out, e->len);
	if (rc < 0) {
		close(fd);
		return t9k_err(rc, "out of memory");
	}
	posix_fadvise(fd, 0, e->len, POSIX_FADV_WILLNEED); /* whole-file readahead */
	n = cache_io_pread(d->io, fd, out->data + out->len, e->len, 0);
	close(fd);
	if (n < 0)
		return t9k_err((int)n, "cache: read error: %s", strerror((int)-n));
	if ((size_t)n != e->len)
		return t9k_err(T9K_ECORRUPT, "cache: file of chunk is %zd bytes, not %u", n, e->len);
	out->len += e->len;
	out->data[out->len] = '\0';
	return 0;
}

int cache_disk_drop(struct cache_disk *d, const struct oid *id)
{
	struct victims vs = { .n = 0 };
	struct cache_entry *e;

	pthread_mutex_lock(&d->lock);
	e = find(d, id);
	if (!e || e->state != E_READY) {
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	doom(d, e, &vs);
	d->st.corrupt_dropped++;
	pthread_mutex_unlock(&d->lock);
	unlink_victims(d, &vs);
	return 1;
}

void cache_disk_stats(struct cache_disk *d, struct cache_disk_stats *out)
{
	pthread_mutex_lock(&d->lock);
	*out = d->st;
	out->capacity = d->cap;
	out->used = d->used;
	pthread_mutex_unlock(&d->lock);
}

/* ---- open: directories and the scan ---- */

struct found {
	struct oid id;
	uint32_t len;
	int64_t mtime_ns;
};

static int cmp_mtime(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

static int rm_dir_files(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (!dh)
		return -errno;
	while ((de = readdir(dh)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(dh), de->d_name, 0);
	closedir(dh);
	return 0;
}

static int scan(struct cache_disk *d)
{
	struct found *f = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (int x = 0; x < 256 && rc == 0; x++) {
		char sub[4200];
		struct dirent *de;
		DIR *dh;

		snprintf(sub, sizeof(sub), "%s/chunks/%02x", d->dir, x);
		dh = opendir(sub);
		if (!dh) {
			if (errno == ENOENT && mkdir(sub, 0700) == 0)
				continue;
			rc = t9k_err(-errno, "cache: cannot open %s: %s", sub, strerror(errno));
			break;
		}
		while ((de = readdir(dh))) {
			struct stat st;
			struct oid id;

			if (de->d_name[0] == '.')
				continue;
			if (strlen(de->d_name) != OID_HEXSZ || oid_from_hex(&id, de->d_name) < 0 ||
			    id.b[0] != x || fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CHUNK_FILE_MAX) {
				t9k_log(T9K_LOG_WARN, "cache: removing stray %s/%s", sub, de->d_name);
				unlinkat(dirfd(dh), de->d_name, 0);
				continue;
			}
			if (n == cap) {
				struct found *nf = realloc(f, (cap = cap ? cap * 2 : 1024) * sizeof(*f));

				if (!nf) {
					rc = t9k_err(-ENOMEM, "out of memory");
					break;
				}
				f = nf;
			}
			f[n++] = (struct found){ id, (uint32_t)st.st_size,
						 st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec };
		}
		closedir(dh);
	}
	t9k_err_clear();
	if (rc == 0) {
		struct victims vs = { .n = 0 };

		if (n)
			qsort(f, n, sizeof(*f), cmp_mtime);
		for (size_t i = 0; i < n && rc == 0; i++)
			if (!insert(d, &f[i].id, f[i].len, E_READY))
				rc = t9k_err(-ENOMEM, "out of memory");
		while (rc == 0 && d->used > d->cap) {
			evict(d, 0, &vs);
			if (vs.n == 0)
				break;
			unlink_victims(d, &vs);
		}
	}
	free(f);
	return rc;
}

int cache_disk_open(const char *dir, uint64_t capacity, struct cache_io *io,
		    struct cache_disk **out)
{
	struct cache_disk *d = calloc(1, sizeof(*d));
	char sub[4200];
	uint64_t want;
	int rc;

	*out = NULL;
	if (!d)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->filled, NULL);
	d->lru.next = d->lru.prev = &d->lru;
	d->io = io;
	d->cap = capacity;
	want = capacity / (256u << 10);
	want = want < 1024 ? 1024 : want > (1u << 22) ? (1u << 22) : want;
	for (d->nb = 1024; d->nb < want; d->nb <<= 1)
		;
	d->dir = strdup(dir);
	d->tab = calloc(d->nb, sizeof(*d->tab));
	if (!d->dir || !d->tab) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(dir) > 4000) {
		rc = t9k_err(-ENAMETOOLONG, "cache directory '%s' is too long", dir);
		goto out;
	}
	for (const char *s = "chunks\0tmp\0"; *s; s += strlen(s) + 1) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, s);
		rc = mkdir_p(sub, 0700);
		if (rc < 0) {
			rc = t9k_err(rc, "cannot create the cache directory %s: %s", sub, strerror(-rc));
			goto out;
		}
	}
	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	rc = rm_dir_files(sub);
	if (rc < 0) {
		rc = t9k_err(rc, "cannot clean %s: %s", sub, strerror(-rc));
		goto out;
	}
	rc = scan(d);
out:
	if (rc < 0) {
		cache_disk_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

void cache_disk_close(struct cache_disk *d)
{
	if (!d)
		return;
	for (size_t i = 0; d->tab && i < d->nb; i++) {
		struct cache_entry *e = d->tab[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(d->tab);
	free(d->dir);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->filled);
	free(d);
}
