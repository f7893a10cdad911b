/* Growable byte buffer (git's strbuf, for bytes).
 *
 * A struct buf is owned by the caller: buf_init() or BUF_INIT, then
 * buf_release() frees the bytes. data is always NUL-terminated past len so a
 * buffer of text can be used as a C string. Growth failures return -ENOMEM
 * and leave the buffer as it was.
 */
#ifndef T9K_BUF_H
#define T9K_BUF_H

#include <stddef.h>

struct buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	/* The bytes are lent by their owner (not malloc'd): the buffer never
	 * grows past cap (buf_grow fails with -ENOBUFS) and is never freed
	 * here (buf_release and buf_detach only forget it). */
	int fixed;
};

#define BUF_INIT { NULL, 0, 0, 0 }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
/* Ensures room for extra more bytes (plus the NUL); -ENOBUFS for a fixed
 * buffer without the room. */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_addstr(struct buf *b, const char *s);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hands the bytes to the caller (free() them) and resets the buffer. */
void *buf_detach(struct buf *b, size_t *len);

#endif
