/* The CSI driver (driver.h): its method table, the Identity service, and
 * the helpers the Controller and Node files share (errors as gRPC
 * statuses, request maps and capabilities, refs through the metadata
 * service). Errors always name the field or object. */
#include "csi/csi-internal.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/version.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---- */

grpc_status_code csi_status(int rc)
{
	switch (rc) {
	case 0:
		return GRPC_STATUS_OK;
	case T9K_ENOTFOUND:
	case -ENOENT:
		return GRPC_STATUS_NOT_FOUND;
	case -EEXIST:
		return GRPC_STATUS_ALREADY_EXISTS;
	case T9K_ECONFLICT:
		return GRPC_STATUS_ABORTED;
	case T9K_EUSAGE:
	case -EINVAL:
	case -ENAMETOOLONG:
		return GRPC_STATUS_INVALID_ARGUMENT;
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
		return GRPC_STATUS_UNAVAILABLE;
	case -EACCES:
	case -EPERM:
		return GRPC_STATUS_PERMISSION_DENIED;
	case -ENOSPC:
	case -EDQUOT:
	case -ENOMEM:
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	default:
		return GRPC_STATUS_INTERNAL;
	}
}

void csi_fail_rc(struct csi_reply *r, int rc, const char *fmt, ...)
{
	char ctx[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	csi_fail(r, csi_status(rc), "%s: %s", ctx, t9k_errmsg(rc));
}

/* Every generated map entry is a message with a key and a value. */
struct map_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

int csi_map(void *const *entries, size_t n, struct csi_kv *kv)
{
	if (n > CSI_MAP_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct map_entry *e = entries[i];

		kv[i].key = e->key;
		kv[i].value = e->value;
	}
	return (int)n;
}

const char *csi_map_get(void *const *entries, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		const struct map_entry *e = entries[i];

		if (!strcmp(e->key, key))
			return e->value;
	}
	return NULL;
}

bool csi_volume_of(void *const *entries, size_t n, bool storage_class, struct csi_volume *v,
		   struct csi_reply *r)
{
	struct csi_kv kv[CSI_MAP_MAX];
	int k = csi_map(entries, n, kv), rc;

	if (k < 0) {
		csi_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "more than %d volume attributes", CSI_MAP_MAX);
		return false;
	}
	rc = csi_volume_parse(kv, (size_t)k, storage_class, v);
	if (rc < 0) {
		csi_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s", t9k_errmsg(rc));
		return false;
	}
	return true;
}

bool csi_capability_ok(const Csi__V1__VolumeCapability *cap, const char *field,
		       struct csi_reply *r)
{
	if (!cap) {
		csi_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s is required", field);
		return false;
	}
	if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK) {
		csi_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s: block access is not supported: t9kfs "
			 "volumes are file systems (use a mount capability)", field);
		return false;
	}
	if (cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT) {
		csi_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s: access_type (mount) is required", field);
		return false;
	}
	if (!cap->access_mode || cap->access_mode->mode <= 0 ||
	    cap->access_mode->mode > CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER) {
		csi_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s: access_mode is required", field);
		return false;
	}
	return true;
}

bool csi_mode_read_only(const Csi__V1__VolumeCapability *cap)
{
	int m = cap && cap->access_mode ? cap->access_mode->mode : 0;

	return m == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY ||
	       m == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
}

int csi_resolve(struct csi_driver *d, const char *repo, const char *spec, struct oid *commit,
		bool *is_branch)
{
	char erepo[256], espec[1024], path[1400];
	json_t *j = NULL;
	int rc = meta_client_escape(repo, erepo, sizeof(erepo));

	if (rc == 0)
		rc = meta_client_escape(spec, espec, sizeof(espec));
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s/resolve?ref=%s", erepo, espec);
	rc = meta_client_call(d->mc, "GET", path, NULL, &j);
	if (rc == 0)
		rc = oid_from_hex(commit, json_string_value(json_object_get(j, "commit")) ?
				  json_string_value(json_object_get(j, "commit")) : "");
	if (rc == 0 && is_branch)
		*is_branch = json_is_true(json_object_get(j, "branch"));
	json_decref(j);
	return rc;
}

