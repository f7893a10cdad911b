/* The metadata database on RocksDB: repositories, refs, per-branch
 * staging and the chunk index of packed chunks, in the key layout of
 * meta/db.h.
 *
 * Locking: reads take no lock (RocksDB is thread-safe; a listing reads one
 * snapshot). Every write holds db->lock while it reads what it checks and
 * commits one write batch with a synced WAL, so a check and its write are
 * atomic against every other write, and what a call acknowledged survives a
 * crash. Invariant kept by that lock: refs, staging and chunk index entries
 * exist only under an existing repo record.
 */
#include "meta/db.h"

#include "lib/buf.h"
#include "lib/endian.h"
#include "lib/err.h"
#include "lib/util.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define STAGE_PATH_MAX 4096
#define STAGE_COMPONENT_MAX 255
#define REPO_REC_VERSION 1      /* no packs: what binaries before packs read */
#define REPO_REC_VERSION_PACKS 2 /* pack_size appended after the URL */
#define REPO_REC_FIXED 23 /* version 1, cdc 3 x 4, created 8, URL length 2 */
#define REPO_REC_PACKS 4  /* v2: pack_size */
#define CHUNK_LOC_SIZE 48 /* pack id 32, offset 8, stored length 4, length 4 */
#define BLOCK_CACHE_BYTES ((size_t)32 << 20)
#define WRITE_BUFFER_BYTES ((size_t)8 << 20)
#define MAX_OPEN_FILES 256
/* 'S' repo NUL branch NUL path is the longest key; the F key is shorter. */
#define KEY_MAX (1 + META_REPO_NAME_MAX + 1 + META_REF_MAX + 1 + STAGE_PATH_MAX)

struct meta_db {
	rocksdb_t *rdb;
	rocksdb_readoptions_t *ro;  /* default reads */
	rocksdb_writeoptions_t *wo; /* sync = 1 */
	pthread_mutex_t lock;       /* serialises every write: check + batch */
	char dir[];                 /* for messages */
};

struct key {
	size_t len;
	char b[KEY_MAX];
};

/* ---- keys, names, encodings ---- */

static int key_add(struct key *k, const char *s, size_t n)
{
	if (n > sizeof(k->b) - k->len)
		return t9k_err(-ENAMETOOLONG, "database key too long");
	memcpy(k->b + k->len, s, n);
	k->len += n;
	return 0;
}

/* prefix a [NUL b [NUL c]]: R/F/S keys and their scan prefixes. */
static int key_build(struct key *k, char prefix, const char *a, const char *b, const char *c)
{
	int ret;

	k->len = 0;
	ret = key_add(k, &prefix, 1);
	if (ret >= 0)
		ret = key_add(k, a, strlen(a));
	if (ret >= 0 && b)
		ret = key_add(k, "", 1);
	if (ret >= 0 && b)
		ret = key_add(k, b, strlen(b));
	if (ret >= 0 && c)
		ret = key_add(k, "", 1);
	if (ret >= 0 && c)
		ret = key_add(k, c, strlen(c));
	return ret;
}

/* The least key greater than every key starting with k; false if none. */
static bool key_successor(const struct key *k, struct key *end)
{
	size_t n = k->len;

	while (n > 0 && (unsigned char)k->b[n - 1] == 0xff)
		n--;
	if (n == 0)
		return false;
	memcpy(end->b, k->b, n);
	end->b[n - 1] = (char)((unsigned char)end->b[n - 1] + 1);
	end->len = n;
	return true;
}

static int name_check(const char *what, const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return t9k_err(-EINVAL, "bad %s name '': empty", what);
	if (len > META_REPO_NAME_MAX)
		return t9k_err(-EINVAL, "bad %s name '%.80s...': longer than %d characters", what,
			       name, META_REPO_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return t9k_err(-EINVAL, "bad %s name '%s': may not start with '%c'", what, name,
			       name[0]);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			continue;
		return t9k_err(-EINVAL, "bad %s name '%s': character 0x%02x not allowed (use A-Z a-z 0-9 . _ -)",
			       what, name, c);
	}
	return 0;
}

int meta_repo_name_check(const char *name)
{
	return name_check("repository", name);
}

int meta_cache_group_name_check(const char *name)
{
	return name_check("cache group", name);
}

int meta_ref_name_check(const char *name)
{
	return name_check("branch or tag", name);
}

/* "branch/NAME" or "tag/NAME". */
static int refname_check(const char *refname)
{
	if (!strncmp(refname, "branch/", 7))
		return name_check("branch", refname + 7);
	if (!strncmp(refname, "tag/", 4))
		return name_check("tag", refname + 4);
	return t9k_err(-EINVAL, "bad ref name '%.100s': want branch/NAME or tag/NAME", refname);
}

int meta_path_check(const char *path)
{
	size_t len = strnlen(path, STAGE_PATH_MAX + 1);
	const char *p = path;

	if (len == 0)
		return t9k_err(-EINVAL, "bad path '': empty");
	if (len > STAGE_PATH_MAX)
		return t9k_err(-EINVAL, "bad path '%.80s...': longer than %d bytes", path, STAGE_PATH_MAX);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0)
			return t9k_err(-EINVAL, "bad path '%s': %s", path,
				       p == path ? "must be relative" : "empty component (// or trailing /)");
		if (n > STAGE_COMPONENT_MAX)
			return t9k_err(-EINVAL, "bad path '%.80s...': a component is longer than %d bytes",
				       path, STAGE_COMPONENT_MAX);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return t9k_err(-EINVAL, "bad path '%s': '.' and '..' are not allowed", path);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

static int stage_args_check(const char *repo, const char *branch, const char *path)
{
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = name_check("branch", branch);
	if (ret >= 0 && path)
		ret = meta_path_check(path);
	return ret;
}

static int repo_decode(const char *name, size_t nlen, const unsigned char *v, size_t len,
		       struct meta_repo *out)
{
	size_t ulen, tail;

