/* Configuration of an s3:// store: the URL, then the environment, then the
 * AWS shared files, as the AWS CLI and SDKs read them.
 *
 *   bucket, prefix   s3://BUCKET[/PREFIX]
 *   endpoint         ?endpoint= | AWS_ENDPOINT_URL_S3 | AWS_ENDPOINT_URL |
 *                    https://s3.REGION.amazonaws.com
 *   region           ?region= | AWS_REGION | AWS_DEFAULT_REGION |
 *                    region in ~/.aws/config (AWS_CONFIG_FILE) | us-east-1
 *   credentials      ?profile= -> that profile of ~/.aws/credentials only;
 *                    else AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *                    (+ AWS_SESSION_TOKEN); else profile AWS_PROFILE or
 *                    "default" of AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials
 *   CA bundle        ?ca_file= | AWS_CA_BUNDLE | libcurl's default
 *
 * Secrets never come from the URL: URLs are stored in repository records
 * and printed in messages. Nothing here touches the network.
 */
#include "store/store-internal.h"

#include "lib/err.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_DEFAULT_REGION "us-east-1"
#define S3_DEFAULT_CONCURRENCY 16
#define S3_DEFAULT_DEADLINE 120.0
#define S3_DEFAULT_TIMEOUT 30.0
#define S3_DEFAULT_THRESHOLD (64ULL << 20)
#define S3_DEFAULT_PART (16ULL << 20)
#define S3_MIN_PART (5ULL << 20)
#define S3_MAX_PART (5ULL << 30)

void s3_conf_release(struct s3_conf *c)
{
	free(c->bucket);
	free(c->prefix);
	free(c->name);
	free(c->endpoint);
	free(c->region);
	free(c->access_key);
	if (c->secret_key) {
		explicit_bzero(c->secret_key, strlen(c->secret_key));
		free(c->secret_key);
	}
	free(c->session_token);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

static int set_str(char **dst, const char *s, size_t len)
{
	char *p = strndup(s, len);

	if (!p)
		return t9k_err(-ENOMEM, "out of memory");
	free(*dst);
	*dst = p;
	return 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes a query value into a new string. */
static int query_value(const char *url, const char *name, size_t namelen, const char *v,
		       size_t len, char **out)
{
	char *p = malloc(len + 1);
	size_t n = 0;

	if (!p)
		return t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '%') {
			int hi = i + 2 < len ? hexval(v[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(v[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(p);
				return t9k_err(T9K_EBADURL, "store URL '%s': bad %%-escape in %.*s=",
					       url, (int)namelen, name);
			}
			p[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			p[n++] = v[i] == '+' ? ' ' : v[i];
		}
	}
	p[n] = '\0';
	if (strlen(p) != n) {
		free(p);
		return t9k_err(T9K_EBADURL, "store URL '%s': NUL byte in %.*s=", url, (int)namelen,
			       name);
	}
	*out = p;
	return 0;
}

static int parse_seconds(const char *url, const char *name, const char *v, double *out)
{
	char *end;
	double d = strtod(v, &end);

	if (!*v || *end || !(d > 0 && d <= 86400))
		return t9k_err(T9K_EBADURL, "store URL '%s': %s=%s is not a number of seconds in (0, 86400]",
			       url, name, v);
	*out = d;
	return 0;
}

static int parse_flag(const char *url, const char *name, const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false"))
		*out = false;
	else
		return t9k_err(T9K_EBADURL, "store URL '%s': %s=%s is not 0 or 1", url, name, v);
	return 0;
}

/* Checks "http[s]://HOST[:PORT][/]" and stores it without the slash. */
static int set_endpoint(struct s3_conf *c, const char *url, const char *ep)
{
	const char *host;
	size_t len = strlen(ep);

	if (!strncmp(ep, "https://", 8)) {
		c->https = true;
		host = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		c->https = false;
		host = ep + 7;
	} else {
		return t9k_err(T9K_EBADURL, "store URL '%s': endpoint '%s' must start with http:// or https://",
			       url, ep);
	}
	if (len > 0 && ep[len - 1] == '/')
		len--;
	if (host >= ep + len)
		return t9k_err(T9K_EBADURL, "store URL '%s': endpoint '%s' has no host", url, ep);
	for (const char *p = host; p < ep + len; p++) {
		if (*p == '/')
			return t9k_err(T9K_EBADURL, "store URL '%s': endpoint '%s' must not have a path",
				       url, ep);
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
			return t9k_err(T9K_EBADURL, "store URL '%s': endpoint '%s' has a bad host character",
				       url, ep);
	}
	return set_str(&c->endpoint, ep, len);
}

/* Looks up key in [section] of an INI file (the AWS files' format: '#' or
 * ';' comments, "key = value"). Returns 1 and *out, 0 when absent, -errno
 * when the file cannot be read (-ENOENT when it does not exist). */
static int ini_lookup(const char *path, const char *section, const char *key, char **out)
{
	char line[4096];
	FILE *f = fopen(path, "re");
	bool in = false;
	int rc = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e, *eq;

		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '#' || *s == ';' || !*s)
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			char *n = s + 1;

			if (!close)
				continue;
			while (*n == ' ')
				n++;
			while (close > n && close[-1] == ' ')
				close--;
			in = (size_t)(close - n) == strlen(section) && !strncmp(n, section, strlen(section));
			continue;
		}
		if (!in || !(eq = strchr(s, '=')))
			continue;
		e = eq;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) != strlen(key) || strncmp(s, key, strlen(key)))
			continue;
		eq++;
		while (*eq == ' ' || *eq == '\t')
			eq++;
		rc = set_str(out, eq, strlen(eq));
		rc = rc < 0 ? rc : 1;
		break;
	}
	if (ferror(f) && rc == 0)
		rc = -EIO;
	fclose(f);
	return rc;
}

