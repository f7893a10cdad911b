/* Addresses and sockets of the cache: "unix:PATH" (or any string with a
 * '/', taken as a socket path) for the local daemon, HOST:PORT for TCP.
 * Every call returns 0 or a negative code with a message naming the
 * address.
 */
#ifndef T9K_CACHE_NET_H
#define T9K_CACHE_NET_H

#include <stdbool.h>

bool cache_net_is_unix(const char *addr);
/* Checks that addr parses (does not resolve or connect). */
int cache_net_check(const char *addr);
/* A listening socket: a stale unix socket file is replaced, a live one
 * is -EADDRINUSE. */
int cache_net_listen(const char *addr, int *fd);
/* Connects within timeout_ms; the socket then has send and receive
 * timeouts of timeout_ms (a dead peer costs at most that) and, on TCP,
 * TCP_NODELAY. */
int cache_net_connect(const char *addr, int timeout_ms, int *fd);
/* Sets the send and receive deadlines of a connected socket. */
void cache_net_set_timeout(int fd, int timeout_ms);
/* Splits "A,B,C" into a NULL-terminated array of strdup'ed addresses
 * (free with cache_net_list_free); each is checked. */
int cache_net_list(const char *list, char ***out, int *n);
void cache_net_list_free(char **list);

#endif
