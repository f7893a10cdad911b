/* The CSI driver's gRPC server (server.h) on gRPC core's C API.
 *
 * A call goes through three completions on the one completion queue, all
 * seen by the poller thread: NEW (grpc_server_request_call matched a call;
 * another request is armed at once), RECV (its message arrived: it goes to
 * the fast lane or the worker queue; unknown methods are answered
 * UNIMPLEMENTED here), SENT (status and answer are out: the call is freed).
 * A handler thread unpacks, runs the handler and starts the send batch;
 * grpc_call_start_batch may be called from any thread.
 *
 * Locking: s->lock protects both queues, s->stopping and s->shutdown_done;
 * it is never held while a handler runs or gRPC is called. Shutdown:
 * grpc_server_shutdown_and_notify, whose tag arrives once every call has
 * been answered and freed; then the queue is shut down and drained.
 */
#include "csi/server.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ARMED_CALLS 8         /* calls accepted ahead, waiting for a client */
#define STOP_GRACE_SECONDS 10 /* running calls get this long at stop, then are cancelled */

enum call_state { CALL_NEW, CALL_RECV, CALL_SENT };

struct call {
	enum call_state state;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *recv;
	const struct csi_method *m;
	int cancelled;
	struct call *next; /* in a queue */
};

struct queue {
	struct call *head, *tail;
	pthread_cond_t cond;
};

struct csi_server {
	grpc_server *server;
	grpc_completion_queue *cq;
	const struct csi_method *methods;
	size_t nmethods;
	void *ctx;
	pthread_t poller, fast, *workers;
	int nworkers;
	bool poller_started, fast_started;
	int shutdown_tag; /* its address is the shutdown tag */

	pthread_mutex_t lock;
	pthread_cond_t stopped_cond;
	struct queue slow, quick; /* lock */
	bool stopping;            /* lock: no new calls are armed */
	bool shutdown_done;       /* lock: the server's shutdown tag arrived */
	bool queues_closed;       /* lock: handler threads exit when their queue is empty */
};

void csi_reply_ok(struct csi_reply *r, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);

	free(r->packed);
	r->packed = malloc(n ? n : 1);
	if (!r->packed) {
		csi_fail(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	r->packed_len = protobuf_c_message_pack(msg, r->packed);
	r->code = GRPC_STATUS_OK;
}

void csi_fail(struct csi_reply *r, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	r->code = code;
	free(r->packed);
	r->packed = NULL;
	r->packed_len = 0;
}

int csi_endpoint_path(const char *endpoint, char *out, size_t outsz)
{
	const char *p = NULL;
	int n;

	if (!strncmp(endpoint, "unix://", 7))
		p = endpoint + 7;
	else if (!strncmp(endpoint, "unix:", 5))
		p = endpoint + 5;
	if (!p || p[0] != '/')
		return t9k_err(T9K_EUSAGE, "endpoint '%s': want unix:///ABSOLUTE/PATH", endpoint);
	n = snprintf(out, outsz, "%s", p);
	if (n < 0 || (size_t)n >= outsz || (size_t)n >= 108)
		return t9k_err(T9K_EUSAGE, "endpoint '%s': socket path too long", endpoint);
	return 0;
}

/* ---- calls ---- */

static void call_free(struct call *c)
{
	if (!c)
		return;
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	free(c);
}

/* Arms one more call; false when the server no longer takes calls. */
static bool arm(struct csi_server *s)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c) {
		t9k_log(T9K_LOG_ERROR, "csi: out of memory arming a call");
		return false;
	}
	c->state = CALL_NEW;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq, c) !=
	    GRPC_CALL_OK) {
		call_free(c);
		return false;
	}
	return true;
}

/* Sends the status (and, on success, the answer); the poller frees c. */
static void send_reply(struct call *c, const struct csi_reply *r)
{
	grpc_op ops[4];
	grpc_slice payload, details;
	grpc_byte_buffer *bb = NULL;
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	details = grpc_slice_from_copied_string(r->code == GRPC_STATUS_OK ? "" : r->message);
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (r->code == GRPC_STATUS_OK) {
		payload = grpc_slice_from_copied_buffer((const char *)r->packed, r->packed_len);
		bb = grpc_raw_byte_buffer_create(&payload, 1);
		grpc_slice_unref(payload);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = r->code;
	ops[n++].data.send_status_from_server.status_details = &details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->state = CALL_SENT;
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
		/* never happens for a well-formed batch; the call leaks rather
		 * than being freed twice */
		t9k_log(T9K_LOG_ERROR, "csi: cannot answer a call");
	}
	if (bb)
		grpc_byte_buffer_destroy(bb);
	grpc_slice_unref(details);
}

