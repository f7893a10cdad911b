/* Unit tests of the CSI driver's pure parts (csi/volume.h): volume
 * attributes and StorageClass parameters, mount flags, the refs of long
 * names, and the volume and snapshot id formats, good and bad. */
#include "test/unit/suites.h"

#include "csi/volume.h"
#include "lib/err.h"

#include <string.h>

#define KV(k, v) { (k), (v) }
#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(attributes_defaults_and_options)
{
	const struct csi_kv kv[] = {
		KV("repo", "imagenet"), KV("path", "/train/cats/"), KV("readOnly", "true"),
		KV("cacheGroup", "@pool"), KV("poll", "5"), KV("prefetch", "128M"),
		KV("cache_data", "true"), KV("default_permissions", "false"),
		KV("csi.storage.k8s.io/pod.name", "p1"), KV("csi.storage.k8s.io/ephemeral", "true"),
	};
	struct csi_volume v;

	ck_assert_int_eq(csi_volume_parse(kv, N(kv), false, &v), 0);
	ck_assert_str_eq(v.repo, "imagenet");
	ck_assert_str_eq(v.ref, "main");             /* default */
	ck_assert_str_eq(v.path, "train/cats");      /* normalised */
	ck_assert(v.read_only);
	ck_assert(v.ephemeral);
	ck_assert_str_eq(v.cache_group, "@pool");
	/* the fixed order of the option table, whatever the map's order */
	ck_assert_str_eq(v.options, "prefetch=128M,poll=5,cache_data");
	ck_assert_str_eq(v.from_ref, "main");
	ck_assert_str_eq(v.branch_prefix, "pvc-");
	ck_assert_int_eq(v.on_delete, CSI_ON_DELETE_DELETE);
}
END_TEST

START_TEST(attributes_storage_class)
{
	const struct csi_kv kv[] = {
		KV("repo", "r"), KV("fromRef", "v1~2"), KV("branchPrefix", "team-a."),
		KV("onDelete", "commit"), KV("cacheGroup", "10.0.0.1:7070,10.0.0.2:7070"),
	};
	struct csi_volume v;

	ck_assert_int_eq(csi_volume_parse(kv, N(kv), true, &v), 0);
	ck_assert_str_eq(v.from_ref, "v1~2");
	ck_assert_str_eq(v.branch_prefix, "team-a.");
	ck_assert_int_eq(v.on_delete, CSI_ON_DELETE_COMMIT);
	ck_assert_str_eq(csi_on_delete_name(v.on_delete), "commit");
	/* a volume's attributes may not carry StorageClass-only keys */
	ck_assert_int_eq(csi_volume_parse(kv, N(kv), false, &v), T9K_EUSAGE);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_EUSAGE), "StorageClass parameter"));
	ck_assert(csi_volume_node_key("cacheGroup"));
	ck_assert(csi_volume_node_key("prefetch"));
	ck_assert(!csi_volume_node_key("onDelete"));
	ck_assert(!csi_volume_node_key("csi.storage.k8s.io/pvc/name"));
}
END_TEST

