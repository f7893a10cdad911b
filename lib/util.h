/* Small OS helpers shared by every module: full reads and writes, durable
 * directory creation, sizes with units, CPU count. All return 0 (or a count)
 * on success and -errno on failure, without recording a message: the caller
 * knows what the path means to the user and says so. */
#ifndef T9K_UTIL_H
#define T9K_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* write()/pwrite() until all bytes are out; retries EINTR. */
int write_full(int fd, const void *data, size_t len);
/* pwrite() until all bytes are out at off; retries EINTR; 0 or -errno. */
int pwrite_full(int fd, const void *data, size_t len, off_t off);
/* read() until len bytes or EOF; returns bytes read (short only at EOF). */
ssize_t read_full(int fd, void *data, size_t len);
ssize_t pread_full(int fd, void *data, size_t len, off_t off);
/* pread_full with O_DIRECT (the device writes into data: no page cache
 * to fill and copy from) when data and off are aligned to
 * PREAD_DIRECT_ALIGN and room (the bytes at data that may be written)
 * covers len rounded up to it; reads stop at the end of the file. Sets
 * O_DIRECT on fd's open file description while it reads: call it on a
 * descriptor of your own. -EINVAL: not possible here (alignment, room,
 * or a file system without direct I/O); read another way. */
#define PREAD_DIRECT_ALIGN 4096
ssize_t pread_direct(int fd, void *data, size_t len, off_t off, size_t room);

/* fsync() of the directory holding entries we created or renamed. */
int fsync_dir(const char *dir);
/* mkdir -p; directories it creates are fsynced into their parents.
 * Returns 1 if it created anything, 0 if all existed, -errno on failure. */
int mkdir_p(const char *path, mode_t mode);

/* Parses "4096", "256K", "1MiB", "2G" (binary units). -EINVAL on junk. */
int parse_size(const char *s, uint64_t *out);
/* Formats bytes as "1.5 MiB" into out (at least 16 bytes). */
char *format_size(uint64_t bytes, char *out, size_t outsz);

int cpu_count(void);

struct addrinfo;
/* A socket bound and listening on the first of the addresses res lists
 * that takes it (SO_REUSEADDR; type_flags such as SOCK_CLOEXEC are or'ed
 * into each socket type): its fd, or the -errno of the last attempt
 * (-EADDRNOTAVAIL when res is empty). */
int listen_first(const struct addrinfo *res, int type_flags, int backlog);
/* Opens (O_PATH) directory path beneath directory root, refusing '..',
 * absolute paths, symlinks and mount crossings on the way (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV), so a tree
 * someone else wrote cannot point the result elsewhere. path "" opens
 * root itself. The fd, or -errno (-ELOOP for a symlink, -EXDEV for a
 * mount crossing). */
int open_dir_beneath(const char *root, const char *path);

/* Monotonic clock in seconds. */
double now_sec(void);

#endif
