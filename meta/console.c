/* The web console's endpoints (meta/console.h, meta/API.md "Console").
 *
 * Everything here reads: refs, commits and trees through meta/repo.h,
 * and answers JSON by pieces (api_call_out/_json), so a page of 10,000
 * entries is written item by item. Pages are cut on the server: history
 * by a cursor (the commits still to walk), a directory after a name,
 * a diff after a path, so the 10,000th commit or the 100,000th entry
 * costs what the first does.
 *
 * The size of a tree (the summary) is a walk of every entry, remembered
 * per directory id in a small direct-mapped cache shared by all
 * repositories (trees are content-addressed: an id is the same
 * directory everywhere), so the next commit re-reads only the
 * directories it changed. A walk reads at most CONSOLE_SIZE_BUDGET
 * entries and says when it stopped short.
 *
 * A file's bytes are streamed: the reply holds the file's manifest and
 * one chunk at a time (api_reply read/free), with a reference on the
 * repository handle until the last byte is sent.
 */
#include "meta/console.h"

#include "lib/err.h"
#include "lib/util.h"
#include "meta/fetch.h"
#include "meta/json.h"
#include "meta/objects.h"
#include "meta/transfer.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define TREE_PAGE_DEFAULT 1000
#define HISTORY_PAGE_DEFAULT 50
#define CHANGES_PAGE_DEFAULT 500
#define REFINFO_MAX 10000
#define SIZE_MEMO_SLOTS (1u << 16)
#define SIZE_DEPTH_MAX 512

/* ---- small pieces ---- */

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	default: return "file";
	}
}

/* An entry as the console shows it: no payload (a listing of small
 * inline files would carry their bytes), a symlink's target instead. */
static json_t *entry_json(const struct tree_entry *e, const char *name, size_t name_len)
{
	json_t *j = json_pack("{s:o,s:s,s:i,s:I,s:I}", "name", meta_json_str(name, name_len), "type",
			      type_name(e->mode), "mode", (int)(e->mode & 07777), "size",
			      (json_int_t)e->size, "mtime_ns", (json_int_t)e->mtime_ns);
	int rc = 0;

	if (!j)
		return NULL;
	if (e->has_owner)
		rc |= json_object_set_new(j, "uid", json_integer(e->uid)) |
		      json_object_set_new(j, "gid", json_integer(e->gid));
	if (S_ISLNK(e->mode) && e->is_inline)
		rc |= json_object_set_new(j, "target",
					  meta_json_str((const char *)e->data, e->data_len));
	if (e->link_id)
		rc |= json_object_set_new(j, "nlink", json_integer(e->nlink));
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode))
		rc |= json_object_set_new(j, "rdev", json_pack("{s:i,s:i}", "major",
							       (int)e->dev_major, "minor",
							       (int)e->dev_minor));
	if (S_ISDIR(e->mode) && e->has_subdirs)
		rc |= json_object_set_new(j, "subdirs", json_integer(e->subdirs));
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Query key as a ref spec (def when absent, required when def is NULL),
 * resolved to a commit id. */
static int query_ref(struct call *c, const char *key, const char *def, struct oid *id,
		     const char **spec)
{
	const char *s;
	int rc = api_call_query(c, key, &s);

	if (rc < 0)
		return rc;
	if (rc == 1 || !*s) {
		if (!def)
			return t9k_err(-EINVAL, "query parameter '%s' is missing", key);
		s = def;
	}
	if (spec)
		*spec = s;
	return repo_resolve(api_call_repo(c), s, id);
}

/* Query key as a path inside a tree: "" (the root) when absent; leading
 * and trailing slashes dropped; every component checked. out has
 * REPO_PATH_MAX + 1 bytes. */
static int query_path(struct call *c, const char *key, char *out)
{
	const char *s;
	size_t n;
	int rc = api_call_query(c, key, &s);

	out[0] = '\0';
	if (rc < 0)
		return rc;
	if (rc == 1)
		return 0;
	while (*s == '/')
		s++;
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	if (n > REPO_PATH_MAX)
		return t9k_err(-EINVAL, "query parameter '%s' is longer than %d bytes", key,
			       REPO_PATH_MAX);
	memcpy(out, s, n);
	out[n] = '\0';
	return n ? meta_path_check(out) : 0;
}

static int commit_json(struct repo *r, const struct oid *id, json_t **out)
{
	struct repo_commit rc_out;
	int rc = repo_commit_read(r, id, &rc_out);

	*out = NULL;
	if (rc < 0)
		return rc;
	*out = meta_json_commit(id, &rc_out.c);
	repo_commit_release(&rc_out);
	return *out ? 0 : t9k_err(-ENOMEM, "out of memory");
}

/* Writes "," before every item but the first. */
static int item(struct call *c, size_t *n, json_t *j)
{
	int rc = (*n)++ ? api_call_out(c, ",", 1) : 0;

	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	return api_call_json(c, j);
}

