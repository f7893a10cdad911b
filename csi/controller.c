/* The CSI Controller service: a PVC of a t9kfs StorageClass is a branch,
 * a VolumeSnapshot is a commit plus a tag, everything through the
 * metadata service.
 *
 * CreateVolume makes branch BRANCHPREFIX+NAME (NAME alone when it already
 * starts with the prefix) from fromRef, a snapshot's commit or a source
 * volume's head, then an empty "marker" commit on it whose metadata
 * records the volume: csi.volume (the CSI name), csi.branch, csi.capacity,
 * csi.source and csi.params (the StorageClass parameters). The marker makes
 * CreateVolume idempotent (same name and parameters: the same volume,
 * anything else: ALREADY_EXISTS) and is what DeleteVolume looks for before
 * it drops or commits a branch, so it never touches a branch it did not
 * make. It also leaves in the branch's history where the volume came from.
 *
 * CreateSnapshot commits the volume's branch (staged changes included,
 * allow_empty: the commit's metadata csi.snapshot and csi.snapshot.source
 * name the snapshot) and tags it snap-NAME; the snapshot id is
 * REPO@COMMIT, so a volume restored from it is a branch from that commit.
 * DeleteSnapshot drops the tag only (the commit stays in the history).
 *
 * Capacity is recorded and reported, not enforced: a branch has no size
 * limit.
 */
#include "csi/csi-internal.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHOR CSI_DRIVER_NAME
#define SNAP_PREFIX "snap-"
#define LOG_PAGE 1000    /* commits per log request when looking for a marker */
#define LOG_PAGES_MAX 100

/* ---- the metadata service ---- */

/* "/repos/REPO" + suffix, where suffix's %s are escaped from the args. */
static int api_path(char *out, size_t size, const char *repo, const char *fmt, const char *a,
		    const char *b)
{
	char erepo[200], ea[200] = "", eb[200] = "";
	int rc = meta_client_escape(repo, erepo, sizeof(erepo)), n;

	if (rc == 0 && a)
		rc = meta_client_escape(a, ea, sizeof(ea));
	if (rc == 0 && b)
		rc = meta_client_escape(b, eb, sizeof(eb));
	if (rc < 0)
		return rc;
	n = snprintf(out, size, "/repos/%s", erepo);
	if (n > 0 && (size_t)n < size)
		n += snprintf(out + n, size - (size_t)n, fmt, ea, eb);
	return n < 0 || (size_t)n >= size ? t9k_err(-ENAMETOOLONG, "name too long") : 0;
}

/* The commit ref KIND/NAME ("branch" or "tag") points at: 0, or
 * T9K_ENOTFOUND (no message) when there is no such ref. */
static int ref_get(struct csi_driver *d, const char *repo, const char *kind, const char *name,
		   struct oid *out)
{
	char path[600], full[200];
	json_t *j = NULL, *r;
	size_t i;
	int rc;

	snprintf(full, sizeof(full), "%s/%s", kind, name);
	rc = api_path(path, sizeof(path), repo, "/refs?prefix=%s", full, NULL);
	if (rc == 0)
		rc = meta_client_call(d->mc, "GET", path, NULL, &j);
	if (rc < 0) {
		json_decref(j); /* an error's body */
		return rc;
	}
	rc = T9K_ENOTFOUND;
	json_array_foreach(json_object_get(j, "refs"), i, r) {
		const char *n = json_string_value(json_object_get(r, "name"));
		const char *c = json_string_value(json_object_get(r, "commit"));

		if (n && c && !strcmp(n, full)) {
			rc = oid_from_hex(out, c);
			break;
		}
	}
	json_decref(j);
	return rc;
}

static int commit_get(struct csi_driver *d, const char *repo, const struct oid *id, json_t **out)
{
	char path[600], hex[OID_HEXSZ + 1];
	int rc = api_path(path, sizeof(path), repo, "/commits/%s", oid_to_hex(id, hex), NULL);

	return rc < 0 ? rc : meta_client_call(d->mc, "GET", path, NULL, out);
}

static const char *meta_of(json_t *commit, const char *key)
{
	return json_string_value(json_object_get(json_object_get(commit, "meta"), key));
}

/* Commits branch's staged changes with metadata meta (taken); *id and
 * *time_ns (either may be NULL) of the new commit. -ENODATA when nothing
 * is staged and !allow_empty. */
