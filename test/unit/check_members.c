/* Unit tests of cache group membership in the metadata service
 * (meta/members.h): heartbeats and expiry on a given clock, clean leave,
 * sorted lists, node names, name and address checks, and the bounds on
 * the table. */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "meta/members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The members of group as one "a,b" string, with "a=node" for a member
 * on a named node (static buffer). */
static const char *joined(struct meta_members *m, const char *group, uint64_t now)
{
	static char out[4096];
	struct meta_member *v;
	int n;

	out[0] = '\0';
	ck_assert_int_eq(meta_members_list(m, group, now, &v, &n), 0);
	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(out);

		snprintf(out + len, sizeof(out) - len, "%s%s%s%s", i ? "," : "", v[i].addr,
			 v[i].node[0] ? "=" : "", v[i].node);
	}
	free(v);
	return out;
}

START_TEST(beat_expire_leave)
{
	struct meta_members *m;

	ck_assert_int_eq(meta_members_new(&m), 0);
	ck_assert_str_eq(joined(m, "pool", 0), "");
	ck_assert_int_eq(meta_members_beat(m, "pool", "h2:7070", NULL, 3000, 1000), 0);
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:7070", NULL, 1000, 1000), 0);
	ck_assert_int_eq(meta_members_beat(m, "other", "[::1]:9", NULL, 5000, 1000), 0);
	ck_assert_str_eq(joined(m, "pool", 1500), "h1:7070,h2:7070"); /* sorted */
	/* h1's heartbeat is 1000 ms old at 2000: gone; h2 lives until 4000 */
	ck_assert_str_eq(joined(m, "pool", 2000), "h2:7070");
	/* a renewed heartbeat extends, a second beat of one address is one member */
	ck_assert_int_eq(meta_members_beat(m, "pool", "h2:7070", NULL, 3000, 3900), 0);
	ck_assert_int_eq(meta_members_beat(m, "pool", "h2:7070", NULL, 3000, 3900), 0);
	ck_assert_str_eq(joined(m, "pool", 6000), "h2:7070");
	ck_assert_str_eq(joined(m, "other", 5999), "[::1]:9"); /* until 1000 + 5000 */
	/* a clean leave is immediate; leaving twice is not found */
	ck_assert_int_eq(meta_members_leave(m, "pool", "h2:7070", 6000), 0);
	ck_assert_str_eq(joined(m, "pool", 6000), "");
	ck_assert_int_eq(meta_members_leave(m, "pool", "h2:7070", 6000), T9K_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(T9K_ENOTFOUND), "not a member of cache group 'pool'"));
	ck_assert_str_eq(joined(m, "other", 6001), "");
	meta_members_free(m);
}
END_TEST

START_TEST(nodes)
{
	struct meta_members *m;
	char name[MEMBERS_NODE_MAX + 1];

	ck_assert_int_eq(meta_members_new(&m), 0);
	ck_assert_int_eq(meta_members_beat(m, "pool", "h2:1", "node-2.zone-a", 3000, 0), 0);
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", NULL, 3000, 0), 0);
	ck_assert_int_eq(meta_members_beat(m, "pool", "h3:1", "n3", 1000, 0), 0);
	ck_assert_str_eq(joined(m, "pool", 10), "h1:1,h2:1=node-2.zone-a,h3:1=n3");
	/* the node goes with the member when it expires or leaves */
	ck_assert_str_eq(joined(m, "pool", 1000), "h1:1,h2:1=node-2.zone-a");
	ck_assert_int_eq(meta_members_leave(m, "pool", "h2:1", 1000), 0);
	ck_assert_str_eq(joined(m, "pool", 1000), "h1:1");
	/* ...and a new member at that address has none of the old one's */
	ck_assert_int_eq(meta_members_beat(m, "pool", "h3:1", NULL, 3000, 1000), 0);
	ck_assert_str_eq(joined(m, "pool", 1000), "h1:1,h3:1");
	/* each heartbeat states the node: a later one replaces or clears it */
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", "a", 3000, 2000), 0);
	ck_assert_str_eq(joined(m, "pool", 2000), "h1:1=a,h3:1");
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", "b", 3000, 2100), 0);
	ck_assert_str_eq(joined(m, "pool", 2100), "h1:1=b,h3:1");
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", NULL, 3000, 2200), 0);
	ck_assert_str_eq(joined(m, "pool", 2200), "h1:1,h3:1");
	/* a refused name changes nothing, not even the expiry */
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", "b", 3000, 2300), 0);
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", "Bad", 3000, 5000), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "bad node name 'Bad'"));
	ck_assert_int_eq(meta_members_beat(m, "pool", "h9:1", "x_y", 3000, 2300), -EINVAL);
	ck_assert_str_eq(joined(m, "pool", 2300), "h1:1=b,h3:1");
	ck_assert_str_eq(joined(m, "pool", 5300), "");
	/* the longest name is kept whole */
	memset(name, 'n', MEMBERS_NODE_MAX);
	name[MEMBERS_NODE_MAX] = '\0';
	ck_assert_int_eq(meta_members_beat(m, "pool", "h1:1", name, 3000, 6000), 0);
	ck_assert_int_eq((int)strlen(strchr(joined(m, "pool", 6000), '=') + 1), MEMBERS_NODE_MAX);
	meta_members_free(m);
}
END_TEST

