/* Unit tests of meta/object: round trips and byte-exact re-encoding of
 * manifests, tree nodes and commits, the layouts pinned by an independent
 * writer, and every malformed-input class each decoder must reject. */
#include "test/unit/suites.h"

#include "lib/buf.h"
#include "lib/endian.h"
#include "lib/err.h"
#include "meta/object.h"
#include "meta/tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- helpers ---- */

static struct oid mkoid(uint64_t seed)
{
	struct oid id;

	test_random_bytes(id.b, sizeof(id.b), seed);
	return id;
}

static void expect_msg(int rc, int code, const char *want)
{
	const char *msg = t9k_errmsg(rc);

	ck_assert_int_eq(rc, code);
	ck_assert_msg(strstr(msg, want), "message '%s' lacks '%s'", msg, want);
}

/* Decoders: on success re-encode and require the same bytes; on failure
 * require that nothing is left allocated. */
static int dec_manifest(const uint8_t *d, size_t len)
{
	struct manifest m;
	struct buf b = BUF_INIT;
	int rc;

	memset(&m, 0xa5, sizeof(m));
	t9k_err_clear();
	rc = manifest_decode(d, len, &m);
	if (rc < 0) {
		ck_assert_ptr_null(m.chunks);
		return rc;
	}
	ck_assert_int_eq(manifest_encode(&m, &b), 0);
	ck_assert_uint_eq(b.len, len);
	ck_assert(!memcmp(b.data, d, len));
	buf_release(&b);
	manifest_release(&m);
	return rc;
}

static int dec_tree(const uint8_t *d, size_t len)
{
	struct tree_node n;
	struct buf b = BUF_INIT;
	int rc;

	memset(&n, 0xa5, sizeof(n));
	t9k_err_clear();
	rc = tree_node_decode(d, len, &n);
	if (rc < 0) {
		ck_assert_ptr_null(n.entries);
		ck_assert_ptr_null(n.children);
		return rc;
	}
	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	ck_assert_uint_eq(b.len, len);
	ck_assert(!memcmp(b.data, d, len));
	buf_release(&b);
	tree_node_release(&n);
	return rc;
}

static int dec_commit(const uint8_t *d, size_t len)
{
	struct commit c;
	struct buf b = BUF_INIT;
	int rc;

	memset(&c, 0xa5, sizeof(c));
	t9k_err_clear();
	rc = commit_decode(d, len, &c);
	if (rc < 0) {
		ck_assert_ptr_null(c.kv);
		return rc;
	}
	ck_assert_int_eq(commit_encode(&c, &b), 0);
	ck_assert_uint_eq(b.len, len);
	ck_assert(!memcmp(b.data, d, len));
	buf_release(&b);
	commit_release(&c);
	return rc;
}

typedef int (*dec_fn)(const uint8_t *d, size_t len);

/* Every proper prefix of a valid encoding is corrupt: cut short, or too
 * short for the items its count announces. */
static void expect_prefixes_corrupt(dec_fn dec, const struct buf *b)
{
	for (size_t n = 0; n < b->len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, b->data, n);
		int rc = dec(copy, n);
		const char *msg = t9k_errmsg(rc);

		ck_assert_int_eq(rc, T9K_ECORRUPT);
		ck_assert_msg(strstr(msg, "truncated at byte") || strstr(msg, "need at least"),
			      "prefix %zu: message '%s'", n, msg);
		free(copy);
	}
	ck_assert_int_eq(dec(b->data, b->len), 0);
}

/* Flips bits everywhere: whatever still decodes must re-encode to itself
 * (checked in dec), and nothing may crash or leak. */
static void flip_everywhere(dec_fn dec, const struct buf *b)
{
	static const uint8_t flips[] = { 0x01, 0x02, 0x10, 0x80, 0xff };
	uint8_t *copy = malloc(b->len);

	ck_assert_ptr_nonnull(copy);
	for (size_t i = 0; i < b->len; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			int rc;

			memcpy(copy, b->data, b->len);
			copy[i] ^= flips[f];
			rc = dec(copy, b->len);
			ck_assert(rc == 0 || rc == T9K_ECORRUPT);
		}
	}
	free(copy);
}

/* Appends a byte / overwrites bytes of a copy, then decodes. */
static int dec_with_tail(dec_fn dec, const struct buf *b, const void *tail, size_t n)
{
	struct buf c = BUF_INIT;
	int rc;

	ck_assert_int_eq(buf_add(&c, b->data, b->len), 0);
	ck_assert_int_eq(buf_add(&c, tail, n), 0);
	rc = dec(c.data, c.len);
	buf_release(&c);
	return rc;
}

static int dec_patched(dec_fn dec, const struct buf *b, size_t off, const void *bytes, size_t n)
{
	struct buf c = BUF_INIT;
	int rc;

	ck_assert_uint_le(off + n, b->len);
	ck_assert_int_eq(buf_add(&c, b->data, b->len), 0);
	memcpy(c.data + off, bytes, n);
	rc = dec(c.data, c.len);
	buf_release(&c);
	return rc;
}

static int dec_patch_le32(dec_fn dec, const struct buf *b, size_t off, uint32_t v)
{
	uint8_t p[4];

	put_le32(p, v);
	return dec_patched(dec, b, off, p, 4);
}

/* ---- an independent writer of the layouts in meta/object.h: it checks
 * nothing, so tests can build any malformed object ---- */

static void raw(struct buf *b, const void *d, size_t n)
{
	ck_assert_int_eq(buf_add(b, d, n), 0);
}

static void raw8(struct buf *b, uint8_t v)
{
	raw(b, &v, 1);
}

static void raw16(struct buf *b, uint16_t v)
{
	uint8_t p[2];

	put_le16(p, v);
	raw(b, p, 2);
}

static void raw32(struct buf *b, uint32_t v)
{
	uint8_t p[4];

	put_le32(p, v);
	raw(b, p, 4);
}

static void raw64(struct buf *b, uint64_t v)
{
	uint8_t p[8];

	put_le64(p, v);
	raw(b, p, 8);
}

static void raw_manifest(struct buf *b, const struct manifest *m)
{
	raw(b, "T9KM\1\0\0\0", 8);
	raw64(b, m->size);
	raw32(b, m->nchunks);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		const struct manifest_chunk *c = &m->chunks[i];

		raw8(b, c->loc);
		raw(b, c->id.b, 32);
		raw32(b, c->len);
		if (c->loc == 1) {
			raw(b, c->pack.b, 32);
			raw64(b, c->pack_off);
			raw32(b, c->pack_len);
		}
	}
}

static bool raw_special(uint32_t mode)
{
	return S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) || S_ISBLK(mode);
}

/* An entry as a leaf of version v lays it out (1 or 2). */
static void raw_entry_v(struct buf *b, const struct tree_entry *e, int v)
{
	raw16(b, e->name_len);
	raw(b, e->name, e->name_len);
	raw32(b, e->mode);
	raw64(b, e->size);
	raw64(b, (uint64_t)e->mtime_ns);
	if (v >= 2) {
		raw8(b, (e->has_owner ? 1 : 0) | (e->link_id ? 2 : 0) | (e->has_subdirs ? 4 : 0));
		if (e->has_owner) {
			raw32(b, e->uid);
			raw32(b, e->gid);
		}
		if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
			raw32(b, e->dev_major);
			raw32(b, e->dev_minor);
		}
		if (e->link_id) {
			raw64(b, e->link_id);
			raw32(b, e->nlink);
		}
		if (e->has_subdirs)
			raw32(b, e->subdirs);
		if (raw_special(e->mode)) {
			raw8(b, 3);
			return;
		}
	}
	raw8(b, e->is_inline ? 1 : e->is_chunk ? 2 : 0);
	if (e->is_inline) {
		raw32(b, e->data_len);
		raw(b, e->data, e->data_len);
	} else {
		raw(b, e->id.b, 32);
	}
}

static void raw_entry(struct buf *b, const struct tree_entry *e)
{
	raw_entry_v(b, e, 1);
}

/* A node in the version n->version says (0 reads as 1). */
static void raw_tree(struct buf *b, const struct tree_node *n)
{
	int v = n->version ? n->version : 1;

	raw(b, "T9KT", 4);
	raw8(b, (uint8_t)v);
	raw8(b, n->level);
	raw16(b, 0);
	raw32(b, n->count);
	for (uint32_t i = 0; i < n->count; i++) {
		if (n->level == 0) {
			raw_entry_v(b, &n->entries[i], v);
		} else {
			raw16(b, n->children[i].key_len);
			raw(b, n->children[i].key, n->children[i].key_len);
			raw(b, n->children[i].id.b, 32);
			raw64(b, n->children[i].count);
		}
	}
}

