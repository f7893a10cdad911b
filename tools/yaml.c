/* JSON to YAML block style (see yaml.h). Block mappings and sequences
 * only (no flow style except the empty {} and []), two spaces a level, a
 * sequence's items indented under their key. Plain scalars are kept to a
 * small safe set so that no reader's resolution rules (YAML 1.1 booleans
 * like "on", octal "0400", sexagesimal "1:20", timestamps) can turn a
 * string into something else; everything else is double-quoted. */
#include "tools/yaml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TRY(x)                              \
	do {                                \
		int try_rc_ = (x);          \
		if (try_rc_ < 0)            \
			return try_rc_;     \
	} while (0)

/* The words some YAML reader takes for a boolean or null (YAML 1.1's
 * y/n/yes/no/on/off, 1.2's true/false/null), in any case. */
static bool reserved_word(const char *s, size_t n)
{
	static const char *const words[] = { "y", "n", "yes", "no", "on", "off", "true", "false",
					     "null" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && !strncasecmp(s, words[i], n))
			return true;
	return false;
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A string that is the same string as a plain scalar for every reader: it
 * starts with a letter, '_', '/', or '-' or '--' before a letter (an
 * option: never a number, timestamp, indicator or "---"), has only
 * letters, digits and " _./@=+-,():", no ": ", no trailing space, and is
 * no reserved word. */
static bool plain_ok(const char *s, size_t n)
{
	size_t dashes = s[0] == '-' ? (s[1] == '-' ? 2 : 1) : 0;

	if (n == 0 || !(is_alpha((unsigned char)s[dashes]) || (!dashes && (s[0] == '_' || s[0] == '/'))))
		return false;
	if (s[n - 1] == ' ' || s[n - 1] == ':' || reserved_word(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_alpha(c) || (c >= '0' && c <= '9') || (c && strchr("_./@=+-,()", c)))
			continue;
		if (c == ' ' && s[i + 1] != ' ')
			continue; /* one space between words; never " #" (no '#' at all) */
		if (c == ':' && s[i + 1] != ' ')
			continue;
		return false;
	}
	return true;
}

/* The escape for the character at s[i] when YAML needs one (line breaks,
 * control characters, the Unicode ones YAML folds or may not carry: C1
 * controls, NEL, LS, PS, BOM, U+FFFE/U+FFFF) into esc; its length in
 * bytes, or 0 when it is fine as it is. */
static size_t escape_of(const char *s, size_t n, size_t i, char esc[8])
{
	const unsigned char *u = (const unsigned char *)s + i;

	switch (u[0]) {
	case '\n': memcpy(esc, "\\n", 3); return 1;
	case '\t': memcpy(esc, "\\t", 3); return 1;
	case '\r': memcpy(esc, "\\r", 3); return 1;
	case '\0': memcpy(esc, "\\0", 3); return 1;
	default: break;
	}
	if (u[0] < 0x20 || u[0] == 0x7f) {
		snprintf(esc, 8, "\\x%02x", u[0]);
		return 1;
	}
	if (u[0] == 0xc2 && i + 1 < n && u[1] >= 0x80 && u[1] <= 0x9f) {
		if (u[1] == 0x85)
			snprintf(esc, 8, "\\N");
		else
			snprintf(esc, 8, "\\x%02x", u[1]);
		return 2;
	}
	if (u[0] == 0xe2 && i + 2 < n && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) {
		snprintf(esc, 8, u[2] == 0xa8 ? "\\L" : "\\P");
		return 3;
	}
	if (u[0] == 0xef && i + 2 < n && ((u[1] == 0xbb && u[2] == 0xbf) ||
					  (u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf)))) {
		snprintf(esc, 8, "\\u%s", u[1] == 0xbb ? "FEFF" : u[2] == 0xbe ? "FFFE" : "FFFF");
		return 3;
	}
	return 0;
}

static int emit_quoted(const char *s, size_t n, struct buf *b)
{
	char esc[8] = "";

	TRY(buf_add(b, "\"", 1));
	for (size_t i = 0; i < n; i++) {
		size_t len = escape_of(s, n, i, esc);

		if (len) {
			TRY(buf_addstr(b, esc));
			i += len - 1;
		} else if (s[i] == '"' || s[i] == '\\') {
			TRY(buf_add(b, "\\", 1));
			TRY(buf_add(b, &s[i], 1));
		} else {
			TRY(buf_add(b, &s[i], 1));
		}
	}
	return buf_add(b, "\"", 1);
}