static int commit_branch(struct csi_driver *d, const char *repo, const char *branch,
			 const char *message, json_t *meta, bool allow_empty, struct oid *id,
			 int64_t *time_ns)
{
	char path[600];
	json_t *body = json_pack("{s:s,s:s,s:o,s:b}", "message", message, "author", AUTHOR, "meta",
				 meta ? meta : json_object(), "allow_empty", allow_empty);
	json_t *j = NULL;
	int rc = body ? api_path(path, sizeof(path), repo, "/branches/%s/commits", branch, NULL) :
		 t9k_err(-ENOMEM, "out of memory");

	if (rc == 0)
		rc = meta_client_call(d->mc, "POST", path, body, &j);
	if (rc == 0 && id)
		rc = oid_from_hex(id, json_string_value(json_object_get(j, "id")) ?
				  json_string_value(json_object_get(j, "id")) : "");
	if (rc == 0 && time_ns)
		*time_ns = json_integer_value(json_object_get(j, "time_ns"));
	json_decref(body);
	json_decref(j);
	return rc;
}

/* The newest commit on branch's first-parent history whose metadata has
 * key = value, into *out (a commit object): 1, or 0 when there is none. */
static int find_marker(struct csi_driver *d, const char *repo, const char *branch, const char *key,
		       const char *value, json_t **out)
{
	char from[OID_HEXSZ + 8], path[800], q[900];
	int rc = 0;

	*out = NULL;
	snprintf(from, sizeof(from), "%s", branch);
	for (int page = 0; page < LOG_PAGES_MAX; page++) {
		json_t *j = NULL, *c, *last = NULL;
		size_t i;
		bool more;

		snprintf(q, sizeof(q), "/log?limit=%d&first_parent=1&ref=%%s", LOG_PAGE);
		rc = api_path(path, sizeof(path), repo, q, from, NULL);
		if (rc == 0)
			rc = meta_client_call(d->mc, "GET", path, NULL, &j);
		if (rc < 0) {
			json_decref(j); /* an error's body */
			return rc;
		}
		json_array_foreach(json_object_get(j, "commits"), i, c) {
			const char *v = meta_of(c, key);

			last = c;
			if (v && !strcmp(v, value)) {
				*out = json_incref(c);
				json_decref(j);
				return 1;
			}
		}
		more = json_is_true(json_object_get(j, "more")) && last;
		if (more)
			snprintf(from, sizeof(from), "%.64s~1",
				 json_string_value(json_object_get(last, "id")) ?
				 json_string_value(json_object_get(last, "id")) : "");
		json_decref(j);
		if (!more)
			break;
	}
	return 0;
}

struct snap {
	char id[CSI_ID_MAX + 1];
	char tag[200];
	char source[CSI_ID_MAX + 1];
	int64_t time_ns;
};

/* The snapshot commit id of repo is, when its tag still names it: 1 with
 * *sn filled, 0 when it is not a live snapshot. */
static int snapshot_get(struct csi_driver *d, const char *repo, const struct oid *id,
			struct snap *sn)
{
	json_t *c = NULL;
	const char *name, *src;
	char tag[200];
	struct oid at;
	int rc = commit_get(d, repo, id, &c);

	if (rc == T9K_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	name = meta_of(c, "csi.snapshot");
	src = meta_of(c, "csi.snapshot.source");
	if (!name || !src || csi_ref_name(SNAP_PREFIX, name, tag, sizeof(tag)) < 0)
		goto out;
	rc = ref_get(d, repo, "tag", tag, &at);
	if (rc == T9K_ENOTFOUND || (rc == 0 && !oid_eq(&at, id))) {
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	csi_snapshot_id_format(repo, id, sn->id, sizeof(sn->id));
	snprintf(sn->tag, sizeof(sn->tag), "%s", tag);
	snprintf(sn->source, sizeof(sn->source), "%s", src);
	sn->time_ns = json_integer_value(json_object_get(c, "time_ns"));
	rc = 1;
out:
	json_decref(c);
	return rc;
}

/* ---- CreateVolume ---- */

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct csi_kv *)a)->key, ((const struct csi_kv *)b)->key);
}

/* The StorageClass parameters as "k=v;k=v" in key order, without the
 * keys Kubernetes adds (they name the PVC, not what the volume is). */
static void params_string(struct csi_kv *kv, size_t n, char *out, size_t size)
{
	size_t len = 0;

	qsort(kv, n, sizeof(*kv), cmp_kv);
	out[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		if (strchr(kv[i].key, '/'))
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s=%s", len ? ";" : "", kv[i].key,
					kv[i].value);
	}
}

struct volume_plan {
	const Csi__V1__CreateVolumeRequest *req;
	struct csi_volume v;
	char branch[META_REPO_NAME_MAX + 1];
	char id[CSI_ID_MAX + 1];
	char from[OID_HEXSZ + META_REF_MAX + 2]; /* what the branch starts at */
	char src_branch[META_REPO_NAME_MAX + 1]; /* a source volume's branch, or "" */
	char source[META_REF_MAX + CSI_ID_MAX + 16]; /* csi.source */
	char params[4096];                       /* csi.params */
	char capacity[24];
	int64_t cap;
};