	if (nlen > META_REPO_NAME_MAX || len < REPO_REC_FIXED)
		goto bad;
	if (v[0] == REPO_REC_VERSION)
		tail = 0;
	else if (v[0] == REPO_REC_VERSION_PACKS)
		tail = REPO_REC_PACKS;
	else
		goto bad;
	ulen = get_le16(v + 21);
	if (ulen > META_URL_MAX || len != REPO_REC_FIXED + ulen + tail)
		goto bad;
	memset(out, 0, sizeof(*out));
	if (tail)
		out->pack_size = get_le32(v + REPO_REC_FIXED + ulen);
	memcpy(out->name, name, nlen);
	out->cdc_min = get_le32(v + 1);
	out->cdc_avg = get_le32(v + 5);
	out->cdc_max = get_le32(v + 9);
	out->created_ns = (int64_t)get_le64(v + 13);
	memcpy(out->store_url, v + REPO_REC_FIXED, ulen);
	return 0;
bad:
	return t9k_err(T9K_ECORRUPT, "repository record '%.*s' is malformed (%zu bytes)",
		       (int)(nlen > META_REPO_NAME_MAX ? META_REPO_NAME_MAX : nlen), name, len);
}

static int oid_decode(const struct buf *v, const char *repo, const char *refname, struct oid *out)
{
	if (v->len != OID_RAWSZ)
		return t9k_err(T9K_ECORRUPT, "ref '%s' of repository '%s' has a bad value (%zu bytes)",
			       refname, repo, v->len);
	memcpy(out->b, v->data, OID_RAWSZ);
	return 0;
}

/* First 12 hex digits, or "nothing", into s[OID_HEXSZ + 1]. */
static const char *oid_short(const struct oid *id, char *s)
{
	if (!id)
		return "nothing";
	oid_to_hex(id, s);
	s[12] = '\0';
	return s;
}

/* ---- RocksDB access ---- */

/* Fails only on a corrupt or misused mutex: an invariant, not an error. */
static void db_lock(struct meta_db *db)
{
	int ret = pthread_mutex_lock(&db->lock);

	assert(ret == 0);
	(void)ret;
}

static void db_unlock(struct meta_db *db)
{
	int ret = pthread_mutex_unlock(&db->lock);

	assert(ret == 0);
	(void)ret;
}

static int rdb_err(struct meta_db *db, char *err, const char *what)
{
	int ret = t9k_err(-EIO, "database %s: %s: %s", db->dir, what, err);

	rocksdb_free(err);
	return ret;
}

/* 1 with the value copied into val, 0 if the key is absent, or < 0. */
static int kv_get(struct meta_db *db, const rocksdb_readoptions_t *ro, const struct key *k,
		  struct buf *val)
{
	rocksdb_pinnableslice_t *ps;
	const char *v;
	char *err = NULL;
	size_t vlen = 0;
	int ret;

	buf_reset(val);
	ps = rocksdb_get_pinned(db->rdb, ro ? ro : db->ro, k->b, k->len, &err);
	if (err)
		return rdb_err(db, err, "read");
	if (!ps)
		return 0;
	v = rocksdb_pinnableslice_value(ps, &vlen);
	ret = buf_add(val, v, vlen);
	rocksdb_pinnableslice_destroy(ps);
	if (ret < 0)
		return t9k_err(ret, "out of memory reading the database");
	return 1;
}

static int batch_write(struct meta_db *db, rocksdb_writebatch_t *b)
{
	char *err = NULL;

	if (rocksdb_writebatch_count(b) == 0)
		return 0;
	rocksdb_write(db->rdb, db->wo, b, &err);
	if (err)
		return rdb_err(db, err, "write");
	return 0;
}

typedef int scan_fn(const char *k, size_t klen, const char *v, size_t vlen, void *arg);

/* Calls fn for each key starting with prefix, in order, reading snap (or
 * the latest state); fn's non-zero return stops the scan and is returned. */
/* Calls fn on each key starting with prefix, from the first key >= from
 * (NULL: the prefix itself), in order, until fn returns non-zero. */
static int scan_from(struct meta_db *db, const rocksdb_snapshot_t *snap, const struct key *prefix,
		     const struct key *from, scan_fn *fn, void *arg)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	struct key end; /* must outlive the iterator: the bound points at it */
	char *err = NULL;
	int ret = 0;

	if (key_successor(prefix, &end))
		rocksdb_readoptions_set_iterate_upper_bound(ro, end.b, end.len);
	if (snap)
		rocksdb_readoptions_set_snapshot(ro, snap);
	it = rocksdb_create_iterator(db->rdb, ro);
	if (from && (from->len < prefix->len || memcmp(from->b, prefix->b, prefix->len) != 0))
		from = NULL; /* a start outside the range starts at its beginning */
	for (rocksdb_iter_seek(it, from ? from->b : prefix->b, from ? from->len : prefix->len);
	     rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen = 0, vlen = 0;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		if (klen < prefix->len || memcmp(k, prefix->b, prefix->len) != 0)
			break;
		ret = fn(k, klen, v, vlen, arg);
		if (ret)
			goto out;
	}
	rocksdb_iter_get_error(it, &err);
	if (err)
		ret = rdb_err(db, err, "scan");
out:
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return ret;
}

static int scan(struct meta_db *db, const rocksdb_snapshot_t *snap, const struct key *prefix,
		scan_fn *fn, void *arg)
{
	return scan_from(db, snap, prefix, NULL, fn, arg);
}

/* 0 if repo exists, T9K_ENOTFOUND with a message if not, or < 0. */
static int repo_check(struct meta_db *db, const rocksdb_readoptions_t *ro, const char *repo)
{
	struct buf v = BUF_INIT;
	struct key k;
	int ret = key_build(&k, 'R', repo, NULL, NULL);

	if (ret >= 0)
		ret = kv_get(db, ro, &k, &v);
	buf_release(&v);
	if (ret == 0)
		return t9k_err(T9K_ENOTFOUND, "repository '%s' not found", repo);
	return ret < 0 ? ret : 0;
}

/* A snapshot and read options on it, for listings that check the repo and
 * then scan: both see one state. */
struct snap_read {
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
};

static void snap_begin(struct meta_db *db, struct snap_read *s)
{
	s->snap = rocksdb_create_snapshot(db->rdb);
	s->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(s->ro, s->snap);
}

static void snap_end(struct meta_db *db, struct snap_read *s)
{
	rocksdb_readoptions_destroy(s->ro);
	rocksdb_release_snapshot(db->rdb, s->snap);
}

/* ---- open / close ---- */

