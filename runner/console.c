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

/* Length of one "[ spaces (T|C)? digits (.digits)? ]" field of the shape
 * wanted (time: digits.digits; caller: T or C then digits), else 0. */
static size_t bracket_field(const char *s, size_t len, int caller)
{
	size_t i = 1, d = 0;

	if (!len || s[0] != '[')
		return 0;
	while (i < len && i < 24 && s[i] == ' ')
		i++;
	if (caller) {
		if (i >= len || (s[i] != 'T' && s[i] != 'C'))
			return 0;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9' && d < 20; i++)
		d++;
	if (!d)
		return 0;
	if (!caller) {
		if (i >= len || s[i++] != '.')
			return 0;
		for (d = 0; i < len && s[i] >= '0' && s[i] <= '9' && d < 20; i++)
			d++;
		if (!d)
			return 0;
	}
	return i < len && s[i] == ']' ? i + 1 : 0;
}

size_t console_prefix_len(const char *s, size_t len)
{
	size_t t = bracket_field(s, len, 0);
	size_t c = bracket_field(s + t, len - t, 1);

	if (!t && !c)	/* a console that starts each line with one space */
		return len > 1 && s[0] == ' ' && s[1] != ' ' && s[1] != '\t';
	return t + c + (t + c < len && s[t + c] == ' ');
}

/* Skips a "<4>" log level (kmsg style) and printk's prefix. */
static void skip_prefix(const char **s, size_t *len)
{
	size_t n;

	if (*len > 2 && **s == '<') {
		size_t i = 1;

		while (i < *len && i < 4 && (*s)[i] >= '0' && (*s)[i] <= '9')
			i++;
		if (i > 1 && i < *len && (*s)[i] == '>')
			*s += i + 1, *len -= i + 1;
	}
	n = console_prefix_len(*s, *len);
	*s += n;
	*len -= n;
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
