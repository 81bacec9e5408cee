/* KTAP line syntax, one line at a time: what kind of line it is, a result
 * line's number, name and directive, a plan's count, a "# Totals:" line's
 * verdict. Pure functions of (s, len): no state, no allocation; pointers
 * they return point into s. ktap.c keeps the nesting and the results. */
#ifndef KFARM_KTAP_LINE_H
#define KFARM_KTAP_LINE_H

#include <stddef.h>

/* TS_MISSING: a subtest its plan promised that never reported (emitted
 * just before its parent's result, named "test N"). */
enum test_status { TS_PASS, TS_FAIL, TS_SKIP, TS_MISSING };

const char *test_status_name(enum test_status s);

enum ktap_line { KL_NONE, KL_VERSION, KL_PLAN, KL_RESULT, KL_BAIL };

/* One result line, its name and reason trimmed, neither clipped. */
struct ktap_parsed {
	unsigned long num;
	enum test_status st;
	const char *name, *reason;
	size_t namelen, rlen;
};

int ktap_starts(const char *s, size_t len, const char *prefix);
/* Only whole KTAP lines count; "okay", "ok:", "1..x", "KTAP versionX" are
 * KL_NONE (unknown lines, which change nothing). */
enum ktap_line ktap_classify(const char *s, size_t len);
/* A KL_RESULT line; count numbers a result printed without one. */
void ktap_parse_result(const char *s, size_t len, unsigned long count, struct ktap_parsed *p);
/* A nameless result's description: its reason without the directive word
 * ("SKIP New time NS" -> "New time NS"). */
void ktap_description(const struct ktap_parsed *r, const char **d, size_t *dl);
/* A KL_PLAN line's N, or -1 when over 1000000. */
long ktap_plan_count(const char *s, size_t len);
/* Strips kselftest's "# " nesting prefixes (as long as what follows is KTAP
 * or another prefix), adding the spaces after each to *indent; returns how
 * many there were. */
int ktap_unnest(const char **s, size_t *len, int *indent);
/* "# Totals: pass:P fail:F xfail:X xpass:Y skip:S error:E": 1 when F or E
 * is above 0 (the subtest it ends is not ok), 0 when not, -1 when the line
 * is no Totals line. */
int ktap_totals_failed(const char *s, size_t len);
/* Drops leading and trailing white space. */
void ktap_trim(const char **s, size_t *len);
/* Bytes of s[0..len) that fit in max without splitting a UTF-8 sequence. */
size_t ktap_clip_len(const char *s, size_t len, size_t max);

#endif