static int schema_check(struct meta_db *db)
{
	struct buf v = BUF_INIT;
	rocksdb_writebatch_t *b = NULL;
	rocksdb_iterator_t *it = NULL;
	unsigned char ver[4];
	struct key k;
	int ret = key_build(&k, 'V', "", NULL, NULL);

	if (ret < 0)
		goto out;
	ret = kv_get(db, NULL, &k, &v);
	if (ret < 0)
		goto out;
	if (ret == 1) {
		uint32_t have = v.len == 4 ? get_le32(v.data) : 0;

		if (v.len != 4)
			ret = t9k_err(T9K_ECORRUPT, "database %s: schema version key is malformed", db->dir);
		else if (have != SCHEMA_VERSION)
			ret = t9k_err(-ENOTSUP, "database %s has schema version %u; this t9kfs knows version %d",
				      db->dir, have, SCHEMA_VERSION);
		else
			ret = 0;
		goto out;
	}
	it = rocksdb_create_iterator(db->rdb, db->ro);
	rocksdb_iter_seek_to_first(it);
	if (rocksdb_iter_valid(it)) {
		ret = t9k_err(T9K_ECORRUPT, "database %s holds data but no schema version: not a t9kfs database?",
			      db->dir);
		goto out;
	}
	put_le32(ver, SCHEMA_VERSION);
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, k.b, k.len, (const char *)ver, sizeof(ver));
	ret = batch_write(db, b);
out:
	if (b)
		rocksdb_writebatch_destroy(b);
	if (it)
		rocksdb_iter_destroy(it);
	buf_release(&v);
	return ret;
}

static int open_err(const char *dir, char *err)
{
	int ret;

	/* flock() held elsewhere, or RocksDB's own table of files this process locked. */
	if (strstr(err, "lock hold by current process"))
		ret = t9k_err(-EBUSY, "database %s is already open in this process", dir);
	else if (strstr(err, "While lock file"))
		ret = t9k_err(-EBUSY, "database %s is in use by another process", dir);
	else
		ret = t9k_err(-EIO, "database %s: cannot open: %s", dir, err);
	rocksdb_free(err);
	return ret;
}

int meta_db_open(const char *dir, struct meta_db **out)
{
	rocksdb_cache_t *cache = NULL;
	rocksdb_block_based_table_options_t *bbto = NULL;
	rocksdb_options_t *opts = NULL;
	struct meta_db *db;
	size_t dlen = strlen(dir);
	char *err = NULL;
	int ret;

	*out = NULL;
	if (dlen == 0)
		return t9k_err(-EINVAL, "database directory name is empty");
	ret = mkdir_p(dir, 0700);
	if (ret < 0)
		return t9k_err(ret, "database %s: cannot create the directory: %s", dir, strerror(-ret));
	db = calloc(1, sizeof(*db) + dlen + 1);
	if (!db)
		return t9k_err(-ENOMEM, "out of memory");
	memcpy(db->dir, dir, dlen + 1);
	ret = pthread_mutex_init(&db->lock, NULL);
	if (ret) {
		free(db);
		return t9k_err(-ret, "database %s: mutex: %s", dir, strerror(ret));
	}
	db->ro = rocksdb_readoptions_create();
	db->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(db->wo, 1);

	/* Bounded memory: blocks, indexes and filters all live in one LRU
	 * cache; memtables are small since metadata is. The options copy the
	 * cache's shared pointer, so ours can go after the open. */
	cache = rocksdb_cache_create_lru(BLOCK_CACHE_BYTES);
	bbto = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(bbto, cache);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(bbto, 1);
	opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(opts, 1);
	rocksdb_options_set_block_based_table_factory(opts, bbto);
	rocksdb_options_set_write_buffer_size(opts, WRITE_BUFFER_BYTES);
	rocksdb_options_set_max_open_files(opts, MAX_OPEN_FILES);
	rocksdb_options_set_keep_log_file_num(opts, 4);
	rocksdb_options_set_max_log_file_size(opts, (size_t)1 << 20);

	db->rdb = rocksdb_open(opts, dir, &err);
	if (err) {
		ret = open_err(dir, err);
		goto out;
	}
	ret = schema_check(db);
out:
	rocksdb_options_destroy(opts);
	rocksdb_block_based_options_destroy(bbto);
	rocksdb_cache_destroy(cache);
	if (ret < 0) {
		meta_db_close(db);
		return ret;
	}
	*out = db;
	return 0;
}

void meta_db_close(struct meta_db *db)
{
	if (!db)
		return;
	if (db->rdb)
		rocksdb_close(db->rdb);
	rocksdb_readoptions_destroy(db->ro);
	rocksdb_writeoptions_destroy(db->wo);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/* ---- repositories ---- */

int meta_repo_create(struct meta_db *db, const struct meta_repo *r)
{
	unsigned char rec[REPO_REC_FIXED + META_URL_MAX + REPO_REC_PACKS];
	rocksdb_writebatch_t *b = NULL;
	struct buf v = BUF_INIT;
	size_t ulen = strnlen(r->store_url, sizeof(r->store_url));
	struct key k;
	int ret;

	if (strnlen(r->name, sizeof(r->name)) == sizeof(r->name))
		return t9k_err(-EINVAL, "bad repository name: longer than %d characters", META_REPO_NAME_MAX);
	if (ulen == sizeof(r->store_url))
		return t9k_err(-EINVAL, "store URL longer than %d bytes", META_URL_MAX);
	ret = meta_repo_name_check(r->name);
	if (ret < 0)
		return ret;
	ret = key_build(&k, 'R', r->name, NULL, NULL);
	if (ret < 0)
		return ret;
	/* v1 while there are no packs, so older binaries still read it */
	rec[0] = r->pack_size ? REPO_REC_VERSION_PACKS : REPO_REC_VERSION;
	put_le32(rec + 1, r->cdc_min);
	put_le32(rec + 5, r->cdc_avg);
	put_le32(rec + 9, r->cdc_max);
	put_le64(rec + 13, (uint64_t)r->created_ns);
	put_le16(rec + 21, (uint16_t)ulen);
	memcpy(rec + REPO_REC_FIXED, r->store_url, ulen);
	if (r->pack_size)
		put_le32(rec + REPO_REC_FIXED + ulen, r->pack_size);

	db_lock(db);
	ret = kv_get(db, NULL, &k, &v);
	if (ret < 0)
		goto out;
	if (ret == 1) {
		ret = t9k_err(-EEXIST, "repository '%s' already exists", r->name);
		goto out;
	}
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, k.b, k.len, (const char *)rec,
			       REPO_REC_FIXED + ulen + (r->pack_size ? REPO_REC_PACKS : 0));
	ret = batch_write(db, b);
out:
	db_unlock(db);
	if (b)
		rocksdb_writebatch_destroy(b);
	buf_release(&v);
	return ret;
}

