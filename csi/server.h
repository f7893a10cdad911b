/* A small unary gRPC server over gRPC core's C API, for the CSI driver:
 * protobuf-c messages in and out, one handler per method.
 *
 * One thread polls the completion queue and keeps several calls armed, so
 * a new call is accepted while others run. Handlers run on two pools: the
 * fast lane (methods marked fast: Identity, capabilities, node info) and
 * the workers (mounts, metadata service calls), so a slow mount never
 * delays Probe. A method the table does not hold is UNIMPLEMENTED.
 *
 * Calling sequence:
 *   static const struct csi_method methods[] = { { "/csi.v1.Identity/Probe",
 *       &csi__v1__probe_request__descriptor, probe, true }, ... };
 *   csi_server_start("unix:///csi/csi.sock", methods, n, ctx, 4, &srv);
 *   ...                              // handlers run on the server's threads
 *   csi_server_stop(srv);            // waits for running handlers
 */
#ifndef T9K_CSI_SERVER_H
#define T9K_CSI_SERVER_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* A handler's answer: an error status, or the packed response. */
struct csi_reply {
	grpc_status_code code;   /* GRPC_STATUS_OK unless csi_fail was called */
	char message[1024];      /* the status message of an error */
	unsigned char *packed;   /* the response, packed by csi_reply_ok (malloc'd) */
	size_t packed_len;
};

/* Packs msg as the answer (msg may live on the handler's stack). */
void csi_reply_ok(struct csi_reply *r, const ProtobufCMessage *msg);
/* Sets an error status with a message naming the field or object. */
void csi_fail(struct csi_reply *r, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* req is the unpacked request, freed by the server after the handler. */
typedef void (*csi_handler)(void *ctx, const ProtobufCMessage *req, struct csi_reply *out);

struct csi_method {
	const char *path;                            /* "/csi.v1.Node/NodeStageVolume" */
	const ProtobufCMessageDescriptor *request;
	csi_handler fn;
	bool fast;                                   /* never blocks for long */
};

struct csi_server;

/* Listens on endpoint ("unix:///PATH" or "unix:PATH"; a stale socket file
 * there is removed) and starts serving. methods and ctx must outlive the
 * server. workers: threads for the slow methods (>= 1). */
int csi_server_start(const char *endpoint, const struct csi_method *methods, size_t n, void *ctx,
		     int workers, struct csi_server **out);
/* Stops accepting calls, lets running handlers finish (calls still
 * waiting after 10 s are cancelled), and frees the server. NULL is a no-op. */
void csi_server_stop(struct csi_server *s);

/* The socket path of a unix endpoint, or NULL (with a message) for any
 * other form. out holds at least 108 bytes. */
int csi_endpoint_path(const char *endpoint, char *out, size_t outsz);

#endif