/* ~/.aws/NAME, or the file an environment variable names. */
static int aws_file(const char *var, const char *name, char *path, size_t size)
{
	const char *p = env(var), *home = env("HOME");
	int n;

	if (p)
		n = snprintf(path, size, "%s", p);
	else
		n = snprintf(path, size, "%s/.aws/%s", home ? home : ".", name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int load_credentials(struct s3_conf *c, const char *url, const char *profile)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	char path[PATH_MAX];
	int rc;

	if (!profile && (ak || sk)) {
		if (!ak || !sk)
			return t9k_err(-EINVAL, "store %s: %s is set but %s is not", c->name,
				       ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				       ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		rc = set_str(&c->access_key, ak, strlen(ak));
		if (rc == 0)
			rc = set_str(&c->secret_key, sk, strlen(sk));
		if (rc == 0 && env("AWS_SESSION_TOKEN"))
			rc = set_str(&c->session_token, env("AWS_SESSION_TOKEN"),
				     strlen(env("AWS_SESSION_TOKEN")));
		return rc;
	}
	if (!profile)
		profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
	if (aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof(path)) < 0)
		return t9k_err(T9K_EBADURL, "store URL '%s': credentials file path too long", url);
	rc = ini_lookup(path, profile, "aws_access_key_id", &c->access_key);
	if (rc == -ENOENT)
		return t9k_err(-ENOENT, "store %s: no credentials: set AWS_ACCESS_KEY_ID and "
			       "AWS_SECRET_ACCESS_KEY, or write profile '%s' to %s",
			       c->name, profile, path);
	if (rc < 0)
		return t9k_err(rc, "store %s: reading %s: %s", c->name, path, strerror(-rc));
	if (rc == 1)
		rc = ini_lookup(path, profile, "aws_secret_access_key", &c->secret_key);
	if (rc == 0)
		return t9k_err(-ENOENT, "store %s: profile '%s' in %s has no aws_access_key_id "
			       "and aws_secret_access_key", c->name, profile, path);
	if (rc < 0)
		return t9k_err(rc, "store %s: reading %s: %s", c->name, path, strerror(-rc));
	rc = ini_lookup(path, profile, "aws_session_token", &c->session_token);
	return rc < 0 ? t9k_err(rc, "store %s: reading %s: %s", c->name, path, strerror(-rc)) : 0;
}

static int load_region(struct s3_conf *c, const char *profile)
{
	const char *r = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
	char path[PATH_MAX], section[300];
	int rc;

	if (r)
		return set_str(&c->region, r, strlen(r));
	if (!profile)
		profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
	if (!strcmp(profile, "default"))
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %.280s", profile);
	rc = aws_file("AWS_CONFIG_FILE", "config", path, sizeof(path));
	if (rc == 0)
		rc = ini_lookup(path, section, "region", &c->region);
	if (rc == 1 && c->region[0])
		return 0;
	return set_str(&c->region, S3_DEFAULT_REGION, strlen(S3_DEFAULT_REGION));
}

static bool bucket_ok(const char *b, size_t len)
{
	if (len < 3 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		      b[i] == '-' || b[i] == '_' || (b[i] >= 'A' && b[i] <= 'Z')))
			return false;
	return true;
}