/* Answers with the volume (the same for a new and an existing one). */
static void volume_reply(struct volume_plan *p, struct csi_kv *kv, size_t n, struct csi_reply *out)
{
	Csi__V1__CreateVolumeResponse resp = CSI__V1__CREATE_VOLUME_RESPONSE__INIT;
	Csi__V1__Volume vol = CSI__V1__VOLUME__INIT;
	Csi__V1__Volume__VolumeContextEntry ent[CSI_MAP_MAX + 2], *pent[CSI_MAP_MAX + 2];
	size_t k = 0;
	bool has_repo = false;

	for (size_t i = 0; i < n; i++) {
		if (!csi_volume_node_key(kv[i].key) || !strcmp(kv[i].key, "ref"))
			continue;
		csi__v1__volume__volume_context_entry__init(&ent[k]);
		ent[k].key = (char *)kv[i].key;
		ent[k].value = (char *)kv[i].value;
		has_repo |= !strcmp(kv[i].key, "repo");
		pent[k] = &ent[k];
		k++;
	}
	csi__v1__volume__volume_context_entry__init(&ent[k]);
	ent[k].key = "ref";
	ent[k].value = p->branch;
	pent[k] = &ent[k];
	k++;
	if (!has_repo) { /* never: repo is required */
		csi_fail(out, GRPC_STATUS_INTERNAL, "no repo");
		return;
	}
	vol.capacity_bytes = p->cap;
	vol.volume_id = p->id;
	vol.n_volume_context = k;
	vol.volume_context = pent;
	vol.content_source = p->req->volume_content_source;
	resp.volume = &vol;
	csi_reply_ok(out, &resp.base);
}

/* Where the new branch starts: fromRef, a snapshot or a volume (its head
 * now; commit_source adds its staged changes when the clone is made). */
static bool plan_source(struct csi_driver *d, struct volume_plan *p, struct csi_reply *out)
{
	const Csi__V1__VolumeContentSource *src = p->req->volume_content_source;
	char repo[META_REPO_NAME_MAX + 1], branch[META_REPO_NAME_MAX + 1], hex[OID_HEXSZ + 1];
	enum csi_on_delete pol;
	struct snap sn;
	struct oid id;
	int rc;

	if (!src || src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE__NOT_SET) {
		snprintf(p->from, sizeof(p->from), "%s", p->v.from_ref);
		snprintf(p->source, sizeof(p->source), "ref:%s", p->v.from_ref);
		return true;
	}
	if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT) {
		const char *sid = src->snapshot ? src->snapshot->snapshot_id : "";

		if (csi_snapshot_id_parse(sid, repo, &id) < 0) {
			csi_fail(out, GRPC_STATUS_NOT_FOUND, "snapshot '%s' not found", sid);
			return false;
		}
		if (strcmp(repo, p->v.repo)) {
			csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "snapshot '%s' is of repository '%s', "
				 "the StorageClass's is '%s'", sid, repo, p->v.repo);
			return false;
		}
		/* a deleted snapshot's commit stays in the history, but it is
		 * no snapshot any more; nor is any other commit */
		rc = snapshot_get(d, repo, &id, &sn);
		if (rc == 0)
			csi_fail(out, GRPC_STATUS_NOT_FOUND, "snapshot '%s' not found", sid);
		else if (rc < 0)
			csi_fail_rc(out, rc, "snapshot '%s'", sid);
		if (rc <= 0)
			return false;
		snprintf(p->from, sizeof(p->from), "%s", oid_to_hex(&id, hex));
		snprintf(p->source, sizeof(p->source), "snapshot:%s", sid);
		return true;
	}
	{
		const char *vid = src->volume ? src->volume->volume_id : "";

		if (csi_volume_id_parse(vid, repo, branch, &pol) < 0 ||
		    (rc = ref_get(d, repo, "branch", branch, &id)) == T9K_ENOTFOUND) {
			csi_fail(out, GRPC_STATUS_NOT_FOUND, "source volume '%s' not found", vid);
			return false;
		}
		if (rc < 0) {
			csi_fail_rc(out, rc, "source volume '%s'", vid);
			return false;
		}
		if (strcmp(repo, p->v.repo)) {
			csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "source volume '%s' is of repository "
				 "'%s', the StorageClass's is '%s'", vid, repo, p->v.repo);
			return false;
		}
		snprintf(p->src_branch, sizeof(p->src_branch), "%s", branch);
		snprintf(p->from, sizeof(p->from), "%s", oid_to_hex(&id, hex));
		snprintf(p->source, sizeof(p->source), "volume:%s", vid);
		return true;
	}
}

