/* JSON codecs of the HTTP API: round trips, every validation rule, and the
 * error table in both directions. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "meta/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &err);

	ck_assert_msg(j != NULL, "bad test JSON: %s", err.text);
	return j;
}

/* Parses text as an entry and expects -EINVAL with msg in the message. */
static void entry_rejected(const char *text, unsigned flags, const char *msg)
{
	struct buf hold = BUF_INIT;
	struct tree_entry e;
	json_t *j = parse(text);
	int rc;

	t9k_err_clear();
	rc = meta_json_to_entry_ex(j, &e, &hold, flags);
	ck_assert_msg(rc == -EINVAL, "%s: rc %d", text, rc);
	ck_assert_msg(strstr(t9k_errmsg(rc), msg), "%s: message '%s' lacks '%s'", text,
		      t9k_errmsg(rc), msg);
	json_decref(j);
	buf_release(&hold);
}

static void entry_roundtrip(const struct tree_entry *in)
{
	struct buf hold = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
	struct tree_entry out;
	json_t *j = meta_json_entry(in);
	char *text;

	ck_assert_ptr_nonnull(j);
	text = json_dumps(j, 0);
	json_decref(j);
	j = parse(text); /* through text, as on the wire */
	ck_assert_int_eq(meta_json_to_entry(j, &out, &hold), 0);
	ck_assert_int_eq(tree_entry_encode(in, 2, &a), 0);
	ck_assert_int_eq(tree_entry_encode(&out, 2, &b), 0);
	ck_assert_msg(a.len == b.len && !memcmp(a.data, b.data, a.len), "entry changed: %s", text);
	free(text);
	json_decref(j);
	buf_release(&hold);
	buf_release(&a);
	buf_release(&b);
}

START_TEST(test_entry_roundtrip)
{
	static uint8_t bytes[META_INLINE_MAX];
	struct tree_entry e = { .name = "x.jpg", .name_len = 5, .mode = S_IFREG | 0640,
				.size = 123456789, .mtime_ns = -5 };

	memset(e.id.b, 0xab, sizeof(e.id.b));
	entry_roundtrip(&e);
	e.mode = S_IFDIR | 0755;
	e.size = 3;
	e.mtime_ns = 1700000000123456789;
	entry_roundtrip(&e);
	test_random_bytes(bytes, sizeof(bytes), 7);
	e.mode = S_IFREG | 0600;
	e.is_inline = true;
	e.data = bytes;
	/* every padding case, empty and the largest inline file */
	for (uint32_t n = 0; n <= 5; n++) {
		e.size = e.data_len = n;
		entry_roundtrip(&e);
	}
	e.size = e.data_len = META_INLINE_MAX;
	entry_roundtrip(&e);
	/* one-chunk files (payload 2), at both ends of their range */
	e.is_inline = false;
	e.data = NULL;
	e.data_len = 0;
	e.is_chunk = true;
	e.size = META_INLINE_MAX + 1;
	entry_roundtrip(&e);
	e.size = META_CHUNK_ENTRY_MAX;
	entry_roundtrip(&e);
	e.is_chunk = false;
	e.is_inline = true;
	e.mode = S_IFLNK | 0777;
	e.data = (const uint8_t *)"../target";
	e.size = e.data_len = 9;
	entry_roundtrip(&e);

	/* version 2: owners, special files, link groups, subdirectory counts */
	e.has_owner = true;
	e.uid = 0;
	e.gid = UINT32_MAX - 1;
	entry_roundtrip(&e);
	e.is_inline = false;
	e.data = NULL;
	e.data_len = 0;
	e.size = 0;
	memset(e.id.b, 0, sizeof(e.id.b));
	for (int i = 0; i < 4; i++) {
		static const uint32_t t[] = { S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK };

		e.mode = t[i] | 0640;
		e.dev_major = i >= 2 ? UINT32_MAX : 0;
		e.dev_minor = i >= 2 ? 7 : 0;
		entry_roundtrip(&e);
	}
	e.dev_major = e.dev_minor = 0;
	e.mode = S_IFREG | 04755;
	e.size = 5000;
	e.is_chunk = true;
	memset(e.id.b, 0xab, sizeof(e.id.b));
	e.link_id = UINT64_MAX;
	e.nlink = UINT32_MAX;
	entry_roundtrip(&e);
	e.has_owner = false;
	e.uid = e.gid = 0;
	e.link_id = 1;
	e.nlink = 2;
	entry_roundtrip(&e);
	e.link_id = 0;
	e.nlink = 0;
	e.is_chunk = false;
	e.mode = S_IFDIR | 01777;
	e.size = 10;
	e.has_subdirs = true;
	e.subdirs = 10;
	entry_roundtrip(&e);
}
END_TEST