static void raw_commit(struct buf *b, const struct commit *c)
{
	raw(b, "T9KK\1", 5);
	raw8(b, c->nparents);
	raw16(b, 0);
	raw(b, c->root.b, 32);
	for (unsigned i = 0; i < c->nparents; i++)
		raw(b, c->parents[i].b, 32);
	raw64(b, (uint64_t)c->time_ns);
	raw16(b, c->author_len);
	raw(b, c->author, c->author_len);
	raw32(b, c->message_len);
	raw(b, c->message, c->message_len);
	raw16(b, c->nkv);
	for (unsigned i = 0; i < c->nkv; i++) {
		raw16(b, c->kv[i].key_len);
		raw(b, c->kv[i].key, c->kv[i].key_len);
		raw32(b, c->kv[i].value_len);
		raw(b, c->kv[i].value, c->kv[i].value_len);
	}
}

/* An invalid object: the encoder refuses it (leaving out untouched) and
 * the decoder rejects its raw bytes, both with a message containing want. */
static void expect_manifest_invalid(const struct manifest *m, const char *want)
{
	struct buf out = BUF_INIT, r = BUF_INIT;

	ck_assert_int_eq(buf_add(&out, "xy", 2), 0);
	expect_msg(manifest_encode(m, &out), -EINVAL, want);
	ck_assert_uint_eq(out.len, 2);
	raw_manifest(&r, m);
	expect_msg(dec_manifest(r.data, r.len), T9K_ECORRUPT, want);
	buf_release(&out);
	buf_release(&r);
}

static void expect_tree_invalid(const struct tree_node *n, const char *want)
{
	struct buf out = BUF_INIT, r = BUF_INIT;

	ck_assert_int_eq(buf_add(&out, "xy", 2), 0);
	expect_msg(tree_node_encode(n, &out), -EINVAL, want);
	ck_assert_uint_eq(out.len, 2);
	raw_tree(&r, n);
	expect_msg(dec_tree(r.data, r.len), T9K_ECORRUPT, want);
	buf_release(&out);
	buf_release(&r);
}

/* The same, one side only: the encoder (which picks the version itself),
 * or the decoder of the raw bytes of the version n->version names. */
static void expect_tree_invalid_enc(const struct tree_node *n, const char *want)
{
	struct buf out = BUF_INIT;

	expect_msg(tree_node_encode(n, &out), -EINVAL, want);
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
}

static void expect_tree_invalid_dec(const struct tree_node *n, const char *want)
{
	struct buf r = BUF_INIT;

	raw_tree(&r, n);
	expect_msg(dec_tree(r.data, r.len), T9K_ECORRUPT, want);
	buf_release(&r);
}

static void expect_commit_invalid(const struct commit *c, const char *want)
{
	struct buf out = BUF_INIT, r = BUF_INIT;

	ck_assert_int_eq(buf_add(&out, "xy", 2), 0);
	expect_msg(commit_encode(c, &out), -EINVAL, want);
	ck_assert_uint_eq(out.len, 2);
	raw_commit(&r, c);
	expect_msg(dec_commit(r.data, r.len), T9K_ECORRUPT, want);
	buf_release(&out);
	buf_release(&r);
}

/* ---- names ---- */

START_TEST(names_check_and_order)
{
	char longname[META_NAME_MAX + 1];

	memset(longname, 'n', sizeof(longname));
	ck_assert_int_eq(meta_name_check("a", 1), 0);
	ck_assert_int_eq(meta_name_check("...", 3), 0);
	ck_assert_int_eq(meta_name_check(".x", 2), 0);
	ck_assert_int_eq(meta_name_check("\xff\x01 sp", 5), 0);
	ck_assert_int_eq(meta_name_check(longname, META_NAME_MAX), 0);
	expect_msg(meta_name_check(longname, META_NAME_MAX + 1), -EINVAL, "longer than 255");
	expect_msg(meta_name_check("", 0), -EINVAL, "empty name");
	expect_msg(meta_name_check(NULL, 0), -EINVAL, "empty name");
	expect_msg(meta_name_check(NULL, 3), -EINVAL, "name is NULL");
	expect_msg(meta_name_check("a/b", 3), -EINVAL, "name 'a/b' contains '/'");
	expect_msg(meta_name_check("a\0b", 3), -EINVAL, "name 'a\\x00b' contains a NUL");
	expect_msg(meta_name_check(".", 1), -EINVAL, "name '.' is not allowed");
	expect_msg(meta_name_check("..", 2), -EINVAL, "name '..' is not allowed");
	expect_msg(meta_name_check("../x", 4), -EINVAL, "contains '/'");

	ck_assert_int_lt(meta_name_cmp("a", 1, "b", 1), 0);
	ck_assert_int_gt(meta_name_cmp("b", 1, "a", 1), 0);
	ck_assert_int_lt(meta_name_cmp("a", 1, "ab", 2), 0);
	ck_assert_int_gt(meta_name_cmp("ab", 2, "a", 1), 0);
	ck_assert_int_eq(meta_name_cmp("ab", 2, "ab", 2), 0);
	ck_assert_int_eq(meta_name_cmp(NULL, 0, NULL, 0), 0);
	ck_assert_int_gt(meta_name_cmp("\xff", 1, "z", 1), 0); /* unsigned bytes */
	ck_assert_int_lt(meta_name_cmp("Z", 1, "a", 1), 0);
	ck_assert_int_lt(meta_name_cmp("a\0", 2, "a\1", 2), 0);
}
END_TEST

START_TEST(object_type_from_magic)
{
	ck_assert_int_eq(meta_object_type((const uint8_t *)"T9KM\1", 5), 'M');
	ck_assert_int_eq(meta_object_type((const uint8_t *)"T9KT", 4), 'T');
	ck_assert_int_eq(meta_object_type((const uint8_t *)"T9KK\1", 5), 'K');
	ck_assert_int_eq(meta_object_type((const uint8_t *)"T9KC\1", 5), 0);
	ck_assert_int_eq(meta_object_type((const uint8_t *)"T9K", 3), 0);
	ck_assert_int_eq(meta_object_type(NULL, 0), 0);
}
END_TEST

/* ---- manifests ---- */

static struct manifest_chunk sample_chunks[3];

static struct manifest sample_manifest(void)
{
	struct manifest m = { 0, 3, sample_chunks };

	memset(sample_chunks, 0, sizeof(sample_chunks));
	sample_chunks[0] = (struct manifest_chunk){ .id = mkoid(1), .len = 1u << 20,
						    .loc = MANIFEST_LOC_OBJECT };
	sample_chunks[1] = (struct manifest_chunk){ .id = mkoid(2), .len = 300,
						    .loc = MANIFEST_LOC_PACK, .pack = mkoid(3),
						    .pack_off = 0x123456789aULL, .pack_len = 200 };
	sample_chunks[2] = (struct manifest_chunk){ .id = mkoid(4), .len = UINT32_MAX,
						    .loc = MANIFEST_LOC_OBJECT };
	m.size = (1u << 20) + 300 + (uint64_t)UINT32_MAX;
	return m;
}

START_TEST(manifest_round_trip)
{
	struct manifest m = sample_manifest(), d, e = { 0, 0, NULL };
	struct buf b = BUF_INIT, r = BUF_INIT;

	ck_assert_int_eq(manifest_encode(&m, &b), 0);
	raw_manifest(&r, &m);
	ck_assert_uint_eq(b.len, 20 + 37 + 81 + 37);
	ck_assert_uint_eq(b.len, r.len);
	ck_assert(!memcmp(b.data, r.data, b.len));
	ck_assert_uint_eq(b.data[b.len], 0);
	ck_assert_int_eq(meta_object_type(b.data, b.len), 'M');

	ck_assert_int_eq(manifest_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.size, m.size);
	ck_assert_uint_eq(d.nchunks, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(oid_eq(&d.chunks[i].id, &m.chunks[i].id));
		ck_assert_uint_eq(d.chunks[i].len, m.chunks[i].len);
		ck_assert_uint_eq(d.chunks[i].loc, m.chunks[i].loc);
		ck_assert(oid_eq(&d.chunks[i].pack, &m.chunks[i].pack));
		ck_assert_uint_eq(d.chunks[i].pack_off, m.chunks[i].pack_off);
		ck_assert_uint_eq(d.chunks[i].pack_len, m.chunks[i].pack_len);
	}
	manifest_release(&d);
	ck_assert_ptr_null(d.chunks);
	manifest_release(&d); /* twice is harmless */
	manifest_release(NULL);
	ck_assert_int_eq(dec_manifest(b.data, b.len), 0);

	/* the empty file: no chunks */
	buf_reset(&b);
	ck_assert_int_eq(manifest_encode(&e, &b), 0);
	ck_assert_uint_eq(b.len, 20);
	ck_assert_int_eq(manifest_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.size, 0);
	ck_assert_uint_eq(d.nchunks, 0);
	ck_assert_ptr_null(d.chunks);
	manifest_release(&d);

	/* encoders append */
	buf_reset(&b);
	ck_assert_int_eq(buf_add(&b, "prefix", 6), 0);
	ck_assert_int_eq(manifest_encode(&m, &b), 0);
	ck_assert(!memcmp(b.data + 6, r.data, r.len));
	buf_release(&b);
	buf_release(&r);
}
END_TEST