static int out_str(struct call *c, const char *s)
{
	return api_call_out(c, s, strlen(s));
}

/* A value that is not an object or array (a string); drops j. */
static int out_scalar(struct call *c, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	int rc = s ? out_str(c, s) : t9k_err(-ENOMEM, "out of memory");

	free(s);
	json_decref(j);
	return rc;
}

/* ---- summary: the repository, its refs, the head and its size ---- */

struct size_memo {
	struct oid id;
	bool used;
	uint64_t bytes, files, dirs;
};

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct size_memo *memo; /* memo_lock; SIZE_MEMO_SLOTS, direct-mapped */

struct size_acc {
	uint64_t bytes, files, dirs;
};

static size_t memo_slot(const struct oid *id)
{
	return ((size_t)id->b[0] | (size_t)id->b[1] << 8) & (SIZE_MEMO_SLOTS - 1);
}

static bool memo_get(const struct oid *id, struct size_acc *out)
{
	bool hit = false;

	pthread_mutex_lock(&memo_lock);
	if (memo) {
		struct size_memo *m = &memo[memo_slot(id)];

		if (m->used && oid_eq(&m->id, id)) {
			out->bytes += m->bytes;
			out->files += m->files;
			out->dirs += m->dirs;
			hit = true;
		}
	}
	pthread_mutex_unlock(&memo_lock);
	return hit;
}

static void memo_put(const struct oid *id, const struct size_acc *a)
{
	pthread_mutex_lock(&memo_lock);
	if (!memo)
		memo = calloc(SIZE_MEMO_SLOTS, sizeof(*memo));
	if (memo)
		memo[memo_slot(id)] = (struct size_memo){ *id, true, a->bytes, a->files, a->dirs };
	pthread_mutex_unlock(&memo_lock);
}

/* Adds the files (every entry that is not a directory), directories and
 * file bytes under directory dir to out. 1 when the budget ran out first
 * (out then holds what was counted), 0 when complete, or < 0. */
static int size_walk(struct meta_objects *mo, const struct oid *dir, struct size_acc *out,
		     uint64_t *budget, int depth)
{
	struct size_acc here = { 0, 0, 0 };
	struct tree_iter *it;
	struct tree_entry e;
	int rc;

	if (memo_get(dir, out))
		return 0;
	if (depth > SIZE_DEPTH_MAX)
		return t9k_err(-EINVAL, "directories nested more than %d deep", SIZE_DEPTH_MAX);
	rc = tree_iter_new(mo, dir, NULL, 0, &it);
	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		rc = 0;
		if (!*budget) {
			rc = 1;
			break;
		}
		(*budget)--;
		if (S_ISDIR(e.mode)) {
			struct oid sub = e.id;

			here.dirs++;
			rc = size_walk(mo, &sub, &here, budget, depth + 1);
		} else {
			here.files++;
			if (S_ISREG(e.mode))
				here.bytes += e.size;
		}
	}
	if (it)
		tree_iter_free(it);
	if (rc == 0)
		memo_put(dir, &here);
	if (rc >= 0) {
		out->bytes += here.bytes;
		out->files += here.files;
		out->dirs += here.dirs;
	}
	return rc;
}

static int count_ref(const char *refname, const struct oid *id, void *arg)
{
	(void)refname, (void)id;
	++*(size_t *)arg;
	return 0;
}

int console_summary(struct call *c)
{
	struct repo *r = api_call_repo(c);
	struct size_acc acc = { 0, 0, 0 };
	uint64_t budget = CONSOLE_SIZE_BUDGET;
	size_t branches = 0, tags = 0;
	struct repo_commit head;
	const char *spec;
	json_t *j, *hj = NULL, *size = json_null();
	struct oid id;
	int rc = query_ref(c, "ref", REPO_DEFAULT_BRANCH, &id, &spec), walked;

	if (rc == T9K_ENOTFOUND) {
		rc = 0; /* a repository without its default branch still has a summary */
		hj = json_null();
	}
	if (rc < 0 ||
	    (rc = meta_ref_list(api_call_db(c), api_call_repo_name(c), "branch/", count_ref,
				&branches)) < 0 ||
	    (rc = meta_ref_list(api_call_db(c), api_call_repo_name(c), "tag/", count_ref, &tags)) < 0)
		return rc;
	if (!hj) {
		if ((rc = repo_commit_read(r, &id, &head)) < 0)
			return rc;
		hj = meta_json_commit(&id, &head.c);
		walked = size_walk(repo_objects(r), &head.c.root, &acc, &budget, 0);
		repo_commit_release(&head);
		if (walked < 0) {
			json_decref(hj);
			return walked;
		}
		size = json_pack("{s:I,s:I,s:I,s:b}", "bytes", (json_int_t)acc.bytes, "files",
				 (json_int_t)acc.files, "dirs", (json_int_t)acc.dirs, "complete",
				 walked == 0);
	}
	j = json_pack("{s:o,s:o,s:o,s:I,s:I,s:o}", "repo", meta_json_repo(repo_info(r)), "ref",
		      meta_json_str(spec, strlen(spec)),
		      "head", hj, "branches", (json_int_t)branches, "tags", (json_int_t)tags, "size",
		      size);
	rc = api_call_json(c, j);
	return rc < 0 ? rc : api_call_end(c, 200);
}

