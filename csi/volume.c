/* Volume attributes and id formats of the CSI driver (volume.h).
 * Mount options are checked by the mount's own parser (fs_opts_parse), so
 * a volume is refused at the API with the message 't9kfs mount' would
 * print, not later by a mount daemon. */
#include "csi/volume.h"

#include "cache/net.h"
#include "fs/fs.h"
#include "lib/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The t9kfs mount options a volume may set, in the order they are listed. */
static const struct {
	const char *key;
	bool flag; /* true|false, not a value */
} mount_keys[] = {
	{ "cache_size", false }, { "prefetch", false }, { "prefetch_threads", false },
	{ "read_ahead_kb", false }, { "max_threads", false }, { "timeout", false },
	{ "poll", false }, { "uid", false }, { "gid", false }, { "cache_data", true },
	{ "default_permissions", true },
};
#define N_MOUNT_KEYS (sizeof(mount_keys) / sizeof(mount_keys[0]))

static const char *const node_keys[] = { "repo", "ref", "path", "readOnly", "cacheGroup" };
static const char *const on_delete_names[] = { "delete", "retain", "commit" };

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *key, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(key, list[i]))
			return true;
	return false;
}

static int mount_key(const char *key)
{
	for (size_t i = 0; i < N_MOUNT_KEYS; i++)
		if (!strcmp(key, mount_keys[i].key))
			return (int)i;
	return -1;
}

bool csi_volume_node_key(const char *key)
{
	return in_list(key, node_keys, ARRAY_N(node_keys)) || mount_key(key) >= 0;
}

const char *csi_on_delete_name(enum csi_on_delete p)
{
	return on_delete_names[p];
}

static int copy(char *dst, size_t size, const char *key, const char *value)
{
	int n = snprintf(dst, size, "%s", value);

	if (n < 0 || (size_t)n >= size)
		return t9k_err(T9K_EUSAGE, "volume attribute '%s' is too long", key);
	return 0;
}

static int parse_bool(const char *key, const char *value, bool *out)
{
	if (!strcmp(value, "true") || !strcmp(value, "True"))
		*out = true;
	else if (!strcmp(value, "false") || !strcmp(value, "False") || !*value)
		*out = false;
	else
		return t9k_err(T9K_EUSAGE, "volume attribute %s=%s: want true or false", key, value);
	return 0;
}

/* Checks the options list by the mount's own parser. */
static int check_options(const char *list)
{
	char copy_[sizeof(((struct csi_volume *)0)->options)];
	struct fs_opts o;
	bool cache_data = false;

	snprintf(copy_, sizeof(copy_), "%s", list);
	fs_opts_init(&o);
	return fs_opts_parse(&o, &cache_data, copy_);
}

static int append_option(struct csi_volume *v, const char *opt)
{
	size_t len = strlen(v->options);
	int n = snprintf(v->options + len, sizeof(v->options) - len, "%s%s", len ? "," : "", opt);

	if (n < 0 || (size_t)n >= sizeof(v->options) - len)
		return t9k_err(T9K_EUSAGE, "too many mount options");
	return 0;
}

static int parse_cache_group(const char *value, struct csi_volume *v)
{
	char **list;
	int n, rc;

	if (value[0] == '@')
		rc = meta_cache_group_name_check(value + 1);
	else if ((rc = cache_net_list(value, &list, &n)) == 0)
		cache_net_list_free(list);
	if (rc < 0)
		return t9k_err_wrap(T9K_EUSAGE, "volume attribute cacheGroup=%s", value);
	return copy(v->cache_group, sizeof(v->cache_group), "cacheGroup", value);
}

static int parse_path(const char *value, struct csi_volume *v)
{
	const char *p = value;
	size_t len;

	while (*p == '/')
		p++;
	len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	if (len >= sizeof(v->path))
		return t9k_err(T9K_EUSAGE, "volume attribute path is too long");
	memcpy(v->path, p, len);
	v->path[len] = '\0';
	if (len && meta_path_check(v->path) < 0)
		return t9k_err(T9K_EUSAGE, "volume attribute path=%s: want a directory inside the "
			       "repository, without '.' or '..' components", value);
	return 0;
}

