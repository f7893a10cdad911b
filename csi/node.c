/* The CSI Node service: volumes staged as one t9kfs FUSE mount per volume
 * (or per shared inline volume) and bind-mounted into each pod's target.
 *
 * A stage is one mount: NodeStageVolume's staging path, or, for an inline
 * ephemeral volume, a directory of the state dir shared by every inline
 * volume of the same ref, mode and options on this node. The node's
 * mounter (csi/mounter.h) runs the mount daemons, so they outlive this
 * process. NodePublishVolume bind-mounts the stage (or its `path`
 * directory, opened beneath the mount without following symlinks, so a
 * dataset cannot point a bind outside itself) into the target, nosuid and
 * nodev, read-only where asked or where the mount is.
 *
 * State: each stage and its targets are a JSON file in STATE/stages/,
 * written (temp file, fsync, rename) after every change, and loaded at
 * start. A monitor thread checks every check_ms that each stage answers
 * and each target is bound; a dead stage (its daemon killed) is reported
 * abnormal, remounted through the mounter and bound again into every
 * target, so new opens work without restarting the pod.
 *
 * Locking: n->lock protects the stage list and every field of a stage.
 * An operation marks its stage busy and drops the lock for mounts, binds
 * and file writes; others wait (up to BUSY_WAIT_S) for it. statvfs of a
 * mount is never done under the lock.
 */
#include "csi/csi-internal.h"

#include "csi/mounter.h"
#include "fs/fs.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define STATE_VERSION 1
#define BUSY_WAIT_S 120     /* a call waits this long for another on the same volume */
#define MOUNTER_TIMEOUT_S 170 /* the mounter kills a command after 150 s */
#define HEALTH_EVERY 5      /* monitor rounds between checks of the metadata service */

struct target {
	char path[PATH_MAX];
	char volume_id[CSI_ID_MAX + 1];
	char dir[REPO_PATH_MAX + 1];         /* the directory of the mount it shows */
	bool read_only;
	struct target *next;
};

struct stage {
	char key[17];                        /* state file name: hash of staging */
	char staging[PATH_MAX];
	char volume_id[CSI_ID_MAX + 1];      /* "" for a shared inline stage */
	bool ephemeral;
	char share_key[17];                  /* inline: hash of what is mounted */
	bool created_dir;                    /* remove staging when unstaged */
	char repo[META_REPO_NAME_MAX + 1];
	char ref[META_REF_MAX + 1];          /* as the volume names it */
	char spec[META_REPO_NAME_MAX + META_REF_MAX + 2]; /* what is mounted */
	char options[1200];
	char cache_group[1024];
	char path[REPO_PATH_MAX + 1];        /* the directory targets see ("" for
					      * a shared inline stage: each target
					      * has its own) */
	bool read_only;                      /* the mount itself */
	struct target *targets;
	bool busy;
	bool mounted;                        /* the mount is up (recorded) */
	char abnormal[600];                  /* "" while healthy */
	struct stage *next;
};

struct csi_node {
	struct csi_driver *d;
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* a stage stopped being busy; stop */
	struct stage *stages;
	pthread_t monitor;
	bool monitor_started, stop;
	bool meta_ok;          /* the metadata service's last health check */
};

/* ---- paths and mounts ---- */

static void key_of(const char *s, char out[17])
{
	char hex[OID_HEXSZ + 1];
	struct oid id;

	oid_hash(&id, s, strlen(s));
	oid_to_hex(&id, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

/* An absolute path without '.', '..' or repeated '/' (as mountinfo shows
 * mount points); the directory above it resolved (it must exist). */
static int clean_path(const char *field, const char *in, char *out, size_t size)
{
	char *a = strdup(in), *b = strdup(in), dir[PATH_MAX];
	const char *base;
	int rc = 0, n;

	if (!a || !b) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	if (in[0] != '/') {
		rc = t9k_err(T9K_EUSAGE, "%s '%s' is not an absolute path", field, in);
		goto out;
	}
	base = basename(b);
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/")) {
		rc = t9k_err(T9K_EUSAGE, "%s '%s' is not a directory path", field, in);
		goto out;
	}
	if (!realpath(dirname(a), dir)) {
		rc = t9k_err(-errno == -ENOENT ? T9K_ENOTFOUND : -errno, "%s '%s': its directory: %s",
			     field, in, strerror(errno));
		goto out;
	}
	n = snprintf(out, size, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base);
	if (n < 0 || (size_t)n >= size)
		rc = t9k_err(-ENAMETOOLONG, "%s '%s' is too long", field, in);
out:
	free(a);
	free(b);
	return rc;
}

static bool is_t9kfs(const char *path)
{
	char type[64];

	return fs_mount_info(path, NULL, NULL, type, sizeof(type)) == 0 &&
	       !strcmp(type, "fuse.t9kfs");
}

static bool is_mount(const char *path)
{
	return fs_mount_info(path, NULL, NULL, NULL, 0) == 0;
}

/* Whether path is a t9kfs mount that answers; why says what is wrong. */
static bool answers(const char *path, char *why, size_t whysz)
{
	struct statvfs sv;

	if (!is_t9kfs(path)) {
		snprintf(why, whysz, "%s is not mounted", path);
		return false;
	}
	if (statvfs(path, &sv) < 0) {
		snprintf(why, whysz, "%s: %s%s", path, strerror(errno),
			 errno == ENOTCONN ? " (its mount daemon is gone)" : "");
		return false;
	}
	return true;
}

/* Detaches every mount stacked on path. */
static int unbind(const char *path)
{
	for (int i = 0; i < 16 && is_mount(path); i++)
		if (umount2(path, MNT_DETACH) < 0)
			return t9k_err(-errno, "cannot unmount %s: %s", path, strerror(errno));
	return 0;
}

/* Opens (O_PATH) directory dir of the mount of s, beneath the mount and
 * without following symlinks, so a dataset cannot point a bind outside
 * itself. */
static int open_source(const struct stage *s, const char *dir, int *out)
{
	int fd = open_dir_beneath(s->staging, dir);

	if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV)
		return t9k_err(T9K_ENOTFOUND, "path '%s' is not a directory of %s (symlinks are not "
			       "followed): %s", dir, s->spec, strerror(-fd));
	if (fd < 0)
		return t9k_err(fd, "%s%s%s: %s", s->staging, *dir ? "/" : "", dir, strerror(-fd));
	*out = fd;
	return 0;
}