/* A clone holds what its source holds now, staged files included. They
 * are committed only when the clone's branch is made, so that a retry or
 * a refused call leaves the source volume as it is. */
static bool commit_source(struct csi_driver *d, struct volume_plan *p, struct csi_reply *out)
{
	const char *vid = p->req->volume_content_source->volume->volume_id;
	char hex[OID_HEXSZ + 1];
	struct oid id;
	int rc = commit_branch(d, p->v.repo, p->src_branch, "csi: staged changes, for a clone", NULL,
			       false, &id, NULL);

	if (rc == -ENODATA)
		rc = ref_get(d, p->v.repo, "branch", p->src_branch, &id);
	if (rc < 0) {
		csi_fail_rc(out, rc, "source volume '%s'", vid);
		return false;
	}
	snprintf(p->from, sizeof(p->from), "%s", oid_to_hex(&id, hex));
	return true;
}

enum existing { EXISTING_SAME, EXISTING_ADOPT, EXISTING_FAILED };

/* A branch of that name exists: the same volume (a retry), a branch to
 * adopt (made by a call that died before its marker), or something else
 * (out failed: ALREADY_EXISTS). */
static enum existing existing_volume(struct csi_driver *d, struct volume_plan *p,
				     const struct oid *head, struct csi_reply *out)
{
	json_t *m = NULL;
	int rc = find_marker(d, p->v.repo, p->branch, "csi.branch", p->branch, &m);
	bool same;

	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s'", p->req->name);
		return EXISTING_FAILED;
	}
	if (rc == 0) {
		struct oid from;

		rc = csi_resolve(d, p->v.repo, p->from, &from, NULL);
		if (rc == 0 && oid_eq(&from, head))
			return EXISTING_ADOPT;
		csi_fail(out, GRPC_STATUS_ALREADY_EXISTS, "branch '%s' of repository '%s' exists and "
			 "was not created for volume '%s'", p->branch, p->v.repo, p->req->name);
		return EXISTING_FAILED;
	}
	same = meta_of(m, "csi.volume") && !strcmp(meta_of(m, "csi.volume"), p->req->name) &&
	       meta_of(m, "csi.capacity") && !strcmp(meta_of(m, "csi.capacity"), p->capacity) &&
	       meta_of(m, "csi.source") && !strcmp(meta_of(m, "csi.source"), p->source) &&
	       meta_of(m, "csi.params") && !strcmp(meta_of(m, "csi.params"), p->params);
	json_decref(m);
	if (!same) {
		csi_fail(out, GRPC_STATUS_ALREADY_EXISTS, "volume '%s' exists (branch '%s' of "
			 "repository '%s') with a different capacity, source or parameters",
			 p->req->name, p->branch, p->v.repo);
		return EXISTING_FAILED;
	}
	return EXISTING_SAME;
}

