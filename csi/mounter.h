/* The node's mounter: a long-lived process outside the CSI driver's
 * container that starts and stops the t9kfs mount daemons of CSI volumes.
 * The daemons are its descendants (it is their subreaper), never the
 * driver's, so a restart or upgrade of the driver leaves them serving.
 *
 * Protocol: a unix socket, one request per connection, each a JSON object
 * on one line, answered by one line:
 *   {"op":"mount","spec":"REPO@REF","mountpoint":"/abs","options":"ro,...",
 *    "cache_group":"@NAME"}           runs 't9kfs mount', answers once the
 *                                       mount answers (options, cache_group
 *                                       may be absent)
 *   {"op":"umount","mountpoint":"/abs"} runs 't9kfs umount' (waits for the
 *                                       daemon to store what it holds); a
 *                                       path that is no t9kfs mount is ok
 *   {"op":"ping"}
 * -> {"ok":true,"message":"..."} or {"ok":false,"error":"t9kfs: ..."}.
 * The mount commands run with the mounter's environment (T9KFS_HOME,
 * T9KFS_SERVER, T9KFS_TOKEN, T9KFS_CACHE, store credentials).
 */
#ifndef T9K_CSI_MOUNTER_H
#define T9K_CSI_MOUNTER_H

struct csi_mounter;

/* Listens on addr ("unix:///PATH" or "unix:PATH"; the directory is
 * created, the socket is 0600) and serves on threads of its own. The
 * calling process becomes the subreaper of the daemons it starts. Call it
 * with SIGINT/SIGTERM blocked (cli_block_stop_signals): the commands it
 * runs get an empty signal mask. */
int csi_mounter_start(const char *addr, struct csi_mounter **out);
/* Stops serving; the mount daemons keep running. NULL is a no-op. */
void csi_mounter_stop(struct csi_mounter *m);

/* Client calls (the driver). Errors: -ECONNREFUSED/-ENOENT when no mounter
 * listens, -ETIMEDOUT, or the mounter's message with -EIO. */
int csi_mounter_mount(const char *addr, const char *spec, const char *mountpoint,
		      const char *options, const char *cache_group, int timeout_s);
int csi_mounter_umount(const char *addr, const char *mountpoint, int timeout_s);
int csi_mounter_ping(const char *addr, int timeout_s);

#endif