/* Each bad attribute is refused with a message naming it. */
START_TEST(attributes_refused)
{
	static const struct {
		struct csi_kv kv[2];
		const char *named;
	} bad[] = {
		{ { KV("ref", "main"), KV("path", "a") }, "'repo' is required" },
		{ { KV("repo", "../x"), KV("ref", "main") }, "repo" },
		{ { KV("repo", ""), KV("ref", "main") }, "repo" },
		{ { KV("repo", "r"), KV("ref", "a b") }, "ref" },
		{ { KV("repo", "r"), KV("ref", "") }, "ref" },
		{ { KV("repo", "r"), KV("path", "a/../../etc") }, "path" },
		{ { KV("repo", "r"), KV("path", "a/./b") }, "path" },
		{ { KV("repo", "r"), KV("readOnly", "yes") }, "readOnly" },
		{ { KV("repo", "r"), KV("cacheGroup", "@bad name") }, "cacheGroup" },
		{ { KV("repo", "r"), KV("cacheGroup", "host-without-port") }, "cacheGroup" },
		{ { KV("repo", "r"), KV("prefetch", "lots") }, "prefetch" },
		{ { KV("repo", "r"), KV("max_threads", "0") }, "max_threads" },
		{ { KV("repo", "r"), KV("poll", "-1") }, "poll" },
		{ { KV("repo", "r"), KV("colour", "red") }, "colour" },
		{ { KV("repo", "r"), KV("cache_data", "maybe") }, "cache_data" },
	};
	struct csi_volume v;

	for (size_t i = 0; i < N(bad); i++) {
		int rc = csi_volume_parse(bad[i].kv, 2, false, &v);

		ck_assert_msg(rc == T9K_EUSAGE, "case %zu accepted", i);
		ck_assert_msg(strstr(t9k_errmsg(rc), bad[i].named), "case %zu: '%s' does not name %s", i,
			      t9k_errmsg(rc), bad[i].named);
	}
	{
		const struct csi_kv kv[] = { KV("repo", "r"), KV("onDelete", "shred") };

		ck_assert_int_eq(csi_volume_parse(kv, 2, true, &v), T9K_EUSAGE);
		ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_EUSAGE), "onDelete"));
	}
}
END_TEST

START_TEST(mount_flags)
{
	const struct csi_kv kv[] = { KV("repo", "r") };
	char *good[] = { "ro", "rw", "allow_other", "prefetch=1G" };
	char *two[] = { "poll=1,ro" }, *suid[] = { "suid" }, *dev[] = { "dev" };
	struct csi_volume v;

	ck_assert_int_eq(csi_volume_parse(kv, 1, false, &v), 0);
	ck_assert_int_eq(csi_volume_add_flags(&v, good, N(good)), 0);
	ck_assert(v.read_only);
	ck_assert_str_eq(v.options, "prefetch=1G");
	ck_assert_int_eq(csi_volume_add_flags(&v, two, 1), T9K_EUSAGE);
	ck_assert_int_eq(csi_volume_add_flags(&v, suid, 1), T9K_EUSAGE);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_EUSAGE), "suid"));
	ck_assert_int_eq(csi_volume_add_flags(&v, dev, 1), T9K_EUSAGE);
}
END_TEST

