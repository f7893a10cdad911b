/* io_uring engine of the cache (io.h). Callers queue a request and sleep
 * on its condition; one thread owns the ring: it turns everything queued
 * into SQEs, submits them with one io_uring_submit_and_wait, and completes
 * requests from their CQEs. An eventfd read kept armed on the ring wakes
 * that thread when new requests arrive while it waits for completions.
 *
 * Locking: io->lock guards the queue, stop, the counters and every
 * request's done/res; the ring is touched only by the ring thread.
 */
#include "cache/io.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WAKE_TAG 1 /* user_data of the eventfd read; requests are pointers */

struct io_req {
	bool write, done;
	int fd;
	void *buf;
	size_t len;
	off_t off;
	ssize_t res;
	pthread_cond_t cv;
	struct io_req *next;
};

struct cache_io {
	bool uring;
	unsigned depth;
	struct io_uring ring;
	int efd;
	uint64_t ebuf;
	pthread_t thread;
	bool thread_on;
	pthread_mutex_t lock;
	struct io_req *head, *tail; /* queued, not yet submitted */
	bool stop;
	uint64_t requests, batches;
};

const char *cache_io_name(const struct cache_io *io)
{
	return io->uring ? "io_uring" : "pread";
}

void cache_io_counts(struct cache_io *io, uint64_t *requests, uint64_t *batches)
{
	pthread_mutex_lock(&io->lock);
	*requests = io->requests;
	*batches = io->batches;
	pthread_mutex_unlock(&io->lock);
}

static void arm_wake(struct cache_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe)
		return; /* full: the next loop arms it */
	io_uring_prep_read(sqe, io->efd, &io->ebuf, sizeof(io->ebuf), 0);
	io_uring_sqe_set_data64(sqe, WAKE_TAG);
}

static void *ring_main(void *arg)
{
	struct cache_io *io = arg;
	unsigned inflight = 0;
	bool armed = false;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		struct io_req *r;
		unsigned queued = 0;
		int rc;

		pthread_mutex_lock(&io->lock);
		if (io->stop && inflight == 0) {
			pthread_mutex_unlock(&io->lock);
			break;
		}
		if (!armed) {
			arm_wake(io);
			armed = true;
		}
		/* one SQE is kept for the wake read */
		while ((r = io->head) && inflight + 2 <= io->depth) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

			if (!sqe)
				break;
			io->head = r->next;
			if (!io->head)
				io->tail = NULL;
			if (r->write)
				io_uring_prep_write(sqe, r->fd, r->buf, (unsigned)r->len, (uint64_t)r->off);
			else
				io_uring_prep_read(sqe, r->fd, r->buf, (unsigned)r->len, (uint64_t)r->off);
			io_uring_sqe_set_data(sqe, r);
			inflight++;
			queued++;
			io->requests++;
		}
		if (queued)
			io->batches++;
		pthread_mutex_unlock(&io->lock);
		rc = io_uring_submit_and_wait(&io->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
			t9k_log(T9K_LOG_ERROR, "cache: io_uring_submit_and_wait: %s", strerror(-rc));
			usleep(1000);
		}
		pthread_mutex_lock(&io->lock);
		io_uring_for_each_cqe(&io->ring, head, cqe) {
			seen++;
			if (cqe->user_data == WAKE_TAG) {
				armed = false;
				continue;
			}
			r = io_uring_cqe_get_data(cqe);
			r->res = cqe->res;
			r->done = true;
			inflight--;
			pthread_cond_signal(&r->cv);
		}
		io_uring_cq_advance(&io->ring, seen);
		pthread_mutex_unlock(&io->lock);
	}
	return NULL;
}

static ssize_t uring_once(struct cache_io *io, bool write, int fd, void *buf, size_t len, off_t off)
{
	struct io_req r = { .write = write, .fd = fd, .buf = buf, .len = len, .off = off };
	uint64_t one = 1;

	pthread_cond_init(&r.cv, NULL);
	pthread_mutex_lock(&io->lock);
	if (io->tail)
		io->tail->next = &r;
	else
		io->head = &r;
	io->tail = &r;
	pthread_mutex_unlock(&io->lock);
	if (write_full(io->efd, &one, sizeof(one)) < 0)
		t9k_log(T9K_LOG_WARN, "cache: eventfd write: %s", strerror(errno));
	pthread_mutex_lock(&io->lock);
	while (!r.done)
		pthread_cond_wait(&r.cv, &io->lock);
	pthread_mutex_unlock(&io->lock);
	pthread_cond_destroy(&r.cv);
	return r.res;
}

static ssize_t do_io(struct cache_io *io, bool write, int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		size_t part = len - done > (1u << 30) ? (1u << 30) : len - done;
		ssize_t n;

		if (io->uring)
			n = uring_once(io, write, fd, (char *)buf + done, part, off + (off_t)done);
		else if (write)
			n = pwrite(fd, (char *)buf + done, part, off + (off_t)done);
		else
			n = pread(fd, (char *)buf + done, part, off + (off_t)done);
		if (!io->uring && n < 0)
			n = -errno;
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			return n;
		if (n == 0)
			break; /* end of file */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t cache_io_pread(struct cache_io *io, int fd, void *buf, size_t len, off_t off)
{
	return do_io(io, false, fd, buf, len, off);
}

ssize_t cache_io_pwrite(struct cache_io *io, int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = do_io(io, true, fd, (void *)buf, len, off);

	return n >= 0 && (size_t)n < len ? -EIO : n;
}

int cache_io_new(enum cache_io_mode mode, unsigned depth, struct cache_io **out)
{
	struct cache_io *io = calloc(1, sizeof(*io));
	int rc = 0;

	*out = NULL;
	if (!io)
		return t9k_err(-ENOMEM, "out of memory");
	pthread_mutex_init(&io->lock, NULL);
	io->efd = -1;
	io->depth = depth < 4 ? 4 : depth > 4096 ? 4096 : depth;
	if (mode != CACHE_IO_PREAD) {
		rc = io_uring_queue_init(io->depth, &io->ring, 0);
		if (rc == 0) {
			io->efd = eventfd(0, EFD_CLOEXEC);
			if (io->efd < 0) {
				rc = -errno;
				io_uring_queue_exit(&io->ring);
			}
		}
		if (rc == 0) {
			io->uring = true;
			rc = -pthread_create(&io->thread, NULL, ring_main, io);
			if (rc == 0)
				io->thread_on = true;
		}
		if (rc < 0 && mode == CACHE_IO_URING) {
			rc = t9k_err(rc, "io_uring is not available: %s", strerror(-rc));
			cache_io_free(io);
			return rc;
		}
		if (rc < 0) {
			t9k_log(T9K_LOG_WARN, "cache: io_uring is not available (%s); using pread",
				strerror(-rc));
			if (io->uring) {
				io_uring_queue_exit(&io->ring);
				close(io->efd);
				io->efd = -1;
			}
			io->uring = false;
		}
	}
	*out = io;
	return 0;
}

void cache_io_free(struct cache_io *io)
{
	uint64_t one = 1;

	if (!io)
		return;
	if (io->thread_on) {
		pthread_mutex_lock(&io->lock);
		io->stop = true;
		pthread_mutex_unlock(&io->lock);
		if (write_full(io->efd, &one, sizeof(one)) < 0)
			t9k_log(T9K_LOG_WARN, "cache: eventfd write: %s", strerror(errno));
		pthread_join(io->thread, NULL);
	}
	if (io->uring)
		io_uring_queue_exit(&io->ring);
	if (io->efd >= 0)
		close(io->efd);
	pthread_mutex_destroy(&io->lock);
	free(io);
}
