/* Streaming KTAP v1 / TAP 13-14 parser. Feed it console lines one at a time;
 * it calls back once per test result, children before their parent, with
 * names joined into a path ("clone3/size_lt_64"). Lines that are not KTAP
 * (kernel log noise, garbage) are ignored, as ktap.rst allows. Nesting may be
 * by indentation or by kselftest's "# " prefixes. The parser never fails. */
#ifndef KFARM_KTAP_H
#define KFARM_KTAP_H

#include <stddef.h>

enum test_status { TS_PASS, TS_FAIL, TS_SKIP };

struct ktap_result {
	int depth;		/* 0 = top level */
	unsigned long num;	/* number as printed (or assigned in order) */
	enum test_status status;
	const char *name;	/* path, parents first, '/'-separated */
	const char *reason;	/* directive text or diagnostic after '#', or "" */
};

typedef void (*ktap_cb)(void *data, const struct ktap_result *r);

struct ktap_level;
struct ktap {
	ktap_cb cb;
	void *data;
	struct ktap_level *lv;	/* stack of nesting levels, lv[0] = top */
	int nlv, cap;
	int seen_header;	/* a top-level "KTAP version"/"TAP version" line */
	long plan;		/* top-level plan N, or -1 */
	unsigned long ntop;	/* top-level results seen */
	int bailed;		/* "Bail out!" seen */
};

void ktap_init(struct ktap *k, ktap_cb cb, void *data);
void ktap_feed(struct ktap *k, const char *line, size_t len);
void ktap_release(struct ktap *k);

const char *test_status_name(enum test_status s);

#endif