int meta_repo_get(struct meta_db *db, const char *name, struct meta_repo *out)
{
	struct buf v = BUF_INIT;
	struct key k;
	int ret = meta_repo_name_check(name);

	if (ret >= 0)
		ret = key_build(&k, 'R', name, NULL, NULL);
	if (ret >= 0)
		ret = kv_get(db, NULL, &k, &v);
	if (ret == 0)
		ret = t9k_err(T9K_ENOTFOUND, "repository '%s' not found", name);
	else if (ret == 1)
		ret = repo_decode(name, strlen(name), v.data, v.len, out);
	buf_release(&v);
	return ret;
}

int meta_repo_delete(struct meta_db *db, const char *name)
{
	rocksdb_writebatch_t *b = NULL;
	struct key k, from, to;
	int ret = meta_repo_name_check(name);

	if (ret < 0)
		return ret;
	db_lock(db);
	ret = repo_check(db, NULL, name);
	if (ret < 0)
		goto out;
	ret = key_build(&k, 'R', name, NULL, NULL);
	if (ret < 0)
		goto out;
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_delete(b, k.b, k.len);
	/* All of "F name NUL ...", "S name NUL ...", "I name NUL ..." and
	 * "G name NUL ...": one range each. */
	for (const char *p = "FSIG"; *p; p++) {
		ret = key_build(&from, *p, name, "", NULL);
		if (ret < 0)
			goto out;
		if (!key_successor(&from, &to)) {
			ret = t9k_err(-EINVAL, "no key range for repository '%s'", name);
			goto out;
		}
		rocksdb_writebatch_delete_range(b, from.b, from.len, to.b, to.len);
	}
	ret = batch_write(db, b);
out:
	db_unlock(db);
	if (b)
		rocksdb_writebatch_destroy(b);
	return ret;
}

struct repo_list_ctx {
	int (*fn)(const struct meta_repo *r, void *arg);
	void *arg;
};

static int repo_list_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct repo_list_ctx *c = arg;
	struct meta_repo r;
	int ret = repo_decode(k + 1, klen - 1, (const unsigned char *)v, vlen, &r);

	return ret < 0 ? ret : c->fn(&r, c->arg);
}

int meta_repo_list(struct meta_db *db, int (*fn)(const struct meta_repo *r, void *arg), void *arg)
{
	struct repo_list_ctx c = { fn, arg };
	struct key k;
	int ret = key_build(&k, 'R', "", NULL, NULL);

	return ret < 0 ? ret : scan(db, NULL, &k, repo_list_one, &c);
}

/* ---- tokens (meta/authz.h): 'T' name -> record ---- */

int meta_token_name_check(const char *name)
{
	return name_check("token", name);
}

int meta_token_put(struct meta_db *db, const char *name, const void *val, size_t len)
{
	rocksdb_writebatch_t *b;
	struct buf cur;
	struct key k;
	int ret;

	if ((ret = meta_token_name_check(name)) < 0 || (ret = key_build(&k, 'T', name, NULL, NULL)) < 0)
		return ret;
	buf_init(&cur);
	db_lock(db);
	ret = kv_get(db, NULL, &k, &cur);
	if (ret > 0)
		ret = t9k_err(-EEXIST, "token '%s' exists", name);
	if (ret == 0) {
		b = rocksdb_writebatch_create();
		rocksdb_writebatch_put(b, k.b, k.len, val, len);
		ret = batch_write(db, b);
		rocksdb_writebatch_destroy(b);
	}
	db_unlock(db);
	buf_release(&cur);
	return ret;
}

int meta_token_get(struct meta_db *db, const char *name, struct buf *val)
{
	struct key k;
	int ret;

	if ((ret = meta_token_name_check(name)) < 0 || (ret = key_build(&k, 'T', name, NULL, NULL)) < 0)
		return ret;
	ret = kv_get(db, NULL, &k, val);
	if (ret == 0)
		return t9k_err(T9K_ENOTFOUND, "no token '%s'", name);
	return ret < 0 ? ret : 0;
}

int meta_token_delete(struct meta_db *db, const char *name)
{
	rocksdb_writebatch_t *b;
	struct buf cur;
	struct key k;
	int ret;

	if ((ret = meta_token_name_check(name)) < 0 || (ret = key_build(&k, 'T', name, NULL, NULL)) < 0)
		return ret;
	buf_init(&cur);
	db_lock(db);
	ret = kv_get(db, NULL, &k, &cur);
	if (ret == 0)
		ret = t9k_err(T9K_ENOTFOUND, "no token '%s'", name);
	if (ret > 0) {
		b = rocksdb_writebatch_create();
		rocksdb_writebatch_delete(b, k.b, k.len);
		ret = batch_write(db, b);
		rocksdb_writebatch_destroy(b);
	}
	db_unlock(db);
	buf_release(&cur);
	return ret;
}

struct token_list_ctx {
	int (*fn)(const char *name, const void *val, size_t len, void *arg);
	void *arg;
};

static int token_list_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct token_list_ctx *c = arg;
	char name[META_REPO_NAME_MAX + 1];

	if (klen < 2 || klen - 1 > META_REPO_NAME_MAX)
		return 0;
	memcpy(name, k + 1, klen - 1);
	name[klen - 1] = '\0';
	return c->fn(name, v, vlen, c->arg);
}

int meta_token_list(struct meta_db *db, int (*fn)(const char *name, const void *val, size_t len, void *arg),
		    void *arg)
{
	struct token_list_ctx c = { fn, arg };
	struct key k;
	int ret = key_build(&k, 'T', "", NULL, NULL);

	return ret < 0 ? ret : scan(db, NULL, &k, token_list_one, &c);
}

/* ---- refs ---- */

int meta_ref_get(struct meta_db *db, const char *repo, const char *refname, struct oid *out)
{
	struct buf v = BUF_INIT;
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = refname_check(refname);
	if (ret >= 0)
		ret = key_build(&k, 'F', repo, refname, NULL);
	if (ret >= 0)
		ret = kv_get(db, NULL, &k, &v);
	if (ret == 1) {
		ret = oid_decode(&v, repo, refname, out);
	} else if (ret == 0) {
		/* Refs live only under a repo, so a found ref needs no check. */
		ret = repo_check(db, NULL, repo);
		if (ret >= 0)
			ret = t9k_err(T9K_ENOTFOUND, "ref '%s' not found in repository '%s'", refname, repo);
	}
	buf_release(&v);
	return ret;
}

