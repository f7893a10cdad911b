/* Unit tests of the s3:// backend's pieces that need no server: the URL,
 * environment and ~/.aws configuration, UriEncode, the XML of list and
 * error replies (including malformed and hostile ones), Content-Range,
 * and the retry policy. Requests against a real server are the
 * integration tests' job (test/integration/t01*-s3-*.sh). */
#include "test/unit/suites.h"

#include "lib/err.h"
#include "store/store-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char home[PATH_MAX];

static void clear_env(void)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
		"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_CA_BUNDLE",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void setup(void)
{
	test_tmpdir(home, sizeof(home));
	clear_env();
	setenv("HOME", home, 1);
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
}

static void teardown(void)
{
	clear_env();
	test_rmtree(home);
}

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/.aws", home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.aws/%s", home, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static int parse(const char *url, struct s3_conf *c)
{
	return s3_conf_parse(url, url + 5, c);
}

START_TEST(conf_defaults)
{
	struct s3_conf c;

	ck_assert_int_eq(parse("s3://my-bucket", &c), 0);
	ck_assert_str_eq(c.bucket, "my-bucket");
	ck_assert_str_eq(c.prefix, "");
	ck_assert_str_eq(c.name, "s3://my-bucket");
	ck_assert_str_eq(c.region, "us-east-1");
	ck_assert_str_eq(c.endpoint, "https://s3.us-east-1.amazonaws.com");
	ck_assert(c.https);
	ck_assert(!c.path_style); /* AWS: virtual-hosted */
	ck_assert_str_eq(c.access_key, "AKID");
	ck_assert_str_eq(c.secret_key, "SECRET");
	ck_assert_ptr_null(c.session_token);
	ck_assert_ptr_null(c.ca_file);
	ck_assert_int_eq(c.concurrency, 16);
	ck_assert(c.sign_payload);
	ck_assert(c.deadline == 120.0 && c.timeout == 30.0);
	ck_assert_uint_eq(c.multipart_threshold, 64ULL << 20);
	ck_assert_uint_eq(c.part_size, 16ULL << 20);
	s3_conf_release(&c);
}
END_TEST

START_TEST(conf_prefix_and_params)
{
	struct s3_conf c;

	ck_assert_int_eq(parse("s3://bucket/data//sets", &c), T9K_EBADURL); /* empty component */
	ck_assert_int_eq(parse("s3://bucket/data/sets//", &c), 0); /* trailing '/' dropped */
	ck_assert_str_eq(c.prefix, "data/sets/");
	s3_conf_release(&c);
	ck_assert_int_eq(parse("s3://b.with.dots/data/sets/?endpoint=http%3A%2F%2F127.0.0.1:9000/"
			       "&region=eu-west-3&concurrency=64&deadline=2.5&timeout=0.5"
			       "&multipart_threshold=8MiB&part_size=5MiB&ca_file=/etc/ca%20file.pem"
			       "&sign_payload=0",
			       &c),
			 0);
	ck_assert_str_eq(c.bucket, "b.with.dots");
	ck_assert_str_eq(c.prefix, "data/sets/");
	ck_assert_str_eq(c.name, "s3://b.with.dots/data/sets");
	ck_assert_str_eq(c.endpoint, "http://127.0.0.1:9000");
	ck_assert(!c.https);
	ck_assert(c.path_style); /* custom endpoint: path-style */
	ck_assert_str_eq(c.region, "eu-west-3");
	ck_assert_int_eq(c.concurrency, 64);
	ck_assert(!c.sign_payload);
	ck_assert(c.deadline == 2.5 && c.timeout == 0.5);
	ck_assert_uint_eq(c.multipart_threshold, 8ULL << 20);
	ck_assert_uint_eq(c.part_size, 5ULL << 20);
	ck_assert_str_eq(c.ca_file, "/etc/ca file.pem");
	s3_conf_release(&c);

	/* dots force path-style on AWS too; path_style=0 with them is refused */
	ck_assert_int_eq(parse("s3://b.with.dots", &c), 0);
	ck_assert(c.path_style);
	ck_assert_str_eq(c.endpoint, "https://s3.us-east-1.amazonaws.com");
	s3_conf_release(&c);
	ck_assert_int_eq(parse("s3://b.with.dots?path_style=0", &c), T9K_EBADURL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(0), "cannot be a host name"));
	ck_assert_int_eq(parse("s3://bucket?endpoint=https://minio:9000&path_style=0", &c), 0);
	ck_assert(!c.path_style);
	s3_conf_release(&c);
}
END_TEST