/* Binds directory dir of stage s at target, nosuid and nodev, read-only
 * when ro. */
static int bind_target(const struct stage *s, const char *dir, const char *target, bool ro)
{
	char src[64];
	int fd, rc = open_source(s, dir, &fd);

	if (rc < 0)
		return rc;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	if (mount(src, target, NULL, MS_BIND, NULL) < 0) {
		rc = t9k_err(-errno, "cannot bind %s at %s: %s", s->staging, target, strerror(errno));
	} else if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV |
			 (ro ? MS_RDONLY : 0), NULL) < 0) {
		rc = t9k_err(-errno, "cannot make the bind at %s %s: %s", target,
			     ro ? "read-only" : "nosuid", strerror(errno));
		umount2(target, MNT_DETACH);
	}
	close(fd);
	return rc;
}

/* mkdir of a target or staging directory: 1 when created, 0 when it was
 * a directory already. */
static int make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0750) == 0)
		return 1;
	if (errno != EEXIST)
		return t9k_err(-errno, "cannot create %s: %s", path, strerror(errno));
	if (stat(path, &st) < 0) { /* a dead mount: still a mount point */
		if (errno == ENOTCONN)
			return 0;
		return t9k_err(-errno, "%s: %s", path, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return t9k_err(-ENOTDIR, "%s exists and is not a directory", path);
	return 0;
}

/* ---- the state directory ---- */

static void stage_free(struct stage *s)
{
	while (s && s->targets) {
		struct target *t = s->targets;

		s->targets = t->next;
		free(t);
	}
	free(s);
}

static int state_file(struct csi_node *n, const struct stage *s, const char *suffix, char *out,
		      size_t size)
{
	int k = snprintf(out, size, "%s/stages/%s.json%s", n->d->state_dir, s->key, suffix);

	return k < 0 || (size_t)k >= size ? t9k_err(-ENAMETOOLONG, "state path too long") : 0;
}

/* Writes s to its file (temp, fsync, rename, fsync of the directory). */
static int state_save(struct csi_node *n, const struct stage *s)
{
	char path[PATH_MAX + 64], tmp[PATH_MAX + 64], dir[PATH_MAX + 16];
	json_t *j, *ts = json_array();
	char *text = NULL;
	int fd = -1, rc;

	for (const struct target *t = s->targets; t && ts; t = t->next)
		json_array_append_new(ts, json_pack("{s:s,s:s,s:s,s:b}", "path", t->path, "volume_id",
						    t->volume_id, "dir", t->dir, "read_only",
						    t->read_only));
	j = json_pack("{s:i,s:s,s:s,s:b,s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:o}", "version",
		      STATE_VERSION, "staging", s->staging, "volume_id", s->volume_id, "ephemeral",
		      s->ephemeral, "share_key", s->share_key, "created_dir", s->created_dir, "repo",
		      s->repo, "ref", s->ref, "spec", s->spec, "options", s->options, "cache_group",
		      s->cache_group, "path", s->path, "read_only", s->read_only, "targets", ts);
	rc = state_file(n, s, "", path, sizeof(path));
	if (rc == 0)
		rc = state_file(n, s, ".tmp", tmp, sizeof(tmp));
	if (rc < 0)
		goto out;
	text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	if (!text) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_full(fd, text, strlen(text)) < 0 || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		rc = t9k_err(-errno, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/stages", n->d->state_dir);
	fsync_dir(dir);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(j);
	return rc;
}

static void state_remove(struct csi_node *n, const struct stage *s)
{
	char path[PATH_MAX + 64], dir[PATH_MAX + 16];

	if (state_file(n, s, "", path, sizeof(path)) == 0 && unlink(path) < 0 && errno != ENOENT)
		t9k_log(T9K_LOG_WARN, "csi: cannot remove %s: %s", path, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/stages", n->d->state_dir);
	fsync_dir(dir);
}

static int copy_str(char *dst, size_t size, json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));

	if (!v || strlen(v) >= size)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* One stage from its state file; NULL (logged) when the file is bad. */
static struct stage *state_load_one(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr), *t;
	struct stage *s = calloc(1, sizeof(*s));
	size_t i;
	int rc = j && s ? 0 : -EINVAL;

	if (rc == 0 && json_integer_value(json_object_get(j, "version")) != STATE_VERSION)
		rc = -EINVAL;
	if (rc == 0)
		rc = copy_str(s->staging, sizeof(s->staging), j, "staging");
	if (rc == 0)
		rc = copy_str(s->volume_id, sizeof(s->volume_id), j, "volume_id");
	if (rc == 0)
		rc = copy_str(s->share_key, sizeof(s->share_key), j, "share_key");
	if (rc == 0)
		rc = copy_str(s->repo, sizeof(s->repo), j, "repo");
	if (rc == 0)
		rc = copy_str(s->ref, sizeof(s->ref), j, "ref");
	if (rc == 0)
		rc = copy_str(s->spec, sizeof(s->spec), j, "spec");
	if (rc == 0)
		rc = copy_str(s->options, sizeof(s->options), j, "options");
	if (rc == 0)
		rc = copy_str(s->cache_group, sizeof(s->cache_group), j, "cache_group");
	if (rc == 0)
		rc = copy_str(s->path, sizeof(s->path), j, "path");
	if (rc == 0) {
		s->ephemeral = json_is_true(json_object_get(j, "ephemeral"));
		s->created_dir = json_is_true(json_object_get(j, "created_dir"));
		s->read_only = json_is_true(json_object_get(j, "read_only"));
		s->mounted = true;
		key_of(s->staging, s->key);
	}
	json_array_foreach(json_object_get(j, "targets"), i, t) {
		struct target *tg = rc == 0 ? calloc(1, sizeof(*tg)) : NULL;

		if (!tg || copy_str(tg->path, sizeof(tg->path), t, "path") < 0 ||
		    copy_str(tg->volume_id, sizeof(tg->volume_id), t, "volume_id") < 0 ||
		    copy_str(tg->dir, sizeof(tg->dir), t, "dir") < 0) {
			free(tg);
			rc = -EINVAL;
			break;
		}
		tg->read_only = json_is_true(json_object_get(t, "read_only"));
		tg->next = s->targets;
		s->targets = tg;
	}
	json_decref(j);
	if (rc < 0) {
		t9k_log(T9K_LOG_ERROR, "csi: ignoring state file %s: %s", path,
			j ? "bad contents" : jerr.text);
		stage_free(s);
		return NULL;
	}
	return s;
}

static int state_load(struct csi_node *n)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 300];
	struct dirent *de;
	int rc, count = 0;
	DIR *dh;

	snprintf(dir, sizeof(dir), "%s/stages", n->d->state_dir);
	rc = mkdir_p(dir, 0700);
	if (rc < 0)
		return t9k_err(rc, "cannot create %s: %s", dir, strerror(-rc));
	snprintf(path, sizeof(path), "%s/ephemeral", n->d->state_dir);
	rc = mkdir_p(path, 0700);
	if (rc < 0)
		return t9k_err(rc, "cannot create %s: %s", path, strerror(-rc));
	dh = opendir(dir);
	if (!dh)
		return t9k_err(-errno, "cannot read %s: %s", dir, strerror(errno));
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		struct stage *s;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		s = state_load_one(path);
		if (!s)
			continue;
		s->next = n->stages;
		n->stages = s;
		count++;
	}
	closedir(dh);
	t9k_log(T9K_LOG_INFO, "csi: %d staged volumes in %s", count, dir);
	return 0;
}