/* With db->lock held: T9K_ECONFLICT unless the ref at k is at *old (NULL:
 * absent); what names the ref in the message. */
static int ref_expect(struct meta_db *db, const struct key *k, const char *repo, const char *refname,
		      const char *what, const struct oid *old)
{
	char hex_old[OID_HEXSZ + 1], hex_cur[OID_HEXSZ + 1];
	struct buf v = BUF_INIT;
	struct oid cur;
	bool have;
	int ret = kv_get(db, NULL, k, &v);

	if (ret < 0)
		goto out;
	have = ret == 1;
	if (have) {
		ret = oid_decode(&v, repo, refname, &cur);
		if (ret < 0)
			goto out;
	}
	ret = 0;
	if (have != (old != NULL) || (have && !oid_eq(&cur, old)))
		ret = t9k_err(T9K_ECONFLICT, "%s moved (expected %s, found %s)", what,
			      oid_short(old, hex_old), oid_short(have ? &cur : NULL, hex_cur));
out:
	buf_release(&v);
	return ret;
}

static int stage_drop_all(struct meta_db *db, const char *repo, const char *branch,
			  rocksdb_writebatch_t *b);

int meta_ref_cas(struct meta_db *db, const char *repo, const char *refname,
		 const struct oid *old, const struct oid *new)
{
	rocksdb_writebatch_t *b = NULL;
	char what[META_REF_MAX + META_REPO_NAME_MAX + 40];
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = refname_check(refname);
	if (ret >= 0)
		ret = key_build(&k, 'F', repo, refname, NULL);
	if (ret < 0)
		return ret;
	snprintf(what, sizeof(what), "ref '%s' of repository '%s'", refname, repo);

	db_lock(db);
	ret = repo_check(db, NULL, repo);
	if (ret >= 0)
		ret = ref_expect(db, &k, repo, refname, what, old);
	if (ret < 0)
		goto out;
	b = rocksdb_writebatch_create();
	if (new) {
		rocksdb_writebatch_put(b, k.b, k.len, (const char *)new->b, OID_RAWSZ);
	} else if (old) {
		rocksdb_writebatch_delete(b, k.b, k.len);
		/* a branch's staged changes go with it, in the same write: a
		 * branch created later under the name starts clean */
		if (strncmp(refname, "branch/", 7) == 0)
			ret = stage_drop_all(db, repo, refname + 7, b);
	}
	if (ret >= 0)
		ret = batch_write(db, b);
out:
	db_unlock(db);
	if (b)
		rocksdb_writebatch_destroy(b);
	return ret;
}

static int any_key(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	(void)k, (void)klen, (void)v, (void)vlen, (void)arg;
	return 1;
}

int meta_branch_expire(struct meta_db *db, const char *repo, const char *branch,
		       const struct oid *old)
{
	rocksdb_writebatch_t *b = NULL;
	char refname[META_REF_MAX], what[META_REF_MAX + META_REPO_NAME_MAX + 40];
	struct key k, sk;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = meta_ref_name_check(branch);
	if (ret < 0)
		return ret;
	snprintf(refname, sizeof(refname), "branch/%s", branch);
	snprintf(what, sizeof(what), "ref '%s' of repository '%s'", refname, repo);
	ret = key_build(&k, 'F', repo, refname, NULL);
	if (ret >= 0)
		ret = key_build(&sk, 'S', repo, branch, "");
	if (ret < 0)
		return ret;
	db_lock(db);
	ret = ref_expect(db, &k, repo, refname, what, old);
	if (ret >= 0) {
		ret = scan(db, NULL, &sk, any_key, NULL);
		if (ret == 1)
			ret = t9k_err(T9K_ECONFLICT, "branch '%s' has staged changes", branch);
	}
	if (ret >= 0) {
		b = rocksdb_writebatch_create();
		rocksdb_writebatch_delete(b, k.b, k.len);
		ret = batch_write(db, b);
		rocksdb_writebatch_destroy(b);
	}
	db_unlock(db);
	return ret;
}

struct ref_list_ctx {
	int (*fn)(const char *refname, const struct oid *id, void *arg);
	void *arg;
	const char *repo;
	size_t skip; /* "F repo NUL" */
};

static int ref_list_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct ref_list_ctx *c = arg;
	char refname[META_REF_MAX + 1];
	size_t n = klen - c->skip;
	struct oid id;

	if (n > META_REF_MAX)
		return t9k_err(T9K_ECORRUPT, "repository '%s' has a ref name longer than %d bytes",
			       c->repo, META_REF_MAX);
	memcpy(refname, k + c->skip, n);
	refname[n] = '\0';
	if (vlen != OID_RAWSZ)
		return t9k_err(T9K_ECORRUPT, "ref '%s' of repository '%s' has a bad value (%zu bytes)",
			       refname, c->repo, vlen);
	memcpy(id.b, v, OID_RAWSZ);
	return c->fn(refname, &id, c->arg);
}

int meta_ref_list(struct meta_db *db, const char *repo, const char *prefix,
		  int (*fn)(const char *refname, const struct oid *id, void *arg), void *arg)
{
	struct ref_list_ctx c = { fn, arg, repo, 1 + strlen(repo) + 1 };
	struct snap_read s;
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0 && strlen(prefix) > META_REF_MAX)
		ret = t9k_err(-EINVAL, "ref prefix '%.80s...' longer than %d bytes", prefix, META_REF_MAX);
	if (ret >= 0)
		ret = key_build(&k, 'F', repo, prefix, NULL);
	if (ret < 0)
		return ret;
	snap_begin(db, &s);
	ret = repo_check(db, s.ro, repo);
	if (ret >= 0)
		ret = scan(db, s.snap, &k, ref_list_one, &c);
	snap_end(db, &s);
	return ret;
}

/* ---- staging ---- */

static int stage_drop_below(struct meta_db *db, const char *repo, const char *branch,
			    const char *path, rocksdb_writebatch_t *b);

