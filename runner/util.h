/* Small helpers shared by every part of kfarm: errors in git's style
 * (error() prints "kfarm: ..." and returns -1), checked allocation, a growable
 * string buffer, monotonic time and whole-file I/O. */
#ifndef KFARM_UTIL_H
#define KFARM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable NUL-terminated buffer; .buf is always valid after sb_init(). */
struct sb {
	char *buf;
	size_t len, cap;
};
void sb_init(struct sb *sb);
void sb_add(struct sb *sb, const char *s, size_t n);
void sb_adds(struct sb *sb, const char *s);
void sb_addf(struct sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_reset(struct sb *sb);
void sb_release(struct sb *sb);
char *sb_detach(struct sb *sb);

double now_mono(void);	/* seconds, CLOCK_MONOTONIC */
double now_wall(void);	/* seconds since the epoch */

/* Reads a whole file (at most max bytes, else fails with EFBIG). */
int read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes all n bytes to fd (retrying short writes and EINTR); -1 on error. */
int write_all(int fd, const void *data, size_t n);
/* Writes data to path atomically (tmp + fsync + rename). */
int write_file_atomic(const char *path, const void *data, size_t len);
int mkdir_p(const char *path, int mode);
/* Hex SHA-256 of a file's contents into out[65]. */
int sha256_file(const char *path, char out[65]);

const char *cache_dir(void);	/* $KFARM_CACHE or XDG cache dir + /kfarm */
const char *data_dir(void);	/* $XDG_DATA_HOME/kfarm */
const char *arches_dir(void);	/* $KFARM_ARCHES or the install's arches/ */

/* Numeric dotted-version order: "6.12" after "6.9", "6.1.192" after "6.1". */
int version_cmp(const char *a, const char *b);

/* Frees a NULL-terminated array of strings. */
void strv_free(char **v);

int parse_uint(const char *s, unsigned long max, unsigned long *out);
int parse_seconds(const char *s, double *out);

#endif