/* ---- refs with their commits ---- */

struct refinfo {
	struct call *c;
	size_t n, limit;
	bool more;
};

static int refinfo_one(const char *refname, const struct oid *id, void *arg)
{
	struct refinfo *ri = arg;
	json_t *cj = NULL;

	if (ri->n == ri->limit) {
		ri->more = true;
		return 1;
	}
	if (commit_json(api_call_repo(ri->c), id, &cj) < 0)
		cj = json_pack("{s:o}", "id", meta_json_oid_new(id)); /* unreadable: its id */
	return item(ri->c, &ri->n,
		    json_pack("{s:o,s:o}", "name", meta_json_str(refname, strlen(refname)), "commit",
			      cj));
}

int console_refinfo(struct call *c)
{
	struct refinfo ri = { c, 0, 1000, false };
	const char *prefix;
	uint64_t limit = 1000;
	int rc = api_call_query(c, "prefix", &prefix);

	if (rc < 0 || (rc = api_call_query_u64(c, "limit", 1, REFINFO_MAX, &limit)) < 0)
		return rc;
	ri.limit = limit;
	if ((rc = out_str(c, "{\"refs\":[")) < 0)
		return rc;
	rc = meta_ref_list(api_call_db(c), api_call_repo_name(c), prefix ? prefix : "", refinfo_one,
			   &ri);
	if (rc < 0)
		return rc;
	rc = out_str(c, ri.more ? "],\"more\":true}" : "],\"more\":false}");
	return rc < 0 ? rc : api_call_end(c, 200);
}

/* ---- history by pages ---- */

/* "ID,ID,...": the commits a previous page left to walk. */
static int cursor_parse(const char *s, struct oid *ids, size_t *n)
{
	*n = 0;
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		char hex[OID_HEXSZ + 1];

		if (len != OID_HEXSZ || *n == CONSOLE_CURSOR_MAX)
			return t9k_err(-EINVAL, "bad cursor: want at most %d commit ids of %d hex digits, "
					       "separated by commas", CONSOLE_CURSOR_MAX, OID_HEXSZ);
		memcpy(hex, s, len);
		hex[len] = '\0';
		if (oid_from_hex(&ids[*n], hex) < 0)
			return t9k_err(-EINVAL, "bad cursor: '%.64s' is not a commit id", hex);
		(*n)++;
		s = comma ? comma + 1 : s + len;
	}
	return 0;
}

struct history_page {
	struct call *c;
	size_t n;
};

static int history_one(void *arg, const struct repo_commit *one)
{
	struct history_page *p = arg;

	return item(p->c, &p->n, meta_json_commit(&one->id, &one->c));
}

int console_history(struct call *c)
{
	struct repo *r = api_call_repo(c);
	struct oid start[CONSOLE_CURSOR_MAX], next[CONSOLE_CURSOR_MAX];
	struct history_page p = { c, 0 };
	uint64_t limit = HISTORY_PAGE_DEFAULT;
	size_t nstart = 1, nnext = 0;
	bool first_parent = false;
	const char *cursor;
	char hex[OID_HEXSZ + 1];
	int rc = api_call_query(c, "cursor", &cursor);

	if (rc < 0 || (rc = api_call_query_u64(c, "limit", 1, CONSOLE_PAGE_MAX, &limit)) < 0 ||
	    (rc = api_call_query_bool(c, "first_parent", &first_parent)) < 0)
		return rc;
	if (cursor && *cursor)
		rc = cursor_parse(cursor, start, &nstart);
	else
		rc = query_ref(c, "ref", REPO_DEFAULT_BRANCH, &start[0], NULL);
	if (rc == 0)
		rc = out_str(c, "{\"commits\":[");
	/* the newest CONSOLE_CURSOR_MAX of what is left to walk: the cursor */
	if (rc == 0)
		rc = repo_log_page(r, start, nstart, first_parent, (size_t)limit, history_one, &p,
				   next, CONSOLE_CURSOR_MAX, &nnext);
	if (rc == 0)
		rc = out_str(c, nnext ? "],\"next\":\"" : "],\"next\":null");
	for (size_t i = 0; rc == 0 && i < nnext; i++) {
		rc = api_call_out(c, ",", i ? 1 : 0);
		if (rc == 0)
			rc = out_str(c, oid_to_hex(&next[i], hex));
	}
	if (rc == 0)
		rc = out_str(c, nnext ? "\"}" : "}");
	return rc < 0 ? rc : api_call_end(c, 200);
}

/* ---- a directory by pages ---- */