/* Virtual-hosted addressing needs the bucket as one DNS label that a
 * wildcard certificate covers: lower case, no dots or underscores. */
static bool bucket_dns_label(const char *b)
{
	for (; *b; b++)
		if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') || *b == '-'))
			return false;
	return true;
}

struct params {
	char *endpoint, *region, *profile, *ca_file;
	int path_style; /* -1: not given */
};

static void params_release(struct params *p)
{
	free(p->endpoint);
	free(p->region);
	free(p->profile);
	free(p->ca_file);
}

static int parse_param(struct s3_conf *c, struct params *p, const char *url, const char *name,
		       size_t nlen, char *v)
{
	uint64_t size = 0;
	bool flag = false;
	int rc = 0;
	char *end;
	long n;

#define IS(s) (nlen == strlen(s) && !strncmp(name, s, nlen))
	if (IS("endpoint")) {
		free(p->endpoint);
		p->endpoint = v;
		return 0;
	}
	if (IS("region")) {
		free(p->region);
		p->region = v;
		return 0;
	}
	if (IS("profile")) {
		free(p->profile);
		p->profile = v;
		return 0;
	}
	if (IS("ca_file")) {
		free(p->ca_file);
		p->ca_file = v;
		return 0;
	}
	if (IS("path_style")) {
		rc = parse_flag(url, "path_style", v, &flag);
		p->path_style = flag;
	} else if (IS("sign_payload")) {
		rc = parse_flag(url, "sign_payload", v, &flag);
		c->sign_payload = flag;
	} else if (IS("concurrency")) {
		n = strtol(v, &end, 10);
		if (!*v || *end || n < 1 || n > 1024)
			rc = t9k_err(T9K_EBADURL, "store URL '%s': concurrency=%s is not 1..1024", url, v);
		c->concurrency = (int)n;
	} else if (IS("deadline")) {
		rc = parse_seconds(url, "deadline", v, &c->deadline);
	} else if (IS("timeout")) {
		rc = parse_seconds(url, "timeout", v, &c->timeout);
	} else if (IS("multipart_threshold")) {
		if (parse_size(v, &size) < 0 || size < 1)
			rc = t9k_err(T9K_EBADURL, "store URL '%s': multipart_threshold=%s is not a size",
				     url, v);
		c->multipart_threshold = size;
	} else if (IS("part_size")) {
		if (parse_size(v, &size) < 0 || size < S3_MIN_PART || size > S3_MAX_PART)
			rc = t9k_err(T9K_EBADURL, "store URL '%s': part_size=%s is not 5MiB..5GiB", url, v);
		c->part_size = size;
	} else {
		rc = t9k_err(T9K_EBADURL, "store URL '%s': unknown parameter '%.*s' (known: endpoint, "
			     "region, path_style, ca_file, profile, concurrency, deadline, timeout, "
			     "multipart_threshold, part_size, sign_payload)", url, (int)nlen, name);
	}
#undef IS
	free(v);
	return rc;
}

static int parse_query(struct s3_conf *c, struct params *p, const char *url, const char *q)
{
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		char *v = NULL;
		int rc;

		eq = memchr(q, '=', len);
		if (!eq)
			return t9k_err(T9K_EBADURL, "store URL '%s': parameter '%.*s' has no value",
				       url, (int)len, q);
		rc = query_value(url, q, (size_t)(eq - q), eq + 1, len - (size_t)(eq + 1 - q), &v);
		if (rc < 0)
			return rc;
		rc = parse_param(c, p, url, q, (size_t)(eq - q), v);
		if (rc < 0)
			return rc;
		q += len + (amp ? 1 : 0);
	}
	return 0;
}