START_TEST(conf_env)
{
	struct s3_conf c;

	setenv("AWS_REGION", "ap-south-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://env-host:1234", 1);
	setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
	setenv("AWS_CA_BUNDLE", "/env/ca.pem", 1);
	ck_assert_int_eq(parse("s3://bucket/p", &c), 0);
	ck_assert_str_eq(c.region, "ap-south-1");
	ck_assert_str_eq(c.endpoint, "http://env-host:1234");
	ck_assert_str_eq(c.session_token, "TOKEN");
	ck_assert_str_eq(c.ca_file, "/env/ca.pem");
	s3_conf_release(&c);
	/* the URL wins over the environment; AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL */
	setenv("AWS_ENDPOINT_URL_S3", "https://s3-host", 1);
	ck_assert_int_eq(parse("s3://bucket/p?region=us-west-2&ca_file=/url/ca.pem", &c), 0);
	ck_assert_str_eq(c.region, "us-west-2");
	ck_assert_str_eq(c.endpoint, "https://s3-host");
	ck_assert_str_eq(c.ca_file, "/url/ca.pem");
	s3_conf_release(&c);
	/* half a key pair is an error */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(parse("s3://bucket/p", &c), -EINVAL);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(0), "AWS_ACCESS_KEY_ID is set but"));
}
END_TEST

START_TEST(conf_files)
{
	struct s3_conf c;

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(parse("s3://bucket", &c), -ENOENT);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(0), "no credentials"));
	write_file("credentials", "# comment\n[default]\naws_access_key_id=DEFKEY\n"
				  "aws_secret_access_key = DEFSECRET \n\n"
				  "[ other ]\r\n ; another comment\r\n"
				  "aws_access_key_id = OTHERKEY\r\naws_secret_access_key = OTHERSECRET\r\n"
				  "aws_session_token = OTHERTOKEN\r\n[half]\naws_access_key_id = H\n");
	write_file("config", "[default]\nregion = eu-north-1\n[profile other]\nregion=sa-east-1\n");
	ck_assert_int_eq(parse("s3://bucket", &c), 0);
	ck_assert_str_eq(c.access_key, "DEFKEY");
	ck_assert_str_eq(c.secret_key, "DEFSECRET");
	ck_assert_str_eq(c.region, "eu-north-1");
	s3_conf_release(&c);
	setenv("AWS_PROFILE", "other", 1);
	ck_assert_int_eq(parse("s3://bucket", &c), 0);
	ck_assert_str_eq(c.access_key, "OTHERKEY");
	ck_assert_str_eq(c.secret_key, "OTHERSECRET");
	ck_assert_str_eq(c.session_token, "OTHERTOKEN");
	ck_assert_str_eq(c.region, "sa-east-1");
	s3_conf_release(&c);
	ck_assert_int_eq(parse("s3://bucket?profile=half", &c), -ENOENT);
	ck_assert_ptr_nonnull(strstr(t9k_errmsg(0), "profile 'half'"));
	ck_assert_int_eq(parse("s3://bucket?profile=missing", &c), -ENOENT);
	/* profile= in the URL beats keys in the environment */
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
	ck_assert_int_eq(parse("s3://bucket?profile=default", &c), 0);
	ck_assert_str_eq(c.access_key, "DEFKEY");
	s3_conf_release(&c);
	ck_assert_int_eq(parse("s3://bucket", &c), 0);
	ck_assert_str_eq(c.access_key, "ENVKEY");
	s3_conf_release(&c);
}
END_TEST