/* ---- stages ---- */

static struct stage *find_staging(struct csi_node *n, const char *staging)
{
	for (struct stage *s = n->stages; s; s = s->next)
		if (!strcmp(s->staging, staging))
			return s;
	return NULL;
}

static struct stage *find_share(struct csi_node *n, const char *share_key)
{
	for (struct stage *s = n->stages; s; s = s->next)
		if (s->ephemeral && !strcmp(s->share_key, share_key))
			return s;
	return NULL;
}

static struct stage *find_target(struct csi_node *n, const char *path, struct target **out)
{
	for (struct stage *s = n->stages; s; s = s->next)
		for (struct target *t = s->targets; t; t = t->next)
			if (!strcmp(t->path, path)) {
				if (out)
					*out = t;
				return s;
			}
	return NULL;
}

/* Waits (n->lock held) while find(key) is busy: the stage, NULL when
 * there is none, or (void *)-1 after BUSY_WAIT_S. */
static struct stage *wait_idle(struct csi_node *n, struct stage *(*find)(struct csi_node *,
									  const char *),
			       const char *key)
{
	struct timespec until;
	struct stage *s;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += BUSY_WAIT_S;
	while ((s = find(n, key)) && s->busy)
		if (pthread_cond_timedwait(&n->cond, &n->lock, &until) == ETIMEDOUT)
			return (void *)-1;
	return s;
}

static struct stage *find_target_stage(struct csi_node *n, const char *path)
{
	return find_target(n, path, NULL);
}

