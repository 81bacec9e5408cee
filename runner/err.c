/* struct err: one error type for every library module (err.h). */
#include "err.h"

#include <stdio.h>
#include <string.h>

/* A message cut to fit ends on a whole UTF-8 character (the API sends it as
 * JSON, a terminal shows it): drops a sequence the cut left incomplete. */
static void cut_whole(char *msg, size_t size, int n)
{
	size_t len = size - 1, i = len, need;

	if (n < 0 || (size_t)n < size)
		return;
	while (i > 0 && ((unsigned char)msg[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || (unsigned char)msg[i - 1] < 0xc0)
		return;
	need = (unsigned char)msg[i - 1] >= 0xf0 ? 4 : (unsigned char)msg[i - 1] >= 0xe0 ? 3 : 2;
	if (len - (i - 1) < need)
		msg[i - 1] = '\0';
}

int err_vset(struct err *e, int code, const char *fmt, va_list ap)
{
	int n;

	if (!e)
		return -1;
	e->code = code;
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (n < 0)
		e->msg[0] = '\0';
	cut_whole(e->msg, sizeof(e->msg), n);
	return -1;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char lower[sizeof(e->msg)];
	va_list ap;
	int n;

	if (!e)
		return -1;
	memcpy(lower, e->msg, sizeof(lower));
	lower[sizeof(lower) - 1] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(e->msg))
		n += snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, "%s", lower);
	cut_whole(e->msg, sizeof(e->msg), n);
	return -1;
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}