int console_tree(struct call *c)
{
	struct repo *r = api_call_repo(c);
	char *path = malloc(REPO_PATH_MAX + 1), *after = NULL, hex[OID_HEXSZ + 1];
	uint64_t limit = TREE_PAGE_DEFAULT;
	struct meta_node *hold = NULL;
	struct tree_iter *it = NULL;
	struct tree_entry e;
	struct oid id, dir;
	const char *after_q;
	size_t n = 0;
	bool more = false;
	json_t *ej;
	int rc;

	if (!path)
		return t9k_err(-ENOMEM, "out of memory");
	if ((rc = query_ref(c, "ref", REPO_DEFAULT_BRANCH, &id, NULL)) < 0 ||
	    (rc = query_path(c, "path", path)) < 0 || (rc = api_call_query(c, "after", &after_q)) < 0 ||
	    (rc = api_call_query_u64(c, "limit", 1, CONSOLE_PAGE_MAX, &limit)) < 0)
		goto out;
	if (after_q && *after_q && (rc = meta_name_check(after_q, strlen(after_q))) < 0)
		goto out;
	after = after_q && *after_q ? strdup(after_q) : NULL;
	if ((rc = repo_lookup(r, &id, path, &e, &hold)) < 0)
		goto out;
	{
		const char *slash = strrchr(path, '/');
		const char *name = slash ? slash + 1 : path;

		ej = entry_json(&e, name, strlen(name));
	}
	dir = e.id;
	rc = out_str(c, "{\"commit\":\"");
	if (rc == 0)
		rc = out_str(c, oid_to_hex(&id, hex));
	if (rc == 0)
		rc = out_str(c, "\",\"path\":");
	if (rc == 0)
		rc = out_scalar(c, meta_json_str(path, strlen(path)));
	if (rc == 0)
		rc = out_str(c, ",\"entry\":");
	if (rc == 0)
		rc = api_call_json(c, ej);
	else
		json_decref(ej);
	if (rc < 0 || !S_ISDIR(e.mode)) {
		if (rc == 0)
			rc = out_str(c, "}");
		goto out;
	}
	meta_node_put(repo_objects(r), hold);
	hold = NULL;
	rc = out_str(c, ",\"entries\":[");
	if (rc == 0)
		rc = tree_iter_new(repo_objects(r), &dir, after, after ? strlen(after) : 0, &it);
	while (rc == 0 && (rc = tree_iter_next(it, &e)) == 1) {
		if (n == limit) {
			more = true;
			rc = 0;
			break;
		}
		rc = item(c, &n, entry_json(&e, e.name, e.name_len));
	}
	if (rc == 0)
		rc = out_str(c, more ? "],\"more\":true}" : "],\"more\":false}");
out:
	if (it)
		tree_iter_free(it);
	meta_node_put(repo_objects(r), hold);
	free(after);
	free(path);
	return rc < 0 ? rc : api_call_end(c, 200);
}

/* ---- a file's bytes ---- */

/* Types a browser shows but never runs; everything else is text/plain
 * (a preview) or application/octet-stream (a download). No SVG: it can
 * hold scripts. */
static const struct {
	const char *ext, *type;
} image_types[] = {
	{ "png", "image/png" },	  { "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },	  { "webp", "image/webp" }, { "bmp", "image/bmp" },
	{ "ico", "image/x-icon" },
};

static const char *file_type(const char *name, bool download)
{
	const char *dot = strrchr(name, '.');

	if (download)
		return "application/octet-stream";
	for (size_t i = 0; dot && i < sizeof(image_types) / sizeof(image_types[0]); i++)
		if (!strcasecmp(dot + 1, image_types[i].ext))
			return image_types[i].type;
	return "text/plain; charset=utf-8";
}

/* Range: bytes=A-B | A- | -N, one range. 0 and [*from, *to) set, 1 to
 * send everything (no header, or one we do not serve: several ranges,
 * bad syntax), -ERANGE when nothing of the file is in it. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
	unsigned long long a = 0, b = 0;
	const char *p;
	char *end;
	bool has_a, has_b;

	if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 1;
	p = h + 6;
	while (*p == ' ')
		p++;
	has_a = isdigit((unsigned char)*p);
	if (has_a) {
		errno = 0;
		a = strtoull(p, &end, 10);
		if (errno)
			return 1;
		p = end;
	}
	if (*p++ != '-')
		return 1;
	has_b = isdigit((unsigned char)*p);
	if (has_b) {
		errno = 0;
		b = strtoull(p, &end, 10);
		if (errno)
			return 1;
		p = end;
	}
	while (*p == ' ')
		p++;
	if (*p || (!has_a && !has_b) || (has_a && has_b && b < a))
		return 1;
	if (!has_a) { /* the last b bytes */
		if (b == 0)
			return -ERANGE;
		*from = b >= size ? 0 : size - b;
		*to = size;
		return 0;
	}
	if (a >= size)
		return -ERANGE;
	*from = a;
	*to = has_b && b + 1 < size ? b + 1 : size;
	return 0;
}

