/* The little XML the s3:// backend reads and the helpers of its retry
 * policy: ListObjectsV2 pages, error replies, Content-Range, backoff.
 *
 * S3 replies are machine-written, flat and small (a list page is at most
 * 1000 entries); their text never holds a raw '<' (it is escaped), so an
 * element is found by scanning for "<Tag>" or "<Tag attrs>" and the next
 * "</Tag>". Nothing here allocates beyond the caller's buffers, and every
 * input, however malformed, gives a result or an error, never a crash
 * (test/unit/check_s3.c feeds it truncated and hostile replies).
 */
#include "store/store-internal.h"

#include "lib/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *find_mem(const char *hay, size_t haylen, const char *needle, size_t nlen)
{
	return nlen <= haylen ? memmem(hay, haylen, needle, nlen) : NULL;
}

int s3_xml_find(const char *xml, size_t len, const char *tag, const char **val, size_t *vlen)
{
	size_t tlen = strlen(tag);
	const char *p = xml, *end = xml + len;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *gt, *close;
		char after;

		if (!lt || (size_t)(end - lt) < tlen + 2)
			return 0;
		p = lt + 1;
		if (strncmp(p, tag, tlen) != 0 && memcmp(p, tag, tlen) != 0)
			continue;
		after = p[tlen];
		if (after != '>' && after != ' ' && after != '\t' && after != '\n' && after != '\r' &&
		    after != '/')
			continue;
		gt = memchr(p + tlen, '>', (size_t)(end - p - (ptrdiff_t)tlen));
		if (!gt)
			return 0;
		if (gt[-1] == '/') { /* <Tag/> */
			*val = gt + 1;
			*vlen = 0;
			return 1;
		}
		/* The closing tag "</Tag>" */
		for (const char *q = gt + 1; q < end;) {
			close = find_mem(q, (size_t)(end - q), "</", 2);
			if (!close || (size_t)(end - close) < tlen + 3)
				return 0;
			if (!memcmp(close + 2, tag, tlen) && close[2 + tlen] == '>') {
				*val = gt + 1;
				*vlen = (size_t)(close - gt - 1);
				return 1;
			}
			q = close + 2;
		}
		return 0;
	}
	return 0;
}

static int put_utf8(struct buf *out, unsigned long cp)
{
	unsigned char u[4];
	size_t n;

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -EINVAL;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_add(out, u, n);
}

int s3_xml_text(struct buf *out, const char *val, size_t vlen)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' } };
	const char *p = val, *end = val + vlen;
	int rc = 0;

	while (p < end && rc == 0) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *semi;
		const char *stop = amp ? amp : end;
		size_t nlen;

		if (memchr(p, '<', (size_t)(stop - p)))
			return -EINVAL;
		rc = buf_add(out, p, (size_t)(stop - p));
		if (rc < 0 || !amp)
			break;
		semi = memchr(amp, ';', (size_t)(end - amp) < 12 ? (size_t)(end - amp) : 12);
		if (!semi)
			return -EINVAL;
		nlen = (size_t)(semi - amp - 1);
		if (nlen >= 2 && amp[1] == '#') {
			char num[12], *e;
			bool hex = amp[2] == 'x' || amp[2] == 'X';
			unsigned long cp;

			memcpy(num, amp + (hex ? 3 : 2), nlen - (hex ? 2 : 1));
			num[nlen - (hex ? 2 : 1)] = '\0';
			if (!num[0] || num[0] == '-' || num[0] == '+')
				return -EINVAL;
			cp = strtoul(num, &e, hex ? 16 : 10);
			if (*e)
				return -EINVAL;
			rc = put_utf8(out, cp);
		} else {
			size_t i;

			for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
				if (strlen(named[i].name) == nlen && !memcmp(amp + 1, named[i].name, nlen))
					break;
			if (i == sizeof(named) / sizeof(named[0]))
				return -EINVAL;
			rc = buf_add(out, &named[i].c, 1);
		}
		p = semi + 1;
	}
	return rc;
}

int s3_xml_list_ex(const char *xml, size_t len, store_list_ex_fn fn, void *arg, bool *truncated,
		   struct buf *token)
{
	const char *p = xml, *end = xml + len, *val, *v;
	struct buf key = BUF_INIT;
	size_t vlen, n;
	int rc = 0;