/* Single quotes when nothing needs an escape (only ' is doubled): easier
 * to read than double quotes, e.g. for JSON in an annotation. */
static bool single_ok(const char *s, size_t n)
{
	char esc[8];

	for (size_t i = 0; i < n; i++)
		if (escape_of(s, n, i, esc))
			return false;
	return true;
}

static int emit_single(const char *s, size_t n, struct buf *b)
{
	TRY(buf_add(b, "'", 1));
	for (size_t i = 0; i < n; i++)
		TRY(buf_add(b, s[i] == '\'' ? "''" : &s[i], s[i] == '\'' ? 2 : 1));
	return buf_add(b, "'", 1);
}

static int emit_string(const char *s, size_t n, struct buf *b)
{
	if (plain_ok(s, n))
		return buf_add(b, s, n);
	return single_ok(s, n) ? emit_single(s, n, b) : emit_quoted(s, n, b);
}

/* A value written on the line of its key or dash. */
static bool inline_value(const json_t *v)
{
	return json_is_object(v) ? json_object_size(v) == 0
	       : json_is_array(v) ? json_array_size(v) == 0
				  : true;
}

static int emit_scalar(const json_t *v, struct buf *b)
{
	char num[64];

	switch (json_typeof(v)) {
	case JSON_OBJECT: return buf_addstr(b, "{}");
	case JSON_ARRAY: return buf_addstr(b, "[]");
	case JSON_STRING: return emit_string(json_string_value(v), json_string_length(v), b);
	case JSON_INTEGER: return buf_addf(b, "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		if (!strpbrk(num, ".e"))
			strncat(num, ".0", sizeof(num) - strlen(num) - 1); /* stays a float */
		return buf_addstr(b, num);
	case JSON_TRUE: return buf_addstr(b, "true");
	case JSON_FALSE: return buf_addstr(b, "false");
	case JSON_NULL: return buf_addstr(b, "null");
	}
	return -EINVAL;
}

static int indent_to(struct buf *b, int n)
{
	for (int i = 0; i < n; i++)
		TRY(buf_add(b, " ", 1));
	return 0;
}

static int emit_block(const json_t *v, int indent, bool on_dash_line, struct buf *b);

/* The value after "key:" or "- ": inline, or on the next lines at indent. */
static int emit_child(const json_t *v, int indent, struct buf *b)
{
	if (inline_value(v)) {
		TRY(buf_add(b, " ", 1));
		TRY(emit_scalar(v, b));
		return buf_add(b, "\n", 1);
	}
	TRY(buf_add(b, "\n", 1));
	return emit_block(v, indent, false, b);
}

/* A non-empty mapping or sequence; on_dash_line: its first line follows a
 * "- " already written (a sequence item), so it gets no indentation. */
static int emit_block(const json_t *v, int indent, bool on_dash_line, struct buf *b)
{
	bool first = true;

	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		json_object_foreach((json_t *)v, k, x) {
			if (!(first && on_dash_line))
				TRY(indent_to(b, indent));
			first = false;
			TRY(emit_string(k, strlen(k), b));
			TRY(buf_add(b, ":", 1));
			TRY(emit_child(x, indent + 2, b));
		}
		return 0;
	}
	size_t i;
	json_t *x;

	json_array_foreach(v, i, x) {
		if (!(first && on_dash_line))
			TRY(indent_to(b, indent));
		first = false;
		TRY(buf_add(b, "- ", 2));
		if (inline_value(x)) {
			TRY(emit_scalar(x, b));
			TRY(buf_add(b, "\n", 1));
		} else {
			TRY(emit_block(x, indent + 2, true, b));
		}
	}
	return 0;
}

int yaml_emit(const json_t *v, struct buf *out)
{
	if (!v)
		return -EINVAL;
	if (inline_value(v)) {
		TRY(emit_scalar(v, out));
		return buf_add(out, "\n", 1);
	}
	return emit_block(v, 0, false, out);
}