/* Content-Disposition with the name as RFC 6266 wants it: an ASCII
 * fallback and the UTF-8 bytes percent-encoded. */
static int add_disposition(struct buf *hdr, const char *kind, const char *name)
{
	int rc = buf_addf(hdr, "Content-Disposition: %s; filename=\"", kind);

	for (const char *p = name; rc == 0 && *p; p++)
		rc = buf_addf(hdr, "%c", isalnum((unsigned char)*p) || strchr(" .-_+~()[]", *p) ? *p : '_');
	if (rc == 0)
		rc = buf_addstr(hdr, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; rc == 0 && *p; p++)
		rc = isalnum(*p) || strchr("-._~", *p) ? buf_addf(hdr, "%c", *p)
						       : buf_addf(hdr, "%%%02X", *p);
	return rc == 0 ? buf_addstr(hdr, "\n") : rc;
}

struct file_stream {
	struct api_repo_keep *keep;
	struct repo *r;
	struct manifest m;
	uint64_t *offs;   /* offs[i]: where chunk i starts; offs[nchunks]: the size */
	uint64_t base;    /* the range's first byte */
	uint64_t end;     /* and the byte past its last */
	int64_t cur;      /* the chunk in buf, -1: none */
	struct buf chunk;
};

static long stream_read(void *arg, uint64_t pos, char *out, size_t max)
{
	struct file_stream *fs = arg;
	uint64_t at = fs->base + pos, n;
	uint32_t lo = 0, hi = fs->m.nchunks;

	if (at >= fs->end)
		return 0;
	while (hi - lo > 1) { /* the last chunk starting at or before at */
		uint32_t mid = lo + (hi - lo) / 2;

		if (fs->offs[mid] <= at)
			lo = mid;
		else
			hi = mid;
	}
	if (fs->cur != lo) {
		buf_reset(&fs->chunk);
		fs->cur = -1;
		if (repo_chunk_read(fs->r, &fs->m.chunks[lo], &fs->chunk) < 0 ||
		    fs->chunk.len != fs->m.chunks[lo].len)
			return -1;
		fs->cur = lo;
	}
	n = fs->offs[lo] + fs->chunk.len - at;
	if (n > fs->end - at)
		n = fs->end - at;
	if (n > max)
		n = max;
	memcpy(out, fs->chunk.data + (at - fs->offs[lo]), (size_t)n);
	return (long)n;
}

static void stream_free(void *arg)
{
	struct file_stream *fs = arg;

	manifest_release(&fs->m);
	buf_release(&fs->chunk);
	free(fs->offs);
	api_repo_keep_put(fs->keep);
	free(fs);
}

static int file_stream_new(struct call *c, const struct tree_entry *e, uint64_t from,
			   uint64_t to)
{
	struct api_reply *rep = api_call_reply(c);
	struct file_stream *fs = calloc(1, sizeof(*fs));
	uint64_t off = 0;
	int rc;

	if (!fs)
		return t9k_err(-ENOMEM, "out of memory");
	fs->r = api_call_repo(c);
	fs->cur = -1;
	fs->base = from;
	fs->end = to;
	buf_init(&fs->chunk);
	rc = meta_manifest_get(repo_objects(fs->r), e, &fs->m);
	if (rc == 0 && !(fs->offs = calloc(fs->m.nchunks + 1, sizeof(*fs->offs))))
		rc = t9k_err(-ENOMEM, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < fs->m.nchunks; i++) {
		fs->offs[i] = off;
		off += fs->m.chunks[i].len;
	}
	if (rc == 0) {
		fs->offs[fs->m.nchunks] = off;
		if (off != e->size)
			rc = t9k_err(T9K_ECORRUPT, "the manifest of a file of %" PRIu64 " bytes holds %" PRIu64,
				     e->size, off);
	}
	if (rc == 0 && !(fs->keep = api_call_repo_keep(c)))
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc < 0) {
		stream_free(fs);
		return rc;
	}
	rep->read = stream_read;
	rep->free = stream_free;
	rep->stream_arg = fs;
	rep->stream_len = to - from;
	return 0;
}

