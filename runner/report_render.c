/* kfarm report, rendering: report_build's JSON as the text of a stable-review
 * reply (totals first, the shape of Guenter Roeck's "Build results: total: N
 * pass: N fail: N / Qemu test results: ..." replies, one line per failure)
 * or as Markdown. */
#include "report.h"
#include "history.h"
#include "job.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FIELD_MAX 200	/* bytes of one guest-derived field on a line */

struct out {
	struct sb sb;
	int md;
};

static const char *js(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "-";
}

static long long ji(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* Length of the UTF-8 character at s (1..4), 0 when ill-formed. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	uint32_t v = s[0] & (0x3f >> (len - 1 + !len));

	if (!len || s[0] > 0xf4 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v < 0xe000))) ||
	    (len == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	*cp = v;
	return len;
}

/* Guest- or database-derived text, made safe for a terminal and for mail
 * (local stand-in for text.h's text_term until that is on main): C0/C1
 * controls, DEL, bidi overrides and line separators as visible escapes,
 * ill-formed UTF-8 byte by byte as \xNN; in Markdown its syntax characters
 * escaped. Clipped at FIELD_MAX bytes. */
static void put(struct out *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "-");
	size_t n = strlen((const char *)s), i = 0, start = o->sb.len;

	while (i < n) {
		uint32_t cp = 0;
		size_t l;

		if (o->sb.len - start >= FIELD_MAX) {
			sb_adds(&o->sb, "...");
			return;
		}
		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f)
				sb_addf(&o->sb, "\\x%02x", s[i]);
			else if (o->md && strchr("\\`*_[]<>|#~!", s[i]))
				sb_addf(&o->sb, "\\%c", s[i]);
			else
				sb_add(&o->sb, (const char *)s + i, 1);
			i++;
			continue;
		}
		l = utf8_len(s + i, n - i, &cp);
		if (!l) {
			sb_addf(&o->sb, "\\x%02x", s[i++]);
			continue;
		}
		if (cp < 0xa0 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
		    cp == 0x2028 || cp == 0x2029 || cp == 0x200e || cp == 0x200f)
			sb_addf(&o->sb, "\\u%04x", (unsigned int)cp);
		else
			sb_add(&o->sb, (const char *)s + i, l);
		i += l;
	}
}

static void lit(struct out *o, const char *s)
{
	sb_adds(&o->sb, s);
}

/* A section heading: "Name:" in text, "### Name" in Markdown. */
static void head(struct out *o, const char *name)
{
	sb_addf(&o->sb, o->md ? "\n### %s\n\n" : "%s:\n", name);
}

static void item(struct out *o)
{
	lit(o, o->md ? "- " : "\t");
}

/* An item about one test: "ARCH TEST" */
static void item_test(struct out *o, json_t *a)
{
	item(o);
	put(o, js(a, "arch"));
	lit(o, " ");
	put(o, js(a, "test"));
}

/* r's array KEY, under its heading when it is not empty */
static json_t *section(struct out *o, json_t *r, const char *key, const char *title)
{
	json_t *a = json_object_get(r, key);

	if (json_array_size(a)) {
		lit(o, o->md ? "" : "\n");
		head(o, title);
	}
	return a;
}

static void totals(struct out *o, const char *name, long long total, long long pass,
		   long long fail, const char *extra)
{
	if (o->md)
		sb_addf(&o->sb, "**%s:** total: %lld pass: %lld fail: %lld%s\n\n", name, total,
			pass, fail, extra);
	else
		sb_addf(&o->sb, "%s:\n\ttotal: %lld pass: %lld fail: %lld%s\n", name, total, pass,
			fail, extra);
}

static void title(struct out *o, json_t *r)
{
	json_t *a;
	size_t i;

	lit(o, o->md ? "## kfarm report: " : "kfarm report: ");
	if (ji(r, "run"))
		sb_addf(&o->sb, "run %lld", ji(r, "run"));
	else {
		lit(o, "tree ");
		put(o, js(r, "tree"));
		lit(o, ", latest candidates");
	}
	lit(o, "\n");
	lit(o, o->md ? "\n" : "");
	json_array_foreach(json_object_get(r, "arches"), i, a) {
		lit(o, o->md ? "- " : "  ");
		put(o, js(a, "arch"));
		lit(o, ": ");
		put(o, js(a, "release"));
		lit(o, " (tree ");
		put(o, js(a, "tree"));
		lit(o, ", kernel ");
		put(o, js(a, "kernel"));
		lit(o, ")\n");
	}
	lit(o, "\n");
}

