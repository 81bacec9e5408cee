/* libFuzzer: the KTAP parser and console classifier on arbitrary console
 * bytes, split into lines as the runner does. A dropped result, a blowup or a
 * prefix that changes meaning is a finding, not only a crash:
 * - every result line is reported or counted (nresults + MISSING made for
 *   unfulfilled plans == emitted + drops), and every bare top-level result
 *   line is reported;
 * - depth, names, reasons and waiting bytes stay within ktap.h's bounds, and
 *   the output is bounded by a constant factor of the input;
 * - the same lines behind a printk prefix (timestamp, caller id or both)
 *   give the same results and the same console classes. */
#include "../../runner/console.h"
#include "../../runner/ktap.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sum {
	size_t n, top, out;
	uint64_t hash;
};

#define CHECK(c) ((c) ? (void)0 : (fprintf(stderr, "invariant failed: %s\n", #c), abort()))

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

static void on_result(void *data, const struct ktap_result *r)
{
	struct sum *s = data;
	size_t nl = strlen(r->name), rl = strlen(r->reason);

	CHECK(r->depth >= 0 && r->depth < KTAP_MAX_DEPTH);
	CHECK(nl > 0 && nl <= KTAP_PATH_MAX);
	CHECK(rl <= KTAP_REASON_MAX);
	s->n++;
	s->top += r->depth == 0;
	s->out += nl + rl;
	/* field by field: the struct's padding is not part of the result */
	s->hash = fnv(s->hash, &r->depth, sizeof(r->depth));
	s->hash = fnv(s->hash, &r->num, sizeof(r->num));
	s->hash = fnv(s->hash, &r->status, sizeof(r->status));
	s->hash = fnv(fnv(s->hash, r->name, nl + 1), r->reason, rl + 1);
}

struct run {
	struct ktap k, kp;		/* bare lines; the same behind a prefix */
	struct sum s, sp;
	const char *prefix;
	size_t bare_top;		/* "ok..."/"not ok..." lines at column 0 */
};

static int bare_result(const char *l, size_t n)
{
	size_t i = n >= 2 && !memcmp(l, "ok", 2) ? 2 : n >= 6 && !memcmp(l, "not ok", 6) ? 6 : 0;

	return i && (i == n || l[i] == ' ' || (l[i] >= '\t' && l[i] <= '\r'));
}

static void on_line(void *data, const char *line, size_t len)
{
	static char buf[CONSOLE_LINE_MAX + 64];
	struct run *r = data;
	size_t plen = strlen(r->prefix);
	/* a line already carrying a prefix (or a "<N>") is fed as is to both */
	int same = console_prefix_len(line, len) || (len && line[0] == '<');

	memcpy(buf, r->prefix, plen);
	memcpy(buf + plen, line, len);
	if (!same)
		CHECK(console_classify(line, len) == console_classify(buf, plen + len));
	r->bare_top += bare_result(line, len);
	ktap_feed(&r->k, line, len);
	ktap_feed(&r->kp, same ? line : buf, same ? len : plen + len);
	CHECK(r->k.npend <= KTAP_MAX_PENDING && r->k.pend_bytes <= KTAP_PENDING_BYTES);
}

static void check_end(const struct ktap *k, const struct sum *s)
{
	const struct ktap_trunc *t = &k->trunc;

	CHECK(k->nemitted == s->n);
	CHECK(k->nresults + k->nmissing == s->n + t->deep + t->budget + t->orphaned);
	CHECK(k->npend == 0 && k->pend_bytes == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefixes[] = {
		"[    0.123456] ", "[    T1] ", "[  123.000001][     C3] ",
	};
	static struct linebuf lb;
	static struct run r;

	memset(&r, 0, sizeof(r));
	r.prefix = prefixes[size ? data[0] % 3 : 0];
	ktap_init(&r.k, on_result, &r.s);
	ktap_init(&r.kp, on_result, &r.sp);
	lb.len = 0;
	linebuf_feed(&lb, (const char *)data, size, on_line, &r);
	linebuf_flush(&lb, on_line, &r);
	ktap_end(&r.k);
	ktap_end(&r.kp);
	check_end(&r.k, &r.s);
	check_end(&r.kp, &r.sp);
	CHECK(r.s.top >= r.bare_top);
	/* each result needs a line of at least "ok\n"; each plan ("1..N\n")
	 * makes at most KTAP_MISSING_MAX MISSING ones */
	CHECK(r.k.nmissing <= (size / 5 + 1) * KTAP_MISSING_MAX);
	CHECK(r.s.n <= size / 2 + 1 + r.k.nmissing);
	CHECK(r.s.out <= (size / 2 + 1 + r.k.nmissing) * (KTAP_PATH_MAX + KTAP_REASON_MAX));
	CHECK(r.s.n == r.sp.n && r.s.hash == r.sp.hash);
	CHECK(!memcmp(&r.k.trunc, &r.kp.trunc, sizeof(r.k.trunc)));
	CHECK(r.k.plan == r.kp.plan && r.k.ntop == r.kp.ntop && r.k.bailed == r.kp.bailed);
	ktap_release(&r.k);
	ktap_release(&r.kp);
	return 0;
}