int console_file(struct call *c)
{
	struct repo *r = api_call_repo(c);
	struct api_reply *rep = api_call_reply(c);
	char *path = malloc(REPO_PATH_MAX + 1), etag[OID_HEXSZ + 3], hex[OID_HEXSZ + 1];
	const char *name, *inm;
	struct meta_node *hold = NULL;
	struct tree_entry e;
	struct oid id, tag;
	bool download = false;
	uint64_t from = 0, to = 0;
	int rc, ranged;

	if (!path)
		return t9k_err(-ENOMEM, "out of memory");
	if ((rc = query_ref(c, "ref", REPO_DEFAULT_BRANCH, &id, NULL)) < 0 ||
	    (rc = query_path(c, "path", path)) < 0 ||
	    (rc = api_call_query_bool(c, "download", &download)) < 0)
		goto out;
	if (!*path) {
		rc = t9k_err(-EINVAL, "query parameter 'path' is missing");
		goto out;
	}
	if ((rc = repo_lookup(r, &id, path, &e, &hold)) < 0)
		goto out;
	if (!S_ISREG(e.mode)) {
		rc = t9k_err(S_ISDIR(e.mode) ? -EISDIR : -EINVAL, "'%s' is a %s, not a file", path,
			     type_name(e.mode));
		goto out;
	}
	name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	/* the content's id names its bytes wherever they are */
	if (e.is_inline)
		rc = oid_hash(&tag, e.data, e.data_len);
	else
		tag = e.id;
	if (rc < 0)
		goto out;
	snprintf(etag, sizeof(etag), "\"%s\"", oid_to_hex(&tag, hex));
	rep->content_type = file_type(name, download);
	if ((rc = buf_addf(&rep->headers, "ETag: %s\nAccept-Ranges: bytes\n", etag)) < 0 ||
	    (rc = add_disposition(&rep->headers, download ? "attachment" : "inline", name)) < 0)
		goto out;
	inm = api_call_header(c, "If-None-Match");
	if (inm && strstr(inm, etag)) {
		rep->status = 304;
		goto out;
	}
	/* an empty file has no range to serve: all of it, nothing */
	ranged = e.size ? parse_range(api_call_header(c, "Range"), e.size, &from, &to) : 1;
	if (ranged == -ERANGE) {
		rc = buf_addf(&rep->headers, "Content-Range: bytes */%" PRIu64 "\n", e.size);
		rep->content_type = "text/plain; charset=utf-8";
		if (rc == 0)
			rc = buf_addstr(&rep->body, "range not satisfiable\n");
		rep->status = 416;
		goto out;
	}
	if (ranged == 1) {
		from = 0;
		to = e.size;
	} else if ((rc = buf_addf(&rep->headers, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\n",
				  from, to - 1, e.size)) < 0) {
		goto out;
	}
	if (e.is_inline || to == from)
		rc = e.is_inline ? buf_add(&rep->body, e.data + from, (size_t)(to - from)) : 0;
	else
		rc = file_stream_new(c, &e, from, to);
	if (rc == 0)
		rep->status = ranged == 0 ? 206 : 200;
out:
	meta_node_put(repo_objects(r), hold);
	free(path);
	return rc;
}

/* ---- a diff by pages, with totals ---- */

/* Tree order of full paths: component by component, each as names sort
 * (meta_name_cmp), so "a/b" comes before "a.txt" as a diff walks them. */
static int path_cmp(const char *a, const char *b)
{
	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		int d = meta_name_cmp(a, la, b, lb);

		if (d)
			return d;
		a += la;
		b += lb;
		if (!*a || !*b)
			return !*a && !*b ? 0 : !*a ? -1 : 1;
		a++;
		b++;
	}
}

struct changes {
	struct call *c;
	const char *after;
	size_t n, limit;
	bool more, totals;
	uint64_t added, removed, modified, bytes_new, bytes_old;
};

static int changes_one(void *arg, const char *path, const struct tree_entry *old,
		       const struct tree_entry *new)
{
	struct changes *ch = arg;
	json_t *j;

	if (ch->totals) {
		if (!old)
			ch->added++;
		else if (!new)
			ch->removed++;
		else
			ch->modified++;
		if (new && S_ISREG(new->mode))
			ch->bytes_new += new->size;
		if (old && S_ISREG(old->mode))
			ch->bytes_old += old->size;
	}
	if (ch->after && path_cmp(path, ch->after) <= 0)
		return 0;
	if (ch->n == ch->limit) {
		ch->more = true;
		return ch->totals ? 0 : 1;
	}
	if (ch->more)
		return 0;
	j = json_pack("{s:o,s:s}", "path", meta_json_str(path, strlen(path)), "change",
		      !old ? "added" : !new ? "removed" : "modified");
	if (j && old && json_object_set_new(j, "old", entry_json(old, old->name, old->name_len)) < 0)
		j = (json_decref(j), NULL);
	if (j && new && json_object_set_new(j, "new", entry_json(new, new->name, new->name_len)) < 0)
		j = (json_decref(j), NULL);
	return item(ch->c, &ch->n, j);
}