START_TEST(manifest_rejects_malformed)
{
	struct manifest m = sample_manifest();
	struct buf b = BUF_INIT;
	uint8_t one = 1, two = 2, zero4[4] = { 0 };

	ck_assert_int_eq(manifest_encode(&m, &b), 0);
	expect_prefixes_corrupt(dec_manifest, &b);
	flip_everywhere(dec_manifest, &b);

	expect_msg(dec_patched(dec_manifest, &b, 0, "T9KT", 4), T9K_ECORRUPT,
		   "manifest: wrong magic");
	expect_msg(dec_patched(dec_manifest, &b, 4, &two, 1), T9K_ECORRUPT,
		   "manifest: unsupported version 2");
	for (size_t off = 5; off < 8; off++)
		expect_msg(dec_patched(dec_manifest, &b, off, &one, 1), T9K_ECORRUPT,
			   "reserved byte");
	expect_msg(dec_with_tail(dec_manifest, &b, "", 1), T9K_ECORRUPT,
		   "manifest: trailing bytes: 1 after byte 175");
	/* absurd and too large counts: rejected before any allocation */
	expect_msg(dec_patch_le32(dec_manifest, &b, 16, UINT32_MAX), T9K_ECORRUPT,
		   "4294967295 chunks need at least");
	expect_msg(dec_patch_le32(dec_manifest, &b, 16, 5), T9K_ECORRUPT, "need at least");
	expect_msg(dec_patch_le32(dec_manifest, &b, 16, 4), T9K_ECORRUPT,
		   "chunk 3: truncated at byte 175");
	expect_msg(dec_patch_le32(dec_manifest, &b, 16, 2), T9K_ECORRUPT, "trailing bytes");
	/* location byte of chunk 0 */
	expect_msg(dec_patched(dec_manifest, &b, 20, &two, 1), T9K_ECORRUPT,
		   "chunk 0: unknown location 2");
	/* chunk 0 length 0 */
	expect_msg(dec_patched(dec_manifest, &b, 20 + 33, zero4, 4), T9K_ECORRUPT,
		   "chunk 0 has length 0");
	/* chunk 1 stored length 0 */
	expect_msg(dec_patched(dec_manifest, &b, 20 + 37 + 77, zero4, 4), T9K_ECORRUPT,
		   "chunk 1 has a stored length of 0");
	/* size field */
	expect_msg(dec_patched(dec_manifest, &b, 8, &one, 1), T9K_ECORRUPT,
		   "is not the sum of chunk lengths");
	buf_release(&b);
}
END_TEST

START_TEST(manifest_invalid_both_ways)
{
	struct manifest m = sample_manifest();
	struct buf out = BUF_INIT;

	m.size++;
	expect_manifest_invalid(&m, "is not the sum of chunk lengths");
	m = sample_manifest();
	sample_chunks[0].len = 0;
	m.size -= 1u << 20;
	expect_manifest_invalid(&m, "chunk 0 has length 0");
	m = sample_manifest();
	sample_chunks[1].pack_len = 0;
	expect_manifest_invalid(&m, "chunk 1 has a stored length of 0");
	m = sample_manifest();
	sample_chunks[1].pack_off = UINT64_MAX - 100;
	expect_manifest_invalid(&m, "chunk 1 pack range overflows");
	m = sample_manifest();
	sample_chunks[2].loc = 7;
	expect_msg(manifest_encode(&m, &out), -EINVAL, "chunk 2 has unknown location 7");
	m.chunks = NULL;
	expect_msg(manifest_encode(&m, &out), -EINVAL, "3 chunks but no chunk array");
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
}
END_TEST

/* ---- tree nodes ---- */

static const uint8_t inline_data[] = "hello, world\n";
static uint8_t big_data[META_INLINE_MAX + 1];

/* A leaf with one entry of each kind, in name order. */
static struct tree_entry sample_entries[6];

static struct tree_node sample_leaf(void)
{
	struct tree_node n = { .count = 6, .entries = sample_entries };

	memset(sample_entries, 0, sizeof(sample_entries));
	sample_entries[0] = (struct tree_entry){ .name = "B", .name_len = 1, .mode = S_IFREG | 0644,
						 .size = 1u << 30, .mtime_ns = 1700000000123456789LL,
						 .id = mkoid(10) };
	sample_entries[1] = (struct tree_entry){ .name = "a", .name_len = 1, .mode = S_IFDIR | 0755,
						 .size = 12, .mtime_ns = -5, .id = mkoid(11) };
	sample_entries[2] = (struct tree_entry){ .name = "a.txt", .name_len = 5,
						 .mode = S_IFREG | 0600, .size = 13,
						 .is_inline = true, .data = inline_data,
						 .data_len = 13 };
	sample_entries[3] = (struct tree_entry){ .name = "empty", .name_len = 5,
						 .mode = S_IFREG | 07777, .is_inline = true };
	sample_entries[4] = (struct tree_entry){ .name = "link", .name_len = 4,
						 .mode = S_IFLNK | 0777, .size = 9,
						 .is_inline = true,
						 .data = (const uint8_t *)"../a.txt\xff", .data_len = 9 };
	sample_entries[5] = (struct tree_entry){ .name = "\xc3\xa9t\xc3\xa9", .name_len = 5,
						 .mode = S_IFREG | 0644, .size = META_INLINE_MAX,
						 .is_inline = true, .data = big_data,
						 .data_len = META_INLINE_MAX };
	test_random_bytes(big_data, sizeof(big_data), 99);
	return n;
}

static struct tree_child sample_children[3];

static struct tree_node sample_inner(uint8_t level)
{
	struct tree_node n = { .level = level, .count = 3, .children = sample_children };

	sample_children[0] = (struct tree_child){ "apple", 5, mkoid(20), 1 };
	sample_children[1] = (struct tree_child){ "apples", 6, mkoid(21), 1000 };
	sample_children[2] = (struct tree_child){ "zebra", 5, mkoid(22), UINT64_MAX - 1001 };
	return n;
}

static void assert_entry_eq(const struct tree_entry *a, const struct tree_entry *b)
{
	ck_assert_uint_eq(a->name_len, b->name_len);
	ck_assert(!memcmp(a->name, b->name, a->name_len));
	ck_assert_uint_eq(a->mode, b->mode);
	ck_assert_uint_eq(a->size, b->size);
	ck_assert_int_eq(a->mtime_ns, b->mtime_ns);
	ck_assert_int_eq(a->is_inline, b->is_inline);
	ck_assert_int_eq(a->is_chunk, b->is_chunk);
	if (a->is_inline) {
		ck_assert_uint_eq(a->data_len, b->data_len);
		ck_assert(a->data_len == 0 || !memcmp(a->data, b->data, a->data_len));
	} else {
		ck_assert(oid_eq(&a->id, &b->id));
	}
}

START_TEST(tree_leaf_round_trip)
{
	struct tree_node n = sample_leaf(), d, empty = { 0 };
	struct buf b = BUF_INIT, r = BUF_INIT;

	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	raw_tree(&r, &n);
	ck_assert_uint_eq(b.len, r.len);
	ck_assert(!memcmp(b.data, r.data, b.len));
	ck_assert_int_eq(meta_object_type(b.data, b.len), 'T');

	ck_assert_int_eq(tree_node_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.level, 0);
	ck_assert_uint_eq(d.count, 6);
	ck_assert_ptr_null(d.children);
	for (int i = 0; i < 6; i++) {
		assert_entry_eq(&d.entries[i], &n.entries[i]);
		/* zero copy: names and inline bytes point into the input */
		ck_assert((const uint8_t *)d.entries[i].name > b.data &&
			  (const uint8_t *)d.entries[i].name < b.data + b.len);
	}
	ck_assert(d.entries[2].data > b.data && d.entries[2].data < b.data + b.len);
	tree_node_release(&d);
	ck_assert_ptr_null(d.entries);
	tree_node_release(NULL);
	ck_assert_int_eq(dec_tree(b.data, b.len), 0);

	/* an empty directory is an empty leaf */
	buf_reset(&b);
	ck_assert_int_eq(tree_node_encode(&empty, &b), 0);
	ck_assert_uint_eq(b.len, 12);
	ck_assert_int_eq(tree_node_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.count, 0);
	ck_assert_ptr_null(d.entries);
	tree_node_release(&d);
	buf_release(&b);
	buf_release(&r);
}
END_TEST