int s3_conf_parse(const char *url, const char *rest, struct s3_conf *c)
{
	struct params p = { .path_style = -1 };
	const char *q = strchr(rest, '?'), *slash, *ep, *ca;
	size_t pathlen = q ? (size_t)(q - rest) : strlen(rest), blen;
	struct buf b = BUF_INIT;
	int rc;

	memset(c, 0, sizeof(*c));
	c->concurrency = S3_DEFAULT_CONCURRENCY;
	c->sign_payload = true;
	c->deadline = S3_DEFAULT_DEADLINE;
	c->timeout = S3_DEFAULT_TIMEOUT;
	c->multipart_threshold = S3_DEFAULT_THRESHOLD;
	c->part_size = S3_DEFAULT_PART;

	while (pathlen > 0 && rest[pathlen - 1] == '/')
		pathlen--;
	slash = memchr(rest, '/', pathlen);
	blen = slash ? (size_t)(slash - rest) : pathlen;
	if (!bucket_ok(rest, blen)) {
		rc = t9k_err(T9K_EBADURL, "store URL '%s': want s3://BUCKET[/PREFIX] with a bucket "
			     "name of 3..63 letters, digits, '.', '-' or '_'", url);
		goto out;
	}
	rc = set_str(&c->bucket, rest, blen);
	if (rc < 0)
		goto out;
	if (slash) {
		char prefix[STORE_KEY_MAX + 1];
		size_t plen = pathlen - blen - 1;

		if (plen > STORE_KEY_MAX - 80) {
			rc = t9k_err(T9K_EBADURL, "store URL '%s': prefix too long", url);
			goto out;
		}
		memcpy(prefix, slash + 1, plen);
		prefix[plen] = '\0';
		rc = store_key_check(prefix);
		if (rc < 0) {
			rc = t9k_err_wrap(T9K_EBADURL, "store URL '%s': bad prefix", url);
			goto out;
		}
		rc = buf_addf(&b, "%s/", prefix);
		if (rc == 0)
			rc = set_str(&c->prefix, (char *)b.data, b.len);
	} else {
		rc = set_str(&c->prefix, "", 0);
	}
	if (rc < 0)
		goto out;
	buf_reset(&b);
	rc = buf_addf(&b, "s3://%s%s%.*s", c->bucket, c->prefix[0] ? "/" : "",
		      c->prefix[0] ? (int)strlen(c->prefix) - 1 : 0, c->prefix);
	if (rc == 0)
		rc = set_str(&c->name, (char *)b.data, b.len);
	if (rc < 0)
		goto out;

	if (q) {
		rc = parse_query(c, &p, url, q + 1);
		if (rc < 0)
			goto out;
	}
	if (p.region) {
		rc = set_str(&c->region, p.region, strlen(p.region));
	} else {
		rc = load_region(c, p.profile);
	}
	if (rc < 0)
		goto out;
	for (const char *r = c->region; *r; r++) {
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-')) {
			rc = t9k_err(T9K_EBADURL, "store URL '%s': bad region '%s'", url, c->region);
			goto out;
		}
	}
	ep = p.endpoint ? p.endpoint : env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3")
								     : env("AWS_ENDPOINT_URL");
	if (ep) {
		rc = set_endpoint(c, url, ep);
		c->path_style = p.path_style != 0;
	} else {
		buf_reset(&b);
		rc = buf_addf(&b, "https://s3.%s.amazonaws.com", c->region);
		if (rc == 0)
			rc = set_endpoint(c, url, (char *)b.data);
		c->path_style = p.path_style == -1 ? !bucket_dns_label(c->bucket) : p.path_style;
	}
	if (rc < 0)
		goto out;
	if (!c->path_style && !bucket_dns_label(c->bucket)) {
		rc = t9k_err(T9K_EBADURL, "store URL '%s': bucket '%s' cannot be a host name; use "
			     "path_style=1", url, c->bucket);
		goto out;
	}
	ca = p.ca_file ? p.ca_file : env("AWS_CA_BUNDLE");
	if (ca) {
		rc = set_str(&c->ca_file, ca, strlen(ca));
		if (rc < 0)
			goto out;
	}
	rc = load_credentials(c, url, p.profile);
out:
	params_release(&p);
	buf_release(&b);
	if (rc < 0)
		s3_conf_release(c);
	return rc;
}

int s3_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = buf_grow(out, len * 3);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~' || (ch == '/' && keep_slash)) {
			out->data[out->len++] = ch;
		} else {
			out->data[out->len++] = '%';
			out->data[out->len++] = (unsigned char)hex[ch >> 4];
			out->data[out->len++] = (unsigned char)hex[ch & 15];
		}
	}
	out->data[out->len] = '\0';
	return 0;
}