static void builds(struct out *o, json_t *r)
{
	json_t *b = json_object_get(r, "builds"), *f;
	char extra[64] = "";
	size_t i;

	if (!b)
		return;	/* the store has no builds table */
	if (ji(b, "error"))
		snprintf(extra, sizeof(extra), " error: %lld", ji(b, "error"));
	totals(o, "Build results", ji(b, "total"), ji(b, "pass"), ji(b, "fail"), extra);
	if (json_array_size(json_object_get(b, "failed")))
		head(o, "Failed builds");
	json_array_foreach(json_object_get(b, "failed"), i, f) {
		item(o);
		put(o, js(f, "arch"));
		lit(o, ":");
		put(o, js(f, "config"));
		lit(o, build_status_parse(js(f, "status")) != BS_FAIL
			  ? " (ERROR, not the kernel's fault): " : ": ");
		put(o, js(f, "error"));
		lit(o, "\n");
	}
}

static void boots(struct out *o, json_t *r)
{
	long long total = 0, pass = 0, infra = 0, unbuilt = 0;
	char extra[160] = "";
	json_t *a;
	size_t i;

	/* an arch that did not build was never booted: not a failed boot */
	json_array_foreach(json_object_get(r, "arches"), i, a) {
		total += ji(a, "boots") - ji(a, "infra") - ji(a, "not_built");
		pass += ji(a, "complete");
		infra += ji(a, "infra");
		unbuilt += ji(a, "not_built");
	}
	if (unbuilt)
		snprintf(extra, sizeof(extra), " not built: %lld", unbuilt);
	if (infra)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 " (%lld infrastructure errors, not counted)", infra);
	totals(o, "Qemu test results", total, pass, total - pass, extra);
	if (json_array_size(json_object_get(r, "bad_boots")))
		head(o, "Failed boots");
	json_array_foreach(json_object_get(r, "bad_boots"), i, a) {
		item(o);
		put(o, js(a, "arch"));
		lit(o, " (");
		put(o, js(a, "kernel"));
		sb_addf(&o->sb, "): %s", !strcmp(js(a, "outcome"), job_outcome_name(JOB_INFRA_ERROR))
						? "infrastructure: "
						: "");
		put(o, js(a, "outcome"));
		if (ji(a, "count") > 1)
			sb_addf(&o->sb, " x%lld", ji(a, "count"));
		lit(o, ": ");
		put(o, js(a, "reason"));
		lit(o, "\n");
	}
}

static void tests(struct out *o, json_t *r)
{
	long long t = 0, p = 0, f = 0, s = 0, fl = 0;
	char extra[64];
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(r, "arches"), i, a) {
		t += ji(a, "total"), p += ji(a, "pass"), f += ji(a, "fail");
		s += ji(a, "skip"), fl += ji(a, "flaky");
	}
	if (fl)
		snprintf(extra, sizeof(extra), " skip: %lld flaky: %lld", s, fl);
	else
		snprintf(extra, sizeof(extra), " skip: %lld", s);
	totals(o, "Test results", t, p, f, extra);
	if (json_array_size(json_object_get(r, "failures")))
		head(o, "Failed tests");
	json_array_foreach(json_object_get(r, "failures"), i, a) {
		item_test(o, a);
		lit(o, ": ");
		put(o, js(a, "status"));
		if (json_is_string(json_object_get(a, "reason"))) {
			lit(o, " (");
			put(o, js(a, "reason"));
			lit(o, ")");
		}
		lit(o, "\n");
	}
}

static void per_arch(struct out *o, json_t *r)
{
	json_t *a;
	size_t i;

	if (o->md)
		lit(o, "\n| arch | kernel | release | boots ok | tests | pass | fail | skip | flaky |\n"
		       "|---|---|---|---|---|---|---|---|---|\n");
	else
		lit(o, "\nPer arch:\n");
	json_array_foreach(json_object_get(r, "arches"), i, a) {
		lit(o, o->md ? "| " : "\t");
		put(o, js(a, "arch"));
		lit(o, o->md ? " | " : " ");
		put(o, js(a, "kernel"));
		lit(o, o->md ? " | " : " ");
		put(o, js(a, "release"));
		if (o->md)
			sb_addf(&o->sb, " | %lld/%lld | %lld | %lld | %lld | %lld | %lld |\n",
				ji(a, "complete"), ji(a, "boots") - ji(a, "infra"), ji(a, "total"),
				ji(a, "pass"), ji(a, "fail"), ji(a, "skip"), ji(a, "flaky"));
		else
			sb_addf(&o->sb, ": boots %lld/%lld, tests total: %lld pass: %lld fail: %lld"
				" skip: %lld%s\n", ji(a, "complete"), ji(a, "boots") - ji(a, "infra"),
				ji(a, "total"), ji(a, "pass"), ji(a, "fail"), ji(a, "skip"),
				ji(a, "flaky") ? " (flaky)" : "");
	}
}

static void arches_list(struct out *o, json_t *arr)
{
	json_t *a;
	size_t i;

	json_array_foreach(arr, i, a) {
		lit(o, i ? ", " : "");
		put(o, json_string_value(a));
	}
}