int csi_volume_parse(const struct csi_kv *kv, size_t n, bool storage_class, struct csi_volume *v)
{
	const char *mount_vals[N_MOUNT_KEYS] = { 0 };
	bool has_repo = false;
	int rc = 0;

	memset(v, 0, sizeof(*v));
	snprintf(v->ref, sizeof(v->ref), "%s", REPO_DEFAULT_BRANCH);
	snprintf(v->from_ref, sizeof(v->from_ref), "%s", REPO_DEFAULT_BRANCH);
	snprintf(v->branch_prefix, sizeof(v->branch_prefix), "%s", CSI_DEFAULT_BRANCH_PREFIX);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *k = kv[i].key, *val = kv[i].value ? kv[i].value : "";
		int m;

		if (strchr(k, '/')) {
			if (!strcmp(k, "csi.storage.k8s.io/ephemeral"))
				rc = parse_bool(k, val, &v->ephemeral);
		} else if (!strcmp(k, "repo")) {
			rc = meta_repo_name_check(val);
			if (rc < 0)
				rc = t9k_err_wrap(T9K_EUSAGE, "volume attribute repo");
			else
				rc = copy(v->repo, sizeof(v->repo), k, val);
			has_repo = true;
		} else if (!strcmp(k, "ref") || !strcmp(k, "fromRef")) {
			if (!strcmp(k, "fromRef") && !storage_class)
				goto class_only;
			if (!*val || strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						 "0123456789._-~") != strlen(val))
				rc = t9k_err(T9K_EUSAGE, "volume attribute %s='%s': want a branch, tag or "
					     "commit, optionally with ~N", k, val);
			else
				rc = copy(!strcmp(k, "ref") ? v->ref : v->from_ref, sizeof(v->ref), k, val);
		} else if (!strcmp(k, "path")) {
			rc = parse_path(val, v);
		} else if (!strcmp(k, "readOnly")) {
			rc = parse_bool(k, val, &v->read_only);
		} else if (!strcmp(k, "cacheGroup")) {
			rc = *val ? parse_cache_group(val, v) : 0;
		} else if ((m = mount_key(k)) >= 0) {
			mount_vals[m] = val;
		} else if (!strcmp(k, "branchPrefix")) {
			if (!storage_class)
				goto class_only;
			if (*val && meta_ref_name_check(val) < 0)
				rc = t9k_err(T9K_EUSAGE, "parameter branchPrefix='%s': want the start of a "
					     "branch name ([A-Za-z0-9._-])", val);
			else
				rc = copy(v->branch_prefix, sizeof(v->branch_prefix), k, val);
		} else if (!strcmp(k, "onDelete")) {
			size_t p;

			if (!storage_class)
				goto class_only;
			for (p = 0; p < ARRAY_N(on_delete_names) && strcmp(val, on_delete_names[p]); p++)
				;
			if (p == ARRAY_N(on_delete_names))
				rc = t9k_err(T9K_EUSAGE, "parameter onDelete='%s': want delete, retain or "
					     "commit", val);
			v->on_delete = (enum csi_on_delete)p;
		} else {
			rc = t9k_err(T9K_EUSAGE, "unknown volume attribute '%s' (known: repo, ref, path, "
				     "readOnly, cacheGroup and the 't9kfs mount -o' options)", k);
		}
		continue;
class_only:
		rc = t9k_err(T9K_EUSAGE, "volume attribute '%s' is a StorageClass parameter, not a "
			     "volume's", k);
	}
	if (rc < 0)
		return rc;
	if (!has_repo)
		return t9k_err(T9K_EUSAGE, "volume attribute 'repo' is required");
	for (size_t i = 0; i < N_MOUNT_KEYS && rc == 0; i++) {
		char opt[300];
		bool on;

		if (!mount_vals[i])
			continue;
		if (mount_keys[i].flag) {
			rc = parse_bool(mount_keys[i].key, mount_vals[i], &on);
			if (rc == 0 && on)
				rc = append_option(v, mount_keys[i].key);
			continue;
		}
		if ((size_t)snprintf(opt, sizeof(opt), "%s=%s", mount_keys[i].key, mount_vals[i]) >=
		    sizeof(opt))
			return t9k_err(T9K_EUSAGE, "volume attribute %s is too long", mount_keys[i].key);
		rc = append_option(v, opt);
	}
	if (rc == 0 && v->options[0] && (rc = check_options(v->options)) < 0)
		return t9k_err_wrap(T9K_EUSAGE, "volume attributes");
	return rc;
}

int csi_volume_add_flags(struct csi_volume *v, char *const *flags, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *f = flags[i];

		if (!strcmp(f, "ro"))
			v->read_only = true;
		else if (!strcmp(f, "rw") || !strcmp(f, "allow_other"))
			continue; /* rw: the default; allow_other: always set */
		else if (strchr(f, ',') || (rc = check_options(f)) < 0)
			return t9k_err(T9K_EUSAGE, "mount flag '%s': %s", f,
				       rc < 0 ? t9k_errmsg(rc) : "one option per flag");
		else
			rc = append_option(v, f);
	}
	return rc;
}