START_TEST(ref_names)
{
	char out[META_REPO_NAME_MAX + 1], again[META_REPO_NAME_MAX + 1], name[200];

	ck_assert_int_eq(csi_ref_name("pvc-", "data", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "pvc-data");
	ck_assert_int_eq(csi_ref_name("pvc-", "pvc-1234", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "pvc-1234"); /* the provisioner's names keep one prefix */
	ck_assert_int_eq(csi_ref_name("", "snap", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "snap");
	/* 128 bytes, or characters no ref may hold: a valid name, the same each time */
	memset(name, 'a', 128);
	name[128] = '\0';
	ck_assert_int_eq(csi_ref_name("pvc-", name, out, sizeof(out)), 0);
	ck_assert_int_eq(meta_ref_name_check(out), 0);
	ck_assert_uint_eq(strlen(out), META_REPO_NAME_MAX);
	ck_assert_int_eq(csi_ref_name("pvc-", name, again, sizeof(again)), 0);
	ck_assert_str_eq(out, again);
	name[127] = 'b'; /* one byte apart: another ref */
	ck_assert_int_eq(csi_ref_name("pvc-", name, again, sizeof(again)), 0);
	ck_assert_str_ne(out, again);
	ck_assert_int_eq(csi_ref_name("", "-a/b c", out, sizeof(out)), 0);
	ck_assert_int_eq(meta_ref_name_check(out), 0);
	ck_assert_int_eq(csi_ref_name("pvc-", "", out, sizeof(out)), T9K_EUSAGE);
}
END_TEST

START_TEST(volume_ids)
{
	char id[CSI_ID_MAX + 1], repo[META_REPO_NAME_MAX + 1], branch[META_REPO_NAME_MAX + 1];
	char long_branch[META_REPO_NAME_MAX + 1], long_repo[META_REPO_NAME_MAX + 1];
	enum csi_on_delete p;

	ck_assert_int_eq(csi_volume_id_format("imagenet", "pvc-1", CSI_ON_DELETE_RETAIN, id,
					      sizeof(id)), 0);
	ck_assert_str_eq(id, "imagenet@pvc-1/retain");
	ck_assert_int_eq(csi_volume_id_parse(id, repo, branch, &p), 0);
	ck_assert_str_eq(repo, "imagenet");
	ck_assert_str_eq(branch, "pvc-1");
	ck_assert_int_eq(p, CSI_ON_DELETE_RETAIN);
	/* 64 + 1 + 64 + 7 bytes would pass CSI's 128 */
	memset(long_repo, 'r', 64);
	long_repo[64] = '\0';
	memset(long_branch, 'b', 64);
	long_branch[64] = '\0';
	ck_assert_int_eq(csi_volume_id_format(long_repo, long_branch, CSI_ON_DELETE_DELETE, id,
					      sizeof(id)), T9K_EUSAGE);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_EUSAGE), "128"));
	static const char *const bad[] = {
		"", "imagenet", "imagenet@pvc-1", "imagenet@pvc-1/shred", "@pvc-1/delete",
		"../x@pvc-1/delete", "imagenet@a/b/delete", "imagenet@/delete", "csi-4f2a1b",
		"imagenet@pvc 1/delete",
	};
	for (size_t i = 0; i < N(bad); i++)
		ck_assert_msg(csi_volume_id_parse(bad[i], repo, branch, &p) == T9K_EUSAGE,
			      "'%s' parsed", bad[i]);
}
END_TEST

START_TEST(snapshot_ids)
{
	char id[CSI_ID_MAX + 1], repo[META_REPO_NAME_MAX + 1], hex[OID_HEXSZ + 1];
	char long_repo[META_REPO_NAME_MAX + 1];
	struct oid c, back;

	ck_assert_int_eq(oid_hash(&c, "x", 1), 0);
	ck_assert_int_eq(csi_snapshot_id_format("ds", &c, id, sizeof(id)), 0);
	ck_assert_int_eq(strncmp(id, "ds@", 3), 0);
	ck_assert_str_eq(id + 3, oid_to_hex(&c, hex));
	ck_assert_int_eq(csi_snapshot_id_parse(id, repo, &back), 0);
	ck_assert_str_eq(repo, "ds");
	ck_assert(oid_eq(&c, &back));
	memset(long_repo, 'r', 64);
	long_repo[64] = '\0';
	ck_assert_int_eq(csi_snapshot_id_format(long_repo, &c, id, sizeof(id)), T9K_EUSAGE);
	ck_assert_int_eq(csi_snapshot_id_parse("ds@1234", repo, &back), T9K_EUSAGE);
	ck_assert_int_eq(csi_snapshot_id_parse("ds@main", repo, &back), T9K_EUSAGE);
	ck_assert_int_eq(csi_snapshot_id_parse("snapshot-1", repo, &back), T9K_EUSAGE);
	snprintf(id, sizeof(id), "ds@%sff", hex);
	ck_assert_int_eq(csi_snapshot_id_parse(id, repo, &back), T9K_EUSAGE);
}
END_TEST

Suite *csi_suite(void)
{
	Suite *s = suite_create("csi");
	TCase *tc = tcase_create("volume");

	tcase_add_test(tc, attributes_defaults_and_options);
	tcase_add_test(tc, attributes_storage_class);
	tcase_add_test(tc, attributes_refused);
	tcase_add_test(tc, mount_flags);
	tcase_add_test(tc, ref_names);
	tcase_add_test(tc, volume_ids);
	tcase_add_test(tc, snapshot_ids);
	suite_add_tcase(s, tc);
	return s;
}
