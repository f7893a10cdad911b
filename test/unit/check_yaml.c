/* The JSON-to-YAML printer (tools/yaml.c): block layout, and the quoting
 * of every kind of string a YAML reader could take for something else.
 * That readers read it back as the same values is checked with a real
 * parser (YAML 1.1 and 1.2) in test/integration/t0801-job.sh. */
#include "test/unit/suites.h"

#include "tools/yaml.h"

#include <errno.h>
#include <string.h>

/* The document of the JSON text must be exactly want. */
static void emits(const char *json, const char *want)
{
	json_error_t err;
	json_t *j = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	struct buf b = BUF_INIT;

	ck_assert_msg(j != NULL, "bad test JSON %s: %s", json, err.text);
	ck_assert_int_eq(yaml_emit(j, &b), 0);
	ck_assert_msg(b.len == strlen(want) && !memcmp(b.data, want, b.len),
		      "%s\nwant:\n%s\ngot:\n%s", json, want, b.data ? (char *)b.data : "");
	json_decref(j);
	buf_release(&b);
}

/* One string as a scalar: want is its YAML, without the newline. */
static void scalar(const char *s, size_t n, const char *want)
{
	json_t *j = json_stringn(s, n);
	struct buf b = BUF_INIT;

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(yaml_emit(j, &b), 0);
	ck_assert_msg(b.len == strlen(want) + 1 && !memcmp(b.data, want, b.len - 1) &&
			      b.data[b.len - 1] == '\n',
		      "'%.*s': want %s, got %s", (int)n, s, want, (char *)b.data);
	json_decref(j);
	buf_release(&b);
}
#define SCALAR(s, want) scalar(s, sizeof(s) - 1, want)

START_TEST(test_yaml_layout)
{
	emits("{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"x\", "
	      "\"labels\": {\"a.io/b\": \"c\"}}, \"spec\": {\"containers\": [{\"name\": \"c\", "
	      "\"args\": [\"-e\", \"1\"], \"env\": []}, {\"name\": \"d\"}], \"empty\": {}}}",
	      "apiVersion: v1\n"
	      "kind: Pod\n"
	      "metadata:\n"
	      "  name: x\n"
	      "  labels:\n"
	      "    a.io/b: c\n"
	      "spec:\n"
	      "  containers:\n"
	      "    - name: c\n"
	      "      args:\n"
	      "        - -e\n"
	      "        - '1'\n"
	      "      env: []\n"
	      "    - name: d\n"
	      "  empty: {}\n");
	/* sequences in sequences, scalars of every type, keys in insertion order */
	emits("{\"z\": [[1, [true, false]], [], {\"k\": null}], \"a\": 1.5, \"m\": 2.0, \"n\": -3}",
	      "z:\n"
	      "  - - 1\n"
	      "    - - true\n"
	      "      - false\n"
	      "  - []\n"
	      "  - k: null\n"
	      "a: 1.5\n"
	      "m: 2.0\n"
	      "'n': -3\n"); /* n is false in YAML 1.1, as a key too */
	emits("[{\"a\": {\"b\": [\"c\"]}}]", "- a:\n    b:\n      - c\n");
	emits("{}", "{}\n");
	emits("[]", "[]\n");
	emits("\"yes\"", "'yes'\n");
	emits("7", "7\n");
	emits("{\"yes\": \"no\", \"\": \"0\"}", "'yes': 'no'\n'': '0'\n");
}
END_TEST

START_TEST(test_yaml_plain)
{
	SCALAR("abc", "abc");
	SCALAR("pytorch/pytorch:2.3", "pytorch/pytorch:2.3");
	SCALAR("ghcr.io/t9kfs/t9kfs:0.1.0", "ghcr.io/t9kfs/t9kfs:0.1.0");
	SCALAR("/data/train", "/data/train");
	SCALAR("kubernetes.io/hostname", "kubernetes.io/hostname");
	SCALAR("a:b", "a:b");
	SCALAR("imagenet@abc:train=/data", "imagenet@abc:train=/data");
	SCALAR("two words", "two words");
	SCALAR("--in-pod", "--in-pod");
	SCALAR("-e", "-e");
	SCALAR("_x", "_x");
	SCALAR("yesno", "yesno");
}
END_TEST