START_TEST(tree_inner_round_trip)
{
	for (uint8_t level = 1; level <= META_TREE_MAX_LEVEL; level += 14) {
		struct tree_node n = sample_inner(level), d;
		struct buf b = BUF_INIT, r = BUF_INIT;

		ck_assert_int_eq(tree_node_encode(&n, &b), 0);
		raw_tree(&r, &n);
		ck_assert_uint_eq(b.len, r.len);
		ck_assert(!memcmp(b.data, r.data, b.len));
		ck_assert_uint_eq(b.len, 12 + 3 * 42 + 16);
		ck_assert_int_eq(tree_node_decode(b.data, b.len, &d), 0);
		ck_assert_uint_eq(d.level, level);
		ck_assert_uint_eq(d.count, 3);
		ck_assert_ptr_null(d.entries);
		for (int i = 0; i < 3; i++) {
			ck_assert_uint_eq(d.children[i].key_len, n.children[i].key_len);
			ck_assert(!memcmp(d.children[i].key, n.children[i].key,
					  n.children[i].key_len));
			ck_assert(oid_eq(&d.children[i].id, &n.children[i].id));
			ck_assert_uint_eq(d.children[i].count, n.children[i].count);
		}
		tree_node_release(&d);
		ck_assert_int_eq(dec_tree(b.data, b.len), 0);
		buf_release(&b);
		buf_release(&r);
	}
}
END_TEST

START_TEST(tree_entry_alone)
{
	struct tree_node n = sample_leaf();
	struct buf b = BUF_INIT, all = BUF_INIT;
	struct tree_entry e;

	for (int i = 0; i < 6; i++) {
		buf_reset(&b);
		ck_assert_int_eq(tree_entry_encode(&n.entries[i], 1, &b), 0);
		ck_assert_int_eq(tree_entry_decode(b.data, b.len, 1, &e), (int)b.len);
		assert_entry_eq(&e, &n.entries[i]);
		for (size_t k = 0; k < b.len; k++)
			expect_msg(tree_entry_decode(b.data, k, 1, &e), T9K_ECORRUPT,
				   "tree entry: truncated at byte");
		ck_assert_int_eq(buf_add(&all, b.data, b.len), 0);
	}
	/* entries back to back: decode returns what each one used */
	for (size_t off = 0, i = 0; off < all.len; i++) {
		int used = tree_entry_decode(all.data + off, all.len - off, 1, &e);

		ck_assert_int_gt(used, 0);
		assert_entry_eq(&e, &n.entries[i]);
		off += (size_t)used;
	}
	sample_entries[0].name = "x/y";
	sample_entries[0].name_len = 3;
	expect_msg(tree_entry_encode(&sample_entries[0], 1, &b), -EINVAL,
		   "tree entry: name 'x/y' contains '/'");
	buf_reset(&b);
	raw_entry(&b, &sample_entries[0]);
	expect_msg(tree_entry_decode(b.data, b.len, 1, &e), T9K_ECORRUPT,
		   "tree entry: name 'x/y' contains '/'");
	buf_release(&b);
	buf_release(&all);
}
END_TEST

/* Payload 2: a file of one chunk names the chunk itself. */
START_TEST(tree_chunk_payload)
{
	struct tree_entry v[3] = {
		{ .name = "a", .name_len = 1, .mode = S_IFREG | 0644, .size = 1u << 20,
		  .mtime_ns = 7, .id = mkoid(30) },
		{ .name = "b", .name_len = 1, .mode = S_IFREG | 0600, .size = META_INLINE_MAX + 1,
		  .is_chunk = true, .id = mkoid(31) },
		{ .name = "c", .name_len = 1, .mode = S_IFREG | 0644, .size = META_CHUNK_ENTRY_MAX,
		  .is_chunk = true, .id = mkoid(32) },
	};
	struct tree_node n = { .count = 3, .entries = v }, d;
	struct buf b = BUF_INIT, r = BUF_INIT;
	struct tree_entry e, same;

	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	raw_tree(&r, &n);
	ck_assert_uint_eq(b.len, r.len);
	ck_assert(!memcmp(b.data, r.data, b.len));
	ck_assert_int_eq(tree_node_decode(b.data, b.len, &d), 0);
	for (int i = 0; i < 3; i++)
		assert_entry_eq(&d.entries[i], &v[i]);
	ck_assert(!d.entries[0].is_chunk && d.entries[1].is_chunk && !d.entries[1].is_inline);
	tree_node_release(&d);
	ck_assert_int_eq(dec_tree(b.data, b.len), 0);

	/* on its own (staging), and payload byte 2 on the wire */
	buf_reset(&b);
	ck_assert_int_eq(tree_entry_encode(&v[1], 1, &b), 0);
	ck_assert_uint_eq(b.data[2 + 1 + 4 + 8 + 8], 2);
	ck_assert_int_eq(tree_entry_decode(b.data, b.len, 1, &e), (int)b.len);
	assert_entry_eq(&e, &v[1]);

	/* the same id as payload 0 is another entry */
	same = v[1];
	same.is_chunk = false;
	ck_assert(tree_entry_eq(&v[1], &v[1]));
	ck_assert(!tree_entry_eq(&v[1], &same));

	/* unknown kinds stay refused */
	b.data[2 + 1 + 4 + 8 + 8] = 3;
	expect_msg(tree_entry_decode(b.data, b.len, 1, &e), T9K_ECORRUPT, "unknown payload kind 3");

	/* rules, by encoder and decoder alike */
	v[1].mode = S_IFDIR | 0755;
	expect_tree_invalid(&n, "entry 1: bad payload: only regular files may name a single chunk");
	v[1].mode = S_IFLNK | 0777;
	expect_tree_invalid(&n, "entry 1: bad payload: only regular files may name a single chunk");
	v[1].mode = S_IFREG | 0600;
	v[1].size = META_INLINE_MAX;
	expect_tree_invalid(&n, "entry 1: bad payload: one-chunk file of 4096 bytes, but files up "
			    "to 4096 bytes are inline");
	v[1].size = 0;
	expect_tree_invalid(&n, "entry 1: bad payload: one-chunk file of 0 bytes");
	v[1].size = META_INLINE_MAX + 1;
	v[2].size = (uint64_t)META_CHUNK_ENTRY_MAX + 1;
	expect_tree_invalid(&n, "entry 2: bad payload: one-chunk file of 67108865 bytes, more "
			    "than the largest chunk");
	v[2].size = META_CHUNK_ENTRY_MAX;
	v[2].is_inline = true; /* both flags: the encoder refuses */
	buf_reset(&b);
	expect_msg(tree_node_encode(&n, &b), -EINVAL, "entry is both inline and one chunk");
	buf_release(&b);
	buf_release(&r);
}
END_TEST

START_TEST(tree_rejects_malformed)
{
	struct tree_node n = sample_leaf(), in = sample_inner(3);
	struct buf b = BUF_INIT, ib = BUF_INIT;
	uint8_t one = 1, two = 2, sixteen = 16;

	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	ck_assert_int_eq(tree_node_encode(&in, &ib), 0);
	expect_prefixes_corrupt(dec_tree, &b);
	expect_prefixes_corrupt(dec_tree, &ib);
	flip_everywhere(dec_tree, &ib);
	/* the leaf has 4 KiB of inline bytes: flip a smaller one */
	{
		struct tree_node small = n;
		struct buf sb = BUF_INIT;

		small.count = 5;
		ck_assert_int_eq(tree_node_encode(&small, &sb), 0);
		flip_everywhere(dec_tree, &sb);
		buf_release(&sb);
	}

	expect_msg(dec_patched(dec_tree, &b, 0, "T9KM", 4), T9K_ECORRUPT,
		   "tree node: wrong magic");
	expect_msg(dec_patched(dec_tree, &b, 4, "\3", 1), T9K_ECORRUPT,
		   "tree node: unsupported version 3");
	expect_msg(dec_patched(dec_tree, &b, 4, "\0", 1), T9K_ECORRUPT,
		   "tree node: unsupported version 0");
	/* version 1 bytes read as version 2 do not decode */
	ck_assert_int_eq(dec_patched(dec_tree, &b, 4, &two, 1), T9K_ECORRUPT);
	expect_msg(dec_patched(dec_tree, &b, 5, &sixteen, 1), T9K_ECORRUPT,
		   "tree node: level 16 is above 15");
	expect_msg(dec_patched(dec_tree, &b, 6, &one, 1), T9K_ECORRUPT, "reserved byte 6");
	expect_msg(dec_patched(dec_tree, &b, 7, &one, 1), T9K_ECORRUPT, "reserved byte 7");
	expect_msg(dec_with_tail(dec_tree, &b, "\0\0", 2), T9K_ECORRUPT,
		   "tree node: trailing bytes: 2 after byte");
	expect_msg(dec_with_tail(dec_tree, &ib, "z", 1), T9K_ECORRUPT, "trailing bytes: 1");
	expect_msg(dec_patch_le32(dec_tree, &b, 8, UINT32_MAX), T9K_ECORRUPT,
		   "4294967295 entries need at least");
	expect_msg(dec_patch_le32(dec_tree, &ib, 8, UINT32_MAX), T9K_ECORRUPT,
		   "4294967295 children need at least");
	expect_msg(dec_patch_le32(dec_tree, &b, 8, 200), T9K_ECORRUPT,
		   "200 entries need at least 5600 bytes");
	expect_msg(dec_patch_le32(dec_tree, &b, 8, 7), T9K_ECORRUPT,
		   "tree node: entry 6: truncated at byte");
	expect_msg(dec_patch_le32(dec_tree, &ib, 8, 4), T9K_ECORRUPT,
		   "4 children need at least 172 bytes, 142 left");
	/* an inner node turned into a leaf, and the other way round */
	ck_assert_int_eq(dec_patched(dec_tree, &ib, 5, "\0", 1), T9K_ECORRUPT);
	ck_assert_int_eq(dec_patched(dec_tree, &b, 5, &one, 1), T9K_ECORRUPT);
	/* entry 0: name length past the end, payload kind 3; kind 2 (one
	 * chunk) does not hold a 1 GiB file */
	{
		uint8_t p[2], three = 3;

		put_le16(p, 0xffff);
		expect_msg(dec_patched(dec_tree, &b, 12, p, 2), T9K_ECORRUPT,
			   "tree node: entry 0: truncated at byte");
		/* entry 0 is "B": payload byte after 2+1+4+8+8 */
		expect_msg(dec_patched(dec_tree, &b, 12 + 23, &three, 1), T9K_ECORRUPT,
			   "entry 0: unknown payload kind 3");
		expect_msg(dec_patched(dec_tree, &b, 12 + 23, &two, 1), T9K_ECORRUPT,
			   "entry 0: bad payload: one-chunk file of 1073741824 bytes, more than "
			   "the largest chunk");
	}
	/* inline data length past the end (entry 2 "a.txt") */
	{
		size_t off = 12 + (23 + 1 + 32) * 2 + 23 + 5;

		ck_assert_uint_eq(get_le32(b.data + off), 13);
		expect_msg(dec_patch_le32(dec_tree, &b, off, 0x7fffffff), T9K_ECORRUPT,
			   "entry 2: truncated at byte");
	}
	buf_release(&b);
	buf_release(&ib);
}
END_TEST