START_TEST(node_names)
{
	static const char *const good[] = { "a", "0", "node-1", "ip-10-0-0-7.ec2.internal",
					    "gke-pool-1-abc.x" };
	static const char *const bad[] = { "", "Node1", "node_1", "node 1", "-a", "a-", ".a",
					   "a.", "a..b", "a.-b", "a-.b", "n\xc3\xa9", "a/b", "a:1" };
	char big[MEMBERS_NODE_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(meta_members_node_check(good[i]) == 0, "'%s' refused: %s", good[i],
			      t9k_errmsg(-EINVAL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(meta_members_node_check(bad[i]) == -EINVAL, "'%s' accepted", bad[i]);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(meta_members_node_check(big), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(-EINVAL), "longer than 253"));
	big[MEMBERS_NODE_MAX] = '\0';
	ck_assert_int_eq(meta_members_node_check(big), 0);
}
END_TEST

START_TEST(bad_input)
{
	static const char *const bad_addrs[] = { "", "h", "h:", ":80", "h:0", "h:65536", "h:8x",
						 "a b:1", "h,i:1", "[::1:80", "[zz]:80", "[]:80",
						 "h/x:1", "h:-1" };
	struct meta_members *m;
	struct meta_member *v;
	char big[400];
	int n;

	ck_assert_int_eq(meta_members_new(&m), 0);
	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++)
		ck_assert_msg(meta_members_beat(m, "g", bad_addrs[i], NULL, 5000, 0) == -EINVAL,
			      "address '%s' accepted", bad_addrs[i]);
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 4, ":80", 4);
	ck_assert_int_eq(meta_members_beat(m, "g", big, NULL, 5000, 0), -EINVAL);
	ck_assert_int_eq(meta_members_beat(m, ".g", "h:1", NULL, 5000, 0), -EINVAL);
	ck_assert_int_eq(meta_members_beat(m, "g/x", "h:1", NULL, 5000, 0), -EINVAL);
	ck_assert_int_eq(meta_members_beat(m, "g", "h:1", NULL, MEMBERS_TTL_MIN_MS - 1, 0), -EINVAL);
	ck_assert_int_eq(meta_members_beat(m, "g", "h:1", NULL, MEMBERS_TTL_MAX_MS + 1, 0), -EINVAL);
	ck_assert_int_eq(meta_members_list(m, "", 0, &v, &n), -EINVAL);
	ck_assert_ptr_null(v);
	/* nothing of the above was recorded */
	ck_assert_str_eq(joined(m, "g", 0), "");
	ck_assert_int_eq(meta_members_addr_check("node-7.cluster.local:7070"), 0);
	ck_assert_int_eq(meta_members_addr_check("[fe80::1]:65535"), 0);
	meta_members_free(m);
}
END_TEST

START_TEST(bounded)
{
	struct meta_members *m;
	char name[32], addr[32];

	ck_assert_int_eq(meta_members_new(&m), 0);
	for (int i = 0; i < MEMBERS_PER_GROUP_MAX; i++) {
		snprintf(addr, sizeof(addr), "h%d:1", i);
		ck_assert_int_eq(meta_members_beat(m, "big", addr, NULL, 5000, 0), 0);
	}
	ck_assert_int_eq(meta_members_beat(m, "big", "one-more:1", NULL, 5000, 0), -ENOSPC);
	ck_assert_int_eq(meta_members_beat(m, "big", "h5:1", NULL, 5000, 0), 0); /* renewal is fine */
	for (int i = 1; i < MEMBERS_GROUPS_MAX; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		ck_assert_int_eq(meta_members_beat(m, name, "h:1", NULL, 5000, 0), 0);
	}
	ck_assert_int_eq(meta_members_beat(m, "one-more", "h:1", NULL, 5000, 0), -ENOSPC);
	ck_assert_str_eq(joined(m, "one-more", 0), "");
	/* expired groups free their places */
	ck_assert_int_eq(meta_members_beat(m, "one-more", "h:1", NULL, 5000, 10000), 0);
	ck_assert_str_eq(joined(m, "one-more", 10000), "h:1");
	meta_members_free(m);
}
END_TEST

Suite *members_suite(void)
{
	Suite *s = suite_create("members");
	TCase *tc = tcase_create("members");

	tcase_add_test(tc, beat_expire_leave);
	tcase_add_test(tc, nodes);
	tcase_add_test(tc, node_names);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, bounded);
	suite_add_tcase(s, tc);
	return s;
}
