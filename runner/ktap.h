/* Streaming KTAP v1 / TAP 13-14 parser. Feed it console lines one at a time;
 * it calls back once per test result, children before their parent, with
 * names joined into a path ("clone3/size_lt_64"). Lines that are not KTAP
 * (kernel log noise, garbage, lines that merely start like KTAP: "okay",
 * "ok:", "1..x") are ignored and change nothing, as ktap.rst says. Nesting
 * may be by indentation or by kselftest's "# " prefixes. A printk prefix
 * ("[    0.123456] ", "[    T1] " or both) is removed from every line, and
 * the leading spaces of a document's version line from the lines after it,
 * so KTAP printed through printk parses like KTAP printed by /init.
 *
 * Bounded whatever the input, and never silently: results nested
 * KTAP_MAX_DEPTH levels or deeper are dropped, names and reasons are clipped
 * while parsed, paths when joined, and results waiting for their parent's
 * line are capped in number and bytes; every drop and clip is counted in
 * k->trunc. A subtest's children whose parent result line never comes (the
 * next subtest's "KTAP version" line, a shallower result, or ktap_end shows
 * it lost) are dropped and counted as orphaned, never credited to another
 * test. After ktap_end, nresults + nmissing == nemitted + deep + budget +
 * orphaned (+ ncut: results ktap_cut made).
 *
 * kselftest's rules on nested results: a subtest whose plan (1..N) promised
 * more results than came has the unrun ones reported MISSING ("test K", at
 * most KTAP_MISSING_MAX one by one, the rest as one "tests K..N") and, if it
 * said ok, becomes not ok; a "# Totals:" line with fail or error > 0 makes
 * its subtest not ok; a nameless result ("ok 18 # SKIP New time NS") is
 * named by its description ("New time NS"), "test N" only without one.
 * The parser never fails and allocates at most about KTAP_PENDING_BYTES. */
#ifndef KFARM_KTAP_H
#define KFARM_KTAP_H

#include "ktap_line.h"

#include <stddef.h>

#define KTAP_MAX_DEPTH 16		/* levels 0..15 */
#define KTAP_NAME_MAX 256		/* bytes of one test's own name */
#define KTAP_PATH_MAX 512		/* bytes of a joined path */
#define KTAP_REASON_MAX 512		/* bytes of a directive/diagnostic */
#define KTAP_MAX_PENDING 16384		/* results waiting for their parent */
#define KTAP_PENDING_BYTES (4u << 20)	/* ... and their bytes */

#define KTAP_MISSING_MAX 256		/* unrun subtests listed one by one per plan */

struct ktap_result {
	int depth;		/* 0 = top level, < KTAP_MAX_DEPTH */
	unsigned long num;	/* number as printed (or assigned in order) */
	enum test_status status;
	const char *name;	/* path, parents first, '/'-separated, <= KTAP_PATH_MAX */
	const char *reason;	/* directive text or diagnostic after '#', or "" */
};

typedef void (*ktap_cb)(void *data, const struct ktap_result *r);

/* What the bounds cost, in results (clipped: in names/paths/reasons). */
struct ktap_trunc {
	unsigned long deep;	/* nested KTAP_MAX_DEPTH levels or deeper */
	unsigned long budget;	/* over KTAP_MAX_PENDING or KTAP_PENDING_BYTES */
	unsigned long orphaned;	/* their parent's result line never came */
	unsigned long clipped;	/* names, paths or reasons cut to their bound */
};

struct ktap_level;
struct ktap_pend;
struct ktap {
	ktap_cb cb;
	void *data;
	struct ktap_level *lv;	/* nesting levels, lv[0] = top */
	int nlv;
	struct ktap_pend *pend;	/* results waiting for the top-level result, in stream order */
	size_t npend, cappend, pend_bytes;
	int base;		/* indentation of the document's version line */
	int seen_header;	/* a top-level "KTAP version"/"TAP version" line */
	unsigned long ndocs;	/* top-level documents begun (version lines at level 0) */
	long plan;		/* current top-level document's plan N, or -1 */
	unsigned long ntop;	/* its top-level results seen */
	int bailed;		/* "Bail out!" seen */
	unsigned long nresults;	/* result lines recognised, at any depth */
	unsigned long nemitted;	/* results passed to cb */
	unsigned long nmissing;	/* results made for unfulfilled plans (MISSING, or SKIP under a SKIP) */
	unsigned long ncut;	/* not ok results ktap_cut made for open subtests */
	struct ktap_trunc trunc;
};

void ktap_init(struct ktap *k, ktap_cb cb, void *data);
void ktap_feed(struct ktap *k, const char *line, size_t len);
/* The stream ends inside the current document because its producer died
 * (a kernel that panics during its KUnit run), as kunit_tool takes it: every
 * subtest still open gets the result line it never printed, "not ok N NAME
 * # cut off: WHY" (NAME from its "# Subtest:" line, else "test N"), deepest
 * first, so what it did report is kept and its plan's unrun results are
 * MISSING as above; then the document's plan's unrun top-level results are
 * MISSING ("test N"). Nothing happens to a complete document. Call before
 * ktap_end. */
void ktap_cut(struct ktap *k, const char *why);
/* End of stream: results still waiting for a parent are counted orphaned. */
void ktap_end(struct ktap *k);
void ktap_release(struct ktap *k);
/* Writes what was truncated ("depth cap 16 (3 results dropped), ...") into
 * buf; returns 0 (buf "") when nothing was. */
int ktap_trunc_note(const struct ktap *k, char *buf, size_t n);

#endif