START_TEST(tree_invalid_both_ways)
{
	struct tree_node n = sample_leaf();
	struct tree_entry *e = sample_entries;
	char longname[META_NAME_MAX + 1];
	struct buf out = BUF_INIT;

	/* order */
	n = sample_leaf();
	e[0].name = "b";
	expect_tree_invalid(&n, "tree node: entry 1 name 'a' sorts before entry 0 'b'");
	n = sample_leaf();
	e[1].name = "B";
	expect_tree_invalid(&n, "tree node: entry 1 name 'B' duplicates entry 0");
	n = sample_leaf();
	e[3].name = "a.tx";
	e[3].name_len = 4; /* a prefix sorts first */
	expect_tree_invalid(&n, "entry 3 name 'a.tx' sorts before entry 2 'a.txt'");
	/* names */
	n = sample_leaf();
	e[0].name_len = 0;
	expect_tree_invalid(&n, "tree node: entry 0: empty name");
	n = sample_leaf();
	e[4].name = "li/k";
	expect_tree_invalid(&n, "tree node: entry 4: name 'li/k' contains '/'");
	n = sample_leaf();
	e[4].name = "li\0k";
	expect_tree_invalid(&n, "tree node: entry 4: name 'li\\x00k' contains a NUL byte");
	n = sample_leaf();
	e[0].name = ".";
	expect_tree_invalid(&n, "entry 0: name '.' is not allowed");
	n = sample_leaf();
	e[0].name = "..";
	e[0].name_len = 2;
	expect_tree_invalid(&n, "entry 0: name '..' is not allowed");
	n = sample_leaf();
	memset(longname, 'z', sizeof(longname));
	e[5].name = longname;
	e[5].name_len = META_NAME_MAX + 1;
	expect_tree_invalid(&n, "entry 5: name 'zzz");
	/* modes */
	n = sample_leaf();
	e[0].mode = S_IFSOCK | 0644; /* special files need version 2 and no payload */
	expect_tree_invalid_dec(&n, "entry 0: mode 0140644 is not a file, directory or symlink");
	expect_tree_invalid_enc(&n, "entry 0: bad payload: special files carry no data");
	n = sample_leaf();
	e[0].mode = 0644;
	expect_tree_invalid(&n, "is not a file, directory, symlink, fifo, socket or device");
	n = sample_leaf();
	e[0].mode = S_IFREG | 0644 | 0x100000;
	expect_tree_invalid(&n, "has bits beyond the type and 07777");
	n = sample_leaf();
	e[0].mode = S_IFCHR | 0644;
	expect_tree_invalid_dec(&n, "is not a file, directory or symlink");
	/* payload rules */
	n = sample_leaf();
	e[1].is_inline = true;
	e[1].size = 0;
	expect_tree_invalid(&n, "entry 1: directory is inline");
	n = sample_leaf();
	e[4].is_inline = false;
	expect_tree_invalid(&n, "entry 4: symlink is not inline");
	n = sample_leaf();
	e[2].size = 14;
	expect_tree_invalid(&n, "entry 2: size 14 but 13 inline bytes");
	n = sample_leaf();
	e[5].data_len = e[5].size = META_INLINE_MAX + 1;
	expect_tree_invalid(&n, "entry 5: 4097 inline bytes, more than 4096");
	n = sample_leaf();
	e[4].data_len = e[4].size = 0;
	expect_tree_invalid(&n, "entry 4: symlink target is empty");
	n = sample_leaf();
	e[4].data = (const uint8_t *)"../\0.txt\xff";
	expect_tree_invalid(&n, "entry 4: symlink target contains a NUL byte");
	n = sample_leaf();
	e[4].data_len = e[4].size = 10;
	e[4].data = NULL;
	expect_msg(tree_node_encode(&n, &out), -EINVAL, "10 inline bytes but no data");
	n = sample_leaf();
	n.entries = NULL;
	expect_msg(tree_node_encode(&n, &out), -EINVAL, "6 items but no array");

	/* inner nodes */
	n = sample_inner(1);
	n.count = 0;
	expect_tree_invalid(&n, "tree node: inner node has no children");
	n = sample_inner(1);
	sample_children[1].count = 0;
	expect_tree_invalid(&n, "tree node: child 1: count is 0");
	n = sample_inner(1);
	sample_children[2].count = UINT64_MAX - 1000;
	expect_tree_invalid(&n, "child 2: entry counts overflow");
	n = sample_inner(1);
	sample_children[1].key_len = 5;
	expect_tree_invalid(&n, "tree node: child 1 name 'apple' duplicates child 0");
	n = sample_inner(1);
	sample_children[0].key = "apz";
	sample_children[0].key_len = 3;
	expect_tree_invalid(&n, "child 1 name 'apples' sorts before child 0 'apz'");
	n = sample_inner(1);
	sample_children[2].key = "..";
	sample_children[2].key_len = 2;
	expect_tree_invalid(&n, "tree node: child 2: name '..' is not allowed");
	n = sample_inner(1);
	sample_children[2].key = "z/a";
	sample_children[2].key_len = 3;
	expect_tree_invalid(&n, "child 2: name 'z/a' contains '/'");
	n = sample_inner(1);
	sample_children[0].key_len = 0;
	expect_tree_invalid(&n, "child 0: empty name");
	n = sample_inner(META_TREE_MAX_LEVEL + 1);
	expect_tree_invalid(&n, "tree node: level 16 is above 15");
	n = sample_inner(200);
	expect_tree_invalid(&n, "level 200 is above 15");
	n = sample_inner(2);
	n.children = NULL;
	expect_msg(tree_node_encode(&n, &out), -EINVAL, "3 items but no array");
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
}
END_TEST

/* ---- tree nodes, version 2: owners, special files, hard links ---- */

static struct tree_entry v2_entries[8];

/* A leaf with every kind of version 2 entry, and one without an owner. */
static struct tree_node sample_v2_leaf(void)
{
	struct tree_node n = { .count = 8, .entries = v2_entries };

