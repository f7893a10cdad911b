/* The cache daemon (`t9kfs cache serve`): one per node. Serves chunks to
 * local mounts over a unix socket (data or a passed descriptor) and to
 * the other members of its cache group over TCP, from its disk cache
 * (cache/disk.h), from the chunk's owner in the group, or from the object
 * store named in each request (opened once per URL and kept).
 *
 *   struct cache_server_opts o;  cache_server_opts_init(&o);  o.dir = ...;
 *   cache_server_new(&o, &s);    // opens the disk cache, binds sockets
 *   cache_server_run(s);         // until cache_server_stop (signal-safe)
 *   cache_server_free(s);
 *
 * Group: o.group (with o.listen, its own address in the list) starts the
 * daemon in a group; o.listen without o.group starts it standalone. Either
 * can be given a new member list at any time, from any thread, while
 * cache_server_run serves (cache_server_set_group): members that stay
 * keep their connections and dead marks, requests already running finish
 * with the old list, and the chunks of a removed member are served from
 * this disk or the store from then on.
 *
 * Memory: the index (about 100 bytes per cached chunk), one chunk buffer
 * per connection (at most max_conns), up to max_stores open stores, and
 * with an RDMA device rdma_buffers x CACHE_RDMA_BUF_SIZE registered
 * buffers, plus one such buffer per pooled connection to a peer. The
 * device opens when listen is set (a group may come later).
 * The strings of the opts are not copied: they outlive the server.
 */
#ifndef T9K_CACHE_SERVER_H
#define T9K_CACHE_SERVER_H

#include "cache/io.h"
#include "lib/buf.h"

#include <stdbool.h>
#include <stdint.h>

struct cache_server_opts {
	const char *dir;          /* the cache directory (required) */
	uint64_t capacity;        /* bytes of chunks kept (required) */
	const char *socket;       /* unix socket for local clients (default DIR/cache.sock) */
	const char *listen;       /* TCP HOST:PORT for peers and remote clients, or NULL */
	const char *advertise;    /* this member's address in group lists when it is
				   * not listen (listen on 0.0.0.0:7070, advertise
				   * 10.0.0.7:7070), or NULL: listen */
	const char *group;        /* comma-separated members incl. listen, or NULL:
				   * standalone (cache_server_set_group may add one
				   * later when listen is set) */
	const char *metrics;      /* HOST:PORT serving GET /metrics, or NULL */
	const char *stores;       /* comma-separated URL prefixes the daemon may open
				   * stores under, or NULL for any */
	enum cache_io_mode io_mode;
	int peer_timeout_ms;      /* connect and hello deadline towards a peer (default 2000) */
	int peer_wait_ms;         /* how long a request waits for the owner's answer (10000) */
	int dead_ms;              /* how long a failed peer is skipped (default 5000) */
	int max_conns;            /* concurrent connections (default 256) */
	int rdma_buffers;         /* buffers of CACHE_RDMA_BUF_SIZE lent to RDMA readers
				   * (default 8; 0: peers use TCP) */
};

void cache_server_opts_init(struct cache_server_opts *o);

struct cache_server;
int cache_server_new(const struct cache_server_opts *o, struct cache_server **out);
int cache_server_run(struct cache_server *s);
/* Async-signal-safe. */
void cache_server_stop(struct cache_server *s);
void cache_server_free(struct cache_server *s);

/* Makes list (comma-separated HOST:PORT, as o.group) this daemon's group.
 * Thread-safe; callable while cache_server_run serves (not once
 * cache_server_free has begun). list must hold this member's address
 * (o.advertise, else o.listen), and the server must listen: else
 * T9K_EUSAGE and nothing
 * changes. Returns 0 once list is in effect for new requests (also when it
 * has the current members, in any order: then nothing is rebuilt); logs
 * each change at info and counts it (stats: group_changes, group_members). */
int cache_server_set_group(struct cache_server *s, const char *list);

/* The counters as "name value\n" lines, or in the Prometheus text format;
 * group_members (incl. this daemon, 0 standalone) is the list now. */
int cache_server_stats(struct cache_server *s, bool prometheus, struct buf *out);

#endif
