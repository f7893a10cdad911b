/* The t9kfs CSI driver (Kubernetes Container Storage Interface): commits,
 * tags and branches as volumes, PVCs as branches, VolumeSnapshots as
 * commits. Identity and, as asked, the Controller and Node services on one
 * gRPC endpoint (csi/server.h). Volumes are described in csi/volume.h.
 *
 * Calling sequence (tools/cmd_csi.c):
 *   struct csi_driver_opts o = { .endpoint = "unix:///csi/csi.sock", ... };
 *   csi_driver_start(&o, &d);   // serving when it returns 0
 *   ... wait for SIGTERM ...
 *   csi_driver_stop(d);         // mounts stay: they belong to the mounter
 */
#ifndef T9K_CSI_DRIVER_H
#define T9K_CSI_DRIVER_H

#include <stdbool.h>

#define CSI_DRIVER_NAME "csi.t9kfs.io"
#define CSI_TOPOLOGY_KEY "t9kfs.io/node"

struct csi_driver_opts {
	const char *endpoint;   /* unix:///PATH */
	bool controller, node;  /* the services to serve */
	const char *node_id;    /* --node: this node's name */
	const char *state_dir;  /* --node: where published volumes are recorded */
	const char *mounter;    /* --node: the node mounter's socket (csi/mounter.h) */
	const char *server;     /* the metadata service (unix:PATH or http://HOST:PORT) */
	const char *token;      /* its token; may be "" */
	int workers;            /* threads for slow calls */
	unsigned check_ms;      /* --node: how often mounts are checked */
};

struct csi_driver;

int csi_driver_start(const struct csi_driver_opts *o, struct csi_driver **out);
void csi_driver_stop(struct csi_driver *d);

#endif