static void unbusy(struct csi_node *n, struct stage *s)
{
	pthread_mutex_lock(&n->lock);
	s->busy = false;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

/* Takes s out of the list and frees it (lock held). */
static void drop_stage(struct csi_node *n, struct stage *s)
{
	struct stage **pp;

	for (pp = &n->stages; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	pthread_cond_broadcast(&n->cond);
	stage_free(s);
}

/* Mounts stage s through the mounter (s is busy: no lock needed) and
 * checks that it answers. A mount already there is unmounted first: a
 * stage without a record is left over from a call that died. */
static int stage_mount(struct csi_node *n, struct stage *s)
{
	char why[PATH_MAX + 200];
	int rc;

	if (is_t9kfs(s->staging) && !answers(s->staging, why, sizeof(why)))
		t9k_log(T9K_LOG_WARN, "csi: %s", why);
	rc = csi_mounter_mount(n->d->mounter, s->spec, s->staging, s->options, s->cache_group,
			       MOUNTER_TIMEOUT_S);
	if (rc < 0)
		return t9k_err_wrap(rc, "mounting %s at %s", s->spec, s->staging);
	if (!answers(s->staging, why, sizeof(why)))
		return t9k_err(-EIO, "mounted %s, but %s", s->spec, why);
	return 0;
}

/* What a volume's mount is: the spec (a commit id unless it is a branch
 * mount, which follows or writes the branch), options and mode. */
static void plan_mount(struct stage *s, const struct csi_volume *v, const struct oid *commit,
		       bool is_branch, bool ro)
{
	char hex[OID_HEXSZ + 1];

	snprintf(s->repo, sizeof(s->repo), "%s", v->repo);
	snprintf(s->ref, sizeof(s->ref), "%s", v->ref);
	snprintf(s->path, sizeof(s->path), "%s", v->path);
	snprintf(s->cache_group, sizeof(s->cache_group), "%s", v->cache_group);
	s->read_only = ro || !is_branch;
	if (is_branch)
		snprintf(s->spec, sizeof(s->spec), "%s@%s", v->repo, v->ref);
	else
		snprintf(s->spec, sizeof(s->spec), "%s@%s", v->repo, oid_to_hex(commit, hex));
	/* pods run as any user: allow_other; a branch read-only: ro */
	snprintf(s->options, sizeof(s->options), "allow_other%s%s%s",
		 is_branch && ro ? ",ro" : "", v->options[0] ? "," : "", v->options);
}

/* Resolves the volume's ref; fails out with NOT_FOUND naming what is missing. */
static bool resolve_volume(struct csi_driver *d, const char *volume_id, const struct csi_volume *v,
			   struct oid *commit, bool *is_branch, struct csi_reply *out)
{
	int rc = csi_resolve(d, v->repo, v->ref, commit, is_branch);

	if (rc < 0)
		csi_fail_rc(out, rc, "volume '%s' (%s@%s)", volume_id, v->repo, v->ref);
	return rc == 0;
}

static bool same_mount(const struct stage *a, const struct stage *b)
{
	return !strcmp(a->spec, b->spec) && !strcmp(a->options, b->options) &&
	       !strcmp(a->cache_group, b->cache_group) && !strcmp(a->path, b->path) &&
	       a->read_only == b->read_only;
}

/* ---- NodeStageVolume, NodeUnstageVolume ---- */

void csi_node_stage(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	struct csi_node *n = d->ns;
	const Csi__V1__NodeStageVolumeRequest *req = (const void *)msg;
	Csi__V1__NodeStageVolumeResponse resp = CSI__V1__NODE_STAGE_VOLUME_RESPONSE__INIT;
	struct stage *want = calloc(1, sizeof(*want)), *s;
	char why[sizeof(want->abnormal)];
	struct csi_volume v;
	struct oid commit;
	bool is_branch;
	int rc;

	if (!want) {
		csi_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		goto out;
	}
	if (!*req->staging_target_path) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "staging_target_path is required");
		goto out;
	}
	if (!csi_capability_ok(req->volume_capability, "volume_capability", out) ||
	    !csi_volume_of((void *const *)req->volume_context, req->n_volume_context, false, &v, out))
		goto out;
	rc = csi_volume_add_flags(&v, req->volume_capability->mount->mount_flags,
				  req->volume_capability->mount->n_mount_flags);
	if (rc == 0)
		rc = clean_path("staging_target_path", req->staging_target_path, want->staging,
				sizeof(want->staging));
	if (rc < 0) {
		csi_fail(out, csi_status(rc) == GRPC_STATUS_NOT_FOUND ? GRPC_STATUS_INVALID_ARGUMENT :
			 csi_status(rc), "%s", t9k_errmsg(rc));
		goto out;
	}
	if (!resolve_volume(d, req->volume_id, &v, &commit, &is_branch, out))
		goto out;
	snprintf(want->volume_id, sizeof(want->volume_id), "%s", req->volume_id);
	key_of(want->staging, want->key);
	plan_mount(want, &v, &commit, is_branch, v.read_only ||
		   csi_mode_read_only(req->volume_capability));

	pthread_mutex_lock(&n->lock);
	s = wait_idle(n, find_staging, want->staging);
	if (s == (void *)-1) {
		pthread_mutex_unlock(&n->lock);
		csi_fail(out, GRPC_STATUS_ABORTED, "another call on %s is still running",
			 want->staging);
		goto out;
	}
	if (s && (strcmp(s->volume_id, want->volume_id) || !same_mount(s, want))) {
		pthread_mutex_unlock(&n->lock);
		csi_fail(out, GRPC_STATUS_ALREADY_EXISTS, "%s already stages volume '%s' (%s)",
			 want->staging, s->volume_id, s->spec);
		goto out;
	}
	if (!s) {
		s = want;
		want = NULL;
		s->next = n->stages;
		n->stages = s;
	}
	s->busy = true;
	pthread_mutex_unlock(&n->lock);

	if (s->mounted && answers(s->staging, why, sizeof(why))) {
		rc = 0; /* a retry */
	} else {
		rc = make_dir(s->staging);
		if (rc > 0 && !s->mounted)
			s->created_dir = true;
		if (rc >= 0)
			rc = stage_mount(n, s);
		if (rc == 0 && s->path[0]) { /* the directory must be there */
			int fd;

			rc = open_source(s, s->path, &fd);
			if (rc == 0) {
				close(fd);
			} else {
				snprintf(why, sizeof(why), "%s", t9k_errmsg(rc));
				csi_mounter_umount(n->d->mounter, s->staging, MOUNTER_TIMEOUT_S);
				rc = t9k_err(rc, "%s", why);
			}
		}
		if (rc == 0) {
			pthread_mutex_lock(&n->lock);
			s->mounted = true;
			s->abnormal[0] = '\0';
			pthread_mutex_unlock(&n->lock);
			rc = state_save(n, s);
		}
	}
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s'", req->volume_id);
		pthread_mutex_lock(&n->lock);
		if (!s->mounted) {
			if (s->created_dir)
				rmdir(s->staging);
			drop_stage(n, s);
		} else {
			s->busy = false;
			pthread_cond_broadcast(&n->cond);
		}
		pthread_mutex_unlock(&n->lock);
		goto out;
	}
	t9k_log(T9K_LOG_INFO, "csi: staged %s (%s, %s) at %s", s->volume_id, s->spec,
		s->read_only ? "read-only" : "read-write", s->staging);
	unbusy(n, s);
	csi_reply_ok(out, &resp.base);
out:
	free(want);
}

void csi_node_unstage(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	struct csi_node *n = d->ns;
	const Csi__V1__NodeUnstageVolumeRequest *req = (const void *)msg;
	Csi__V1__NodeUnstageVolumeResponse resp = CSI__V1__NODE_UNSTAGE_VOLUME_RESPONSE__INIT;
	char staging[PATH_MAX];
	struct stage *s;
	int rc;

	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!*req->staging_target_path) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "staging_target_path is required");
		return;
	}
	rc = clean_path("staging_target_path", req->staging_target_path, staging, sizeof(staging));
	if (rc == T9K_ENOTFOUND) { /* its directory is gone: so is the volume */
		csi_reply_ok(out, &resp.base);
		return;
	}
	if (rc < 0) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "%s", t9k_errmsg(rc));
		return;
	}
	pthread_mutex_lock(&n->lock);
	s = wait_idle(n, find_staging, staging);
	if (s == (void *)-1) {
		pthread_mutex_unlock(&n->lock);
		csi_fail(out, GRPC_STATUS_ABORTED, "another call on %s is still running", staging);
		return;
	}
	if (s && strcmp(s->volume_id, req->volume_id)) {
		pthread_mutex_unlock(&n->lock);
		csi_fail(out, GRPC_STATUS_NOT_FOUND, "%s stages volume '%s', not '%s'", staging,
			 s->volume_id, req->volume_id);
		return;
	}
	if (s && s->targets) {
		csi_fail(out, GRPC_STATUS_FAILED_PRECONDITION, "volume '%s' is still published at %s",
			 req->volume_id, s->targets->path);
		pthread_mutex_unlock(&n->lock);
		return;
	}
	if (s)
		s->busy = true;
	pthread_mutex_unlock(&n->lock);

	/* without a record, a t9kfs mount here is left from a call that died */
	rc = csi_mounter_umount(d->mounter, staging, MOUNTER_TIMEOUT_S);
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s': unmounting %s", req->volume_id, staging);
		if (s)
			unbusy(n, s);
		return;
	}
	if (s) {
		if (s->created_dir && rmdir(s->staging) < 0 && errno != ENOENT)
			t9k_log(T9K_LOG_WARN, "csi: cannot remove %s: %s", s->staging, strerror(errno));
		state_remove(n, s);
		t9k_log(T9K_LOG_INFO, "csi: unstaged %s from %s", req->volume_id, staging);
		pthread_mutex_lock(&n->lock);
		drop_stage(n, s);
		pthread_mutex_unlock(&n->lock);
	}
	csi_reply_ok(out, &resp.base);
}