int meta_stage_put_many(struct meta_db *db, const char *repo, const char *branch,
			const struct meta_staged *items, size_t n)
{
	rocksdb_writebatch_t *b = NULL;
	struct key k;
	int ret = 0;

	/* check everything before writing anything */
	for (size_t i = 0; i < n && ret >= 0; i++) {
		ret = stage_args_check(repo, branch, items[i].path);
		if (ret >= 0 && !items[i].val && items[i].len)
			ret = t9k_err(-EINVAL, "staged value of '%s' is NULL", items[i].path);
	}
	if (ret < 0)
		return ret;
	b = rocksdb_writebatch_create();
	db_lock(db);
	ret = repo_check(db, NULL, repo);
	/* the drops first: a put of this batch below a dropped path stays */
	for (size_t i = 0; i < n && ret >= 0; i++)
		if (items[i].drop_below)
			ret = stage_drop_below(db, repo, branch, items[i].path, b);
	for (size_t i = 0; i < n && ret >= 0; i++) {
		ret = key_build(&k, 'S', repo, branch, items[i].path);
		if (ret >= 0)
			rocksdb_writebatch_put(b, k.b, k.len, items[i].val ? items[i].val : "",
					       items[i].len);
	}
	if (ret >= 0)
		ret = batch_write(db, b);
	db_unlock(db);
	rocksdb_writebatch_destroy(b);
	return ret;
}

int meta_stage_put(struct meta_db *db, const char *repo, const char *branch, const char *path,
		   const void *val, size_t len)
{
	struct meta_staged item = { path, val, len, false };

	return meta_stage_put_many(db, repo, branch, &item, 1);
}

int meta_stage_get(struct meta_db *db, const char *repo, const char *branch, const char *path,
		   void **val, size_t *len)
{
	struct buf v = BUF_INIT;
	struct key k;
	int ret = stage_args_check(repo, branch, path);

	if (ret >= 0)
		ret = key_build(&k, 'S', repo, branch, path);
	if (ret >= 0)
		ret = kv_get(db, NULL, &k, &v);
	if (ret == 1) {
		*val = buf_detach(&v, len); /* kv_get allocates even for an empty value */
		ret = 0;
	} else if (ret == 0) {
		ret = repo_check(db, NULL, repo);
		if (ret >= 0)
			ret = t9k_err(T9K_ENOTFOUND, "'%s' is not staged on branch '%s' of repository '%s'",
				      path, branch, repo);
	}
	buf_release(&v);
	return ret;
}

struct stage_list_ctx {
	int (*fn)(const char *path, const void *val, size_t len, void *arg);
	void *arg;
	size_t skip; /* "S repo NUL branch NUL" */
	rocksdb_writebatch_t *b; /* reset: collects deletes instead */
	int count;
	size_t under; /* reset of a path: the path's length; keys must end there or at '/' */
};

static int stage_list_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct stage_list_ctx *c = arg;
	char path[STAGE_PATH_MAX + 1];
	size_t n = klen - c->skip;

	if (c->b) {
		if (c->under && n > c->under && k[c->skip + c->under] != '/')
			return 0; /* "data" resets "data/x", not "database" */
		if (c->count == INT_MAX)
			return t9k_err(-EOVERFLOW, "too many staged paths to count");
		rocksdb_writebatch_delete(c->b, k, klen);
		c->count++;
		return 0;
	}
	if (n > STAGE_PATH_MAX)
		return t9k_err(T9K_ECORRUPT, "a staged path is longer than %d bytes", STAGE_PATH_MAX);
	memcpy(path, k + c->skip, n);
	path[n] = '\0';
	return c->fn(path, v, vlen, c->arg);
}

static int stage_prefix(const char *repo, const char *branch, const char *prefix, struct key *k)
{
	int ret = stage_args_check(repo, branch, NULL);

	if (ret >= 0 && strlen(prefix) > STAGE_PATH_MAX)
		ret = t9k_err(-EINVAL, "path prefix '%.80s...' longer than %d bytes", prefix, STAGE_PATH_MAX);
	if (ret >= 0)
		ret = key_build(k, 'S', repo, branch, prefix);
	return ret;
}

int meta_stage_list(struct meta_db *db, const char *repo, const char *branch, const char *prefix,
		    int (*fn)(const char *path, const void *val, size_t len, void *arg), void *arg)
{
	return meta_stage_list_after(db, repo, branch, prefix, NULL, fn, arg);
}

int meta_stage_list_after(struct meta_db *db, const char *repo, const char *branch,
			  const char *prefix, const char *after,
			  int (*fn)(const char *path, const void *val, size_t len, void *arg),
			  void *arg)
{
	struct stage_list_ctx c = { fn, arg, 1 + strlen(repo) + 1 + strlen(branch) + 1, NULL, 0, 0 };
	struct snap_read s;
	struct key k, from;
	int ret = stage_prefix(repo, branch, prefix, &k);

	/* the first key after `after`: after itself followed by a NUL byte */
	if (ret >= 0 && after && (ret = stage_prefix(repo, branch, after, &from)) >= 0) {
		if (from.len == sizeof(from.b))
			return t9k_err(-EINVAL, "staged path '%.80s...' too long to page after", after);
		from.b[from.len++] = '\0';
	}
	if (ret < 0)
		return ret;
	snap_begin(db, &s);
	ret = repo_check(db, s.ro, repo);
	if (ret >= 0)
		ret = scan_from(db, s.snap, &k, after ? &from : NULL, stage_list_one, &c);
	snap_end(db, &s);
	return ret;
}

/* Adds a delete of every staged path of branch to b; the caller holds the
 * lock. */
static int stage_drop_all(struct meta_db *db, const char *repo, const char *branch,
			  rocksdb_writebatch_t *b)
{
	struct stage_list_ctx c = { NULL, NULL, 0, b, 0, 0 };
	struct key k;
	int ret = stage_prefix(repo, branch, "", &k);

	return ret < 0 ? ret : scan(db, NULL, &k, stage_list_one, &c);
}

/* Adds a delete of every staged path under path/ to b; lock held. */
static int stage_drop_below(struct meta_db *db, const char *repo, const char *branch,
			    const char *path, rocksdb_writebatch_t *b)
{
	struct stage_list_ctx c = { NULL, NULL, 0, b, 0, 0 };
	char dir[STAGE_PATH_MAX + 2];
	struct key k;
	int ret;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/", path) >= sizeof(dir))
		return t9k_err(-ENAMETOOLONG, "path '%.80s...' too long", path);
	ret = stage_prefix(repo, branch, dir, &k);
	return ret < 0 ? ret : scan(db, NULL, &k, stage_list_one, &c);
}

