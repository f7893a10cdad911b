/* Client of the metadata service (meta/API.md) over libcurl, for the CLI,
 * mounts and other nodes. Thread-safe: each call borrows a curl handle
 * from a small pool, so import workers can stage in parallel.
 *
 * Calling sequence:
 *   meta_client_new("unix:/root/.t9kfs/meta.sock", token, &c);
 *   meta_client_call(c, "GET", "/repos", NULL, &reply);   // json_decref(reply)
 *   meta_client_open_repo(c, "imagenet", &r);             // data access, see repo.h
 *   repo_close(r); meta_client_free(c);
 */
#ifndef T9K_META_CLIENT_H
#define T9K_META_CLIENT_H

#include "meta/repo.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct meta_client;
struct meta_member; /* meta/members.h */

/* addr: "unix:PATH" or "http://HOST:PORT"; token may be NULL. */
int meta_client_new(const char *addr, const char *token, struct meta_client **out);
void meta_client_free(struct meta_client *c);
/* Most seconds one request may take from now on (default 3600). */
void meta_client_set_timeout(struct meta_client *c, long seconds);

/* One request: path is below /api/v1 ("/repos/x/log?ref=main"); body may
 * be NULL. On success *reply (if reply) is the parsed answer (NULL for an
 * empty one), owned by the caller. On an HTTP error the service's message
 * becomes the error (t9k_errmsg) and its code one of ours (T9K_ENOTFOUND,
 * T9K_ECONFLICT, -EEXIST, -EINVAL, -ENODATA, -EACCES, ...); *reply then
 * holds the error body (e.g. merge conflicts) if reply is not NULL. An
 * unreachable service is -ECONNREFUSED. */
int meta_client_call(struct meta_client *c, const char *method, const char *path, json_t *body,
		     json_t **reply);

/* Percent-encodes s for a query value or path segment into out. */
int meta_client_escape(const char *s, char *out, size_t outsz);

int meta_client_repo_info(struct meta_client *c, const char *name, struct meta_repo *out);
/* A repo handle whose refs and staging go through the service (the client
 * must outlive it). */
int meta_client_open_repo(struct meta_client *c, const char *name, struct repo **out);

/* Cache group membership (API.md, cache-groups). A heartbeat makes addr a
 * member of group for ttl_ms, on Kubernetes node node (NULL: none; see
 * meta_members_node_check); *members (malloc'd, the caller frees) is
 * then the live list as "HOST:PORT,HOST:PORT" sorted, empty ("") for a
 * group without members. *complete (if not NULL) is false while the
 * service has been up for less than ttl_ms (0 for the lookup: the
 * service's default): members from before a restart may be missing.
 * meta_client_cache_group is the lookup with each member's node: *v (n
 * entries sorted by address, node "" where none; the caller frees it).
 * Leave is T9K_ENOTFOUND when addr was no member. */
int meta_client_cache_beat(struct meta_client *c, const char *group, const char *addr,
			   const char *node, uint32_t ttl_ms, char **members, bool *complete);
int meta_client_cache_members(struct meta_client *c, const char *group, uint32_t ttl_ms,
			      char **members, bool *complete);
int meta_client_cache_group(struct meta_client *c, const char *group, uint32_t ttl_ms,
			    struct meta_member **v, int *n, bool *complete);
int meta_client_cache_leave(struct meta_client *c, const char *group, const char *addr);

#endif