int csi_meta_health(struct csi_driver *d)
{
	return meta_client_call(d->probe, "GET", "/health", NULL, NULL);
}

/* ---- Identity ---- */

static void get_plugin_info(void *ctx, const ProtobufCMessage *req, struct csi_reply *out)
{
	Csi__V1__GetPluginInfoResponse resp = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;

	(void)ctx, (void)req;
	resp.name = CSI_DRIVER_NAME;
	resp.vendor_version = T9KFS_VERSION;
	csi_reply_ok(out, &resp.base);
}

static void get_plugin_capabilities(void *ctx, const ProtobufCMessage *req, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	Csi__V1__GetPluginCapabilitiesResponse resp = CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__PluginCapability caps[2], *pcaps[2];
	Csi__V1__PluginCapability__Service svc[2];
	size_t n = 0;

	(void)req;
	/* Topology: NodeGetInfo names the node (t9kfs.io/node); volumes are
	 * reachable from every node, so CreateVolume sets no constraint. */
	for (int i = 0; i < 2; i++) {
		if (i == 0 && !d->controller)
			continue;
		csi__v1__plugin_capability__init(&caps[n]);
		csi__v1__plugin_capability__service__init(&svc[n]);
		svc[n].type = i == 0 ? CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE :
			      CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS;
		caps[n].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
		caps[n].service = &svc[n];
		pcaps[n] = &caps[n];
		n++;
	}
	resp.n_capabilities = n;
	resp.capabilities = pcaps;
	csi_reply_ok(out, &resp.base);
}

/* Ready once the metadata service answers (and, on a node, the mounter). */
static void probe(void *ctx, const ProtobufCMessage *req, struct csi_reply *out)
{
	struct csi_driver *d = ctx;
	Csi__V1__ProbeResponse resp = CSI__V1__PROBE_RESPONSE__INIT;
	Google__Protobuf__BoolValue ready = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
	int rc = csi_meta_health(d);

	(void)req;
	if (rc < 0)
		t9k_log(T9K_LOG_WARN, "csi: not ready: %s", t9k_errmsg(rc));
	if (rc == 0 && d->node && (rc = csi_node_health(d)) < 0)
		t9k_log(T9K_LOG_WARN, "csi: not ready: %s", t9k_errmsg(rc));
	ready.value = rc == 0;
	resp.ready = &ready;
	csi_reply_ok(out, &resp.base);
}

/* ---- the method table ---- */

enum { SVC_IDENTITY, SVC_CONTROLLER, SVC_NODE };

static const struct {
	int service;
	struct csi_method m;
} all_methods[] = {
	{ SVC_IDENTITY, { "/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor,
			  get_plugin_info, true } },
	{ SVC_IDENTITY, { "/csi.v1.Identity/GetPluginCapabilities",
			  &csi__v1__get_plugin_capabilities_request__descriptor, get_plugin_capabilities,
			  true } },
	{ SVC_IDENTITY, { "/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor, probe, true } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/CreateVolume", &csi__v1__create_volume_request__descriptor,
			    csi_create_volume, false } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/DeleteVolume", &csi__v1__delete_volume_request__descriptor,
			    csi_delete_volume, false } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/ValidateVolumeCapabilities",
			    &csi__v1__validate_volume_capabilities_request__descriptor,
			    csi_validate_volume_capabilities, false } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/ControllerGetCapabilities",
			    &csi__v1__controller_get_capabilities_request__descriptor,
			    csi_controller_get_capabilities, true } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/CreateSnapshot",
			    &csi__v1__create_snapshot_request__descriptor, csi_create_snapshot, false } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/DeleteSnapshot",
			    &csi__v1__delete_snapshot_request__descriptor, csi_delete_snapshot, false } },
	{ SVC_CONTROLLER, { "/csi.v1.Controller/ListSnapshots",
			    &csi__v1__list_snapshots_request__descriptor, csi_list_snapshots, false } },
	{ SVC_NODE, { "/csi.v1.Node/NodeStageVolume", &csi__v1__node_stage_volume_request__descriptor,
		      csi_node_stage, false } },
	{ SVC_NODE, { "/csi.v1.Node/NodeUnstageVolume", &csi__v1__node_unstage_volume_request__descriptor,
		      csi_node_unstage, false } },
	{ SVC_NODE, { "/csi.v1.Node/NodePublishVolume", &csi__v1__node_publish_volume_request__descriptor,
		      csi_node_publish, false } },
	{ SVC_NODE, { "/csi.v1.Node/NodeUnpublishVolume",
		      &csi__v1__node_unpublish_volume_request__descriptor, csi_node_unpublish, false } },
	{ SVC_NODE, { "/csi.v1.Node/NodeGetVolumeStats",
		      &csi__v1__node_get_volume_stats_request__descriptor, csi_node_get_volume_stats,
		      false } },
	{ SVC_NODE, { "/csi.v1.Node/NodeGetCapabilities",
		      &csi__v1__node_get_capabilities_request__descriptor, csi_node_get_capabilities,
		      true } },
	{ SVC_NODE, { "/csi.v1.Node/NodeGetInfo", &csi__v1__node_get_info_request__descriptor,
		      csi_node_get_info, true } },
};
#define N_METHODS (sizeof(all_methods) / sizeof(all_methods[0]))