int console_changes(struct call *c)
{
	struct repo *r = api_call_repo(c);
	struct changes ch = { .c = c, .limit = CHANGES_PAGE_DEFAULT };
	uint64_t limit = CHANGES_PAGE_DEFAULT;
	char hex[OID_HEXSZ + 1];
	struct repo_commit to_c;
	struct oid from, to;
	const char *from_q, *after;
	bool has_from = false;
	int rc;

	if ((rc = query_ref(c, "to", NULL, &to, NULL)) < 0 ||
	    (rc = api_call_query(c, "from", &from_q)) < 0 || (rc = api_call_query(c, "after", &after)) < 0 ||
	    (rc = api_call_query_u64(c, "limit", 1, CONSOLE_PAGE_MAX, &limit)) < 0)
		return rc;
	if (after && *after && (rc = meta_path_check(after)) < 0)
		return rc;
	ch.after = after && *after ? after : NULL;
	ch.totals = !ch.after;
	ch.limit = limit;
	if (from_q && *from_q) {
		if ((rc = repo_resolve(r, from_q, &from)) < 0)
			return rc;
		has_from = true;
	}
	if ((rc = repo_commit_read(r, &to, &to_c)) < 0)
		return rc;
	if (!has_from && to_c.c.nparents) { /* a commit's own changes */
		from = to_c.c.parents[0];
		has_from = true;
	}
	rc = out_str(c, "{\"from\":");
	if (rc == 0 && has_from)
		rc = out_scalar(c, meta_json_oid_new(&from));
	else if (rc == 0)
		rc = out_str(c, "null");
	if (rc == 0)
		rc = out_str(c, ",\"to\":\"");
	if (rc == 0)
		rc = out_str(c, oid_to_hex(&to, hex));
	if (rc == 0)
		rc = out_str(c, "\",\"changes\":[");
	if (rc == 0 && has_from)
		rc = repo_diff(r, &from, &to, changes_one, &ch);
	else if (rc == 0)
		rc = repo_diff_trees(r, NULL, &to_c.c.root, changes_one, &ch);
	repo_commit_release(&to_c);
	if (rc < 0)
		return rc;
	rc = out_str(c, ch.more ? "],\"more\":true,\"totals\":" : "],\"more\":false,\"totals\":");
	if (rc == 0 && ch.totals)
		rc = api_call_json(c, json_pack("{s:I,s:I,s:I,s:I,s:I}", "added", (json_int_t)ch.added,
						"removed", (json_int_t)ch.removed, "modified",
						(json_int_t)ch.modified, "bytes_new",
						(json_int_t)ch.bytes_new, "bytes_old",
						(json_int_t)ch.bytes_old));
	else if (rc == 0)
		rc = out_str(c, "null");
	if (rc == 0)
		rc = out_str(c, "}");
	return rc < 0 ? rc : api_call_end(c, 200);
}

/* ---- the commits a comparison puts side by side ---- */

struct cmp {
	struct call *c;
	struct oidset seen;
	size_t n;
	bool more;
};

/* The size of the run's metric history (.t9kfs/metrics.jsonl, as `t9kfs
 * run` and the SDK write it) in commit id, or null without one. */
static json_t *metrics_size(struct repo *r, const struct oid *id)
{
	struct meta_node *hold = NULL;
	struct tree_entry e;
	json_t *j = json_null();

	if (repo_lookup(r, id, ".t9kfs/metrics.jsonl", &e, &hold) == 0 && S_ISREG(e.mode))
		j = json_integer((json_int_t)e.size);
	meta_node_put(repo_objects(r), hold);
	t9k_err_clear();
	return j;
}

/* Appends {label, commit, metrics_jsonl} unless the commit is there already. */
static int cmp_add(struct cmp *m, const char *label, const struct oid *id)
{
	json_t *cj;
	int rc;

	if (m->more)
		return 0;
	if ((rc = oidset_add(&m->seen, id)) <= 0)
		return rc;
	if (m->n == CONSOLE_COMPARE_MAX) {
		m->more = true;
		return 0;
	}
	if ((rc = commit_json(api_call_repo(m->c), id, &cj)) < 0)
		return rc;
	return item(m->c, &m->n, json_pack("{s:o,s:o,s:o}", "label", meta_json_str(label, strlen(label)),
					    "commit", cj, "metrics_jsonl",
					    metrics_size(api_call_repo(m->c), id)));
}

struct fp_walk {
	struct oid *ids;
	size_t n, max;
	const struct oid *stop; /* NULL: none */
	bool found;
};

static int fp_one(void *arg, const struct repo_commit *rc)
{
	struct fp_walk *w = arg;

	if (w->stop && oid_eq(&rc->id, w->stop)) {
		w->found = true;
		return 1;
	}
	if (w->n == w->max)
		return 1;
	w->ids[w->n++] = rc->id;
	return 0;
}

/* The first-parent history of tip, newest first: at most max commits, or
 * those after stop (then stop must be on it). */
static int fp_walk(struct repo *r, const struct oid *tip, const struct oid *stop, size_t max,
		   struct fp_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->ids = calloc(max ? max : 1, sizeof(*w->ids));
	w->max = max;
	w->stop = stop;
	if (!w->ids)
		return t9k_err(-ENOMEM, "out of memory");
	return repo_log(r, tip, true, max + 1, fp_one, w);
}