static void handle(struct csi_server *s, struct call *c)
{
	struct csi_reply r = { .code = GRPC_STATUS_OK };
	ProtobufCMessage *req = NULL;
	grpc_byte_buffer_reader reader;
	grpc_slice all = grpc_empty_slice();

	if (c->recv && grpc_byte_buffer_reader_init(&reader, c->recv)) {
		all = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
	}
	req = protobuf_c_message_unpack(c->m->request, NULL, GRPC_SLICE_LENGTH(all),
					GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	if (!req) {
		csi_fail(&r, GRPC_STATUS_INVALID_ARGUMENT, "%s: the request is not a valid %s message",
			 c->m->path, c->m->request->name);
	} else {
		t9k_err_clear();
		c->m->fn(s->ctx, req, &r);
		protobuf_c_message_free_unpacked(req, NULL);
		if (r.code == GRPC_STATUS_OK && !r.packed)
			csi_fail(&r, GRPC_STATUS_INTERNAL, "%s: the driver gave no answer", c->m->path);
	}
	if (r.code != GRPC_STATUS_OK)
		t9k_log(T9K_LOG_INFO, "csi: %s: status %d: %s", c->m->path, (int)r.code, r.message);
	else
		t9k_log(T9K_LOG_DEBUG, "csi: %s: ok", c->m->path);
	send_reply(c, &r);
	free(r.packed);
}

static void *handler_main(void *arg, struct queue *q)
{
	struct csi_server *s = arg;

	for (;;) {
		struct call *c;

		pthread_mutex_lock(&s->lock);
		while (!q->head && !s->queues_closed)
			pthread_cond_wait(&q->cond, &s->lock);
		c = q->head;
		if (c) {
			q->head = c->next;
			if (!q->head)
				q->tail = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (!c)
			return NULL;
		handle(s, c);
	}
}

static void *worker_main(void *arg)
{
	struct csi_server *s = arg;

	return handler_main(s, &s->slow);
}

static void *fast_main(void *arg)
{
	struct csi_server *s = arg;

	return handler_main(s, &s->quick);
}

static void enqueue(struct csi_server *s, struct call *c)
{
	struct queue *q = c->m->fast ? &s->quick : &s->slow;

	c->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&s->lock);
}

static const struct csi_method *find_method(struct csi_server *s, grpc_slice path)
{
	for (size_t i = 0; i < s->nmethods; i++)
		if (!grpc_slice_str_cmp(path, s->methods[i].path))
			return &s->methods[i];
	return NULL;
}

static void *poller_main(void *arg)
{
	struct csi_server *s = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct call *c = ev.tag;
		bool stopping;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &s->shutdown_tag) {
			pthread_mutex_lock(&s->lock);
			s->shutdown_done = true;
			pthread_cond_broadcast(&s->stopped_cond);
			pthread_mutex_unlock(&s->lock);
			grpc_completion_queue_shutdown(s->cq);
			continue;
		}
		switch (c->state) {
		case CALL_NEW: {
			grpc_op op;

			if (!ev.success) { /* the server is shutting down */
				call_free(c);
				break;
			}
			pthread_mutex_lock(&s->lock);
			stopping = s->stopping;
			pthread_mutex_unlock(&s->lock);
			if (!stopping)
				arm(s);
			memset(&op, 0, sizeof(op));
			op.op = GRPC_OP_RECV_MESSAGE;
			op.data.recv_message.recv_message = &c->recv;
			c->state = CALL_RECV;
			if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK)
				call_free(c);
			break;
		}
		case CALL_RECV:
			c->m = find_method(s, c->details.method);
			if (!ev.success) { /* the client went away: answer nothing */
				struct csi_reply r = { .code = GRPC_STATUS_CANCELLED };

				snprintf(r.message, sizeof(r.message), "cancelled");
				send_reply(c, &r);
			} else if (!c->m) {
				struct csi_reply r = { .code = GRPC_STATUS_UNIMPLEMENTED };
				char *m = grpc_slice_to_c_string(c->details.method);

				snprintf(r.message, sizeof(r.message), "%s is not served by this driver "
					 "(t9kfs csi)", m ? m : "this method");
				gpr_free(m);
				send_reply(c, &r);
			} else {
				enqueue(s, c);
			}
			break;
		case CALL_SENT:
			call_free(c);
			break;
		}
	}
}

