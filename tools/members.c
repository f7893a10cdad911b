/* The membership watch of members.h: one thread per command that beats or
 * lists every ttl/3 and calls apply() when the sorted member list changes.
 * A list the service answers while it has lost its memory (restart) may
 * lack members for one period; that is the soft-state trade documented in
 * meta/members.h, and the group converges at the next heartbeats.
 */
#include "tools/members.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "meta/members.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct members_watch {
	struct meta_client *c;
	char *group, *self, *node, *last; /* node: NULL when none */
	uint32_t ttl_ms;
	members_apply_fn apply;
	void *arg;
	pthread_t th;
	bool started, stop, failing;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* One heartbeat (member) or lookup (client): the live list in *list. */
static int refresh(struct members_watch *w, char **list, bool *complete)
{
	if (w->self)
		return meta_client_cache_beat(w->c, w->group, w->self, w->node, w->ttl_ms, list,
					      complete);
	return meta_client_cache_members(w->c, w->group, w->ttl_ms, list, complete);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The members of two lists "a:1,b:2" once each, sorted, as a new list in
 * *out: what a group has when an incomplete answer adds members but
 * cannot be trusted to remove any. */
static int list_union(const char *a, const char *b, char **out)
{
	char *all = NULL, **v = NULL, *save = NULL;
	size_t n = 0, len = strlen(a) + strlen(b) + 2, k = 0;
	int rc = 0;

	*out = NULL;
	for (const char *p = a; *p; p++)
		n += *p == ',';
	for (const char *p = b; *p; p++)
		n += *p == ',';
	if (!(all = malloc(len)) || !(v = calloc(n + 2, sizeof(*v))) || !(*out = malloc(len))) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto out;
	}
	snprintf(all, len, "%s,%s", a, b);
	for (char *t = strtok_r(all, ",", &save); t; t = strtok_r(NULL, ",", &save))
		v[k++] = t;
	qsort(v, k, sizeof(*v), str_cmp);
	(*out)[0] = '\0';
	for (size_t i = 0, o = 0; i < k; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		o += (size_t)snprintf(*out + o, len - o, "%s%s", o ? "," : "", v[i]);
	}
out:
	free(v);
	free(all);
	return rc;
}

int members_lookup(struct meta_client *c, const char *group, char **list,
		   struct meta_member **v, int *n)
{
	struct meta_member *m;
	struct buf b = BUF_INIT;
	int k, rc = meta_client_cache_group(c, group, 0, &m, &k, NULL);

	*list = NULL;
	if (v)
		*v = NULL, *n = 0;
	if (rc < 0)
		return t9k_err(rc, "cache group '%s': %s", group, t9k_errmsg(rc));
	if (k == 0) {
		free(m);
		return t9k_err(T9K_ENOTFOUND, "cache group '%s' has no live members in the metadata "
					      "service (start `t9kfs cache serve --meta URL --group-name "
					      "%s` on the nodes)",
			       group, group);
	}
	for (int i = 0; rc == 0 && i < k; i++)
		if ((i && (rc = buf_addstr(&b, ",")) < 0) || (rc = buf_addstr(&b, m[i].addr)) < 0)
			break;
	if (rc < 0) {
		buf_release(&b);
		free(m);
		return rc;
	}
	*list = buf_detach(&b, NULL);
	if (v)
		*v = m, *n = k;
	else
		free(m);
	return 0;
}

int members_watch_new(struct meta_client *c, const char *group, const char *self,
		      const char *node, uint32_t ttl_ms, char **first, struct members_watch **out)
{
	struct members_watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int rc = 0;

	*first = NULL;
	*out = NULL;
	meta_client_set_timeout(c, ttl_ms >= 6000 ? ttl_ms / 3000 : 1);
	if (!w || !(w->group = strdup(group)) || (self && !(w->self = strdup(self))) ||
	    (self && node && !(w->node = strdup(node)))) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto fail;
	}
	w->c = c;
	w->ttl_ms = ttl_ms;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the waits below */
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (self)
		rc = meta_client_cache_beat(c, group, self, w->node, ttl_ms, &w->last, NULL);
	else
		rc = members_lookup(c, group, &w->last, NULL, NULL);
	if (rc < 0) {
		if (self)
			rc = t9k_err(rc, "cache group '%s': %s", group, t9k_errmsg(rc));
		goto fail_sync;
	}
	if (!(*first = strdup(w->last))) {
		rc = t9k_err(-ENOMEM, "out of memory");
		goto fail_sync;
	}
	*out = w;
	return 0;
fail_sync:
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
fail:
	if (w) {
		if (w->self && w->last) /* registered: leave again */
			meta_client_cache_leave(c, w->group, w->self);
		free(w->last);
		free(w->group);
		free(w->self);
		free(w->node);
		free(w);
	}
	meta_client_free(c);
	return rc;
}

static void *watch_main(void *arg)
{
	struct members_watch *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		char *list = NULL, *merged;
		bool complete = true;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += w->ttl_ms / 3 / 1000;
		ts.tv_nsec += (long)(w->ttl_ms / 3 % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
			;
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->lock);
		rc = refresh(w, &list, &complete);
		/* just after a service restart, a member not yet back is not gone */
		if (rc == 0 && !complete && (rc = list_union(w->last, list, &merged)) == 0)
			free(list), list = merged;
		if (rc < 0 && !w->failing)
			t9k_log(T9K_LOG_WARN, "cache group '%s': metadata service: %s (keeping the "
					      "last %s)",
				w->group, t9k_errmsg(rc), w->self ? "list; retrying" : "member list");
		else if (rc == 0 && w->failing)
			t9k_log(T9K_LOG_INFO, "cache group '%s': metadata service answers again",
				w->group);
		w->failing = rc < 0;
		/* an empty answer for a client means nobody serves now: keep the last */
		if (rc == 0 && *list && strcmp(list, w->last)) {
			rc = w->apply(w->arg, list);
			if (rc < 0)
				t9k_log(T9K_LOG_WARN, "cache group '%s': cannot use members %s: %s",
					w->group, list, t9k_errmsg(rc));
			else
				free(w->last), w->last = list, list = NULL;
		}
		free(list);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int members_watch_start(struct members_watch *w, members_apply_fn apply, void *arg)
{
	int rc;

	w->apply = apply;
	w->arg = arg;
	if ((rc = pthread_create(&w->th, NULL, watch_main, w)) != 0)
		return t9k_err(-rc, "cannot start the membership thread: %s", strerror(rc));
	w->started = true;
	return 0;
}

void members_watch_stop(struct members_watch *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->th, NULL);
	}
	if (w->self) {
		int rc = meta_client_cache_leave(w->c, w->group, w->self);

		if (rc < 0)
			t9k_log(T9K_LOG_WARN, "cache group '%s': leaving: %s", w->group,
				t9k_errmsg(rc));
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	meta_client_free(w->c);
	free(w->last);
	free(w->group);
	free(w->self);
	free(w->node);
	free(w);
}