START_TEST(test_yaml_single_quoted)
{
	/* YAML 1.1 and 1.2 booleans and nulls, in any case */
	SCALAR("yes", "'yes'");
	SCALAR("No", "'No'");
	SCALAR("ON", "'ON'");
	SCALAR("off", "'off'");
	SCALAR("y", "'y'");
	SCALAR("N", "'N'");
	SCALAR("true", "'true'");
	SCALAR("False", "'False'");
	SCALAR("null", "'null'");
	SCALAR("~", "'~'");
	/* numbers, octal, sexagesimal, timestamps, floats */
	SCALAR("0400", "'0400'");
	SCALAR("0x1F", "'0x1F'");
	SCALAR("1:20", "'1:20'");
	SCALAR("1e3", "'1e3'");
	SCALAR(".inf", "'.inf'");
	SCALAR("-1", "'-1'");
	SCALAR("+1", "'+1'");
	SCALAR("2001-12-14", "'2001-12-14'");
	SCALAR("4", "'4'");
	SCALAR("16Gi", "'16Gi'");
	/* indicators, spaces, comments, mapping values */
	SCALAR("", "''");
	SCALAR(" lead", "' lead'");
	SCALAR("trail ", "'trail '");
	SCALAR("two  spaces", "'two  spaces'");
	SCALAR("a: b", "'a: b'");
	SCALAR("a:", "'a:'");
	SCALAR("a #b", "'a #b'");
	SCALAR("#x", "'#x'");
	SCALAR("-", "'-'");
	SCALAR("- x", "'- x'");
	SCALAR("---", "'---'");
	SCALAR("@pool", "'@pool'");
	SCALAR("*ref", "'*ref'");
	SCALAR("&a", "'&a'");
	SCALAR("!tag", "'!tag'");
	SCALAR("%x", "'%x'");
	SCALAR("|", "'|'");
	SCALAR(">", "'>'");
	SCALAR("[a]", "'[a]'");
	SCALAR("{\"k\":1}", "'{\"k\":1}'");
	SCALAR("it's", "'it''s'");
	SCALAR("back\\slash", "'back\\slash'");
	SCALAR("caf\xc3\xa9 \xe4\xb8\xad", "'caf\xc3\xa9 \xe4\xb8\xad'");
}
END_TEST

START_TEST(test_yaml_double_quoted)
{
	SCALAR("two\nlines", "\"two\\nlines\"");
	SCALAR("tab\there", "\"tab\\there\"");
	SCALAR("cr\r", "\"cr\\r\"");
	SCALAR("nul\0x", "\"nul\\0x\"");
	SCALAR("bell\x07", "\"bell\\x07\"");
	SCALAR("del\x7f", "\"del\\x7f\"");
	SCALAR("q\"b\\\n", "\"q\\\"b\\\\\\n\"");
	SCALAR("it's\n", "\"it's\\n\"");
	/* Unicode that YAML folds (NEL, LS, PS), drops (BOM) or may not carry
	 * (C1 controls, U+FFFE, U+FFFF) */
	SCALAR("a\xc2\x85z", "\"a\\Nz\"");
	SCALAR("a\xe2\x80\xa8z", "\"a\\Lz\"");
	SCALAR("a\xe2\x80\xa9z", "\"a\\Pz\"");
	SCALAR("\xef\xbb\xbfz", "\"\\uFEFFz\"");
	SCALAR("a\xc2\x9az", "\"a\\x9az\"");
	SCALAR("a\xef\xbf\xbe", "\"a\\uFFFE\"");
	SCALAR("a\xc2\xa0z", "'a\xc2\xa0z'"); /* NBSP is printable */
}
END_TEST

START_TEST(test_yaml_null)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(yaml_emit(NULL, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

Suite *yaml_suite(void)
{
	Suite *s = suite_create("yaml");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_yaml_layout);
	tcase_add_test(tc, test_yaml_plain);
	tcase_add_test(tc, test_yaml_single_quoted);
	tcase_add_test(tc, test_yaml_double_quoted);
	tcase_add_test(tc, test_yaml_null);
	suite_add_tcase(s, tc);
	return s;
}