int csi_server_start(const char *endpoint, const struct csi_method *methods, size_t n, void *ctx,
		     int workers, struct csi_server **out)
{
	struct csi_server *s;
	grpc_server_credentials *creds;
	char path[256], addr[300];
	struct stat st;
	int rc;

	*out = NULL;
	rc = csi_endpoint_path(endpoint, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return t9k_err(-EEXIST, "endpoint %s exists and is not a socket", path);
		unlink(path); /* a stale socket of an earlier run */
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return t9k_err(-ENOMEM, "out of memory");
	s->methods = methods;
	s->nmethods = n;
	s->ctx = ctx;
	s->nworkers = workers < 1 ? 1 : workers;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->stopped_cond, NULL);
	pthread_cond_init(&s->slow.cond, NULL);
	pthread_cond_init(&s->quick.cond, NULL);
	s->workers = calloc((size_t)s->nworkers, sizeof(*s->workers));
	if (!s->workers) {
		free(s);
		return t9k_err(-ENOMEM, "out of memory");
	}
	grpc_init();
	s->server = grpc_server_create(NULL, NULL);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	creds = grpc_insecure_server_credentials_create();
	rc = grpc_server_add_http2_port(s->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (rc == 0) {
		rc = t9k_err(-EADDRNOTAVAIL, "cannot listen on %s (is the directory there and "
			     "writable?)", endpoint);
		grpc_server_destroy(s->server);
		grpc_completion_queue_shutdown(s->cq);
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(s->cq);
		grpc_shutdown();
		free(s->workers);
		free(s);
		return rc;
	}
	grpc_server_start(s->server);
	for (int i = 0; i < ARMED_CALLS; i++)
		arm(s);
	rc = pthread_create(&s->poller, NULL, poller_main, s);
	s->poller_started = rc == 0;
	if (rc == 0)
		rc = pthread_create(&s->fast, NULL, fast_main, s);
	s->fast_started = s->poller_started && rc == 0;
	for (int i = 0; rc == 0 && i < s->nworkers; i++) {
		rc = pthread_create(&s->workers[i], NULL, worker_main, s);
		if (rc)
			s->nworkers = i;
	}
	if (rc) {
		csi_server_stop(s);
		return t9k_err(-rc, "cannot start the server's threads: %s", strerror(rc));
	}
	*out = s;
	return 0;
}

void csi_server_stop(struct csi_server *s)
{
	struct timespec until;
	int rc = 0;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
	if (s->poller_started) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += STOP_GRACE_SECONDS;
		pthread_mutex_lock(&s->lock);
		while (!s->shutdown_done && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&s->stopped_cond, &s->lock, &until);
		pthread_mutex_unlock(&s->lock);
		if (rc == ETIMEDOUT) {
			t9k_log(T9K_LOG_WARN, "csi: calls still running after %d s: cancelling them",
				STOP_GRACE_SECONDS);
			grpc_server_cancel_all_calls(s->server);
		}
		pthread_join(s->poller, NULL);
	} else {
		grpc_server_cancel_all_calls(s->server);
		grpc_completion_queue_shutdown(s->cq);
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
	}
	pthread_mutex_lock(&s->lock);
	s->queues_closed = true;
	pthread_cond_broadcast(&s->slow.cond);
	pthread_cond_broadcast(&s->quick.cond);
	pthread_mutex_unlock(&s->lock);
	if (s->fast_started)
		pthread_join(s->fast, NULL);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	grpc_server_destroy(s->server);
	grpc_completion_queue_destroy(s->cq);
	grpc_shutdown();
	pthread_cond_destroy(&s->slow.cond);
	pthread_cond_destroy(&s->quick.cond);
	pthread_cond_destroy(&s->stopped_cond);
	pthread_mutex_destroy(&s->lock);
	free(s->workers);
	free(s);
}