int meta_stage_reset(struct meta_db *db, const char *repo, const char *branch, const char *prefix)
{
	size_t plen = strlen(prefix);
	struct stage_list_ctx c = { NULL, NULL, 0, NULL, 0, 0 };
	struct key k;
	int ret = stage_prefix(repo, branch, prefix, &k);

	if (ret < 0)
		return ret;
	if (plen && prefix[plen - 1] != '/') {
		c.skip = 1 + strlen(repo) + 1 + strlen(branch) + 1;
		c.under = plen;
	}
	db_lock(db);
	ret = repo_check(db, NULL, repo);
	if (ret < 0)
		goto out;
	c.b = rocksdb_writebatch_create();
	ret = scan(db, NULL, &k, stage_list_one, &c);
	if (ret >= 0)
		ret = batch_write(db, c.b);
out:
	db_unlock(db);
	if (c.b)
		rocksdb_writebatch_destroy(c.b);
	return ret < 0 ? ret : c.count;
}

/* ---- commit ---- */

int meta_commit_apply(struct meta_db *db, const char *repo, const char *branch,
		      const struct oid *old, const struct oid *new,
		      const struct meta_staged *done, size_t ndone)
{
	rocksdb_writebatch_t *b = NULL;
	char refname[META_REF_MAX + 1], what[META_REF_MAX + 16];
	struct buf v = BUF_INIT;
	struct key ref, k;
	int ret = stage_args_check(repo, branch, NULL);

	if (ret >= 0 && !new)
		ret = t9k_err(-EINVAL, "commit on branch '%s' without a new head", branch);
	for (size_t i = 0; ret >= 0 && i < ndone; i++) {
		ret = meta_path_check(done[i].path);
		if (ret >= 0 && !done[i].val && done[i].len)
			ret = t9k_err(-EINVAL, "staged value of '%s' is NULL", done[i].path);
	}
	if (ret < 0)
		return ret;
	snprintf(refname, sizeof(refname), "branch/%s", branch);
	snprintf(what, sizeof(what), "branch '%s'", branch);
	ret = key_build(&ref, 'F', repo, refname, NULL);
	if (ret < 0)
		return ret;

	db_lock(db);
	ret = repo_check(db, NULL, repo);
	if (ret >= 0)
		ret = ref_expect(db, &ref, repo, refname, what, old);
	if (ret < 0)
		goto out;
	b = rocksdb_writebatch_create();
	rocksdb_writebatch_put(b, ref.b, ref.len, (const char *)new->b, OID_RAWSZ);
	for (size_t i = 0; i < ndone; i++) {
		ret = key_build(&k, 'S', repo, branch, done[i].path);
		if (ret >= 0)
			ret = kv_get(db, NULL, &k, &v);
		if (ret < 0)
			goto out;
		if (ret == 1 && v.len == done[i].len &&
		    (v.len == 0 || memcmp(v.data, done[i].val, v.len) == 0))
			rocksdb_writebatch_delete(b, k.b, k.len);
	}
	ret = batch_write(db, b);
out:
	db_unlock(db);
	if (b)
		rocksdb_writebatch_destroy(b);
	buf_release(&v);
	return ret;
}

/* ---- chunk index ---- */

/* "I repo NUL" and the raw id: the id may hold NUL bytes, so it is added
 * by length, not as a key_build string. */
static int chunk_key(const char *repo, const struct oid *id, struct key *k)
{
	int ret = key_build(k, 'I', repo, "", NULL);

	return ret < 0 ? ret : key_add(k, (const char *)id->b, OID_RAWSZ);
}

int meta_chunk_index_get(struct meta_db *db, const char *repo, const struct oid *id,
			 struct meta_chunk_loc *out)
{
	struct buf v = BUF_INIT;
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = chunk_key(repo, id, &k);
	if (ret >= 0)
		ret = kv_get(db, NULL, &k, &v);
	if (ret == 0) {
		ret = -ENOENT; /* entries live only under a repo: no check needed */
	} else if (ret == 1 && v.len != CHUNK_LOC_SIZE) {
		char hex[OID_HEXSZ + 1];

		ret = t9k_err(T9K_ECORRUPT, "chunk index entry %s of repository '%s' is malformed (%zu bytes)",
			      oid_to_hex(id, hex), repo, v.len);
	} else if (ret == 1) {
		const unsigned char *p = v.data;

		memset(out, 0, sizeof(*out));
		out->id = *id;
		memcpy(out->pack.b, p, OID_RAWSZ);
		out->offset = get_le64(p + 32);
		out->stored_len = get_le32(p + 40);
		out->len = get_le32(p + 44);
		ret = 0;
	}
	buf_release(&v);
	return ret;
}

int meta_chunk_index_put(struct meta_db *db, const char *repo, const struct meta_chunk_loc *v,
			 size_t n)
{
	rocksdb_writebatch_t *b = NULL;
	unsigned char val[CHUNK_LOC_SIZE];
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret < 0)
		return ret;
	b = rocksdb_writebatch_create();
	db_lock(db);
	ret = repo_check(db, NULL, repo);
	for (size_t i = 0; i < n && ret >= 0; i++) {
		ret = chunk_key(repo, &v[i].id, &k);
		if (ret < 0)
			break;
		memcpy(val, v[i].pack.b, OID_RAWSZ);
		put_le64(val + 32, v[i].offset);
		put_le32(val + 40, v[i].stored_len);
		put_le32(val + 44, v[i].len);
		rocksdb_writebatch_put(b, k.b, k.len, (const char *)val, sizeof(val));
	}
	if (ret >= 0)
		ret = batch_write(db, b);
	db_unlock(db);
	rocksdb_writebatch_destroy(b);
	return ret;
}

struct index_list_ctx {
	int (*fn)(const struct meta_chunk_loc *loc, void *arg);
	void *arg;
	size_t skip; /* "I repo NUL" */
	const char *repo;
};