void csi_create_volume(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	const Csi__V1__CreateVolumeRequest *req = (const void *)msg;
	struct volume_plan *p = calloc(1, sizeof(*p));
	struct csi_kv kv[CSI_MAP_MAX];
	const char *pvc, *pvc_ns;
	char path[600];
	struct oid head;
	json_t *meta = NULL, *body = NULL;
	bool is_new = true;
	int n, rc;

	if (!p) {
		csi_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	p->req = req;
	if (!*req->name) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "name is required");
		goto out;
	}
	if (!req->n_volume_capabilities) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_capabilities are required");
		goto out;
	}
	for (size_t i = 0; i < req->n_volume_capabilities; i++)
		if (!csi_capability_ok(req->volume_capabilities[i], "volume_capabilities", out))
			goto out;
	n = csi_map((void *const *)req->parameters, req->n_parameters, kv);
	if (!csi_volume_of((void *const *)req->parameters, req->n_parameters, true, &p->v, out))
		goto out;
	if (req->capacity_range) {
		int64_t rb = req->capacity_range->required_bytes, lb = req->capacity_range->limit_bytes;

		if (rb < 0 || lb < 0 || (lb && rb > lb)) {
			csi_fail(out, GRPC_STATUS_OUT_OF_RANGE, "capacity_range: required_bytes %" PRId64
				 " and limit_bytes %" PRId64 " do not fit", rb, lb);
			goto out;
		}
		p->cap = rb ? rb : lb;
	}
	snprintf(p->capacity, sizeof(p->capacity), "%" PRId64, p->cap);
	csi_ref_name(p->v.branch_prefix, req->name, p->branch, sizeof(p->branch));
	rc = csi_volume_id_format(p->v.repo, p->branch, p->v.on_delete, p->id, sizeof(p->id));
	if (rc < 0) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "%s", t9k_errmsg(rc));
		goto out;
	}
	params_string(kv, (size_t)n, p->params, sizeof(p->params));
	if (!plan_source(d, p, out))
		goto out;
	rc = ref_get(d, p->v.repo, "branch", p->branch, &head);
	if (rc == 0) {
		enum existing e = existing_volume(d, p, &head, out);

		if (e == EXISTING_SAME)
			volume_reply(p, kv, (size_t)n, out);
		if (e != EXISTING_ADOPT)
			goto out;
		is_new = false;
	} else if (rc != T9K_ENOTFOUND) {
		csi_fail_rc(out, rc, "StorageClass parameter repo '%s'", p->v.repo);
		goto out;
	}
	if (is_new) {
		if (p->src_branch[0] && !commit_source(d, p, out))
			goto out;
		body = json_pack("{s:s,s:s}", "name", p->branch, "from", p->from);
		rc = body ? api_path(path, sizeof(path), p->v.repo, "/branches", NULL, NULL) : -ENOMEM;
		if (rc == 0)
			rc = meta_client_call(d->mc, "POST", path, body, NULL);
		if (rc < 0) {
			csi_fail_rc(out, rc, "volume '%s': creating branch '%s' from '%s'", req->name,
				    p->branch, p->from);
			goto out;
		}
	}
	pvc = csi_map_get((void *const *)req->parameters, req->n_parameters,
			  "csi.storage.k8s.io/pvc/name");
	pvc_ns = csi_map_get((void *const *)req->parameters, req->n_parameters,
			     "csi.storage.k8s.io/pvc/namespace");
	meta = json_pack("{s:s,s:s,s:s,s:s,s:s}", "csi.volume", req->name, "csi.branch", p->branch,
			 "csi.capacity", p->capacity, "csi.source", p->source, "csi.params", p->params);
	if (meta && pvc && pvc_ns)
		json_object_set_new(meta, "csi.pvc", json_sprintf("%s/%s", pvc_ns, pvc));
	rc = commit_branch(d, p->v.repo, p->branch, "csi: volume created", meta, true, NULL, NULL);
	meta = NULL;
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s': recording it on branch '%s'", req->name, p->branch);
		goto out;
	}
	t9k_log(T9K_LOG_INFO, "csi: created volume %s (branch %s of %s from %s)", p->id, p->branch,
		p->v.repo, p->source);
	volume_reply(p, kv, (size_t)n, out);
out:
	json_decref(body);
	free(p);
}

/* ---- DeleteVolume ---- */

void csi_delete_volume(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	const Csi__V1__DeleteVolumeRequest *req = (const void *)msg;
	Csi__V1__DeleteVolumeResponse resp = CSI__V1__DELETE_VOLUME_RESPONSE__INIT;
	char repo[META_REPO_NAME_MAX + 1], branch[META_REPO_NAME_MAX + 1], path[600];
	enum csi_on_delete pol;
	json_t *m = NULL;
	int rc = 0;

	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (csi_volume_id_parse(req->volume_id, repo, branch, &pol) < 0) {
		/* not one of ours: nothing of it exists */
		t9k_log(T9K_LOG_INFO, "csi: DeleteVolume of unknown volume id '%s'", req->volume_id);
		csi_reply_ok(out, &resp.base);
		return;
	}
	if (pol != CSI_ON_DELETE_RETAIN) {
		/* commit or drop only a branch this driver made: a volume id
		 * such as REPO@main/commit must not touch main */
		rc = find_marker(d, repo, branch, "csi.branch", branch, &m);
		json_decref(m);
		if (rc == 0) {
			csi_fail(out, GRPC_STATUS_FAILED_PRECONDITION, "branch '%s' of repository '%s' "
				 "was not created by this driver (no marker commit in its history): "
				 "not %s it", branch, repo,
				 pol == CSI_ON_DELETE_DELETE ? "deleting" : "committing");
			return;
		}
	}
	if (rc > 0 && pol == CSI_ON_DELETE_COMMIT) {
		rc = commit_branch(d, repo, branch, "csi: volume deleted", NULL, false, NULL, NULL);
		if (rc == -ENODATA)
			rc = 0;
	} else if (rc > 0 && pol == CSI_ON_DELETE_DELETE) {
		rc = api_path(path, sizeof(path), repo, "/branches/%s", branch, NULL);
		if (rc == 0)
			rc = meta_client_call(d->mc, "DELETE", path, NULL, NULL);
	}
	if (rc == T9K_ENOTFOUND)
		rc = 0; /* the repository or the branch is gone already */
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s'", req->volume_id);
		return;
	}
	t9k_log(T9K_LOG_INFO, "csi: deleted volume %s (%s)", req->volume_id, csi_on_delete_name(pol));
	csi_reply_ok(out, &resp.base);
}

/* ---- ValidateVolumeCapabilities, ControllerGetCapabilities ---- */

