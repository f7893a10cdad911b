/* The web console's endpoints (meta/API.md, "Console"): read-only views
 * the pages need that the rest of the API does not give in one request:
 * a repository's summary with its size, refs with their commits, history
 * by pages, a directory by pages, a file's bytes, a diff by pages with
 * totals, and the commits a comparison puts side by side.
 *
 * meta/api.c routes them (its route table) and keeps the request; the
 * api_call_* accessors below are what a handler reads of it. Handlers
 * return 0 with the reply filled, or an error code with a message
 * (t9k_err), as api.c's own handlers do.
 */
#ifndef T9K_META_CONSOLE_H
#define T9K_META_CONSOLE_H

#include "meta/api.h"
#include "meta/repo.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct call; /* one request (meta/api.c) */

/* ---- accessors, in meta/api.c ---- */

struct repo *api_call_repo(struct call *c);       /* routes with NEED_REPO */
const char *api_call_repo_name(struct call *c);
struct meta_db *api_call_db(struct call *c);
/* Decoded query value: 0 and *out, 1 when absent, or -EINVAL. */
int api_call_query(struct call *c, const char *key, const char **out);
int api_call_query_u64(struct call *c, const char *key, uint64_t lo, uint64_t hi, uint64_t *out);
int api_call_query_bool(struct call *c, const char *key, bool *out);
/* A request header, or NULL. */
const char *api_call_header(struct call *c, const char *name);
struct api_reply *api_call_reply(struct call *c);
/* The JSON body by pieces: raw text, a value (its reference dropped),
 * then the end with the status. */
int api_call_out(struct call *c, const char *s, size_t n);
int api_call_json(struct call *c, json_t *j);
int api_call_end(struct call *c, unsigned status);
/* Another reference on the call's repository handle, for a stream that
 * outlives the call; NULL when out of memory. */
struct api_repo_keep;
struct api_repo_keep *api_call_repo_keep(struct call *c);
void api_repo_keep_put(struct api_repo_keep *k);

/* ---- handlers, in meta/console.c ---- */

int console_summary(struct call *c);
int console_refinfo(struct call *c);
int console_history(struct call *c);
int console_tree(struct call *c);
int console_file(struct call *c);
int console_changes(struct call *c);
int console_compare(struct call *c);

/* Limits of the console's endpoints. */
#define CONSOLE_PAGE_MAX 10000      /* entries, changes or commits per page */
#define CONSOLE_COMPARE_MAX 500     /* commits one comparison returns */
#define CONSOLE_CURSOR_MAX 64       /* commits in a history cursor */
#define CONSOLE_SIZE_BUDGET 2000000 /* entries a summary's size walk reads */

#endif