/* ---- NodePublishVolume, NodeUnpublishVolume ---- */

/* The shared stage of an inline ephemeral volume, created and mounted
 * when it is the first; busy on return (NULL: out failed). */
static struct stage *ephemeral_stage(struct csi_node *n, const Csi__V1__NodePublishVolumeRequest *req,
				     bool *ro, char *dir, struct csi_reply *out)
{
	struct csi_driver *d = n->d;
	struct stage *want = calloc(1, sizeof(*want)), *s = NULL;
	char what[sizeof(want->spec) + sizeof(want->options) + sizeof(want->cache_group) + 8];
	struct csi_volume v;
	struct oid commit;
	bool is_branch;
	int rc;

	if (!want) {
		csi_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	if (!csi_volume_of((void *const *)req->volume_context, req->n_volume_context, false, &v, out))
		goto fail;
	rc = csi_volume_add_flags(&v, req->volume_capability->mount->mount_flags,
				  req->volume_capability->mount->n_mount_flags);
	if (rc < 0) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "%s", t9k_errmsg(rc));
		goto fail;
	}
	if (!resolve_volume(d, req->volume_id, &v, &commit, &is_branch, out))
		goto fail;
	*ro = *ro || v.read_only;
	/* the targets choose their directory: the shared mount is the root */
	plan_mount(want, &v, &commit, is_branch, *ro);
	snprintf(dir, REPO_PATH_MAX + 1, "%s", v.path);
	want->path[0] = '\0';
	snprintf(what, sizeof(what), "%s\n%s\n%s\n%d", want->spec, want->options, want->cache_group,
		 want->read_only);
	key_of(what, want->share_key);
	if ((size_t)snprintf(want->staging, sizeof(want->staging), "%s/ephemeral/%s", d->state_dir,
			     want->share_key) >= sizeof(want->staging)) {
		csi_fail(out, GRPC_STATUS_INTERNAL, "--state-dir is too long");
		goto fail;
	}
	key_of(want->staging, want->key);
	want->ephemeral = true;
	want->created_dir = true;

	pthread_mutex_lock(&n->lock);
	s = wait_idle(n, find_share, want->share_key);
	if (s == (void *)-1) {
		pthread_mutex_unlock(&n->lock);
		csi_fail(out, GRPC_STATUS_ABORTED, "another call on the mount of %s is still running",
			 want->spec);
		goto fail;
	}
	if (!s) {
		s = want;
		want = NULL;
		s->next = n->stages;
		n->stages = s;
	}
	s->busy = true;
	pthread_mutex_unlock(&n->lock);
	free(want);
	if (s->mounted)
		return s;
	rc = make_dir(s->staging);
	if (rc >= 0)
		rc = stage_mount(n, s);
	if (rc == 0) {
		s->mounted = true;
		return s;
	}
	csi_fail_rc(out, rc, "volume '%s'", req->volume_id);
	pthread_mutex_lock(&n->lock);
	rmdir(s->staging);
	drop_stage(n, s);
	pthread_mutex_unlock(&n->lock);
	return NULL;
fail:
	free(want);
	return NULL;
}

