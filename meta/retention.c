/* Retention rules (meta/retention.h): their JSON form, storage in the
 * repository's gc state and the choice of a branch's policy. */
#include "meta/retention.h"

#include "lib/err.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_NAME "retention"

static void policy_init(struct retention_policy *p)
{
	p->keep_last = RETENTION_UNSET;
	p->keep_within_s = RETENTION_UNSET;
	p->stale_s = RETENTION_UNSET;
}

void retention_init(struct retention *rt)
{
	memset(rt, 0, sizeof(*rt));
	policy_init(&rt->def);
	rt->tags_expire_s = RETENTION_UNSET;
	rt->grace_s = RETENTION_GRACE_DEFAULT_S;
	rt->min_grace_s = RETENTION_MIN_GRACE_DEFAULT_S;
}

bool retention_keeps_all(const struct retention_policy *p)
{
	return p->keep_last == RETENTION_UNSET && p->keep_within_s == RETENTION_UNSET;
}

const struct retention_policy *retention_policy_for(const struct retention *rt,
						    const char *branch)
{
	for (int i = 0; i < rt->nrules; i++)
		if (fnmatch(rt->rules[i].glob, branch, 0) == 0)
			return &rt->rules[i].p;
	return &rt->def;
}

/* An integer member: 0 and *out, 1 when absent or null (*out untouched when
 * absent, RETENTION_UNSET when null), -EINVAL outside lo..hi. */
static int int_field(const json_t *j, const char *where, const char *key, int64_t lo, int64_t hi,
		     int64_t *out)
{
	json_t *v = json_object_get(j, key);

	if (!v)
		return 1;
	if (json_is_null(v)) {
		*out = RETENTION_UNSET;
		return 1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return t9k_err(-EINVAL, "retention%s \"%s\": want an integer %" PRId64 "..%" PRId64
				       " or null", where, key, lo, hi);
	*out = json_integer_value(v);
	return 0;
}

static int policy_from_json(const json_t *j, const char *where, struct retention_policy *p)
{
	int rc;

	if ((rc = int_field(j, where, "keep_last", 1, INT32_MAX, &p->keep_last)) < 0 ||
	    (rc = int_field(j, where, "keep_within_s", 0, RETENTION_DURATION_MAX_S,
			    &p->keep_within_s)) < 0 ||
	    (rc = int_field(j, where, "stale_branches_s", 1, RETENTION_DURATION_MAX_S,
			    &p->stale_s)) < 0)
		return rc;
	return 0;
}

static int glob_check(const char *g, const char *where)
{
	if (!*g || strlen(g) > RETENTION_GLOB_MAX)
		return t9k_err(-EINVAL, "retention%s: a branch glob is 1 to %d bytes", where,
			       RETENTION_GLOB_MAX);
	for (const char *p = g; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return t9k_err(-EINVAL, "retention%s: branch glob '%s' has a control character",
				       where, g);
	return 0;
}

static const char *const known[] = {
	"keep_last", "keep_within_s", "stale_branches_s", "tags_expire_s", "grace_s",
	"min_grace_s", "branches", NULL,
};

static int unknown_keys(const json_t *j, const char *const *keys, const char *where)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)j, k, v) {
		bool ok = false;

		(void)v;
		for (int i = 0; keys[i] && !ok; i++)
			ok = !strcmp(keys[i], k);
		if (!ok)
			return t9k_err(-EINVAL, "retention%s: unknown field \"%s\"", where, k);
	}
	return 0;
}

int retention_from_json(const json_t *j, struct retention *rt)
{
	static const char *const rule_keys[] = { "glob", "keep_last", "keep_within_s",
						 "stale_branches_s", NULL };
	struct retention n = *rt;
	json_t *br;
	int rc;

	if (!json_is_object(j))
		return t9k_err(-EINVAL, "retention rules are not a JSON object");
	if ((rc = unknown_keys(j, known, "")) < 0 || (rc = policy_from_json(j, "", &n.def)) < 0 ||
	    (rc = int_field(j, "", "tags_expire_s", 1, RETENTION_DURATION_MAX_S,
			    &n.tags_expire_s)) < 0 ||
	    (rc = int_field(j, "", "grace_s", 0, RETENTION_DURATION_MAX_S, &n.grace_s)) < 0 ||
	    (rc = int_field(j, "", "min_grace_s", 0, RETENTION_DURATION_MAX_S, &n.min_grace_s)) < 0)
		return rc;
	/* null resets these two to their defaults, not to "unset" */
	if (n.grace_s == RETENTION_UNSET)
		n.grace_s = RETENTION_GRACE_DEFAULT_S;
	if (n.min_grace_s == RETENTION_UNSET)
		n.min_grace_s = RETENTION_MIN_GRACE_DEFAULT_S;
	br = json_object_get(j, "branches");
	if (br && !json_is_null(br)) {
		size_t i;
		json_t *it;

		if (!json_is_array(br) || json_array_size(br) > RETENTION_RULES_MAX)
			return t9k_err(-EINVAL, "retention \"branches\": want an array of at most %d "
					       "overrides", RETENTION_RULES_MAX);
		n.nrules = 0;
		json_array_foreach(br, i, it) {
			struct retention_rule *r = &n.rules[n.nrules];
			char where[48];
			json_t *g = json_object_get(it, "glob");

			snprintf(where, sizeof(where), " \"branches\"[%zu]", i);
			if (!json_is_object(it) || !json_is_string(g))
				return t9k_err(-EINVAL, "retention%s: want an object with a \"glob\" string",
					       where);
			if ((rc = unknown_keys(it, rule_keys, where)) < 0 ||
			    (rc = glob_check(json_string_value(g), where)) < 0)
				return rc;
			for (int k = 0; k < n.nrules; k++)
				if (!strcmp(n.rules[k].glob, json_string_value(g)))
					return t9k_err(-EINVAL, "retention: branch glob '%s' is given twice",
						       json_string_value(g));
			snprintf(r->glob, sizeof(r->glob), "%s", json_string_value(g));
			policy_init(&r->p);
			if ((rc = policy_from_json(it, where, &r->p)) < 0)
				return rc;
			n.nrules++;
		}
	} else if (br) {
		n.nrules = 0;
	}
	if (n.grace_s < n.min_grace_s) {
		char a[32], b[32];

		return t9k_err(-EINVAL, "retention: grace %s is below min_grace %s",
			       retention_format_duration(n.grace_s, a, sizeof(a)),
			       retention_format_duration(n.min_grace_s, b, sizeof(b)));
	}
	*rt = n;
	return 0;
}