START_TEST(test_entry_fields)
{
	struct buf hold = BUF_INIT;
	struct tree_entry e;
	json_t *j = meta_json_entry(&(struct tree_entry){ .name = "a", .name_len = 1,
							    .mode = S_IFREG | 0644, .size = 3,
							    .is_inline = true,
							    .data = (const uint8_t *)"abc",
							    .data_len = 3 });

	ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "file");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "mode")), 0644);
	ck_assert_str_eq(json_string_value(json_object_get(j, "inline")), "YWJj");
	ck_assert_ptr_null(json_object_get(j, "id"));
	ck_assert_ptr_null(json_object_get(j, "chunk"));
	json_decref(j);

	/* a one-chunk file shows "chunk", not "id" */
	j = meta_json_entry(&(struct tree_entry){ .name = "c", .name_len = 1,
						  .mode = S_IFREG | 0644, .size = 5000,
						  .is_chunk = true, .id.b = { 0xcd } });
	ck_assert_str_eq(json_string_value(json_object_get(j, "chunk")),
			 "cd00000000000000000000000000000000000000000000000000000000000000");
	ck_assert_ptr_null(json_object_get(j, "id"));
	ck_assert_ptr_null(json_object_get(j, "inline"));
	json_decref(j);
	j = parse("{\"name\": \"c\", \"type\": \"file\", \"size\": 5000, \"chunk\": "
		  "\"cd00000000000000000000000000000000000000000000000000000000000000\"}");
	ck_assert_int_eq(meta_json_to_entry(j, &e, &hold), 0);
	ck_assert(e.is_chunk && !e.is_inline);
	ck_assert_uint_eq(e.id.b[0], 0xcd);
	ck_assert_uint_eq(e.size, 5000);
	json_decref(j);

	/* defaults: mode by type, mtime 0, size from the inline bytes */
	j = parse("{\"name\": \"l\", \"type\": \"symlink\", \"inline\": \"eA==\"}");
	ck_assert_int_eq(meta_json_to_entry(j, &e, &hold), 0);
	ck_assert_uint_eq(e.mode, S_IFLNK | 0777);
	ck_assert_uint_eq(e.size, 1);
	ck_assert_int_eq(e.data[0], 'x');
	ck_assert_int_eq(e.mtime_ns, 0);
	ck_assert_int_eq(e.name_len, 1);
	json_decref(j);

	/* staging shapes: name optional, attributes without an id */
	j = parse("{\"type\": \"dir\", \"mode\": 448, \"mtime_ns\": 9}");
	ck_assert_int_eq(meta_json_to_entry_ex(j, &e, &hold,
					       META_JSON_NAME_OPTIONAL | META_JSON_ATTRS_ONLY), 0);
	ck_assert_ptr_null(e.name);
	ck_assert_uint_eq(e.mode, S_IFDIR | 0700);
	ck_assert_int_eq(e.mtime_ns, 9);
	ck_assert_int_eq(meta_json_to_entry(j, &e, &hold), -EINVAL);
	json_decref(j);
	/* ... with an owner; a count there is the commit's to make */
	j = parse("{\"type\": \"dir\", \"mode\": 448, \"uid\": 3, \"gid\": 4, \"subdirs\": 9}");
	ck_assert_int_eq(meta_json_to_entry_ex(j, &e, &hold,
					       META_JSON_NAME_OPTIONAL | META_JSON_ATTRS_ONLY), 0);
	ck_assert(e.has_owner && e.uid == 3 && e.gid == 4 && !e.has_subdirs);
	json_decref(j);

	/* the members of version 2 on the wire */
	j = meta_json_entry(&(struct tree_entry){ .name = "d", .name_len = 1,
						  .mode = S_IFBLK | 0660, .has_owner = true,
						  .uid = 0, .gid = 6, .dev_major = 8,
						  .dev_minor = 16 });
	ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "blockdev");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "uid")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "gid")), 6);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rdev"), "minor")), 16);
	ck_assert_ptr_null(json_object_get(j, "id"));
	ck_assert_ptr_null(json_object_get(j, "inline"));
	ck_assert_ptr_null(json_object_get(j, "link"));
	json_decref(j);
	j = meta_json_entry(&(struct tree_entry){ .name = "h", .name_len = 1,
						  .mode = S_IFREG | 0644, .is_inline = true,
						  .link_id = 0xabcULL, .nlink = 3 });
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "link"), "id")),
			 "0000000000000abc");
	ck_assert_ptr_null(json_object_get(j, "uid"));
	json_decref(j);
	buf_release(&hold);
}
END_TEST