void csi_node_publish(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	struct csi_node *n = d->ns;
	const Csi__V1__NodePublishVolumeRequest *req = (const void *)msg;
	Csi__V1__NodePublishVolumeResponse resp = CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT;
	const char *eph = csi_map_get((void *const *)req->volume_context, req->n_volume_context,
				      "csi.storage.k8s.io/ephemeral");
	bool ephemeral = eph && !strcmp(eph, "true"), ro, created = false;
	char target[PATH_MAX], staging[PATH_MAX], why[PATH_MAX + 200], dir[REPO_PATH_MAX + 1];
	struct target *t = NULL;
	struct stage *s, *other;
	int rc;

	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!*req->target_path) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "target_path is required");
		return;
	}
	if (!csi_capability_ok(req->volume_capability, "volume_capability", out))
		return;
	rc = clean_path("target_path", req->target_path, target, sizeof(target));
	if (rc < 0) {
		csi_fail(out, csi_status(rc) == GRPC_STATUS_NOT_FOUND ? GRPC_STATUS_INVALID_ARGUMENT :
			 csi_status(rc), "%s", t9k_errmsg(rc));
		return;
	}
	ro = req->readonly || csi_mode_read_only(req->volume_capability);
	if (ephemeral) {
		s = ephemeral_stage(n, req, &ro, dir, out);
		if (!s)
			return;
	} else {
		if (!*req->staging_target_path) {
			csi_fail(out, GRPC_STATUS_FAILED_PRECONDITION, "volume '%s' is not staged "
				 "(staging_target_path is empty; t9kfs volumes are staged first)",
				 req->volume_id);
			return;
		}
		rc = clean_path("staging_target_path", req->staging_target_path, staging,
				sizeof(staging));
		pthread_mutex_lock(&n->lock);
		s = rc < 0 ? NULL : wait_idle(n, find_staging, staging);
		if (s == (void *)-1) {
			pthread_mutex_unlock(&n->lock);
			csi_fail(out, GRPC_STATUS_ABORTED, "another call on %s is still running", staging);
			return;
		}
		if (!s || strcmp(s->volume_id, req->volume_id)) {
			pthread_mutex_unlock(&n->lock);
			csi_fail(out, GRPC_STATUS_FAILED_PRECONDITION, "volume '%s' is not staged at %s",
				 req->volume_id, req->staging_target_path);
			return;
		}
		s->busy = true;
		snprintf(dir, sizeof(dir), "%s", s->path);
		pthread_mutex_unlock(&n->lock);
	}
	ro = ro || s->read_only;

	pthread_mutex_lock(&n->lock);
	other = find_target(n, target, &t);
	pthread_mutex_unlock(&n->lock);
	if (other && (other != s || strcmp(t->volume_id, req->volume_id) || t->read_only != ro ||
		      strcmp(t->dir, dir))) {
		csi_fail(out, GRPC_STATUS_ALREADY_EXISTS, "%s is published already, as volume '%s'%s",
			 target, t->volume_id, other == s && t->read_only != ro ?
			 (t->read_only ? " read-only" : " read-write") : "");
		goto done;
	}
	if (other) { /* a retry */
		if (!answers(target, why, sizeof(why)))
			t9k_log(T9K_LOG_WARN, "csi: %s: %s (the monitor binds it again)", target, why);
		csi_reply_ok(out, &resp.base);
		goto done;
	}
	rc = make_dir(target);
	created = rc > 0;
	if (rc == 0 && is_mount(target)) {
		if (!is_t9kfs(target)) {
			csi_fail(out, GRPC_STATUS_ALREADY_EXISTS, "%s is a mount point of another file "
				 "system", target);
			goto done;
		}
		rc = unbind(target); /* left from a call that died before its record */
	}
	t = rc >= 0 ? calloc(1, sizeof(*t)) : NULL;
	if (rc >= 0 && !t)
		rc = t9k_err(-ENOMEM, "out of memory");
	if (rc >= 0)
		rc = bind_target(s, dir, target, ro);
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s'", req->volume_id);
		if (created)
			rmdir(target);
		free(t);
		goto done;
	}
	snprintf(t->path, sizeof(t->path), "%s", target);
	snprintf(t->volume_id, sizeof(t->volume_id), "%s", req->volume_id);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	t->read_only = ro;
	pthread_mutex_lock(&n->lock);
	t->next = s->targets;
	s->targets = t;
	pthread_mutex_unlock(&n->lock);
	rc = state_save(n, s);
	if (rc < 0)
		t9k_log(T9K_LOG_ERROR, "csi: %s (the volume is published, a restart will not know it)",
			t9k_errmsg(rc));
	t9k_log(T9K_LOG_INFO, "csi: published %s (%s%s%s) at %s%s", req->volume_id, s->spec,
		dir[0] ? ":" : "", dir, target, ro ? " read-only" : "");
	csi_reply_ok(out, &resp.base);
done:
	pthread_mutex_lock(&n->lock);
	if (s->ephemeral && !s->targets) { /* the first target failed: drop the mount */
		pthread_mutex_unlock(&n->lock);
		csi_mounter_umount(d->mounter, s->staging, MOUNTER_TIMEOUT_S);
		rmdir(s->staging);
		pthread_mutex_lock(&n->lock);
		drop_stage(n, s);
	} else {
		s->busy = false;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
}

void csi_node_unpublish(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	struct csi_node *n = d->ns;
	const Csi__V1__NodeUnpublishVolumeRequest *req = (const void *)msg;
	Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
	char target[PATH_MAX];
	struct target *t = NULL, **pp;
	struct stage *s;
	int rc;

	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!*req->target_path) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "target_path is required");
		return;
	}
	rc = clean_path("target_path", req->target_path, target, sizeof(target));
	if (rc == T9K_ENOTFOUND) {
		csi_reply_ok(out, &resp.base);
		return;
	}
	if (rc < 0) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "%s", t9k_errmsg(rc));
		return;
	}
	pthread_mutex_lock(&n->lock);
	s = wait_idle(n, find_target_stage, target);
	if (s == (void *)-1) {
		pthread_mutex_unlock(&n->lock);
		csi_fail(out, GRPC_STATUS_ABORTED, "another call on the volume at %s is still running",
			 target);
		return;
	}
	if (s) {
		find_target(n, target, &t);
		if (strcmp(t->volume_id, req->volume_id)) {
			pthread_mutex_unlock(&n->lock);
			csi_fail(out, GRPC_STATUS_NOT_FOUND, "%s holds volume '%s', not '%s'", target,
				 t->volume_id, req->volume_id);
			return;
		}
		s->busy = true;
	}
	pthread_mutex_unlock(&n->lock);

	/* without a record, a t9kfs bind here is left from a call that died */
	rc = s || is_t9kfs(target) ? unbind(target) : 0;
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s'", req->volume_id);
		if (s)
			unbusy(n, s);
		return;
	}
	if (rmdir(target) < 0 && errno != ENOENT)
		t9k_log(T9K_LOG_WARN, "csi: cannot remove %s: %s", target, strerror(errno));
	if (!s) {
		csi_reply_ok(out, &resp.base);
		return;
	}
	pthread_mutex_lock(&n->lock);
	for (pp = &s->targets; *pp && *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	free(t);
	pthread_mutex_unlock(&n->lock);
	t9k_log(T9K_LOG_INFO, "csi: unpublished %s from %s", req->volume_id, target);
	if (s->ephemeral && !s->targets) { /* the last pod of an inline volume is gone */
		rc = csi_mounter_umount(d->mounter, s->staging, MOUNTER_TIMEOUT_S);
		if (rc == 0) {
			rmdir(s->staging);
			state_remove(n, s);
			pthread_mutex_lock(&n->lock);
			drop_stage(n, s);
			pthread_mutex_unlock(&n->lock);
			csi_reply_ok(out, &resp.base);
			return;
		}
		/* the target is gone; the monitor or the next unpublish retries nothing:
		 * keep the record so a restart still knows the mount */
		t9k_log(T9K_LOG_ERROR, "csi: cannot unmount %s: %s", s->staging, t9k_errmsg(rc));
	}
	rc = state_save(n, s);
	if (rc < 0)
		t9k_log(T9K_LOG_ERROR, "csi: %s", t9k_errmsg(rc));
	unbusy(n, s);
	csi_reply_ok(out, &resp.base);
}