	memset(v2_entries, 0, sizeof(v2_entries));
	v2_entries[0] = (struct tree_entry){ .name = "blk", .name_len = 3, .mode = S_IFBLK | 0660,
					     .mtime_ns = 11, .has_owner = true, .gid = 6,
					     .dev_major = 8, .dev_minor = 1 };
	v2_entries[1] = (struct tree_entry){ .name = "chr", .name_len = 3, .mode = S_IFCHR | 0666,
					     .mtime_ns = 12, .dev_major = 4095,
					     .dev_minor = 1048575 };
	v2_entries[2] = (struct tree_entry){ .name = "fifo", .name_len = 4, .mode = S_IFIFO | 0600,
					     .mtime_ns = -13, .has_owner = true, .uid = 1000,
					     .gid = 1000 };
	v2_entries[3] = (struct tree_entry){ .name = "hard1", .name_len = 5,
					     .mode = S_IFREG | 04755, .size = 5000, .mtime_ns = 14,
					     .has_owner = true, .uid = 7, .gid = 8, .is_chunk = true,
					     .id = mkoid(40), .link_id = 0x0123456789abcdefULL,
					     .nlink = 3 };
	v2_entries[4] = v2_entries[3];
	v2_entries[4].name = "hard2";
	v2_entries[5] = (struct tree_entry){ .name = "plain", .name_len = 5, .mode = S_IFREG | 0644,
					     .size = 2, .is_inline = true,
					     .data = (const uint8_t *)"hi", .data_len = 2 };
	v2_entries[6] = (struct tree_entry){ .name = "sock", .name_len = 4,
					     .mode = S_IFSOCK | 0777, .has_owner = true,
					     .uid = 65534, .gid = 65534 };
	v2_entries[7] = (struct tree_entry){ .name = "sub", .name_len = 3, .mode = S_IFDIR | 01777,
					     .size = 4, .has_owner = true, .uid = 0, .gid = 0,
					     .id = mkoid(41), .has_subdirs = true, .subdirs = 2 };
	return n;
}

static void assert_entry_v2_eq(const struct tree_entry *a, const struct tree_entry *b)
{
	assert_entry_eq(a, b);
	ck_assert_int_eq(a->has_owner, b->has_owner);
	ck_assert_uint_eq(a->uid, b->uid);
	ck_assert_uint_eq(a->gid, b->gid);
	ck_assert_uint_eq(a->dev_major, b->dev_major);
	ck_assert_uint_eq(a->dev_minor, b->dev_minor);
	ck_assert_uint_eq(a->link_id, b->link_id);
	ck_assert_uint_eq(a->nlink, b->nlink);
	ck_assert_int_eq(a->has_subdirs, b->has_subdirs);
	ck_assert_uint_eq(a->subdirs, b->subdirs);
	ck_assert(tree_entry_eq(a, b));
}

START_TEST(tree_v2_round_trip)
{
	struct tree_node n = sample_v2_leaf(), d;
	struct buf b = BUF_INIT, r = BUF_INIT;

	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	n.version = 2;
	raw_tree(&r, &n);
	ck_assert_uint_eq(b.len, r.len);
	ck_assert(!memcmp(b.data, r.data, b.len));
	ck_assert_uint_eq(b.data[4], 2);
	ck_assert_int_eq(tree_node_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.version, 2);
	ck_assert_uint_eq(d.count, 8);
	for (int i = 0; i < 8; i++)
		assert_entry_v2_eq(&d.entries[i], &n.entries[i]);
	tree_node_release(&d);
	ck_assert_int_eq(dec_tree(b.data, b.len), 0);
	expect_prefixes_corrupt(dec_tree, &b);
	flip_everywhere(dec_tree, &b);
	buf_release(&b);
	buf_release(&r);
}
END_TEST

/* A leaf is version 2 only when an entry needs it; the bytes of version 1
 * leaves are what binaries before version 2 wrote. */
START_TEST(tree_v2_version_choice)
{
	struct tree_node n = sample_leaf(), v2 = sample_v2_leaf(), d;
	struct buf b = BUF_INIT, r = BUF_INIT;
	struct tree_entry one[1];

	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	ck_assert_uint_eq(b.data[4], 1);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(tree_entry_version(&sample_entries[i]), META_TREE_V1);
	ck_assert_int_eq(tree_node_decode(b.data, b.len, &d), 0);
	ck_assert_uint_eq(d.version, 1);
	tree_node_release(&d);

	/* each of owner, link and special type alone needs version 2 */
	one[0] = v2_entries[5];
	ck_assert_int_eq(tree_entry_version(&one[0]), META_TREE_V1);
	v2 = (struct tree_node){ .count = 1, .entries = one };
	buf_reset(&b);
	ck_assert_int_eq(tree_node_encode(&v2, &b), 0);
	ck_assert_uint_eq(b.data[4], 1);
	one[0].has_owner = true;
	ck_assert_int_eq(tree_entry_version(&one[0]), META_TREE_V2);
	buf_reset(&b);
	ck_assert_int_eq(tree_node_encode(&v2, &b), 0);
	ck_assert_uint_eq(b.data[4], 2);
	one[0] = v2_entries[5];
	one[0].link_id = 9;
	one[0].nlink = 2;
	ck_assert_int_eq(tree_entry_version(&one[0]), META_TREE_V2);
	one[0] = v2_entries[7];
	one[0].has_owner = false;
	ck_assert_int_eq(tree_entry_version(&one[0]), META_TREE_V2);
	one[0].has_subdirs = false;
	one[0].subdirs = 0;
	ck_assert_int_eq(tree_entry_version(&one[0]), META_TREE_V1);
	one[0] = v2_entries[2];
	one[0].has_owner = false;
	one[0].uid = one[0].gid = 0;
	ck_assert_int_eq(tree_entry_version(&one[0]), META_TREE_V2);

	/* version 2 bytes of entries that fit version 1: not canonical */
	one[0] = v2_entries[5];
	v2.version = 2;
	raw_tree(&r, &v2);
	expect_msg(dec_tree(r.data, r.len), T9K_ECORRUPT,
		   "tree node: version 2 leaf, but its entries need version 1");
	/* an inner node stays version 1 */
	{
		struct tree_node in = sample_inner(1);

		in.version = 2;
		buf_reset(&r);
		raw_tree(&r, &in);
		expect_msg(dec_tree(r.data, r.len), T9K_ECORRUPT,
			   "version 2 inner node, but its entries need version 1");
	}
	buf_release(&b);
	buf_release(&r);
}
END_TEST

START_TEST(tree_v2_invalid)
{
	struct tree_node n = sample_v2_leaf();
	struct tree_entry *e = v2_entries;
	struct buf b = BUF_INIT;
	size_t off;

	n.version = 2;
	e[2].size = 1;
	expect_tree_invalid(&n, "entry 2: special file of size 1 (want 0)");
	n = sample_v2_leaf();
	n.version = 2;
	e[6].id = mkoid(1);
	expect_tree_invalid_enc(&n, "entry 6: bad payload: special files carry no data");
	n = sample_v2_leaf();
	n.version = 2;
	e[2].is_inline = true;
	expect_tree_invalid_enc(&n, "entry 2: bad payload: special files carry no data");
	n = sample_v2_leaf();
	n.version = 2;
	e[3].nlink = e[4].nlink = 1;
	expect_tree_invalid(&n, "entry 3: hard-link group with a link count of 1 (want 2 or more)");
	n = sample_v2_leaf();
	n.version = 2;
	e[7].link_id = 5;
	e[7].nlink = 2;
	expect_tree_invalid(&n, "entry 7: a directory cannot be hard-linked");
	n = sample_v2_leaf();
	n.version = 2;
	e[0].uid = UINT32_MAX;
	expect_tree_invalid(&n, "entry 0: owner 4294967295:6 is not valid");
	n = sample_v2_leaf();
	e[5].uid = 3;
	expect_tree_invalid_enc(&n, "entry 5: uid or gid set without an owner");
	n = sample_v2_leaf();
	e[5].dev_minor = 3;
	expect_tree_invalid_enc(&n, "entry 5: device numbers on an entry that is not a device");
	n = sample_v2_leaf();
	e[5].nlink = 2;
	expect_tree_invalid_enc(&n, "entry 5: link count 2 without a hard-link group");
	n = sample_v2_leaf();
	n.version = 2;
	e[5].has_subdirs = true;
	expect_tree_invalid(&n, "entry 5: a subdirectory count on an entry that is not a directory");
	n = sample_v2_leaf();
	n.version = 2;
	e[7].subdirs = 5;
	expect_tree_invalid(&n, "entry 7: 5 subdirectories, more than its 4 entries");
	n = sample_v2_leaf();
	e[7].has_subdirs = false;
	expect_tree_invalid_enc(&n, "entry 7: subdirectory count set without its flag");

	/* byte-level: unknown flags, link group 0, payload kinds */
	n = sample_v2_leaf();
	ck_assert_int_eq(tree_node_encode(&n, &b), 0);
	off = 12 + 2 + 3 + 4 + 8 + 8; /* entry 0's flags */
	ck_assert_uint_eq(b.data[off], 1);
	expect_msg(dec_patched(dec_tree, &b, off, "\x09", 1), T9K_ECORRUPT,
		   "entry 0: unknown entry flags 0x9");
	off += 1 + 8 + 8; /* flags, owner, device: the payload byte */
	ck_assert_uint_eq(b.data[off], 3);
	expect_msg(dec_patched(dec_tree, &b, off, "\x00", 1), T9K_ECORRUPT,
		   "entry 0: bad payload: special files carry no data");
	/* "plain" (entry 5): flags 0 then payload 1 */
	off = 12;
	for (int i = 0; i < 5; i++) {
		struct buf one = BUF_INIT;

		raw_entry_v(&one, &e[i], 2);
		off += one.len;
		buf_release(&one);
	}
	ck_assert_uint_eq(b.data[off + 2 + 5 + 4 + 8 + 8], 0);
	ck_assert_uint_eq(b.data[off + 2 + 5 + 4 + 8 + 8 + 1], 1);
	expect_msg(dec_patched(dec_tree, &b, off + 2 + 5 + 4 + 8 + 8 + 1, "\x03", 1),
		   T9K_ECORRUPT, "entry 5: bad payload: only special files carry none");
	expect_msg(dec_patched(dec_tree, &b, off + 2 + 5 + 4 + 8 + 8 + 1, "\x04", 1),
		   T9K_ECORRUPT, "entry 5: unknown payload kind 4");
	/* entry 3's link group id */
	off = 12;
	for (int i = 0; i < 3; i++) {
		struct buf one = BUF_INIT;

		raw_entry_v(&one, &e[i], 2);
		off += one.len;
		buf_release(&one);
	}
	off += 2 + 5 + 4 + 8 + 8 + 1 + 8;
	ck_assert_uint_eq(get_le64(b.data + off), 0x0123456789abcdefULL);
	expect_msg(dec_patched(dec_tree, &b, off, "\0\0\0\0\0\0\0\0", 8), T9K_ECORRUPT,
		   "entry 3: hard-link group id is 0");
	buf_release(&b);
}
END_TEST