START_TEST(test_entry_rejects)
{
	static const char id[] = "\"id\": \"0000000000000000000000000000000000000000000000000000000000000001\"";
	char text[512], big[8000];

	entry_rejected("[]", 0, "not a JSON object");
	entry_rejected("{\"type\": \"file\", \"size\": 0, \"inline\": \"\"}", 0, "no \"name\"");
	entry_rejected("{\"name\": \"..\", \"type\": \"file\", \"inline\": \"\"}", 0, "not allowed");
	entry_rejected("{\"name\": \".\", \"type\": \"file\", \"inline\": \"\"}", 0, "not allowed");
	entry_rejected("{\"name\": \"a/b\", \"type\": \"file\", \"inline\": \"\"}", 0, "'/'");
	entry_rejected("{\"name\": \"\", \"type\": \"file\", \"inline\": \"\"}", 0, "empty name");
	entry_rejected("{\"name\": \"a\\u0000b\", \"type\": \"file\", \"inline\": \"\"}", 0, "NUL");
	entry_rejected("{\"name\": 7, \"type\": \"file\", \"inline\": \"\"}", 0, "not a string");
	entry_rejected("{\"name\": \"a\", \"type\": \"pipe\", \"inline\": \"\"}", 0,
		       "want file, dir, symlink, fifo, socket, chardev or blockdev");
	/* version 2 members */
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"inline\": \"\"}", 0,
		       "a fifo entry carries no \"id\", \"inline\" or \"chunk\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"socket\", \"size\": 3}", 0,
		       "a socket entry has \"size\" 0");
	entry_rejected("{\"name\": \"a\", \"type\": \"chardev\"}", 0,
		       "a device entry needs \"rdev\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"blockdev\", \"rdev\": {\"major\": 1}}", 0,
		       "entry rdev has no \"minor\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"rdev\": {\"major\": 1, \"minor\": 2}}",
		       0, "only a device entry carries \"rdev\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"uid\": 5}", 0,
		       "entry has \"uid\" without \"gid\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"gid\": 5}", 0,
		       "entry has \"gid\" without \"uid\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"uid\": 4294967295, \"gid\": 0}",
		       0, "\"uid\" is 4294967295");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"uid\": -1, \"gid\": 0}", 0,
		       "\"uid\" is -1");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"link\": {\"id\": \"00000000000000ab\"}}",
		       0, "entry link has no \"nlink\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"link\": {\"id\": \"00000000000000ab\", "
		       "\"nlink\": 1}}", 0, "\"nlink\" is 1");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"link\": {\"id\": \"0000000000000000\", "
		       "\"nlink\": 2}}", 0, "not 16 hex digits");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"link\": {\"id\": \"-00000000000000a\", "
		       "\"nlink\": 2}}", 0, "not 16 hex digits");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"link\": {\"id\": \"ab\", \"nlink\": 2}}",
		       0, "not 16 hex digits");
	entry_rejected("{\"name\": \"a\", \"type\": \"fifo\", \"link\": 3}", 0, "not an object");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"dir\", \"size\": 1, %s, "
		 "\"link\": {\"id\": \"00000000000000ab\", \"nlink\": 2}}", id);
	entry_rejected(text, 0, "a directory cannot carry \"link\"");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"dir\", \"size\": 1, %s, "
		 "\"subdirs\": 2}", id);
	entry_rejected(text, 0, "\"subdirs\" is 2, more than its \"size\"");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"file\", \"size\": 1, %s, "
		 "\"subdirs\": 0}", id);
	entry_rejected(text, 0, "only a directory entry carries \"subdirs\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"mode\": 4096, \"inline\": \"\"}", 0,
		       "\"mode\" is 4096");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"mode\": \"644\", \"inline\": \"\"}", 0,
		       "not an integer");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": -1, \"inline\": \"\"}", 0,
		       "\"size\" is -1");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\"}", 0, "neither");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"file\", \"size\": 1, %s, \"inline\": \"\"}", id);
	entry_rejected(text, 0, "both");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"file\", %s}", id);
	entry_rejected(text, 0, "no \"size\"");
	/* "chunk": one payload only, files only, sizes of one chunk only */
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"file\", \"size\": 5000, %s, "
		 "\"chunk\": \"%064d\"}", id, 1);
	entry_rejected(text, 0, "both \"chunk\" and \"id\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 5000, \"inline\": \"\", "
		       "\"chunk\": \"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       0, "both \"chunk\" and \"inline\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"dir\", \"size\": 5000, \"chunk\": "
		       "\"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       0, "only a file entry may carry \"chunk\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"symlink\", \"size\": 5000, \"chunk\": "
		       "\"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       0, "only a file entry may carry \"chunk\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"chunk\": "
		       "\"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       0, "no \"size\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 4096, \"chunk\": "
		       "\"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       0, "needs a \"size\" of 4097 to 67108864 bytes, not 4096");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 67108865, \"chunk\": "
		       "\"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       0, "not 67108865");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 5000, \"chunk\": 5}",
		       0, "hex digits");
	entry_rejected("{\"type\": \"dir\", \"chunk\": "
		       "\"0000000000000000000000000000000000000000000000000000000000000001\"}",
		       META_JSON_NAME_OPTIONAL | META_JSON_ATTRS_ONLY, "no \"id\", \"inline\" or \"chunk\"");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"symlink\", \"size\": 1, %s}", id);
	entry_rejected(text, 0, "symlink entry needs \"inline\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"dir\", \"inline\": \"\"}", 0,
		       "directory entry needs \"id\"");
	entry_rejected("{\"name\": \"a\", \"type\": \"symlink\", \"inline\": \"\"}", 0, "target is empty");
	entry_rejected("{\"name\": \"a\", \"type\": \"symlink\", \"inline\": \"YQBi\"}", 0, "NUL byte");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 2, \"inline\": \"YWJj\"}", 0,
		       "holds 3 bytes");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"inline\": \"YWJ\"}", 0, "multiple of 4");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"inline\": \"YW Jj\"}", 0, "not base64");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"inline\": \"Y=Jj\"}", 0, "bad character");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 1, \"id\": \"abc\"}", 0,
		       "not an id");
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"size\": 1, \"id\": 5}", 0, "hex digits");
	/* 4097 bytes inline: more than META_INLINE_MAX */
	memset(big, 'A', sizeof(big));
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"file\", \"inline\": \"");
	{
		size_t n = strlen(text), b64 = 4 * ((META_INLINE_MAX + 1 + 2) / 3);

		memcpy(big, text, n);
		memcpy(big + n + b64, "\"}", 3);
		entry_rejected(big, 0, "more than 4096");
	}
	entry_rejected("{\"name\": \"a\", \"type\": \"file\", \"mode\": 1}", META_JSON_ATTRS_ONLY,
		       "need \"type\": \"dir\"");
	snprintf(text, sizeof(text), "{\"name\": \"a\", \"type\": \"dir\", %s}", id);
	entry_rejected(text, META_JSON_ATTRS_ONLY, "no \"id\", \"inline\" or \"chunk\"");
}
END_TEST

