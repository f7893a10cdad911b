/* Cache group membership through the metadata service, for the commands
 * that use a group: `cache serve --meta` (a member: it sends heartbeats)
 * and the clients that read through a group named @NAME (mount, warmup,
 * cache stats: they only watch). A thread renews/refreshes every ttl/3
 * and hands a changed member list to apply(); an unreachable service is
 * logged once and the last list stays in use until it answers again.
 *
 *   members_watch_new(own_client, "pool", "10.0.0.7:7070", "node-7", 9000, &first, &w);
 *   ... build the server or client from first ...
 *   members_watch_start(w, apply, s);  // apply(s, "a:1,b:2") on each change
 *   members_watch_stop(w);             // a member leaves the group; frees w
 */
#ifndef T9K_TOOLS_MEMBERS_H
#define T9K_TOOLS_MEMBERS_H

#include "meta/client.h"

#include <stdint.h>

#define MEMBERS_WATCH_TTL_MS 9000u

typedef int (*members_apply_fn)(void *arg, const char *list);
struct members_watch;

/* The live members of group as "a:1,b:2" (the caller frees it) and, when
 * v is not NULL, as *n entries with their node names (the caller frees
 * *v); none is T9K_ENOTFOUND with a message saying how to start them. */
int members_lookup(struct meta_client *c, const char *group, char **list,
		   struct meta_member **v, int *n);

/* Registers self (when not NULL) on Kubernetes node node (NULL: none
 * named; each heartbeat says it) in group and reads the live list into
 * *first (the caller frees it); an empty list (a client of a group nobody
 * serves) is T9K_ENOTFOUND. The watch owns c (also on failure) and bounds
 * each of its requests to ttl/3, so a hung service cannot hold it up. */
int members_watch_new(struct meta_client *c, const char *group, const char *self,
		      const char *node, uint32_t ttl_ms, char **first, struct members_watch **out);
/* Starts the thread that calls apply(arg, list) on each change. */
int members_watch_start(struct members_watch *w, members_apply_fn apply, void *arg);
/* Stops the thread (if started); a member then leaves the group (best
 * effort); frees w. NULL is a no-op. */
void members_watch_stop(struct members_watch *w);

#endif