void csi_validate_volume_capabilities(void *ctx, const ProtobufCMessage *msg,
				      struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	const Csi__V1__ValidateVolumeCapabilitiesRequest *req = (const void *)msg;
	Csi__V1__ValidateVolumeCapabilitiesResponse resp =
		CSI__V1__VALIDATE_VOLUME_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed conf =
		CSI__V1__VALIDATE_VOLUME_CAPABILITIES_RESPONSE__CONFIRMED__INIT;
	char repo[META_REPO_NAME_MAX + 1], branch[META_REPO_NAME_MAX + 1];
	struct csi_reply probe = { 0 };
	enum csi_on_delete pol;
	struct csi_volume v;
	struct oid head;
	int rc;

	if (!*req->volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
		return;
	}
	if (!req->n_volume_capabilities) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "volume_capabilities are required");
		return;
	}
	if (csi_volume_id_parse(req->volume_id, repo, branch, &pol) < 0 ||
	    (rc = ref_get(d, repo, "branch", branch, &head)) == T9K_ENOTFOUND) {
		csi_fail(out, GRPC_STATUS_NOT_FOUND, "volume '%s' not found", req->volume_id);
		return;
	}
	if (rc < 0) {
		csi_fail_rc(out, rc, "volume '%s'", req->volume_id);
		return;
	}
	for (size_t i = 0; i < req->n_volume_capabilities; i++)
		if (!csi_capability_ok(req->volume_capabilities[i], "volume_capabilities", &probe)) {
			resp.message = probe.message;
			csi_reply_ok(out, &resp.base);
			return;
		}
	if (req->n_volume_context &&
	    !csi_volume_of((void *const *)req->volume_context, req->n_volume_context, false, &v,
			   &probe)) {
		resp.message = probe.message;
		csi_reply_ok(out, &resp.base);
		return;
	}
	conf.n_volume_capabilities = req->n_volume_capabilities;
	conf.volume_capabilities = req->volume_capabilities;
	/* the generated entry types of the request and the answer differ by
	 * name only */
	conf.n_volume_context = req->n_volume_context;
	conf.volume_context = (void *)req->volume_context;
	conf.n_parameters = req->n_parameters;
	conf.parameters = (void *)req->parameters;
	resp.confirmed = &conf;
	csi_reply_ok(out, &resp.base);
}

void csi_controller_get_capabilities(void *ctx, const ProtobufCMessage *req, struct csi_reply *out)
{
	static const Csi__V1__ControllerServiceCapability__RPC__Type types[] = {
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_SNAPSHOTS,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME,
	};
	Csi__V1__ControllerGetCapabilitiesResponse resp = CSI__V1__CONTROLLER_GET_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__ControllerServiceCapability caps[4], *pcaps[4];
	Csi__V1__ControllerServiceCapability__RPC rpc[4];

	(void)ctx, (void)req;
	for (size_t i = 0; i < 4; i++) {
		csi__v1__controller_service_capability__init(&caps[i]);
		csi__v1__controller_service_capability__rpc__init(&rpc[i]);
		rpc[i].type = types[i];
		caps[i].type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
		caps[i].rpc = &rpc[i];
		pcaps[i] = &caps[i];
	}
	resp.n_capabilities = 4;
	resp.capabilities = pcaps;
	csi_reply_ok(out, &resp.base);
}

/* ---- snapshots ---- */

static void snapshot_fill(Csi__V1__Snapshot *s, Google__Protobuf__Timestamp *ts, struct snap *sn)
{
	csi__v1__snapshot__init(s);
	google__protobuf__timestamp__init(ts);
	ts->seconds = sn->time_ns / 1000000000;
	ts->nanos = (int32_t)(sn->time_ns % 1000000000);
	s->snapshot_id = sn->id;
	s->source_volume_id = sn->source;
	s->creation_time = ts;
	s->ready_to_use = true;
	s->size_bytes = 0; /* unknown: a snapshot shares its data with the branch */
}