START_TEST(test_invalid_utf8_is_replaced)
{
	struct tree_entry e = { .name = "a\xff" "b", .name_len = 3, .mode = S_IFREG | 0644 };
	json_t *j = meta_json_entry(&e);

	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "a\xef\xbf\xbd" "b");
	json_decref(j);
}
END_TEST

START_TEST(test_repo_roundtrip)
{
	struct meta_repo r = { .name = "imagenet", .store_url = "file:///data/store",
			       .cdc_min = 1, .cdc_avg = 2, .cdc_max = 3, .created_ns = 42 }, out;
	json_t *j = meta_json_repo(&r);

	ck_assert_int_eq(meta_json_to_repo(j, &out), 0);
	ck_assert_int_eq(memcmp(&r, &out, sizeof(r)), 0);
	json_decref(j);
	j = parse("{\"name\": \"../x\", \"store\": \"file:///s\"}");
	ck_assert_int_eq(meta_json_to_repo(j, &out), -EINVAL);
	json_decref(j);
	j = parse("{\"name\": \"ok\"}");
	ck_assert_int_eq(meta_json_to_repo(j, &out), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "\"store\""));
	json_decref(j);
	j = parse("{\"name\": \"ok\", \"store\": \"s\", \"chunk\": {\"min\": 1, \"avg\": 0}}");
	ck_assert_int_eq(meta_json_to_repo(j, &out), -EINVAL);
	json_decref(j);

	/* pack_size: written always, absent reads as 0 */
	r.pack_size = 16u << 20;
	j = meta_json_repo(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "pack_size")), 16 << 20);
	ck_assert_int_eq(meta_json_to_repo(j, &out), 0);
	ck_assert_int_eq(memcmp(&r, &out, sizeof(r)), 0);
	json_decref(j);
	j = parse("{\"name\": \"ok\", \"store\": \"s\"}");
	ck_assert_int_eq(meta_json_to_repo(j, &out), 0);
	ck_assert_uint_eq(out.pack_size, 0);
	json_decref(j);
	j = parse("{\"name\": \"ok\", \"store\": \"s\", \"pack_size\": -1}");
	ck_assert_int_eq(meta_json_to_repo(j, &out), -EINVAL);
	json_decref(j);
}
END_TEST