	buf_reset(token);
	*truncated = false;
	if (!s3_xml_find(xml, len, "ListBucketResult", &val, &vlen)) {
		rc = t9k_err(T9K_ECORRUPT, "reply is not a ListObjectsV2 result");
		goto out;
	}
	while (p < end && s3_xml_find(p, (size_t)(end - p), "Contents", &val, &vlen)) {
		uint64_t size = 0;
		char num[24], *e;

		buf_reset(&key);
		if (!s3_xml_find(val, vlen, "Key", &v, &n) || n == 0 || s3_xml_text(&key, v, n) < 0 ||
		    strlen((char *)key.data) != key.len) {
			rc = t9k_err(T9K_ECORRUPT, "list reply has an entry with a bad <Key>");
			goto out;
		}
		if (!s3_xml_find(val, vlen, "Size", &v, &n) || n == 0 || n >= sizeof(num)) {
			rc = t9k_err(T9K_ECORRUPT, "list reply: entry '%.200s' has no <Size>",
				     (char *)key.data);
			goto out;
		}
		memcpy(num, v, n);
		num[n] = '\0';
		errno = 0;
		size = strtoull(num, &e, 10);
		if (*e || num[0] == '-' || errno) {
			rc = t9k_err(T9K_ECORRUPT, "list reply: entry '%.200s' has a bad <Size>",
				     (char *)key.data);
			goto out;
		}
		{
			struct store_obj o = { (char *)key.data, size, STORE_MTIME_UNKNOWN };

			if (s3_xml_find(val, vlen, "LastModified", &v, &n) &&
			    s3_parse_iso8601(v, n, &o.mtime_ns) < 0)
				o.mtime_ns = STORE_MTIME_UNKNOWN;
			rc = fn(&o, arg);
		}
		if (rc)
			goto out;
		p = val + vlen;
	}
	if (s3_xml_find(xml, len, "IsTruncated", &v, &n))
		*truncated = n == 4 && !memcmp(v, "true", 4);
	if (*truncated) {
		if (!s3_xml_find(xml, len, "NextContinuationToken", &v, &n) || n == 0 ||
		    s3_xml_text(token, v, n) < 0) {
			rc = t9k_err(T9K_ECORRUPT, "list reply is truncated but has no "
				     "<NextContinuationToken>");
			goto out;
		}
	}
out:
	buf_release(&key);
	return rc;
}

struct list_plain {
	store_list_fn fn;
	void *arg;
};

static int list_plain_one(const struct store_obj *o, void *arg)
{
	struct list_plain *l = arg;

	return l->fn(o->key, o->size, l->arg);
}

int s3_xml_list(const char *xml, size_t len, store_list_fn fn, void *arg, bool *truncated,
		struct buf *token)
{
	struct list_plain l = { fn, arg };

	return s3_xml_list_ex(xml, len, list_plain_one, &l, truncated, token);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): no timegm, no time zone. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int s3_parse_iso8601(const char *s, size_t len, int64_t *ns)
{
	unsigned y, mo, d, h, mi, sec, frac = 0, scale = 1000000000;
	size_t i = 19;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec) ||
	    mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale > 1) {
				scale /= 10;
				frac += (unsigned)(s[i] - '0') * scale;
			}
	}
	if (i != len - 1 || s[i] != 'Z')
		return -EINVAL;
	*ns = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000000000) + frac;
	return 0;
}

/* Decoded, printable, cut to fit. */
static void text_into(const char *xml, size_t len, const char *tag, char *out, size_t outsz)
{
	struct buf b = BUF_INIT;
	const char *v;
	size_t n, i;

	out[0] = '\0';
	if (!s3_xml_find(xml, len, tag, &v, &n) || s3_xml_text(&b, v, n) < 0 || !b.data)
		goto out;
	for (i = 0; i < b.len && i + 1 < outsz; i++)
		out[i] = b.data[i] >= 0x20 && b.data[i] < 0x7f ? (char)b.data[i] : '?';
	out[i] = '\0';
out:
	buf_release(&b);
}

void s3_xml_error(const char *xml, size_t len, char *code, size_t codesz, char *msg,
		  size_t msgsz)
{
	const char *v;
	size_t n;

	code[0] = '\0';
	msg[0] = '\0';
	if (!xml || !s3_xml_find(xml, len, "Error", &v, &n))
		return;
	text_into(v, n, "Code", code, codesz);
	text_into(v, n, "Message", msg, msgsz);
}

static int parse_u64(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

int s3_parse_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total)
{
	while (*v == ' ')
		v++;
	if (strncmp(v, "bytes ", 6))
		return -EINVAL;
	v += 6;
	while (*v == ' ')
		v++;
	if (parse_u64(&v, first) < 0 || *v++ != '-' || parse_u64(&v, last) < 0 || *v++ != '/')
		return -EINVAL;
	if (*v == '*') {
		*total = UINT64_MAX;
		v++;
	} else if (parse_u64(&v, total) < 0 || *last >= *total) {
		return -EINVAL;
	}
	while (*v == ' ' || *v == '\r' || *v == '\n')
		v++;
	return *v || *last < *first ? -EINVAL : 0;
}

bool s3_status_transient(long status, const char *code)
{
	if (status >= 500 || status == 429)
		return true;
	/* S3 sends these with 400 and 200 (CompleteMultipartUpload) too. */
	return code && (!strcmp(code, "SlowDown") || !strcmp(code, "RequestTimeout") ||
			!strcmp(code, "InternalError") || !strcmp(code, "ServiceUnavailable"));
}

double s3_backoff(int attempt, double base, double cap, uint64_t *rng)
{
	double max = base;
	uint64_t x;

	for (int i = 1; i < attempt && max < cap; i++)
		max *= 2;
	if (max > cap)
		max = cap;
	/* xorshift64* */
	x = *rng ? *rng : 0x9E3779B97F4A7C15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	return max * (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}