/* One line per test x change, its arches together. */
static int changes_of(struct out *o, json_t *r, enum change_kind kind, const char *name)
{
	json_t *c;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(r, "changes"), i, c) {
		if (change_kind_parse(js(c, "kind")) != (int)kind)
			continue;
		if (!n++)
			head(o, name);
		item(o);
		put(o, js(c, "test"));
		lit(o, ": ");
		put(o, js(c, "from"));
		lit(o, " -> ");
		put(o, js(c, "to"));
		lit(o, " on ");
		arches_list(o, json_object_get(c, "arches"));
		if (json_is_string(json_object_get(c, "from_release")) ||
		    json_is_string(json_object_get(c, "to_release"))) {
			lit(o, " (");
			put(o, js(c, "from_release"));
			lit(o, " -> ");
			put(o, js(c, "to_release"));
			lit(o, ")");
		}
		if (kind == CH_KNOWN && json_is_string(json_object_get(c, "reason"))) {
			lit(o, ", expected: ");
			put(o, js(c, "reason"));
		} else if (!strcmp(js(c, "test"), "build") &&
			   json_is_string(json_object_get(c, "reason"))) {
			lit(o, ": ");	/* the build's first error line */
			put(o, js(c, "reason"));
		}
		lit(o, "\n");
	}
	return n;
}

static void changes(struct out *o, json_t *r)
{
	lit(o, "\n");
	if (!changes_of(o, r, CH_REGRESSION, "Regressions (against the previous candidate)")) {
		lit(o, o->md ? "\n**Regressions** (against the previous candidate): none\n"
			     : "Regressions (against the previous candidate): none\n");
	}
	changes_of(o, r, CH_FIX, "Fixes");
	changes_of(o, r, CH_SUPPORT, "Support changes (SKIP <-> PASS)");
	changes_of(o, r, CH_OTHER, "Other changes");
	changes_of(o, r, CH_KNOWN, "Known changes");
	/* the candidate's runs disagree (this run's and others'): never a regression */
	changes_of(o, r, CH_FLAKY, "Flaky changes (runs of the candidate disagree)");
}

static void flakes_known(struct out *o, json_t *r)
{
	json_t *a;
	size_t i;

	json_array_foreach(section(o, r, "flakes", "Flaky tests"), i, a) {
		item_test(o, a);
		sb_addf(&o->sb, ": failed %lld of %lld runs (%.0f%%)\n", ji(a, "fails"),
			ji(a, "runs"), ji(a, "runs") ? 100.0 * ji(a, "fails") / ji(a, "runs") : 0.0);
	}
	json_array_foreach(section(o, r, "known", "Known issues"), i, a) {
		item_test(o, a);
		lit(o, ": ");
		put(o, js(a, "status"));
		lit(o, ", expected: ");
		put(o, js(a, "reason"));
		lit(o, "\n");
	}
}

/* kfarm bisect's culprits for these candidates (bisect_db.c) */
static void bisections(struct out *o, json_t *r)
{
	json_t *a;
	size_t i;

	json_array_foreach(section(o, r, "bisections", "Bisections (first bad commit)"), i, a) {
		item_test(o, a);
		lit(o, ": ");
		char c12[13];

		snprintf(c12, sizeof(c12), "%s", js(a, "culprit"));
		put(o, c12);	/* from the database: never raw */
		lit(o, " (\"");
		put(o, js(a, "subject"));
		lit(o, "\") by ");
		put(o, js(a, "author"));
		sb_addf(&o->sb, ", %lld steps over %lld commits\n", ji(a, "steps"), ji(a, "commits"));
	}
}

static void qemu(struct out *o, json_t *r)
{
	json_t *a;
	size_t i;

	lit(o, o->md ? "" : "\n");
	head(o, "QEMU");
	json_array_foreach(json_object_get(r, "qemu"), i, a) {
		item(o);
		put(o, js(a, "arch"));
		lit(o, ": ");
		put(o, js(a, "version"));
		lit(o, "\n");
	}
}

char *report_render(json_t *r, enum report_format fmt)
{
	struct out o = { .md = fmt == RF_MARKDOWN };

	sb_init(&o.sb);
	title(&o, r);
	builds(&o, r);
	boots(&o, r);
	tests(&o, r);
	per_arch(&o, r);
	changes(&o, r);
	flakes_known(&o, r);
	bisections(&o, r);
	qemu(&o, r);
	return sb_detach(&o.sb);
}

char *report_title(json_t *r)
{
	struct out o = { 0 };
	json_t *a = json_array_get(json_object_get(r, "arches"), 0);

	sb_init(&o.sb);
	lit(&o, "kfarm report: ");
	put(&o, a ? js(a, "tree") : js(r, "tree"));
	lit(&o, " ");
	put(&o, a ? js(a, "release") : "-");
	return sb_detach(&o.sb);
}