/* Field by field: the struct has padding. */
static bool chunk_eq(const struct manifest_chunk *a, const struct manifest_chunk *b)
{
	return oid_eq(&a->id, &b->id) && a->len == b->len && a->loc == b->loc &&
	       oid_eq(&a->pack, &b->pack) && a->pack_off == b->pack_off && a->pack_len == b->pack_len;
}

START_TEST(test_chunk_index)
{
	struct manifest_chunk v[2] = {
		{ .len = 5, .loc = MANIFEST_LOC_PACK, .pack_off = 0, .pack_len = 17 },
		{ .len = 7, .loc = MANIFEST_LOC_PACK, .pack_off = 17, .pack_len = 19 },
	}, *out, one;
	size_t n;
	json_t *j;

	memset(v[0].id.b, 1, sizeof(v[0].id.b));
	memset(v[1].id.b, 2, sizeof(v[1].id.b));
	memset(v[0].pack.b, 9, sizeof(v[0].pack.b));
	v[1].pack = v[0].pack;
	j = meta_json_chunk_index(v, 2);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(meta_json_to_chunk_index(j, 2, &out, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(chunk_eq(&out[0], &v[0]) && chunk_eq(&out[1], &v[1]));
	free(out);
	ck_assert_int_eq(meta_json_to_chunk_index(j, 1, &out, &n), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "at most 1 per request"));
	ck_assert_ptr_null(out);
	json_decref(j);

	j = meta_json_chunk_loc(&v[1]);
	ck_assert_int_eq(meta_json_to_chunk_loc(j, &v[1].id, &one), 0);
	ck_assert(chunk_eq(&one, &v[1]));
	json_decref(j);

	j = parse("{\"pack\": \"00\", \"chunks\": []}");
	ck_assert_int_eq(meta_json_to_chunk_index(j, 10, &out, &n), -EINVAL);
	json_decref(j);
	j = parse("{\"chunks\": [{}]}");
	ck_assert_int_eq(meta_json_to_chunk_index(j, 10, &out, &n), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "no \"pack\""));
	json_decref(j);
	j = parse("{\"pack\": \"0909090909090909090909090909090909090909090909090909090909090909\","
		  " \"chunks\": [{\"id\": \"0909090909090909090909090909090909090909090909090909090909090909\","
		  " \"length\": 5, \"offset\": 0, \"stored_length\": 0}]}");
	ck_assert_int_eq(meta_json_to_chunk_index(j, 10, &out, &n), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "chunks[0] \"stored_length\" is 0"));
	json_decref(j);
}
END_TEST