/* The staging area's lone entries, in either layout. */
START_TEST(tree_v2_entry_alone)
{
	struct tree_node n = sample_v2_leaf();
	struct buf b = BUF_INIT;
	struct tree_entry e, other;

	for (int i = 0; i < 8; i++) {
		int v = tree_entry_version(&n.entries[i]);

		buf_reset(&b);
		ck_assert_int_eq(tree_entry_encode(&n.entries[i], 2, &b), 0);
		ck_assert_int_eq(tree_entry_decode(b.data, b.len, 2, &e), (int)b.len);
		assert_entry_v2_eq(&e, &n.entries[i]);
		for (size_t k = 0; k < b.len; k++)
			expect_msg(tree_entry_decode(b.data, k, 2, &e), T9K_ECORRUPT,
				   "tree entry: truncated at byte");
		buf_reset(&b);
		if (v == 1) {
			ck_assert_int_eq(tree_entry_encode(&n.entries[i], 1, &b), 0);
			continue;
		}
		ck_assert_int_ne(tree_entry_encode(&n.entries[i], 1, &b), 0);
		ck_assert_uint_eq(b.len, 0);
	}
	expect_msg(tree_entry_encode(&n.entries[3], 1, &b), -EINVAL,
		   "tree entry: entry needs tree version 2");
	expect_msg(tree_entry_encode(&n.entries[3], 3, &b), -EINVAL, "unsupported tree version 3");
	expect_msg(tree_entry_decode((const uint8_t *)"x", 1, 0, &e), -EINVAL,
		   "unsupported tree version 0");

	/* equality sees every version 2 field */
	other = n.entries[3];
	ck_assert(tree_entry_eq(&other, &n.entries[3]));
	other.uid = 8;
	ck_assert(!tree_entry_eq(&other, &n.entries[3]));
	other = n.entries[3];
	other.has_owner = false;
	other.uid = other.gid = 0;
	ck_assert(!tree_entry_eq(&other, &n.entries[3]));
	other = n.entries[3];
	other.nlink = 2;
	ck_assert(!tree_entry_eq(&other, &n.entries[3]));
	ck_assert(!tree_entry_meta_eq(&other, &n.entries[3]));
	other = n.entries[0];
	other.dev_minor = 2;
	ck_assert(!tree_entry_eq(&other, &n.entries[0]));
	other = n.entries[7];
	other.subdirs = 1;
	ck_assert(!tree_entry_eq(&other, &n.entries[7]));
	buf_release(&b);
}
END_TEST

/* ---- commits ---- */

static struct commit_kv sample_kv[4];

static struct commit sample_commit(unsigned nparents, unsigned nkv)
{
	struct commit c;

	memset(&c, 0, sizeof(c));
	c.root = mkoid(30);
	c.nparents = (uint8_t)nparents;
	for (unsigned i = 0; i < nparents; i++)
		c.parents[i] = mkoid(31 + i);
	c.time_ns = 1700000000987654321LL;
	c.author = "Ada Lovelace <ada@example.org>";
	c.author_len = (uint16_t)strlen(c.author);
	c.message = "train resnet50\n\nlr=0.1, batch 256, \xe2\x9c\x93\n";
	c.message_len = (uint32_t)strlen(c.message);
	sample_kv[0] = (struct commit_kv){ "accuracy", 8, "0.761", 5 };
	sample_kv[1] = (struct commit_kv){ "config/lr", 9, "0.1", 3 };
	sample_kv[2] = (struct commit_kv){ "empty", 5, NULL, 0 };
	sample_kv[3] = (struct commit_kv){ "raw", 3, "\0\1\2\0", 4 };
	c.nkv = (uint16_t)nkv;
	c.kv = nkv ? sample_kv : NULL;
	return c;
}

static void assert_commit_eq(const struct commit *a, const struct commit *b)
{
	ck_assert(oid_eq(&a->root, &b->root));
	ck_assert_uint_eq(a->nparents, b->nparents);
	for (unsigned i = 0; i < a->nparents; i++)
		ck_assert(oid_eq(&a->parents[i], &b->parents[i]));
	ck_assert_int_eq(a->time_ns, b->time_ns);
	ck_assert_uint_eq(a->author_len, b->author_len);
	ck_assert(a->author_len == 0 || !memcmp(a->author, b->author, a->author_len));
	ck_assert_uint_eq(a->message_len, b->message_len);
	ck_assert(a->message_len == 0 || !memcmp(a->message, b->message, a->message_len));
	ck_assert_uint_eq(a->nkv, b->nkv);
	for (unsigned i = 0; i < a->nkv; i++) {
		ck_assert_uint_eq(a->kv[i].key_len, b->kv[i].key_len);
		ck_assert(!memcmp(a->kv[i].key, b->kv[i].key, a->kv[i].key_len));
		ck_assert_uint_eq(a->kv[i].value_len, b->kv[i].value_len);
		ck_assert(a->kv[i].value_len == 0 ||
			  !memcmp(a->kv[i].value, b->kv[i].value, a->kv[i].value_len));
	}
}

START_TEST(commit_round_trip)
{
	static const unsigned shapes[][2] = { { 0, 0 }, { 1, 0 }, { 2, 4 }, { 1, 1 }, { 16, 4 } };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct commit c = sample_commit(shapes[s][0], shapes[s][1]), d;
		struct buf b = BUF_INIT, r = BUF_INIT;

		if (s == 0) { /* the bare minimum: no author, empty message */
			c.author = NULL;
			c.author_len = 0;
			c.message = NULL;
			c.message_len = 0;
			c.time_ns = -1;
		}
		ck_assert_int_eq(commit_encode(&c, &b), 0);
		raw_commit(&r, &c);
		ck_assert_uint_eq(b.len, r.len);
		ck_assert(!memcmp(b.data, r.data, b.len));
		ck_assert_int_eq(meta_object_type(b.data, b.len), 'K');
		if (s == 0)
			ck_assert_uint_eq(b.len, 40 + 8 + 2 + 4 + 2);
		ck_assert_int_eq(commit_decode(b.data, b.len, &d), 0);
		assert_commit_eq(&d, &c);
		if (c.nkv == 0)
			ck_assert_ptr_null(d.kv);
		commit_release(&d);
		ck_assert_ptr_null(d.kv);
		commit_release(NULL);
		ck_assert_int_eq(dec_commit(b.data, b.len), 0);
		buf_release(&b);
		buf_release(&r);
	}
}
END_TEST