START_TEST(conf_bad)
{
	static const char *const bad[] = {
		"s3://", "s3://ab", "s3://too_long_bucket_name_012345678901234567890123456789012345678901234",
		"s3://bu$ket", "s3://bucket/.hidden", "s3://bucket/a b", "s3://bucket?x=1",
		"s3://bucket?endpoint", "s3://bucket?endpoint=ftp://h", "s3://bucket?endpoint=http://",
		"s3://bucket?endpoint=http://h/p", "s3://bucket?endpoint=http://h_h",
		"s3://bucket?region=Bad_Region", "s3://bucket?path_style=2", "s3://bucket?concurrency=0",
		"s3://bucket?concurrency=5000", "s3://bucket?deadline=-1", "s3://bucket?timeout=abc",
		"s3://bucket?part_size=4MiB", "s3://bucket?part_size=6GiB", "s3://bucket?sign_payload=2",
		"s3://bucket?multipart_threshold=big", "s3://bucket?region=%zz", "s3://bucket?region=%4",
		"s3://bucket?region=a%00b",
	};
	struct s3_conf c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &c);

		if (rc != T9K_EBADURL)
			ck_abort_msg("'%s' gave %d, want T9K_EBADURL", bad[i], rc);
		ck_assert_ptr_nonnull(strstr(t9k_errmsg(0), "store URL"));
	}
}
END_TEST

START_TEST(open_touches_nothing)
{
	struct store *s;
	struct store_stats st;

	/* Port 9 (discard) on loopback: nothing is sent at open. */
	ck_assert_int_eq(store_open("s3://bucket/p?endpoint=http://127.0.0.1:9&concurrency=7", &s),
			 0);
	ck_assert_str_eq(store_url(s), "s3://bucket/p?endpoint=http://127.0.0.1:9&concurrency=7");
	ck_assert_int_eq(store_concurrency(s), 7);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.requests, 0);
	/* invalid keys are refused before any request */
	ck_assert_int_eq(store_put_buf(s, "../x", "", 0), -EINVAL);
	ck_assert_int_eq(store_head(s, "a//b", NULL), -EINVAL);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.requests, 0);
	store_close(s);
	ck_assert_int_eq(store_open("s3://ab", &s), T9K_EBADURL);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(uri_encode)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(s3_uri_encode(&b, "aZ09-_.~/ +=&%\xff", 15, true), 0);
	ck_assert_str_eq((char *)b.data, "aZ09-_.~/%20%2B%3D%26%25%FF");
	buf_reset(&b);
	ck_assert_int_eq(s3_uri_encode(&b, "a/b", 3, false), 0);
	ck_assert_str_eq((char *)b.data, "a%2Fb");
	buf_release(&b);
}
END_TEST