void csi_create_snapshot(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	const Csi__V1__CreateSnapshotRequest *req = (const void *)msg;
	Csi__V1__CreateSnapshotResponse resp = CSI__V1__CREATE_SNAPSHOT_RESPONSE__INIT;
	char repo[META_REPO_NAME_MAX + 1], branch[META_REPO_NAME_MAX + 1], tag[200], path[600];
	char hex[OID_HEXSZ + 1];
	Google__Protobuf__Timestamp ts;
	Csi__V1__Snapshot s;
	enum csi_on_delete pol;
	struct snap sn = { 0 };
	struct oid id, head;
	json_t *meta, *body;
	int rc;

	if (!*req->name) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "name is required");
		return;
	}
	if (!*req->source_volume_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "source_volume_id is required");
		return;
	}
	csi_ref_name(SNAP_PREFIX, req->name, tag, sizeof(tag));
	if (csi_volume_id_parse(req->source_volume_id, repo, branch, &pol) < 0 ||
	    (rc = ref_get(d, repo, "branch", branch, &head)) == T9K_ENOTFOUND) {
		csi_fail(out, GRPC_STATUS_NOT_FOUND, "source volume '%s' not found",
			 req->source_volume_id);
		return;
	}
	if (rc < 0) {
		csi_fail_rc(out, rc, "source volume '%s'", req->source_volume_id);
		return;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = ref_get(d, repo, "tag", tag, &id);
		if (rc == 0) { /* a retry, or a name in use */
			rc = snapshot_get(d, repo, &id, &sn);
			if (rc < 0) {
				csi_fail_rc(out, rc, "snapshot '%s'", req->name);
				return;
			}
			if (rc == 0 || strcmp(sn.source, req->source_volume_id)) {
				csi_fail(out, GRPC_STATUS_ALREADY_EXISTS, "snapshot '%s' exists (tag '%s' "
					 "of repository '%s') for another source than '%s'", req->name,
					 tag, repo, req->source_volume_id);
				return;
			}
			goto answer;
		}
		if (rc != T9K_ENOTFOUND) {
			csi_fail_rc(out, rc, "snapshot '%s'", req->name);
			return;
		}
		meta = json_pack("{s:s,s:s}", "csi.snapshot", req->name, "csi.snapshot.source",
				 req->source_volume_id);
		rc = commit_branch(d, repo, branch, "csi: snapshot", meta, true, &id, &sn.time_ns);
		if (rc < 0) {
			csi_fail_rc(out, rc, "snapshot '%s' of volume '%s'", req->name,
				    req->source_volume_id);
			return;
		}
		body = json_pack("{s:s,s:s}", "name", tag, "target", oid_to_hex(&id, hex));
		rc = body ? api_path(path, sizeof(path), repo, "/tags", NULL, NULL) : -ENOMEM;
		if (rc == 0)
			rc = meta_client_call(d->mc, "POST", path, body, NULL);
		json_decref(body);
		if (rc == -EEXIST)
			continue; /* another call made it first: answer as a retry */
		if (rc < 0) {
			csi_fail_rc(out, rc, "snapshot '%s': tagging commit %.12s", req->name, hex);
			return;
		}
		csi_snapshot_id_format(repo, &id, sn.id, sizeof(sn.id));
		snprintf(sn.source, sizeof(sn.source), "%s", req->source_volume_id);
		t9k_log(T9K_LOG_INFO, "csi: snapshot %s of %s: tag %s", sn.id, sn.source, tag);
		goto answer;
	}
	csi_fail(out, GRPC_STATUS_ABORTED, "snapshot '%s': tag '%s' changed under this call", req->name,
		 tag);
	return;
answer:
	if (csi_snapshot_id_format(repo, &id, sn.id, sizeof(sn.id)) < 0) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "%s", t9k_errmsg(T9K_EUSAGE));
		return;
	}
	snapshot_fill(&s, &ts, &sn);
	resp.snapshot = &s;
	csi_reply_ok(out, &resp.base);
}

void csi_delete_snapshot(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	const Csi__V1__DeleteSnapshotRequest *req = (const void *)msg;
	Csi__V1__DeleteSnapshotResponse resp = CSI__V1__DELETE_SNAPSHOT_RESPONSE__INIT;
	char repo[META_REPO_NAME_MAX + 1], path[600];
	struct snap sn;
	struct oid id;
	int rc;

	if (!*req->snapshot_id) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "snapshot_id is required");
		return;
	}
	if (csi_snapshot_id_parse(req->snapshot_id, repo, &id) < 0) {
		csi_reply_ok(out, &resp.base); /* not one of ours: nothing exists */
		return;
	}
	rc = snapshot_get(d, repo, &id, &sn);
	if (rc > 0) {
		rc = api_path(path, sizeof(path), repo, "/tags/%s", sn.tag, NULL);
		if (rc == 0)
			rc = meta_client_call(d->mc, "DELETE", path, NULL, NULL);
		if (rc == 0)
			t9k_log(T9K_LOG_INFO, "csi: deleted snapshot %s (tag %s)", req->snapshot_id,
				sn.tag);
	}
	if (rc == T9K_ENOTFOUND)
		rc = 0;
	if (rc < 0) {
		csi_fail_rc(out, rc, "snapshot '%s'", req->snapshot_id);
		return;
	}
	csi_reply_ok(out, &resp.base);
}

struct snap_list {
	struct snap *v;
	size_t n, cap;
};

