#include "console.h"

#include <ctype.h>
#include <string.h>

static const struct {
	const char *prefix;
	enum con_kind kind;
} patterns[] = {
	{ "Kernel panic - not syncing", CON_PANIC },
	{ "Internal error:", CON_INTERNAL },
	{ "Oops", CON_OOPS },
	{ "Unable to handle kernel", CON_OOPS },
	{ "BUG:", CON_BUG },
	{ "kernel BUG at", CON_BUG },
	{ "WARNING:", CON_WARNING },
};

const char *con_kind_name(enum con_kind k)
{
	static const char *const names[] = {
		[CON_NONE] = "none", [CON_PANIC] = "panic", [CON_OOPS] = "oops",
		[CON_BUG] = "BUG", [CON_INTERNAL] = "internal error",
		[CON_INIT_KILLED] = "init killed", [CON_WARNING] = "warning",
	};
	return names[k];
}

int con_kind_fatal(enum con_kind k)
{
	return k != CON_NONE && k != CON_WARNING;
}

/* Skips "[    1.234567] " and "<4>" prefixes the kernel may print. */
static void skip_prefix(const char **s, size_t *len)
{
	for (int round = 0; round < 2; round++) {
		const char *p = *s;
		size_t n = *len;
		char close = 0;

		if (n && *p == '[')
			close = ']';
		else if (n && *p == '<')
			close = '>';
		if (!close)
			return;
		while (n && *p != close)
			p++, n--;
		if (!n)
			return;
		p++, n--;
		while (n && *p == ' ')
			p++, n--;
		*s = p;
		*len = n;
	}
}

enum con_kind console_classify(const char *line, size_t len)
{
	skip_prefix(&line, &len);
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		size_t n = strlen(patterns[i].prefix);

		if (len >= n && !memcmp(line, patterns[i].prefix, n)) {
			if (patterns[i].kind == CON_OOPS && n == 4 && len > 4 &&
			    line[4] != ':' && line[4] != ' ' && line[4] != '[')
				continue;	/* "Oopsie" is not an oops */
			return patterns[i].kind;
		}
	}
	if (len >= 22 && memmem(line, len, "Attempted to kill init", 22))
		return CON_INIT_KILLED;
	return CON_NONE;
}

void linebuf_feed(struct linebuf *lb, const char *data, size_t n, line_cb cb, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		if (c == '\n') {
			if (lb->len && lb->buf[lb->len - 1] == '\r')
				lb->len--;
			lb->buf[lb->len] = '\0';
			cb(arg, lb->buf, lb->len);
			lb->len = 0;
			continue;
		}
		if (lb->len == CONSOLE_LINE_MAX - 1) {
			lb->buf[lb->len] = '\0';
			cb(arg, lb->buf, lb->len);
			lb->len = 0;
		}
		lb->buf[lb->len++] = c ? c : '?';
	}
}

void linebuf_flush(struct linebuf *lb, line_cb cb, void *arg)
{
	if (!lb->len)
		return;
	lb->buf[lb->len] = '\0';
	cb(arg, lb->buf, lb->len);
	lb->len = 0;
}
