/* The guest's console: splits a byte stream into bounded lines and tells
 * which lines report kernel trouble (panic, oops, BUG, WARNING...). Pure
 * functions of their input, so they can be fuzzed and unit-tested. */
#ifndef KFARM_CONSOLE_H
#define KFARM_CONSOLE_H

#include <stddef.h>

#define CONSOLE_LINE_MAX 4096

enum con_kind {
	CON_NONE,
	CON_PANIC,	/* "Kernel panic - not syncing" */
	CON_OOPS,	/* "Oops", "Unable to handle kernel" */
	CON_BUG,	/* "BUG:" */
	CON_INTERNAL,	/* "Internal error:" */
	CON_INIT_KILLED,/* "Attempted to kill init" (usually inside a panic) */
	CON_WARNING,	/* "WARNING:" */
};

/* Classifies one line (no newline), ignoring a "<N>" log level and a printk
 * prefix (console_prefix_len). */
enum con_kind console_classify(const char *line, size_t len);
/* Length of printk's line prefix: a timestamp "[    0.123456]", a caller id
 * "[    T1]" / "[     C0]" (CONFIG_PRINTK_CALLER), or both, plus the one space
 * printk puts after it; without those, a single leading space (before a
 * non-blank: indentation is KTAP's); 0 when the line has none of that. */
size_t console_prefix_len(const char *line, size_t len);
const char *con_kind_name(enum con_kind k);
/* True for the kinds that mean the kernel is broken (all but WARNING). */
int con_kind_fatal(enum con_kind k);

/* Line splitter: bytes in, whole lines out; a line longer than
 * CONSOLE_LINE_MAX - 1 is cut into pieces. NUL bytes become '?'. */
struct linebuf {
	char buf[CONSOLE_LINE_MAX];
	size_t len;
};
typedef void (*line_cb)(void *data, const char *line, size_t len);
void linebuf_feed(struct linebuf *lb, const char *data, size_t n, line_cb cb, void *arg);
void linebuf_flush(struct linebuf *lb, line_cb cb, void *arg);

#endif