/* ---- NodeGetVolumeStats, capabilities, info ---- */

void csi_node_get_volume_stats(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	struct csi_node *n = d->ns;
	const Csi__V1__NodeGetVolumeStatsRequest *req = (const void *)msg;
	Csi__V1__NodeGetVolumeStatsResponse resp = CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
	Csi__V1__VolumeUsage usage[2], *pusage[2];
	Csi__V1__VolumeCondition cond = CSI__V1__VOLUME_CONDITION__INIT;
	char path[PATH_MAX], msgbuf[800] = "", spec[sizeof(((struct stage *)0)->spec)] = "";
	struct target *t = NULL;
	struct stage *s;
	struct statvfs sv;
	bool found = false, rw = false;

	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!*req->volume_path) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_path is required");
		return;
	}
	if (clean_path("volume_path", req->volume_path, path, sizeof(path)) == 0) {
		pthread_mutex_lock(&n->lock);
		s = find_target(n, path, &t);
		if (s && !strcmp(t->volume_id, req->volume_id))
			found = true;
		else if ((s = find_staging(n, path)) && !strcmp(s->volume_id, req->volume_id))
			found = true;
		if (found) {
			snprintf(msgbuf, sizeof(msgbuf), "%s", s->abnormal);
			snprintf(spec, sizeof(spec), "%s", s->spec);
			rw = !s->read_only && (!t || !t->read_only);
		}
		pthread_mutex_unlock(&n->lock);
	}
	if (!found) {
		csi_fail(out, GRPC_STATUS_NOT_FOUND, "volume '%s' is not published or staged at %s",
			 req->volume_id, req->volume_path);
		return;
	}
	if (statvfs(path, &sv) < 0) {
		snprintf(msgbuf, sizeof(msgbuf), "%.500s: %s%s", path, strerror(errno),
			 errno == ENOTCONN ? ": the mount daemon is gone; remounting" : "");
	} else {
		for (int i = 0; i < 2; i++) {
			csi__v1__volume_usage__init(&usage[i]);
			pusage[i] = &usage[i];
		}
		usage[0].unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
		usage[0].total = (int64_t)(sv.f_blocks * sv.f_frsize);
		usage[0].available = (int64_t)(sv.f_bavail * sv.f_frsize);
		usage[0].used = (int64_t)((sv.f_blocks - sv.f_bfree) * sv.f_frsize);
		usage[1].unit = CSI__V1__VOLUME_USAGE__UNIT__INODES;
		usage[1].total = (int64_t)sv.f_files;
		usage[1].available = (int64_t)sv.f_favail;
		usage[1].used = (int64_t)(sv.f_files - sv.f_ffree);
		resp.n_usage = 2;
		resp.usage = pusage;
		pthread_mutex_lock(&n->lock);
		if (!msgbuf[0] && rw && !n->meta_ok)
			snprintf(msgbuf, sizeof(msgbuf), "the metadata service does not answer: files "
				 "written to %s are not stored until it does", spec);
		pthread_mutex_unlock(&n->lock);
	}
	cond.abnormal = msgbuf[0] != '\0';
	cond.message = msgbuf[0] ? msgbuf : "ok";
	resp.volume_condition = &cond;
	csi_reply_ok(out, &resp.base);
}

void csi_node_get_capabilities(void *ctx, const ProtobufCMessage *req, struct csi_reply *out)
{
	static const Csi__V1__NodeServiceCapability__RPC__Type types[] = {
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
	};
	Csi__V1__NodeGetCapabilitiesResponse resp = CSI__V1__NODE_GET_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__NodeServiceCapability caps[3], *pcaps[3];
	Csi__V1__NodeServiceCapability__RPC rpc[3];

	(void)ctx, (void)req;
	for (size_t i = 0; i < 3; i++) {
		csi__v1__node_service_capability__init(&caps[i]);
		csi__v1__node_service_capability__rpc__init(&rpc[i]);
		rpc[i].type = types[i];
		caps[i].type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
		caps[i].rpc = &rpc[i];
		pcaps[i] = &caps[i];
	}
	resp.n_capabilities = 3;
	resp.capabilities = pcaps;
	csi_reply_ok(out, &resp.base);
}

void csi_node_get_info(void *ctx, const ProtobufCMessage *req, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT, *ptopo = &topo;
	Csi__V1__Topology__SegmentsEntry seg = CSI__V1__TOPOLOGY__SEGMENTS_ENTRY__INIT, *pseg = &seg;

	(void)req;
	seg.key = CSI_TOPOLOGY_KEY;
	seg.value = d->node_id;
	topo.n_segments = 1;
	topo.segments = &pseg;
	resp.node_id = d->node_id;
	resp.n_accessible_topology = 1;
	resp.accessible_topology = &ptopo;
	csi_reply_ok(out, &resp.base);
}

int csi_node_health(struct csi_driver *d)
{
	return csi_mounter_ping(d->mounter, CSI_PROBE_TIMEOUT);
}

/* ---- the monitor ---- */