static int cmp_range(struct cmp *m, const char *spec, const char *dots)
{
	struct repo *r = api_call_repo(m->c);
	char a[META_REF_MAX + 16], label[META_REF_MAX + 40];
	size_t alen = (size_t)(dots - spec);
	struct oid ida, idb;
	struct fp_walk w;
	int rc;

	if (alen == 0 || alen >= sizeof(a) || !dots[2])
		return t9k_err(-EINVAL, "malformed range '%s': want A..B, as in main~10..main", spec);
	memcpy(a, spec, alen);
	a[alen] = '\0';
	if ((rc = repo_resolve(r, a, &ida)) < 0 || (rc = repo_resolve(r, dots + 2, &idb)) < 0)
		return rc;
	rc = fp_walk(r, &idb, &ida, CONSOLE_COMPARE_MAX, &w);
	if (rc == 0 && !w.found)
		rc = t9k_err(-EINVAL, w.n == CONSOLE_COMPARE_MAX
					      ? "range '%s' holds more than %d commits"
					      : "range '%s': its start is not on the first-parent history of its end",
			     spec, CONSOLE_COMPARE_MAX);
	for (size_t k = w.n; rc == 0 && k-- > 0;) {
		snprintf(label, sizeof(label), k ? "%s~%zu" : "%s", dots + 2, k);
		rc = cmp_add(m, label, &w.ids[k]);
	}
	free(w.ids);
	return rc;
}

struct cmp_glob {
	struct cmp *m;
	const char *pattern;
	size_t found;
};

static int glob_one(const char *refname, const struct oid *id, void *arg)
{
	struct cmp_glob *g = arg;

	if (fnmatch(g->pattern, refname + 7, 0))
		return 0;
	g->found++;
	return cmp_add(g->m, refname + 7, id);
}

/* "A,B C": specs separated by commas or blanks; fn for each. */
static int each_spec(struct cmp *m, const char *list, int (*fn)(struct cmp *m, const char *spec))
{
	char spec[META_REF_MAX + 16];
	int rc = 0;

	while (rc == 0 && *list) {
		size_t n = strcspn(list, ", \t");

		if (n >= sizeof(spec))
			return t9k_err(-EINVAL, "'%.40s...' is too long for a ref", list);
		memcpy(spec, list, n);
		spec[n] = '\0';
		if (n)
			rc = fn(m, spec);
		list += n;
		while (*list == ',' || *list == ' ' || *list == '\t')
			list++;
	}
	return rc;
}

/* The heads of the branches whose names match glob, in name order. */
static int cmp_glob(struct cmp *m, const char *glob)
{
	struct cmp_glob g = { m, glob, 0 };
	int rc = meta_ref_list(api_call_db(m->c), api_call_repo_name(m->c), "branch/", glob_one, &g);

	if (rc == 0 && !g.found)
		rc = t9k_err(T9K_ENOTFOUND, "no branch of repository '%s' matches '%s'",
			     api_call_repo_name(m->c), glob);
	return rc;
}

static int cmp_spec(struct cmp *m, const char *spec)
{
	const char *dots = strstr(spec, "..");
	struct oid id;
	int rc;

	if (strpbrk(spec, "*?["))
		return cmp_glob(m, spec);
	if (dots)
		return cmp_range(m, spec, dots);
	rc = repo_resolve(api_call_repo(m->c), spec, &id);
	return rc < 0 ? rc : cmp_add(m, spec, &id);
}

int console_compare(struct call *c)
{
	struct repo *r = api_call_repo(c);
	struct cmp m = { .c = c };
	const char *refs, *glob, *branch;
	char label[META_REF_MAX + 40];
	uint64_t last = 0;
	struct fp_walk w = { 0 };
	struct oid id;
	int rc;

	if ((rc = api_call_query(c, "refs", &refs)) < 0 || (rc = api_call_query(c, "glob", &glob)) < 0 ||
	    (rc = api_call_query(c, "branch", &branch)) < 0 ||
	    (rc = api_call_query_u64(c, "last", 1, CONSOLE_COMPARE_MAX, &last)) < 0)
		return rc;
	if ((!refs || !*refs) && (!glob || !*glob) && (!branch || !*branch))
		return t9k_err(-EINVAL, "compare wants refs=A,B, glob=PATTERN or branch=B (with last=N)");
	if (branch && *branch && (rc = repo_resolve(r, branch, &id)) < 0)
		return rc;
	if ((rc = out_str(c, "{\"commits\":[")) < 0)
		return rc;
	if (refs)
		rc = each_spec(&m, refs, cmp_spec);
	if (rc == 0 && glob && *glob)
		rc = each_spec(&m, glob, cmp_glob);
	if (rc == 0 && branch && *branch) {
		rc = fp_walk(r, &id, NULL, last ? last : 10, &w);
		for (size_t k = w.n; rc == 0 && k-- > 0;) {
			snprintf(label, sizeof(label), k ? "%s~%zu" : "%s", branch, k);
			rc = cmp_add(&m, label, &w.ids[k]);
		}
		free(w.ids);
	}
	oidset_release(&m.seen);
	if (rc == 0)
		rc = out_str(c, m.more ? "],\"more\":true}" : "],\"more\":false}");
	return rc < 0 ? rc : api_call_end(c, 200);
}