START_TEST(xml_find_and_text)
{
	const char *x = "<?xml version=\"1.0\"?><R xmlns=\"u\"><Keys>no</Keys><Key>a&amp;b&lt;c&gt;"
			"&quot;&apos;&#65;&#x42;&#xe9;</Key><Empty/><E2></E2></R>";
	struct buf b = BUF_INIT;
	const char *v;
	size_t n;

	ck_assert_int_eq(s3_xml_find(x, strlen(x), "Key", &v, &n), 1);
	ck_assert_int_eq(s3_xml_text(&b, v, n), 0);
	ck_assert_str_eq((char *)b.data, "a&b<c>\"'AB\xc3\xa9");
	ck_assert_int_eq(s3_xml_find(x, strlen(x), "Empty", &v, &n), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(s3_xml_find(x, strlen(x), "E2", &v, &n), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(s3_xml_find(x, strlen(x), "Ke", &v, &n), 0);
	ck_assert_int_eq(s3_xml_find(x, strlen(x), "Missing", &v, &n), 0);
	/* unterminated element, truncated input */
	ck_assert_int_eq(s3_xml_find("<Key>abc</Ke", 12, "Key", &v, &n), 0);
	ck_assert_int_eq(s3_xml_find("<Key", 4, "Key", &v, &n), 0);
	ck_assert_int_eq(s3_xml_find("<", 1, "Key", &v, &n), 0);
	ck_assert_int_eq(s3_xml_find("", 0, "Key", &v, &n), 0);
	/* bad text */
	static const char *const badtext[] = { "a<b", "&bogus;", "&amp", "&#;", "&#x;", "&#0;",
					       "&#xD800;", "&#1114112;", "&#-1;", "&#12a;" };
	for (size_t i = 0; i < sizeof(badtext) / sizeof(badtext[0]); i++) {
		buf_reset(&b);
		if (s3_xml_text(&b, badtext[i], strlen(badtext[i])) != -EINVAL)
			ck_abort_msg("'%s' decoded", badtext[i]);
	}
	buf_release(&b);
}
END_TEST

struct seen {
	char keys[8][64];
	uint64_t sizes[8];
	int n;
	int stop_at;
};

static int seen_fn(const char *key, uint64_t size, void *arg)
{
	struct seen *s = arg;

	if (s->n == s->stop_at)
		return 42;
	ck_assert_int_lt(s->n, 8);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->sizes[s->n++] = size;
	return 0;
}

START_TEST(xml_list)
{
	const char *page =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3."
		"amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>"
		"<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>p/a&amp;1</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;abc&quot;</ETag><Size>123</Size><StorageClass>STANDARD</StorageClass>"
		"</Contents>\n  <Contents>\n<Key>p/b</Key>\n<Size>18446744073709551615</Size>\n"
		"</Contents></ListBucketResult>";
	const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			   "<Contents><Key>z</Key><Size>0</Size></Contents></ListBucketResult>";
	struct buf token = BUF_INIT;
	struct seen s = { .stop_at = -1 };
	bool truncated;

	ck_assert_int_eq(s3_xml_list(page, strlen(page), seen_fn, &s, &truncated, &token), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.keys[0], "p/a&1");
	ck_assert_uint_eq(s.sizes[0], 123);
	ck_assert_str_eq(s.keys[1], "p/b");
	ck_assert_uint_eq(s.sizes[1], UINT64_MAX);
	ck_assert(truncated);
	ck_assert_str_eq((char *)token.data, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

	s.n = 0;
	ck_assert_int_eq(s3_xml_list(last, strlen(last), seen_fn, &s, &truncated, &token), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert(!truncated);
	ck_assert_uint_eq(token.len, 0);

	/* the callback's non-zero return stops the listing and is returned */
	s.n = 0;
	s.stop_at = 1;
	ck_assert_int_eq(s3_xml_list(page, strlen(page), seen_fn, &s, &truncated, &token), 42);
	buf_release(&token);
}
END_TEST

START_TEST(xml_list_malformed)
{
	static const char *const bad[] = {
		"",
		"<html><body>502 Bad Gateway</body></html>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>1x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&zz;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
	};
	struct buf token = BUF_INIT;
	struct seen s = { .stop_at = -1 };
	bool truncated;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.n = 0;
		if (s3_xml_list(bad[i], strlen(bad[i]), seen_fn, &s, &truncated, &token) != T9K_ECORRUPT)
			ck_abort_msg("accepted: %s", bad[i]);
	}
	/* every prefix of a good page is handled without reading past it */
	const char *page = "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
			   "t</NextContinuationToken><Contents><Key>k</Key><Size>5</Size></Contents>"
			   "</ListBucketResult>";
	for (size_t len = 0; len <= strlen(page); len++) {
		char *copy = malloc(len + 1);

		memcpy(copy, page, len);
		s.n = 0;
		(void)s3_xml_list(copy, len, seen_fn, &s, &truncated, &token);
		free(copy);
	}
	buf_release(&token);
}
END_TEST

START_TEST(xml_error)
{
	const char *e = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch"
			"</Code><Message>The request signature &amp; more\n</Message><RequestId>tx1"
			"</RequestId></Error>";
	char code[32], msg[16];

	s3_xml_error(e, strlen(e), code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "SignatureDoesNotMatch");
	ck_assert_str_eq(msg, "The request sig"); /* cut to fit */
	s3_xml_error(e, strlen(e), code, 8, msg, sizeof(msg));
	ck_assert_str_eq(code, "Signatu");
	s3_xml_error("<Error><Message>a\nb</Message></Error>", 37, code, sizeof(code), msg,
		     sizeof(msg));
	ck_assert_str_eq(code, "");
	ck_assert_str_eq(msg, "a?b"); /* control characters never reach a message */
	s3_xml_error("garbage", 7, code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(code, "");
	s3_xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg));
	ck_assert_str_eq(msg, "");
}
END_TEST

START_TEST(content_range)
{
	uint64_t a, b, t;

	ck_assert_int_eq(s3_parse_content_range("bytes 0-9/100", &a, &b, &t), 0);
	ck_assert(a == 0 && b == 9 && t == 100);
	ck_assert_int_eq(s3_parse_content_range(" bytes 5-5/*\r\n", &a, &b, &t), 0);
	ck_assert(a == 5 && b == 5 && t == UINT64_MAX);
	static const char *const bad[] = { "", "bytes", "bytes 1-2", "bytes 2-1/10", "bytes 0-10/10",
					   "items 0-1/2", "bytes a-1/2", "bytes 0-1/2x",
					   "bytes 0-99999999999999999999/1", "bytes */10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (s3_parse_content_range(bad[i], &a, &b, &t) != -EINVAL)
			ck_abort_msg("accepted '%s'", bad[i]);
}
END_TEST

START_TEST(retry_policy)
{
	uint64_t rng = 12345;

	ck_assert(s3_status_transient(500, ""));
	ck_assert(s3_status_transient(503, "SlowDown"));
	ck_assert(s3_status_transient(429, ""));
	ck_assert(s3_status_transient(400, "RequestTimeout"));
	ck_assert(s3_status_transient(200, "InternalError"));
	ck_assert(!s3_status_transient(403, "SignatureDoesNotMatch"));
	ck_assert(!s3_status_transient(404, "NoSuchKey"));
	ck_assert(!s3_status_transient(400, "InvalidArgument"));
	ck_assert(!s3_status_transient(416, NULL));
	/* full jitter: within [0, min(cap, base * 2^(n-1))], and it spreads */
	for (int attempt = 1; attempt <= 40; attempt++) {
		double max = 0.1, lo = 1e9, hi = 0;

		for (int i = 1; i < attempt && max < 5.0; i++)
			max *= 2;
		if (max > 5.0)
			max = 5.0;
		for (int i = 0; i < 200; i++) {
			double d = s3_backoff(attempt, 0.1, 5.0, &rng);

			ck_assert(d >= 0 && d <= max);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		ck_assert(hi - lo > max / 2);
	}
}
END_TEST

Suite *s3_suite(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("s3");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, conf_defaults);
	tcase_add_test(tc, conf_prefix_and_params);
	tcase_add_test(tc, conf_env);
	tcase_add_test(tc, conf_files);
	tcase_add_test(tc, conf_bad);
	tcase_add_test(tc, open_touches_nothing);
	tcase_add_test(tc, uri_encode);
	tcase_add_test(tc, xml_find_and_text);
	tcase_add_test(tc, xml_list);
	tcase_add_test(tc, xml_list_malformed);
	tcase_add_test(tc, xml_error);
	tcase_add_test(tc, content_range);
	tcase_add_test(tc, retry_policy);
	suite_add_tcase(s, tc);
	return s;
}