/* Mounts s again and binds it into every target (s is busy). */
static void recover(struct csi_node *n, struct stage *s)
{
	char why[sizeof(s->abnormal)];
	int rc = stage_mount(n, s);

	if (rc < 0) {
		pthread_mutex_lock(&n->lock);
		snprintf(s->abnormal, sizeof(s->abnormal), "remounting %.100s at %.200s failed: %.250s",
			 s->spec, s->staging, t9k_errmsg(rc));
		pthread_mutex_unlock(&n->lock);
		t9k_log(T9K_LOG_ERROR, "csi: %s", s->abnormal);
		return;
	}
	why[0] = '\0';
	for (struct target *t = s->targets; t; t = t->next) {
		rc = unbind(t->path);
		if (rc == 0 && make_dir(t->path) >= 0)
			rc = bind_target(s, t->dir, t->path, t->read_only);
		if (rc < 0) {
			snprintf(why, sizeof(why), "binding %.200s again: %.300s", t->path,
				 t9k_errmsg(rc));
			t9k_log(T9K_LOG_ERROR, "csi: %s", why);
		}
	}
	pthread_mutex_lock(&n->lock);
	snprintf(s->abnormal, sizeof(s->abnormal), "%s", why);
	pthread_mutex_unlock(&n->lock);
	t9k_log(T9K_LOG_INFO, "csi: %s at %s serves again%s", s->spec, s->staging,
		why[0] ? " (not in every target)" : ", in every target");
}

/* Whether s and its targets are all mounted and answering (no lock held:
 * s is busy). */
static bool healthy(struct stage *s, char *why, size_t whysz)
{
	if (!answers(s->staging, why, whysz))
		return false;
	for (struct target *t = s->targets; t; t = t->next)
		if (!answers(t->path, why, whysz))
			return false;
	return true;
}

struct orphans {
	struct csi_node *n;
	char prefix[PATH_MAX + 16];
	char (*found)[PATH_MAX];
	size_t count, cap;
};

static int orphan_one(void *arg, const char *mountpoint, unsigned major, unsigned minor,
		      const char *type)
{
	struct orphans *o = arg;

	(void)major, (void)minor;
	if (strcmp(type, "fuse.t9kfs") || strncmp(mountpoint, o->prefix, strlen(o->prefix)) ||
	    find_staging(o->n, mountpoint) || o->count == o->cap)
		return 0;
	snprintf(o->found[o->count++], PATH_MAX, "%s", mountpoint);
	return 0;
}

/* Inline volumes' mounts without a record (a driver that died between
 * mounting and recording) are unmounted: no call will ever name them. */
static void sweep_orphans(struct csi_node *n)
{
	struct orphans o = { .n = n, .cap = 64 };

	o.found = calloc(o.cap, sizeof(*o.found));
	if (!o.found)
		return;
	snprintf(o.prefix, sizeof(o.prefix), "%s/ephemeral/", n->d->state_dir);
	pthread_mutex_lock(&n->lock);
	fs_mounts_each(orphan_one, &o);
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < o.count; i++) {
		int rc = csi_mounter_umount(n->d->mounter, o.found[i], MOUNTER_TIMEOUT_S);

		t9k_log(rc ? T9K_LOG_ERROR : T9K_LOG_WARN, "csi: unmounting %s, an inline volume's "
			"mount without a record: %s", o.found[i], rc ? t9k_errmsg(rc) : "done");
		if (rc == 0)
			rmdir(o.found[i]);
	}
	free(o.found);
}

static void *monitor_main(void *arg)
{
	struct csi_node *n = arg;
	unsigned round = 0;

	sweep_orphans(n);

	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		struct timespec until;
		long ns;

		if (round++ % HEALTH_EVERY == 0) {
			int rc;

			pthread_mutex_unlock(&n->lock);
			rc = csi_meta_health(n->d);
			pthread_mutex_lock(&n->lock);
			if ((rc == 0) != n->meta_ok)
				t9k_log(rc ? T9K_LOG_WARN : T9K_LOG_INFO, "csi: the metadata service %s",
					rc ? t9k_errmsg(rc) : "answers again");
			n->meta_ok = rc == 0;
		}
		/* each idle stage in turn, taken busy so no call changes it meanwhile */
		for (struct stage *s = n->stages; s && !n->stop; s = s->next) {
			char why[sizeof(s->abnormal)];
			bool ok;

			if (s->busy || !s->mounted)
				continue;
			s->busy = true;
			pthread_mutex_unlock(&n->lock);
			ok = healthy(s, why, sizeof(why));
			if (!ok) {
				pthread_mutex_lock(&n->lock);
				snprintf(s->abnormal, sizeof(s->abnormal), "%.*s: remounting",
					 (int)sizeof(s->abnormal) - 16, why);
				pthread_mutex_unlock(&n->lock);
				t9k_log(T9K_LOG_WARN, "csi: volume %s (%s): %s", s->volume_id[0] ?
					s->volume_id : "inline", s->spec, s->abnormal);
				recover(n, s);
			}
			pthread_mutex_lock(&n->lock);
			s->busy = false;
			pthread_cond_broadcast(&n->cond);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		ns = until.tv_nsec + (long)(n->d->check_ms % 1000) * 1000000L;
		until.tv_sec += n->d->check_ms / 1000 + ns / 1000000000L;
		until.tv_nsec = ns % 1000000000L;
		while (!n->stop && pthread_cond_timedwait(&n->cond, &n->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int csi_node_start(struct csi_driver *d)
{
	struct csi_node *n;
	int rc;

	if (!d->node_id[0])
		return t9k_err(T9K_EUSAGE, "--node-id is required for the node service");
	if (!d->mounter[0] || !d->state_dir[0])
		return t9k_err(T9K_EUSAGE, "the node service needs --mounter and --state-dir");
	n = calloc(1, sizeof(*n));
	if (!n)
		return t9k_err(-ENOMEM, "out of memory");
	n->d = d;
	n->meta_ok = true;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	d->ns = n;
	rc = state_load(n);
	if (rc == 0) {
		rc = pthread_create(&n->monitor, NULL, monitor_main, n);
		n->monitor_started = rc == 0;
		if (rc)
			rc = t9k_err(-rc, "cannot start a thread: %s", strerror(rc));
	}
	if (rc < 0)
		csi_node_stop(d);
	return rc;
}

void csi_node_stop(struct csi_driver *d)
{
	struct csi_node *n = d->ns;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (n->monitor_started)
		pthread_join(n->monitor, NULL);
	while (n->stages) {
		struct stage *s = n->stages;

		n->stages = s->next;
		stage_free(s);
	}
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
	d->ns = NULL;
}