static int index_list_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct index_list_ctx *c = arg;
	const unsigned char *p = (const unsigned char *)v;
	struct meta_chunk_loc loc;

	if (klen != c->skip + OID_RAWSZ || vlen != CHUNK_LOC_SIZE)
		return t9k_err(T9K_ECORRUPT, "chunk index of repository '%s' has a malformed entry",
			       c->repo);
	memset(&loc, 0, sizeof(loc));
	memcpy(loc.id.b, k + c->skip, OID_RAWSZ);
	memcpy(loc.pack.b, p, OID_RAWSZ);
	loc.offset = get_le64(p + 32);
	loc.stored_len = get_le32(p + 40);
	loc.len = get_le32(p + 44);
	return c->fn(&loc, c->arg);
}

int meta_chunk_index_list(struct meta_db *db, const char *repo,
			  int (*fn)(const struct meta_chunk_loc *loc, void *arg), void *arg)
{
	struct index_list_ctx c = { fn, arg, 0, repo };
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = key_build(&k, 'I', repo, "", NULL);
	if (ret < 0)
		return ret;
	c.skip = k.len;
	return scan(db, NULL, &k, index_list_one, &c);
}

int meta_chunk_index_drop(struct meta_db *db, const char *repo, const struct meta_chunk_loc *v,
			  size_t n)
{
	rocksdb_writebatch_t *b;
	struct buf val = BUF_INIT;
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret < 0 || n == 0)
		return ret;
	b = rocksdb_writebatch_create();
	db_lock(db);
	for (size_t i = 0; i < n && ret >= 0; i++) {
		ret = chunk_key(repo, &v[i].id, &k);
		if (ret >= 0)
			ret = kv_get(db, NULL, &k, &val);
		if (ret == 1 && val.len == CHUNK_LOC_SIZE && !memcmp(val.data, v[i].pack.b, OID_RAWSZ))
			rocksdb_writebatch_delete(b, k.b, k.len);
		if (ret > 0)
			ret = 0;
	}
	if (ret >= 0)
		ret = batch_write(db, b);
	db_unlock(db);
	rocksdb_writebatch_destroy(b);
	buf_release(&val);
	return ret;
}

/* ---- staging of every branch ---- */

struct stage_all_ctx {
	int (*fn)(const char *branch, const char *path, const void *val, size_t len, void *arg);
	void *arg;
	size_t skip; /* "S repo NUL" */
};

static int stage_all_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct stage_all_ctx *c = arg;
	char key[KEY_MAX + 1];
	const char *branch, *path;
	size_t blen;

	if (klen > KEY_MAX)
		return t9k_err(T9K_ECORRUPT, "staging key too long");
	memcpy(key, k, klen);
	key[klen] = '\0';
	branch = key + c->skip;
	blen = strnlen(branch, klen - c->skip);
	if (c->skip + blen >= klen)
		return t9k_err(T9K_ECORRUPT, "staging key without a path");
	path = branch + blen + 1;
	return c->fn(branch, path, v, vlen, c->arg);
}

int meta_stage_list_all(struct meta_db *db, const char *repo,
			int (*fn)(const char *branch, const char *path, const void *val, size_t len,
				  void *arg),
			void *arg)
{
	struct stage_all_ctx c = { fn, arg, 0 };
	struct snap_read sr;
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = key_build(&k, 'S', repo, "", NULL);
	if (ret < 0)
		return ret;
	c.skip = k.len;
	snap_begin(db, &sr);
	ret = repo_check(db, sr.ro, repo);
	if (ret >= 0)
		ret = scan(db, sr.snap, &k, stage_all_one, &c);
	snap_end(db, &sr);
	return ret;
}

/* ---- gc state ---- */

static int gc_key(const char *repo, const char *name, struct key *k)
{
	int ret = meta_repo_name_check(repo);

	if (ret < 0)
		return ret;
	if (!*name || strlen(name) > 255)
		return t9k_err(-EINVAL, "bad gc state name '%.40s'", name);
	return key_build(k, 'G', repo, name, NULL);
}

int meta_gc_put(struct meta_db *db, const char *repo, const char *name, const void *val,
		size_t len)
{
	rocksdb_writebatch_t *b;
	struct key k;
	int ret = gc_key(repo, name, &k);

	if (ret < 0)
		return ret;
	b = rocksdb_writebatch_create();
	db_lock(db);
	ret = repo_check(db, NULL, repo);
	if (ret >= 0) {
		rocksdb_writebatch_put(b, k.b, k.len, val, len);
		ret = batch_write(db, b);
	}
	db_unlock(db);
	rocksdb_writebatch_destroy(b);
	return ret;
}

int meta_gc_get(struct meta_db *db, const char *repo, const char *name, void **val, size_t *len)
{
	struct buf v = BUF_INIT;
	struct key k;
	int ret = gc_key(repo, name, &k);

	if (ret >= 0)
		ret = kv_get(db, NULL, &k, &v);
	if (ret == 1) {
		*val = buf_detach(&v, len);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	buf_release(&v);
	return ret;
}

int meta_gc_delete(struct meta_db *db, const char *repo, const char *const *names, size_t n)
{
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	struct key k;
	int ret = 0;

	for (size_t i = 0; i < n && ret >= 0; i++) {
		ret = gc_key(repo, names[i], &k);
		if (ret >= 0)
			rocksdb_writebatch_delete(b, k.b, k.len);
	}
	if (ret >= 0) {
		db_lock(db);
		ret = batch_write(db, b);
		db_unlock(db);
	}
	rocksdb_writebatch_destroy(b);
	return ret;
}

struct gc_list_ctx {
	int (*fn)(const char *name, const void *val, size_t len, void *arg);
	void *arg;
	size_t skip; /* "G repo NUL" */
};

static int gc_list_one(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct gc_list_ctx *c = arg;
	char name[256];
	size_t n = klen - c->skip;

	if (n >= sizeof(name))
		return t9k_err(T9K_ECORRUPT, "gc state key too long");
	memcpy(name, k + c->skip, n);
	name[n] = '\0';
	return c->fn(name, v, vlen, c->arg);
}

int meta_gc_list(struct meta_db *db, const char *repo, const char *prefix,
		 int (*fn)(const char *name, const void *val, size_t len, void *arg), void *arg)
{
	struct gc_list_ctx c = { fn, arg, 0 };
	struct key k;
	int ret = meta_repo_name_check(repo);

	if (ret >= 0)
		ret = key_build(&k, 'G', repo, "", NULL);
	if (ret < 0)
		return ret;
	c.skip = k.len;
	if (*prefix && (ret = key_add(&k, prefix, strlen(prefix))) < 0)
		return ret;
	return scan(db, NULL, &k, gc_list_one, &c);
}