int csi_ref_name(const char *prefix, const char *name, char *out, size_t outsz)
{
	char cand[2 * CSI_ID_MAX + 2], hex[OID_HEXSZ + 1];
	size_t keep = META_REPO_NAME_MAX - 17;
	struct oid id;
	int n;

	if (outsz < META_REPO_NAME_MAX + 1 || !*name)
		return t9k_err(T9K_EUSAGE, "a name is required");
	n = snprintf(cand, sizeof(cand), "%s%s", strncmp(name, prefix, strlen(prefix)) ? prefix : "",
		     name);
	if (n > 0 && (size_t)n < sizeof(cand) && meta_ref_name_check(cand) == 0) {
		snprintf(out, outsz, "%s", cand);
		return 0;
	}
	if (oid_hash(&id, name, strlen(name)) < 0)
		return t9k_err(-ENOMEM, "out of memory");
	for (size_t i = 0; cand[i]; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", cand[i]))
			cand[i] = '-';
	if (cand[0] == '.' || cand[0] == '-')
		cand[0] = 'x';
	cand[keep < strlen(cand) ? keep : strlen(cand)] = '\0';
	snprintf(out, outsz, "%s-%.16s", cand, oid_to_hex(&id, hex));
	return 0;
}

/* ---- ids ---- */

int csi_volume_id_format(const char *repo, const char *branch, enum csi_on_delete p, char *out,
			 size_t outsz)
{
	int n = snprintf(out, outsz, "%s@%s/%s", repo, branch, on_delete_names[p]);

	if (n < 0 || (size_t)n >= outsz || n > CSI_ID_MAX)
		return t9k_err(T9K_EUSAGE, "volume id '%s@%s/%s' is longer than the %d bytes CSI "
			       "allows: use a shorter repository name or branchPrefix", repo, branch,
			       on_delete_names[p], CSI_ID_MAX);
	return 0;
}

/* Splits "REPO@REST" into repo and rest; both must be valid names. */
static int split_at(const char *id, char *repo, char *rest, size_t restsz, const char *what)
{
	const char *at = strchr(id, '@');
	size_t rl = at ? (size_t)(at - id) : 0;

	if (!at || rl == 0 || rl > META_REPO_NAME_MAX || strlen(at + 1) >= restsz)
		return t9k_err(T9K_EUSAGE, "'%s' is not a t9kfs %s id", id, what);
	memcpy(repo, id, rl);
	repo[rl] = '\0';
	snprintf(rest, restsz, "%s", at + 1);
	if (meta_repo_name_check(repo) < 0)
		return t9k_err(T9K_EUSAGE, "'%s' is not a t9kfs %s id", id, what);
	return 0;
}

int csi_volume_id_parse(const char *id, char *repo, char *branch, enum csi_on_delete *p)
{
	char rest[META_REPO_NAME_MAX + 16], *slash;
	size_t i;
	int rc = split_at(id, repo, rest, sizeof(rest), "volume");

	if (rc < 0)
		return rc;
	slash = strchr(rest, '/');
	if (!slash)
		return t9k_err(T9K_EUSAGE, "'%s' is not a t9kfs volume id", id);
	*slash = '\0';
	for (i = 0; i < ARRAY_N(on_delete_names) && strcmp(slash + 1, on_delete_names[i]); i++)
		;
	if (i == ARRAY_N(on_delete_names) || meta_ref_name_check(rest) < 0)
		return t9k_err(T9K_EUSAGE, "'%s' is not a t9kfs volume id", id);
	memcpy(branch, rest, strlen(rest) + 1);
	*p = (enum csi_on_delete)i;
	return 0;
}

int csi_snapshot_id_format(const char *repo, const struct oid *commit, char *out, size_t outsz)
{
	char hex[OID_HEXSZ + 1];
	int n = snprintf(out, outsz, "%s@%s", repo, oid_to_hex(commit, hex));

	if (n < 0 || (size_t)n >= outsz || n > CSI_ID_MAX)
		return t9k_err(T9K_EUSAGE, "snapshot id of repository '%s' would be longer than the "
			       "%d bytes CSI allows: use a repository name of at most %d bytes", repo,
			       CSI_ID_MAX, CSI_ID_MAX - OID_HEXSZ - 1);
	return 0;
}

int csi_snapshot_id_parse(const char *id, char *repo, struct oid *commit)
{
	char rest[OID_HEXSZ + 2];
	int rc = split_at(id, repo, rest, sizeof(rest), "snapshot");

	if (rc < 0)
		return rc;
	if (strlen(rest) != OID_HEXSZ || oid_from_hex(commit, rest) < 0)
		return t9k_err(T9K_EUSAGE, "'%s' is not a t9kfs snapshot id", id);
	return 0;
}
