/* A library module's failure: it returns -1 (or NULL) and says why in a
 * struct err; only the command layer prints (error()), die() is for out of
 * memory and the impossible. See docs/design.md, "Errors". */
#ifndef KFARM_ERR_H
#define KFARM_ERR_H

#include <stdarg.h>

struct err {
	int code;	/* 0, or the HTTP status the API answers with */
	char msg[512];	/* one line, without "kfarm: " (the longest, a changed
			 * SSH host key's, is ~400 bytes) */
};

/* Sets e (NULL: nothing) to code and the formatted message, cut to fit.
 * Returns -1, so that "return err_set(e, ...);" fails. */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int err_vset(struct err *e, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Puts context before e's message ("host 'x': " + the lower error); the
 * code stays. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties e (code 0, msg ""); NULL-safe. */
void err_clear(struct err *e);

#endif
