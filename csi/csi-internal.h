/* What the CSI driver's files share (csi/driver.c, controller.c, node.c):
 * the driver context, errors as gRPC statuses, request fields. */
#ifndef T9K_CSI_INTERNAL_H
#define T9K_CSI_INTERNAL_H

#include "csi/csi.pb-c.h"
#include "csi/driver.h"
#include "csi/server.h"
#include "csi/volume.h"
#include "lib/oid.h"
#include "meta/client.h"

#include <limits.h>

#define CSI_MAP_MAX 128       /* entries of one map we read */
#define CSI_META_TIMEOUT 60   /* seconds a metadata service call may take */
#define CSI_PROBE_TIMEOUT 3   /* seconds of a health check */

struct csi_node; /* node.c */

struct csi_driver {
	bool controller, node;
	char endpoint[300], node_id[256], state_dir[PATH_MAX], mounter[300];
	unsigned check_ms;
	struct meta_client *mc;    /* the handlers' calls (thread-safe) */
	struct meta_client *probe; /* health checks, with a short timeout */
	struct csi_server *srv;
	struct csi_node *ns;       /* the Node service's state (--node) */
	struct csi_method *methods;
};

/* The gRPC status of an error code (lib/err.h). */
grpc_status_code csi_status(int rc);
/* Fails r with the status of rc; the message is the formatted context,
 * ": ", and rc's message (t9k_errmsg). */
void csi_fail_rc(struct csi_reply *r, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A protobuf-c map<string,string> (entries, n) as key/value pairs in kv
 * (room for CSI_MAP_MAX): the count, or -1 when there are more. */
int csi_map(void *const *entries, size_t n, struct csi_kv *kv);
const char *csi_map_get(void *const *entries, size_t n, const char *key);
/* Parses a request's volume context or parameters into v; false (r
 * failed with INVALID_ARGUMENT naming the attribute) when invalid. */
bool csi_volume_of(void *const *entries, size_t n, bool storage_class, struct csi_volume *v,
		   struct csi_reply *r);

/* A volume capability the driver serves: present, a file system (not
 * block), a known access mode. false: r failed with INVALID_ARGUMENT. */
bool csi_capability_ok(const Csi__V1__VolumeCapability *cap, const char *field,
		       struct csi_reply *r);
/* Whether an access mode lets no one write. */
bool csi_mode_read_only(const Csi__V1__VolumeCapability *cap);

/* repo@spec to a commit through the metadata service; *is_branch says
 * whether spec names a branch. T9K_ENOTFOUND naming what is missing. */
int csi_resolve(struct csi_driver *d, const char *repo, const char *spec, struct oid *commit,
		bool *is_branch);
/* 0 when the metadata service answers its health check. */
int csi_meta_health(struct csi_driver *d);

/* Controller (controller.c) */
void csi_create_volume(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_delete_volume(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_validate_volume_capabilities(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_controller_get_capabilities(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_create_snapshot(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_delete_snapshot(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_list_snapshots(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);

/* Node (node.c): csi_node_start loads the state directory and starts the
 * thread that checks mounts; csi_node_stop stops it (mounts stay). */
int csi_node_start(struct csi_driver *d);
void csi_node_stop(struct csi_driver *d);
void csi_node_stage(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_node_unstage(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_node_publish(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_node_unpublish(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_node_get_volume_stats(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_node_get_capabilities(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
void csi_node_get_info(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);
/* Whether the node's mounter answers (for Probe). */
int csi_node_health(struct csi_driver *d);

#endif
