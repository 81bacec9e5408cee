/* libFuzzer: LAVA's YAML job log (untrusted: it carries guest bytes) through
 * lava_log_feed. Findings besides crashes:
 * - only whole lines are consumed, each counted once;
 * - console output never exceeds the input (escapes only shrink);
 * - feeding the log in two pieces gives the same console bytes and verdict. */
#include "../../runner/lava_job.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) ((c) ? (void)0 : (fprintf(stderr, "invariant failed: %s\n", #c), abort()))

struct out {
	uint64_t hash;
	size_t bytes;
};

static void take(void *data, const char *line, size_t n)
{
	struct out *o = data;

	for (size_t i = 0; i < n; i++)
		o->hash = (o->hash ^ (unsigned char)line[i]) * 1099511628211ull;
	o->hash = (o->hash ^ '\n') * 1099511628211ull;
	o->bytes += n + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct lava_log a = { 0 }, b = { 0 };
	struct out oa = { 0 }, ob = { 0 };
	size_t used, nl = 0, cut = size ? data[0] % (size + 1) : 0, u1;

	used = lava_log_feed(&a, s, size, 1024, take, &oa);
	CHECK(used <= size);
	CHECK(!used || s[used - 1] == '\n');
	CHECK(!memchr(s + used, '\n', size - used));
	for (size_t i = 0; i < used; i++)
		nl += s[i] == '\n';
	CHECK(a.lines == nl);
	CHECK(oa.bytes <= used + a.lines);
	/* the same log in two pieces, as successive polls see it */
	u1 = lava_log_feed(&b, s, cut, 1024, take, &ob);
	lava_log_feed(&b, s + u1, size - u1, 1024, take, &ob);
	CHECK(b.lines == a.lines && b.done_seen == a.done_seen);
	CHECK(oa.hash == ob.hash && oa.bytes == ob.bytes);
	CHECK(!strcmp(a.error_type, b.error_type) && !strcmp(a.error_msg, b.error_msg));
	return 0;
}