START_TEST(test_commit_roundtrip)
{
	static const char text[] =
		"{\"id\": \"1111111111111111111111111111111111111111111111111111111111111111\","
		" \"root\": \"2222222222222222222222222222222222222222222222222222222222222222\","
		" \"parents\": [\"3333333333333333333333333333333333333333333333333333333333333333\","
		"   \"4444444444444444444444444444444444444444444444444444444444444444\"],"
		" \"time_ns\": 1700000000000000001, \"author\": \"ann <a@b>\","
		" \"message\": \"add val\\nsplit\", \"meta\": {\"lr\": \"0.1\", \"epochs\": \"90\","
		" \"acc\": \"\", \"b\": \"x\", \"ab\": \"y\"}}";
	struct buf hold = BUF_INIT, enc = BUF_INIT;
	struct commit c, c2;
	struct oid id, id2;
	json_t *j = parse(text), *back;
	char *s;

	ck_assert_int_eq(meta_json_to_commit(j, &id, &c, &hold), 0);
	json_decref(j); /* the commit lives in hold */
	ck_assert_int_eq(c.nparents, 2);
	ck_assert_int_eq(c.nkv, 5);
	ck_assert_int_eq(strncmp(c.kv[0].key, "ab", c.kv[0].key_len), 0);
	ck_assert_int_eq(strncmp(c.kv[1].key, "acc", c.kv[1].key_len), 0);
	ck_assert_int_eq(strncmp(c.kv[4].key, "lr", c.kv[4].key_len), 0);
	ck_assert_int_eq(c.message_len, 13);
	ck_assert_int_eq(commit_encode(&c, &enc), 0); /* sorted and valid */
	back = meta_json_commit(&id, &c);
	s = json_dumps(back, 0);
	ck_assert_ptr_nonnull(strstr(s, "\"meta\": {\"ab\": \"y\", \"acc\": \"\", \"b\": \"x\", \"epochs\": \"90\", \"lr\": \"0.1\"}"));
	ck_assert_int_eq(meta_json_to_commit(back, &id2, &c2, &hold) == 0 && oid_eq(&id, &id2), 1);
	ck_assert_int_eq(c2.time_ns, 1700000000000000001);
	free(s);
	json_decref(back);
	commit_release(&c);
	commit_release(&c2);
	buf_release(&hold);
	buf_release(&enc);
}
END_TEST