static int snap_list_add(struct snap_list *l, const struct snap *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct snap *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return t9k_err(-ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *s;
	return 0;
}

/* The live snapshots of repo (of one source volume when source is set). */
static int list_repo(struct csi_driver *d, const char *repo, const char *source,
		     struct snap_list *l)
{
	char path[600];
	json_t *j = NULL, *r;
	size_t i;
	int rc = api_path(path, sizeof(path), repo, "/refs?prefix=%s", "tag/" SNAP_PREFIX, NULL);

	if (rc == 0)
		rc = meta_client_call(d->mc, "GET", path, NULL, &j);
	if (rc == T9K_ENOTFOUND) {
		json_decref(j); /* an error's body: the repository is gone */
		return 0;
	}
	json_array_foreach(json_object_get(j, "refs"), i, r) {
		struct snap sn;
		struct oid id;

		if (rc < 0)
			break;
		if (oid_from_hex(&id, json_string_value(json_object_get(r, "commit")) ?
				 json_string_value(json_object_get(r, "commit")) : "") < 0)
			continue;
		rc = snapshot_get(d, repo, &id, &sn);
		if (rc > 0)
			rc = source && strcmp(sn.source, source) ? 0 : snap_list_add(l, &sn);
	}
	json_decref(j);
	return rc < 0 ? rc : 0;
}

void csi_list_snapshots(void *ctx, const ProtobufCMessage *msg, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	const Csi__V1__ListSnapshotsRequest *req = (const void *)msg;
	Csi__V1__ListSnapshotsResponse resp = CSI__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
	Csi__V1__ListSnapshotsResponse__Entry *ent = NULL, **pent = NULL;
	Csi__V1__Snapshot *snaps = NULL;
	Google__Protobuf__Timestamp *ts = NULL;
	char repo[META_REPO_NAME_MAX + 1], branch[META_REPO_NAME_MAX + 1], next[32] = "";
	struct snap_list l = { 0 };
	enum csi_on_delete pol;
	size_t start = 0, end;
	struct oid id;
	int rc = 0;

	if (req->max_entries < 0) {
		csi_fail(out, GRPC_STATUS_INVALID_ARGUMENT, "max_entries must not be negative");
		return;
	}
	if (*req->snapshot_id) {
		struct snap sn;

		if (csi_snapshot_id_parse(req->snapshot_id, repo, &id) == 0 &&
		    (rc = snapshot_get(d, repo, &id, &sn)) > 0 &&
		    (!*req->source_volume_id || !strcmp(sn.source, req->source_volume_id)))
			rc = snap_list_add(&l, &sn);
	} else if (*req->source_volume_id) {
		if (csi_volume_id_parse(req->source_volume_id, repo, branch, &pol) == 0)
			rc = list_repo(d, repo, req->source_volume_id, &l);
	} else {
		json_t *j = NULL, *r;
		size_t i;

		rc = meta_client_call(d->mc, "GET", "/repos", NULL, &j);
		json_array_foreach(json_object_get(j, "repos"), i, r) {
			if (rc < 0)
				break;
			rc = list_repo(d, json_string_value(json_object_get(r, "name")), NULL, &l);
		}
		json_decref(j);
	}
	if (rc < 0) {
		csi_fail_rc(out, rc, "listing snapshots");
		goto out;
	}
	if (*req->starting_token) {
		char *e;
		unsigned long long v = strtoull(req->starting_token, &e, 10);

		if (*e || v > l.n) {
			csi_fail(out, GRPC_STATUS_ABORTED, "starting_token '%s' is not valid here (%zu "
				 "snapshots)", req->starting_token, l.n);
			goto out;
		}
		start = (size_t)v;
	}
	end = req->max_entries && start + (size_t)req->max_entries < l.n ?
	      start + (size_t)req->max_entries : l.n;
	if (end > start) {
		ent = calloc(end - start, sizeof(*ent));
		pent = calloc(end - start, sizeof(*pent));
		snaps = calloc(end - start, sizeof(*snaps));
		ts = calloc(end - start, sizeof(*ts));
		if (!ent || !pent || !snaps || !ts) {
			csi_fail(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			goto out;
		}
	}
	for (size_t i = start; i < end; i++) {
		csi__v1__list_snapshots_response__entry__init(&ent[i - start]);
		snapshot_fill(&snaps[i - start], &ts[i - start], &l.v[i]);
		ent[i - start].snapshot = &snaps[i - start];
		pent[i - start] = &ent[i - start];
	}
	resp.n_entries = end - start;
	resp.entries = pent;
	if (end < l.n) {
		snprintf(next, sizeof(next), "%zu", end);
		resp.next_token = next;
	}
	csi_reply_ok(out, &resp.base);
out:
	free(ent);
	free(pent);
	free(snaps);
	free(ts);
	free(l.v);
}