static json_t *opt_int(int64_t v)
{
	return v == RETENTION_UNSET ? json_null() : json_integer(v);
}

static int policy_to_json(json_t *j, const struct retention_policy *p)
{
	return json_object_set_new(j, "keep_last", opt_int(p->keep_last)) |
	       json_object_set_new(j, "keep_within_s", opt_int(p->keep_within_s)) |
	       json_object_set_new(j, "stale_branches_s", opt_int(p->stale_s));
}

json_t *retention_to_json(const struct retention *rt)
{
	json_t *j = json_object(), *br = json_array();
	int rc = !j || !br;

	if (!rc)
		rc = policy_to_json(j, &rt->def) |
		     json_object_set_new(j, "tags_expire_s", opt_int(rt->tags_expire_s)) |
		     json_object_set_new(j, "grace_s", json_integer(rt->grace_s)) |
		     json_object_set_new(j, "min_grace_s", json_integer(rt->min_grace_s));
	for (int i = 0; !rc && i < rt->nrules; i++) {
		json_t *o = json_pack("{s:s}", "glob", rt->rules[i].glob);

		rc = !o || policy_to_json(o, &rt->rules[i].p) || json_array_append_new(br, o);
	}
	if (!rc)
		rc = json_object_set(j, "branches", br);
	json_decref(br);
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int retention_load(struct meta_db *db, const char *repo, struct retention *rt)
{
	json_error_t err;
	void *val = NULL;
	size_t len = 0;
	json_t *j;
	int rc;

	retention_init(rt);
	rc = meta_gc_get(db, repo, STATE_NAME, &val, &len);
	if (rc == -ENOENT) {
		/* none set: the defaults, once the repository is known to exist */
		struct meta_repo info;

		return meta_repo_get(db, repo, &info);
	}
	if (rc < 0)
		return rc;
	j = json_loadb(val, len, 0, &err);
	free(val);
	if (!j)
		return t9k_err(T9K_ECORRUPT, "retention rules of repository '%s' are not JSON: %s",
			       repo, err.text);
	rc = retention_from_json(j, rt);
	json_decref(j);
	return rc < 0 ? t9k_err_wrap(rc, "stored rules of repository '%s'", repo) : 0;
}

int retention_save(struct meta_db *db, const char *repo, const struct retention *rt)
{
	json_t *j = retention_to_json(rt);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc;

	json_decref(j);
	if (!s)
		return t9k_err(-ENOMEM, "out of memory");
	rc = meta_gc_put(db, repo, STATE_NAME, s, strlen(s));
	free(s);
	return rc;
}

int retention_parse_duration(const char *s, int64_t *seconds)
{
	const char *p = s;
	int64_t total = 0;

	if (!*s)
		return t9k_err(-EINVAL, "empty duration: want e.g. 90s, 30m, 6h, 3d, 2w");
	while (*p) {
		int64_t v = 0, mul;

		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			if (v > RETENTION_DURATION_MAX_S)
				goto bad;
		}
		switch (*p) {
		case '\0': mul = p == s + strlen(s) && total == 0 ? 1 : -1; break;
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 7 * 86400; break;
		default: mul = -1;
		}
		if (mul < 0)
			goto bad;
		if (*p)
			p++;
		total += v * mul;
		if (total > RETENTION_DURATION_MAX_S)
			goto bad;
	}
	*seconds = total;
	return 0;
bad:
	return t9k_err(-EINVAL, "bad duration '%.40s': want e.g. 90s, 30m, 6h, 3d, 2w or 1d12h "
			       "(at most 100 years)", s);
}

char *retention_format_duration(int64_t seconds, char *out, size_t size)
{
	static const struct {
		char unit;
		int64_t s;
	} units[] = { { 'w', 7 * 86400 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	size_t n = 0;

	if (seconds == RETENTION_UNSET) {
		snprintf(out, size, "-");
		return out;
	}
	if (seconds == 0) {
		snprintf(out, size, "0s");
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && seconds > 0; i++) {
		int64_t v = seconds / units[i].s;

		if (v == 0 || (units[i].unit == 'w' && seconds % units[i].s))
			continue; /* weeks only when exact: "10d", not "1w3d" */
		seconds -= v * units[i].s;
		n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%" PRId64 "%c", v,
				      units[i].unit);
	}
	return out;
}