START_TEST(test_commit_rejects)
{
	static const char *const bad[] = {
		"{\"root\": \"22\"}",
		"{}",
		"{\"root\": \"2222222222222222222222222222222222222222222222222222222222222222\", \"meta\": {\"a\": 1}}",
		"{\"root\": \"2222222222222222222222222222222222222222222222222222222222222222\", \"meta\": {\"\": \"v\"}}",
		"{\"root\": \"2222222222222222222222222222222222222222222222222222222222222222\", \"parents\": [\"x\"]}",
		"{\"root\": \"2222222222222222222222222222222222222222222222222222222222222222\", \"author\": \"a\\u0000\"}",
		"{\"root\": \"2222222222222222222222222222222222222222222222222222222222222222\", \"time_ns\": \"1\"}",
	};
	struct buf hold = BUF_INIT;
	struct commit c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = parse(bad[i]);

		ck_assert_msg(meta_json_to_commit(j, NULL, &c, &hold) == -EINVAL, "%s", bad[i]);
		commit_release(&c);
		json_decref(j);
	}
	buf_release(&hold);
}
END_TEST

START_TEST(test_oid_member)
{
	json_t *j = parse("{\"a\": null, \"b\": \"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB\", \"c\": \"zz\"}");
	struct oid id;

	ck_assert_int_eq(meta_json_oid(j, "a", &id), 1);
	ck_assert_int_eq(meta_json_oid(j, "missing", &id), 1);
	ck_assert_int_eq(meta_json_oid(j, "b", &id), 0);
	ck_assert_int_eq(id.b[0], 0xab);
	ck_assert_int_eq(meta_json_oid(j, "c", &id), -EINVAL);
	json_decref(j);
}
END_TEST

START_TEST(test_error_table)
{
	static const struct {
		int code;
		const char *name;
		unsigned status;
	} want[] = {
		{ -EINVAL, "bad_request", 400 },  { -EACCES, "unauthorized", 401 },
		{ T9K_ENOTFOUND, "not_found", 404 }, { -EOPNOTSUPP, "method_not_allowed", 405 },
		{ T9K_ECONFLICT, "conflict", 409 }, { -EEXIST, "exists", 409 },
		{ -ENODATA, "nothing_to_commit", 409 }, { -EMSGSIZE, "too_large", 413 },
		{ T9K_ECORRUPT, "corrupt", 500 }, { -EIO, "internal", 500 },
		{ -ENOSPC, "no_space", 507 }, { -EBUSY, "busy", 409 },
	};
	const char *name;
	unsigned status;
	json_t *j;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		name = meta_json_error_name(want[i].code, &status);
		ck_assert_str_eq(name, want[i].name);
		ck_assert_uint_eq(status, want[i].status);
		ck_assert_int_eq(meta_json_error_code(name), want[i].code);
		ck_assert_int_eq(meta_json_status_code(status) < 0, 1);
	}
	ck_assert_str_eq(meta_json_error_name(T9K_EUSAGE, NULL), "bad_request");
	ck_assert_str_eq(meta_json_error_name(-ENOENT, NULL), "not_found");
	ck_assert_str_eq(meta_json_error_name(-EXDEV, &status), "internal"); /* unmapped */
	ck_assert_uint_eq(status, 500);
	ck_assert_int_eq(meta_json_error_code("teapot"), -EPROTO);
	ck_assert_int_eq(meta_json_status_code(204), 0);
	ck_assert_int_eq(meta_json_status_code(404), T9K_ENOTFOUND);
	ck_assert_int_eq(meta_json_status_code(418), -EINVAL);

	j = meta_json_error(T9K_ENOTFOUND, "branch 'x' not found", &name, &status);
	ck_assert_str_eq(name, "not_found");
	ck_assert_uint_eq(status, 404);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
			 "branch 'x' not found");
	json_decref(j);
}
END_TEST

Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_entry_roundtrip);
	tcase_add_test(tc, test_entry_fields);
	tcase_add_test(tc, test_entry_rejects);
	tcase_add_test(tc, test_invalid_utf8_is_replaced);
	tcase_add_test(tc, test_repo_roundtrip);
	tcase_add_test(tc, test_chunk_index);
	tcase_add_test(tc, test_commit_roundtrip);
	tcase_add_test(tc, test_commit_rejects);
	tcase_add_test(tc, test_oid_member);
	tcase_add_test(tc, test_error_table);
	suite_add_tcase(s, tc);
	return s;
}