static int copy_opt(char *dst, size_t size, const char *src, const char *what)
{
	int n = snprintf(dst, size, "%s", src ? src : "");

	if (n < 0 || (size_t)n >= size)
		return t9k_err(T9K_EUSAGE, "%s is too long", what);
	return 0;
}

int csi_driver_start(const struct csi_driver_opts *o, struct csi_driver **out)
{
	struct csi_driver *d = calloc(1, sizeof(*d));
	size_t n = 0;
	int rc;

	*out = NULL;
	if (!d)
		return t9k_err(-ENOMEM, "out of memory");
	d->controller = o->controller;
	d->node = o->node;
	d->check_ms = o->check_ms ? o->check_ms : 1000;
	rc = copy_opt(d->endpoint, sizeof(d->endpoint), o->endpoint, "--endpoint");
	if (rc == 0)
		rc = copy_opt(d->node_id, sizeof(d->node_id), o->node_id, "--node-id");
	if (rc == 0)
		rc = copy_opt(d->state_dir, sizeof(d->state_dir), o->state_dir, "--state-dir");
	if (rc == 0)
		rc = copy_opt(d->mounter, sizeof(d->mounter), o->mounter, "--mounter");
	if (rc == 0)
		rc = meta_client_new(o->server, o->token, &d->mc);
	if (rc == 0)
		rc = meta_client_new(o->server, o->token, &d->probe);
	if (rc < 0)
		goto fail;
	meta_client_set_timeout(d->mc, CSI_META_TIMEOUT);
	meta_client_set_timeout(d->probe, CSI_PROBE_TIMEOUT);
	d->methods = calloc(N_METHODS, sizeof(*d->methods));
	if (!d->methods) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < N_METHODS; i++)
		if (all_methods[i].service == SVC_IDENTITY ||
		    (all_methods[i].service == SVC_CONTROLLER && d->controller) ||
		    (all_methods[i].service == SVC_NODE && d->node))
			d->methods[n++] = all_methods[i].m;
	if (d->node && (rc = csi_node_start(d)) < 0)
		goto fail;
	rc = csi_server_start(d->endpoint, d->methods, n, d, o->workers, &d->srv);
	if (rc < 0)
		goto fail;
	t9k_log(T9K_LOG_INFO, "csi: %s %s serving%s%s on %s", CSI_DRIVER_NAME, T9KFS_VERSION,
		d->controller ? " controller" : "", d->node ? " node" : "", d->endpoint);
	*out = d;
	return 0;
fail:
	csi_driver_stop(d);
	return rc;
}

void csi_driver_stop(struct csi_driver *d)
{
	if (!d)
		return;
	csi_server_stop(d->srv);
	if (d->node)
		csi_node_stop(d);
	meta_client_free(d->mc);
	meta_client_free(d->probe);
	free(d->methods);
	free(d);
}
