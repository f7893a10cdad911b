/* What only store/ shares: the backend vtable. Each backend fills one
 * struct store_ops and embeds struct store at the start of its own state.
 * The ops may assume the key is valid (store.c checks it first) and must
 * record an error message naming the key on failure. */
#ifndef T9K_STORE_INTERNAL_H
#define T9K_STORE_INTERNAL_H

#include "store/store.h"

struct store_ops {
	const char *scheme; /* "file" for file://... */
	/* rest is the URL after "scheme://" */
	int (*open)(const char *url, const char *rest, struct store **out);
	void (*close)(struct store *s);
	int (*put)(struct store *s, const char *key, const struct iovec *iov, int iovcnt);
	int (*get)(struct store *s, const char *key, uint64_t off, uint64_t len, struct buf *out);
	int (*head)(struct store *s, const char *key, uint64_t *size);
	int (*list)(struct store *s, const char *prefix, store_list_fn fn, void *arg);
	int (*del)(struct store *s, const char *key);
};

struct store {
	const struct store_ops *ops;
	char *url;
};

extern const struct store_ops store_file_ops;

#endif