START_TEST(commit_rejects_malformed)
{
	struct commit c = sample_commit(2, 4);
	struct buf b = BUF_INIT;
	uint8_t one = 1, two = 2, many = META_MAX_PARENTS + 1;
	size_t kv_off;

	ck_assert_int_eq(commit_encode(&c, &b), 0);
	expect_prefixes_corrupt(dec_commit, &b);
	flip_everywhere(dec_commit, &b);

	expect_msg(dec_patched(dec_commit, &b, 0, "T9KC", 4), T9K_ECORRUPT,
		   "commit: wrong magic");
	expect_msg(dec_patched(dec_commit, &b, 4, &two, 1), T9K_ECORRUPT,
		   "commit: unsupported version 2");
	expect_msg(dec_patched(dec_commit, &b, 5, &many, 1), T9K_ECORRUPT,
		   "commit: 17 parents, more than 16");
	expect_msg(dec_patched(dec_commit, &b, 6, &one, 1), T9K_ECORRUPT, "reserved byte 6");
	expect_msg(dec_patched(dec_commit, &b, 7, &one, 1), T9K_ECORRUPT, "reserved byte 7");
	expect_msg(dec_with_tail(dec_commit, &b, "!", 1), T9K_ECORRUPT,
		   "commit: trailing bytes: 1 after byte");
	/* one parent fewer: the rest no longer lines up */
	ck_assert_int_eq(dec_patched(dec_commit, &b, 5, &one, 1), T9K_ECORRUPT);
	/* author length past the end */
	{
		uint8_t p[2];

		put_le16(p, 0xffff);
		expect_msg(dec_patched(dec_commit, &b, 40 + 64 + 8, p, 2), T9K_ECORRUPT,
			   "commit: truncated at byte");
	}
	/* message length past the end, then kv counts */
	{
		size_t off = 40 + 64 + 8 + 2 + c.author_len;

		expect_msg(dec_patch_le32(dec_commit, &b, off, UINT32_MAX), T9K_ECORRUPT,
			   "truncated at byte");
		kv_off = off + 4 + c.message_len;
	}
	{
		uint8_t p[2];

		ck_assert_uint_eq(get_le16(b.data + kv_off), 4);
		put_le16(p, META_KV_MAX + 1);
		expect_msg(dec_patched(dec_commit, &b, kv_off, p, 2), T9K_ECORRUPT,
			   "1025 metadata pairs, more than 1024");
		put_le16(p, META_KV_MAX);
		expect_msg(dec_patched(dec_commit, &b, kv_off, p, 2), T9K_ECORRUPT,
			   "1024 metadata pairs need at least");
		put_le16(p, 9);
		expect_msg(dec_patched(dec_commit, &b, kv_off, p, 2), T9K_ECORRUPT,
			   "9 metadata pairs need at least 63 bytes, 61 left");
		put_le16(p, 5);
		expect_msg(dec_patched(dec_commit, &b, kv_off, p, 2), T9K_ECORRUPT,
			   "commit: metadata pair 4: truncated at byte");
		put_le16(p, 3);
		expect_msg(dec_patched(dec_commit, &b, kv_off, p, 2), T9K_ECORRUPT,
			   "trailing bytes");
		/* kv 0 value length past the end */
		expect_msg(dec_patch_le32(dec_commit, &b, kv_off + 2 + 2 + 8, 1u << 30),
			   T9K_ECORRUPT, "commit: metadata pair 0: truncated at byte");
	}
	buf_release(&b);
}
END_TEST

START_TEST(commit_invalid_both_ways)
{
	struct commit c;
	char *big = malloc(META_MSG_MAX + 1);
	struct buf out = BUF_INIT;

	ck_assert_ptr_nonnull(big);
	memset(big, 'm', META_MSG_MAX + 1);

	c = sample_commit(16, 0);
	c.nparents = 17;
	expect_msg(commit_encode(&c, &out), -EINVAL, "commit: 17 parents, more than 16");
	c = sample_commit(3, 0);
	c.parents[2] = c.parents[0];
	expect_commit_invalid(&c, "commit: parent 2 repeats parent 0");
	c = sample_commit(1, 0);
	c.author = "Ada\0";
	c.author_len = 4;
	expect_commit_invalid(&c, "commit: author contains a NUL byte");
	c = sample_commit(1, 0);
	c.author = big;
	c.author_len = META_AUTHOR_MAX + 1;
	expect_commit_invalid(&c, "author is 1025 bytes, more than 1024");
	c = sample_commit(1, 0);
	c.author = big;
	c.author_len = META_AUTHOR_MAX;
	ck_assert_int_eq(commit_encode(&c, &out), 0);
	ck_assert_int_eq(dec_commit(out.data, out.len), 0);
	buf_reset(&out);
	c = sample_commit(1, 0);
	c.message = "fix\0bug";
	c.message_len = 7;
	expect_commit_invalid(&c, "commit: message contains a NUL byte");
	c = sample_commit(0, 0);
	c.message = big;
	c.message_len = META_MSG_MAX + 1;
	expect_commit_invalid(&c, "message is 1048577 bytes, more than 1048576");
	c = sample_commit(0, 0);
	c.message = big;
	c.message_len = META_MSG_MAX;
	ck_assert_int_eq(commit_encode(&c, &out), 0);
	ck_assert_int_eq(dec_commit(out.data, out.len), 0);
	buf_reset(&out);
	/* metadata */
	c = sample_commit(1, 4);
	sample_kv[1].key = "accuracy";
	sample_kv[1].key_len = 8;
	expect_commit_invalid(&c, "commit: metadata key 1 'accuracy' duplicates key 0");
	c = sample_commit(1, 4);
	sample_kv[3].key = "a";
	sample_kv[3].key_len = 1;
	expect_commit_invalid(&c, "metadata key 3 'a' sorts before key 2 'empty'");
	c = sample_commit(1, 4);
	sample_kv[0].key_len = 0;
	expect_commit_invalid(&c, "metadata key 0 has length 0");
	c = sample_commit(1, 4);
	sample_kv[0].key = big;
	sample_kv[0].key_len = META_NAME_MAX + 1;
	expect_commit_invalid(&c, "metadata key 0 has length 256");
	c = sample_commit(1, 4);
	sample_kv[2].key = "emp\0y";
	expect_commit_invalid(&c, "metadata key 2 'emp\\x00y' contains a NUL byte");
	c = sample_commit(1, 4);
	sample_kv[2].value = big;
	sample_kv[2].value_len = META_VALUE_MAX + 1;
	expect_commit_invalid(&c, "metadata value 2 is 65537 bytes, more than 65536");
	c = sample_commit(1, 4);
	sample_kv[2].value_len = 3;
	expect_msg(commit_encode(&c, &out), -EINVAL, "value 2 has length 3 but no bytes");
	c = sample_commit(1, 4);
	c.kv = NULL;
	expect_msg(commit_encode(&c, &out), -EINVAL, "4 metadata pairs but no array");
	c = sample_commit(1, 4);
	sample_kv[1].key = NULL;
	expect_msg(commit_encode(&c, &out), -EINVAL, "metadata key 1 is NULL");
	c = sample_commit(1, 0);
	c.nkv = META_KV_MAX + 1;
	expect_msg(commit_encode(&c, &out), -EINVAL, "1025 metadata pairs, more than 1024");
	c = sample_commit(1, 0);
	c.author = NULL;
	expect_msg(commit_encode(&c, &out), -EINVAL, "but no author");
	c = sample_commit(1, 0);
	c.message = NULL;
	expect_msg(commit_encode(&c, &out), -EINVAL, "but no message");
	ck_assert_uint_eq(out.len, 0);
	buf_release(&out);
	free(big);
}
END_TEST

/* The most pairs a commit may have, each at its largest: still decodes. */
START_TEST(commit_limits)
{
	struct commit c = sample_commit(16, 0), d;
	struct commit_kv *kv = calloc(META_KV_MAX, sizeof(*kv));
	char (*keys)[8] = calloc(META_KV_MAX, 8);
	struct buf b = BUF_INIT;

	ck_assert_ptr_nonnull(kv);
	ck_assert_ptr_nonnull(keys);
	for (int i = 0; i < META_KV_MAX; i++) {
		snprintf(keys[i], 8, "k%04d", i);
		kv[i] = (struct commit_kv){ keys[i], 5, "v", 1 };
	}
	c.nkv = META_KV_MAX;
	c.kv = kv;
	ck_assert_int_eq(commit_encode(&c, &b), 0);
	ck_assert_int_eq(commit_decode(b.data, b.len, &d), 0);
	assert_commit_eq(&d, &c);
	commit_release(&d);
	buf_release(&b);
	free(kv);
	free(keys);
}
END_TEST

Suite *object_suite(void)
{
	Suite *s = suite_create("object");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, names_check_and_order);
	tcase_add_test(tc, object_type_from_magic);
	tcase_add_test(tc, manifest_round_trip);
	tcase_add_test(tc, manifest_rejects_malformed);
	tcase_add_test(tc, manifest_invalid_both_ways);
	tcase_add_test(tc, tree_leaf_round_trip);
	tcase_add_test(tc, tree_inner_round_trip);
	tcase_add_test(tc, tree_entry_alone);
	tcase_add_test(tc, tree_chunk_payload);
	tcase_add_test(tc, tree_rejects_malformed);
	tcase_add_test(tc, tree_invalid_both_ways);
	tcase_add_test(tc, tree_v2_round_trip);
	tcase_add_test(tc, tree_v2_version_choice);
	tcase_add_test(tc, tree_v2_invalid);
	tcase_add_test(tc, tree_v2_entry_alone);
	tcase_add_test(tc, commit_round_trip);
	tcase_add_test(tc, commit_rejects_malformed);
	tcase_add_test(tc, commit_invalid_both_ways);
	tcase_add_test(tc, commit_limits);
	suite_add_tcase(s, tc);
	return s;
}
