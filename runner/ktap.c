/* The KTAP stream (contract in ktap.h): nesting levels, results waiting for
 * their parent, plans and MISSING, the truncation counts. What one line says
 * is ktap_line.c's. */
#include "ktap.h"
#include "console.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A result below the top level waits here until the top-level result line
 * gives its path a root. Each one holds only its own (clipped) name; paths
 * are joined once, when emitted, so nesting costs no copies. */
enum fate { ALIVE, DEAD_ORPHAN, DEAD_BUDGET };
#define TOP (-2)		/* parent: the top-level result being emitted */

struct ktap_pend {
	char *name, *reason;	/* NULL once dead */
	unsigned long num;
	int level;
	int parent;		/* index of the parent's entry, TOP, or -1 (waiting) */
	int next;		/* next entry waiting at the same level, or -1 */
	enum test_status status;
	enum fate dead;
};

struct ktap_level {
	int key;		/* "# " prefixes * 256 + indentation */
	unsigned long count;	/* results seen in this level's current subtest */
	long plan;		/* its plan 1..N, or -1 */
	unsigned long top;	/* the highest result number it saw */
	char totals[96];	/* its "# Totals:" line if it counts failures, or "" */
	char subtest[KTAP_NAME_MAX + 1];	/* its "# Subtest: NAME", or "" (ktap_cut) */
	int waiting;		/* newest entry of this level without a parent, or -1 */
	size_t end;		/* npend just after this level's newest entry */
};

/* A new subtest begins at level l: nothing counted, no plan, no totals. */
static void subtest_reset(struct ktap_level *l)
{
	l->count = 0;
	l->top = 0;
	l->plan = -1;
	l->totals[0] = '\0';
	l->subtest[0] = '\0';
}

static void levels_reset(struct ktap *k, int from)
{
	for (int i = from; i < KTAP_MAX_DEPTH; i++) {
		k->lv[i].waiting = -1;
		k->lv[i].end = 0;
	}
}

void ktap_init(struct ktap *k, ktap_cb cb, void *data)
{
	memset(k, 0, sizeof(*k));
	k->cb = cb;
	k->data = data;
	k->plan = -1;
	k->lv = xcalloc(KTAP_MAX_DEPTH, sizeof(*k->lv));
	levels_reset(k, 0);
	k->nlv = 1;
}

static void pend_free(struct ktap *k, struct ktap_pend *p)
{
	if (!p->name)
		return;
	k->pend_bytes -= strlen(p->name) + strlen(p->reason) + 2;
	free(p->name);
	free(p->reason);
	p->name = p->reason = NULL;
}

void ktap_release(struct ktap *k)
{
	for (size_t i = 0; i < k->npend; i++)
		pend_free(k, &k->pend[i]);
	free(k->pend);
	free(k->lv);
	k->pend = NULL;
	k->lv = NULL;
	k->npend = k->cappend = k->pend_bytes = 0;
}

static void count_fate(struct ktap *k, enum fate f)
{
	if (f == DEAD_BUDGET)
		k->trunc.budget++;
	else
		k->trunc.orphaned++;
}

/* What became of entry i: ALIVE when its chain of parents reaches the top
 * result, else why not (the first dead ancestor's reason, or orphaned). */
static enum fate fate_of(const struct ktap *k, int i)
{
	for (int hops = 0; i >= 0 && hops <= KTAP_MAX_DEPTH; hops++) {
		if (k->pend[i].dead != ALIVE)
			return k->pend[i].dead;
		i = k->pend[i].parent;
	}
	return i == TOP ? ALIVE : DEAD_ORPHAN;
}

/* Entries waiting at levels >= from will never get a parent. */
static void kill_waiting(struct ktap *k, int from, enum fate why)
{
	for (int l = from; l < KTAP_MAX_DEPTH; l++) {
		for (int i = k->lv[l].waiting; i >= 0; i = k->pend[i].next) {
			k->pend[i].dead = why;
			pend_free(k, &k->pend[i]);
			count_fate(k, why);
		}
		k->lv[l].waiting = -1;
	}
}

/* Drops entries [cut, npend), counting each not already counted. */
static void drop_from(struct ktap *k, size_t cut)
{
	for (size_t i = cut; i < k->npend; i++) {
		struct ktap_pend *p = &k->pend[i];

		if (p->dead == ALIVE)
			count_fate(k, fate_of(k, (int)i));
	}
	for (size_t i = cut; i < k->npend; i++)
		pend_free(k, &k->pend[i]);
	k->npend = cut;
}

/* A version line at level l opens a subtest: whatever still waits at l or
 * deeper belonged to a subtest whose result line was lost. Everything after
 * the newest entry of a shallower level is such a leftover (children precede
 * their parents), so it is cut off the end. */
static void new_subtest(struct ktap *k, int l)
{
	size_t cut = 0;

	for (int i = 1; i < l; i++)
		if (k->lv[i].end > cut)
			cut = k->lv[i].end;
	for (int i = l < 1 ? 1 : l; i < KTAP_MAX_DEPTH; i++) {
		k->lv[i].waiting = -1;
		if (k->lv[i].end > cut)
			k->lv[i].end = cut;
	}
	drop_from(k, cut);
	subtest_reset(&k->lv[l]);
}

void ktap_end(struct ktap *k)
{
	kill_waiting(k, 1, DEAD_ORPHAN);
	drop_from(k, 0);
	levels_reset(k, 0);
}

/* Finds or opens the level for key; -1 past the depth cap. Leaving a level
 * keeps what waits there: only a result or version line decides its fate. */
static int level_for(struct ktap *k, int key)
{
	int i;

	for (i = k->nlv - 1; i > 0 && k->lv[i].key > key; i--)
		;
	if (k->lv[i].key < key) {
		if (++i >= KTAP_MAX_DEPTH)
			return -1;
		if (i >= k->nlv || k->lv[i].key != key) {
			k->lv[i].key = key;
			subtest_reset(&k->lv[i]);
		}
	}
	k->nlv = i + 1;
	return i;
}

static void emit(struct ktap *k, int depth, unsigned long num, enum test_status st,
		 const char *name, const char *reason)
{
	struct ktap_result r = { depth, num, st, name, reason };

	k->nemitted++;
	if (k->cb)
		k->cb(k->data, &r);
}

/* Appends "/" (unless first) and s to path, clipped to KTAP_PATH_MAX. */
static int path_add(char *path, size_t *n, const char *s)
{
	size_t len = strlen(s), room;

	if (*n) {
		if (*n + 1 >= KTAP_PATH_MAX)
			return 1;
		path[(*n)++] = '/';
	}
	room = KTAP_PATH_MAX - *n;
	size_t take = ktap_clip_len(s, len, room);

	memcpy(path + *n, s, take);
	*n += take;
	path[*n] = '\0';
	return take < len;
}

/* The top-level result is in: every entry whose parents lead to it is
 * emitted, in stream order, with its path joined now; the rest is counted. */
static void flush(struct ktap *k, const char *top)
{
	char path[KTAP_PATH_MAX + 1];

	for (size_t i = 0; i < k->npend; i++) {
		struct ktap_pend *p = &k->pend[i];
		const char *chain[KTAP_MAX_DEPTH];
		int nc = 0, clipped = 0;
		size_t n = 0;
		enum fate f;

		if (p->dead != ALIVE)
			continue;
		f = fate_of(k, (int)i);
		if (f != ALIVE) {
			count_fate(k, f);
			continue;
		}
		for (int a = (int)i; a >= 0 && nc < KTAP_MAX_DEPTH; a = k->pend[a].parent)
			chain[nc++] = k->pend[a].name;
		clipped = path_add(path, &n, top);
		while (nc)
			clipped |= path_add(path, &n, chain[--nc]);
		k->trunc.clipped += clipped;
		emit(k, p->level, p->num, p->status, path, p->reason);
	}
	for (size_t i = 0; i < k->npend; i++)
		pend_free(k, &k->pend[i]);
	k->npend = 0;
	levels_reset(k, 0);
	subtest_reset(&k->lv[1]);
}

/* Keeps a result below the top level until its parent's line; -1 when over
 * budget. */
static int keep(struct ktap *k, int lvl, const struct ktap_parsed *r, const char *name)
{
	size_t bytes = strlen(name) + r->rlen + 2;

	if (k->npend >= KTAP_MAX_PENDING ||
	    k->pend_bytes + bytes + sizeof(struct ktap_pend) * (k->npend + 1) > KTAP_PENDING_BYTES)
		return -1;
	if (k->npend == k->cappend) {
		k->cappend = k->cappend ? 2 * k->cappend : 64;
		k->pend = xrealloc(k->pend, k->cappend * sizeof(*k->pend));
	}
	k->pend[k->npend] = (struct ktap_pend){
		.name = xstrdup(name), .reason = xstrndup(r->reason, r->rlen), .num = r->num,
		.level = lvl, .parent = -1, .next = k->lv[lvl].waiting, .status = r->st,
	};
	k->pend_bytes += bytes;
	k->lv[lvl].waiting = (int)k->npend;
	k->lv[lvl].end = ++k->npend;
	return (int)k->npend - 1;
}

/* Level c's subtest is over (its parent's result line is in): the results
 * its plan promised that never came are kept as MISSING, waiting for that
 * parent like the others, or as SKIP when the parent is SKIP (kselftest's
 * ksft_exit_skip: the program skipped the rest, as its exit status 4 says).
 * Returns how many MISSING there were. */
static unsigned long add_missing(struct ktap *k, int c, enum test_status parent)
{
	struct ktap_level *l = &k->lv[c];
	/* a lost result line is accounted for already (orphaned children):
	 * the numbers up to the highest seen ran */
	unsigned long ran = l->count > l->top ? l->count : l->top, want, miss;
	char name[64], why[128];

	if (l->plan < 0 || (unsigned long)l->plan <= ran)
		return 0;
	want = (unsigned long)l->plan;
	miss = parent == TS_SKIP ? 0 : want - ran;
	snprintf(why, sizeof(why), "%s: plan 1..%lu, %lu result%s",
		 miss ? "never ran" : "SKIP not run, the test skipped the rest",
		 want, ran, ran == 1 ? "" : "s");
	for (unsigned long num = ran + 1; num <= want; num++) {
		struct ktap_parsed r = { .num = num, .st = miss ? TS_MISSING : TS_SKIP,
					 .reason = why, .rlen = strlen(why) };
		int last = num - ran == KTAP_MISSING_MAX && num < want;

		if (last)
			snprintf(name, sizeof(name), "tests %lu..%lu", num, want);
		else
			snprintf(name, sizeof(name), "test %lu", num);
		k->nmissing++;
		if (keep(k, c, &r, name) < 0) {
			k->trunc.budget++;
			break;
		}
		if (last)
			break;
	}
	return miss;
}

static void handle_result(struct ktap *k, int lvl, const char *s, size_t len)
{
	struct ktap_level *l = &k->lv[lvl];
	struct ktap_parsed r;
	char name[KTAP_NAME_MAX + 1], rule[KTAP_REASON_MAX + 1];
	size_t n;
	int idx;

	k->nresults++;
	ktap_parse_result(s, len, ++l->count, &r);
	if (r.num > l->top)
		l->top = r.num;
	n = ktap_clip_len(r.name, r.namelen, KTAP_NAME_MAX);
	if (!n && r.rlen) {
		const char *d;
		size_t dl;

		ktap_description(&r, &d, &dl);
		r.name = d;
		r.namelen = dl;
		n = ktap_clip_len(d, dl, KTAP_NAME_MAX);
	}
	k->trunc.clipped += (n < r.namelen) + (r.rlen > KTAP_REASON_MAX);
	if (n)
		memcpy(name, r.name, n), name[n] = '\0';
	else
		snprintf(name, sizeof(name), "test %lu", r.num);
	r.rlen = strnlen(r.reason, ktap_clip_len(r.reason, r.rlen, KTAP_REASON_MAX));

	/* its children's subtest ends here: kselftest's rules on it */
	if (lvl + 1 < KTAP_MAX_DEPTH) {
		struct ktap_level *c = &k->lv[lvl + 1];
		unsigned long miss = add_missing(k, lvl + 1, r.st);

		if (r.st == TS_PASS && (miss || c->totals[0])) {
			if (miss)
				snprintf(rule, sizeof(rule), "%lu of plan 1..%ld never ran", miss,
					 c->plan);
			else
				snprintf(rule, sizeof(rule), "%s", c->totals);
			r.st = TS_FAIL;
			r.reason = rule;
			r.rlen = strlen(rule);
		}
	}

	/* deeper than the children: their own parents' lines never came */
	if (lvl + 2 < KTAP_MAX_DEPTH)
		kill_waiting(k, lvl + 2, DEAD_ORPHAN);
	if (lvl == 0) {
		for (int c = k->lv[1].waiting; c >= 0; c = k->pend[c].next)
			k->pend[c].parent = TOP;
		k->lv[1].waiting = -1;
		flush(k, name);
		k->ntop++;
		char *why = xstrndup(r.reason, r.rlen);

		emit(k, 0, r.num, r.st, name, why);
		free(why);
		return;
	}
	idx = keep(k, lvl, &r, name);
	if (idx < 0) {
		k->trunc.budget++;
		kill_waiting(k, lvl + 1, DEAD_BUDGET);
		return;
	}
	if (lvl + 1 < KTAP_MAX_DEPTH) {
		for (int c = k->lv[lvl + 1].waiting; c >= 0; c = k->pend[c].next)
			k->pend[c].parent = idx;
		k->lv[lvl + 1].waiting = -1;
		subtest_reset(&k->lv[lvl + 1]);
	}
}

/* Removes printk's prefix and the document's base indentation; returns the
 * indentation left (tabs count 8). */
static int strip_prefix(struct ktap *k, const char **s, size_t *len)
{
	size_t p = console_prefix_len(*s, *len);
	int indent = 0;

	*s += p, *len -= p;
	while (*len && (**s == ' ' || **s == '\t')) {
		indent += **s == '\t' ? 8 : 1;
		(*s)++, (*len)--;
	}
	/* a version line outside any document starts one: its indentation
	 * is the document's prefix, as kunit_tool takes it */
	if ((!k->seen_header || (k->plan >= 0 && k->ntop >= (unsigned long)k->plan)) &&
	    ktap_classify(*s, *len) == KL_VERSION)
		k->base = indent;
	return indent > k->base ? indent - k->base : 0;
}

/* A "# Totals:" line with failures marks the level it was printed at (a
 * level that exists: a comment opens none); one without clears the mark. */
static void note_totals(struct ktap *k, int hashes, int indent, const char *s, size_t len)
{
	int key = hashes * 256 + indent, bad = ktap_totals_failed(s, len);

	if (bad < 0 || hashes >= KTAP_MAX_DEPTH || indent > 4096)
		return;
	for (int i = k->nlv - 1; i > 0; i--) {
		if (k->lv[i].key != key)
			continue;
		if (bad)
			snprintf(k->lv[i].totals, sizeof(k->lv[i].totals), "%.*s", (int)(len - 2),
				 s + 2);
		else
			k->lv[i].totals[0] = '\0';
		return;
	}
}

/* "# Subtest: NAME" names the subtest of the level it is printed at (KUnit
 * prints it after the subtest's version line); only ktap_cut uses it, for a
 * subtest whose own result line never comes. */
static void note_subtest(struct ktap *k, int hashes, int indent, const char *s, size_t len)
{
	static const char tag[] = "# Subtest:";
	int key = hashes * 256 + indent;

	if (!ktap_starts(s, len, tag) || hashes >= KTAP_MAX_DEPTH || indent > 4096)
		return;
	s += sizeof(tag) - 1, len -= sizeof(tag) - 1;
	ktap_trim(&s, &len);
	for (size_t i = 0; i < len; i++)
		if (s[i] == '#')	/* would start a directive in ktap_cut's line */
			len = i;
	ktap_trim(&s, &len);
	for (int i = k->nlv - 1; i > 0; i--)
		if (k->lv[i].key == key) {
			size_t n = ktap_clip_len(s, len, KTAP_NAME_MAX);

			memcpy(k->lv[i].subtest, s, n);
			k->lv[i].subtest[n] = '\0';
			return;
		}
}

void ktap_cut(struct ktap *k, const char *why)
{
	char line[KTAP_NAME_MAX + KTAP_REASON_MAX + 64], name[KTAP_NAME_MAX + 1];
	unsigned long ran;

	if (!k->seen_header || !k->lv)
		return;
	/* deepest first: each open subtest's result line, not ok, so its
	 * children (and its plan's MISSING ones) reach the top */
	for (int l = k->nlv - 1; l >= 1; l--) {
		struct ktap_level *c = &k->lv[l];
		unsigned long num = k->lv[l - 1].count + 1;

		if (c->subtest[0])
			snprintf(name, sizeof(name), "%s", c->subtest);
		else
			snprintf(name, sizeof(name), "test %lu", num);
		snprintf(line, sizeof(line), "not ok %lu %s # cut off: %.*s", num, name,
			 KTAP_REASON_MAX - 10, why);
		handle_result(k, l - 1, line, strlen(line));
		k->nresults--;	/* made here, not read */
		k->ncut++;
	}
	k->nlv = 1;
	/* the document's own plan: the top-level results that never came */
	ran = k->ntop;
	if (k->plan < 0 || (unsigned long)k->plan <= ran)
		return;
	snprintf(line, sizeof(line), "never ran: plan 1..%ld, %lu result%s", k->plan, ran,
		 ran == 1 ? "" : "s");
	for (unsigned long num = ran + 1; num <= (unsigned long)k->plan; num++) {
		int last = num - ran == KTAP_MISSING_MAX && num < (unsigned long)k->plan;

		if (last)
			snprintf(name, sizeof(name), "tests %lu..%ld", num, k->plan);
		else
			snprintf(name, sizeof(name), "test %lu", num);
		k->nmissing++;
		emit(k, 0, num, TS_MISSING, name, line);
		if (last)
			break;
	}
	k->ntop = (unsigned long)k->plan;
}

void ktap_feed(struct ktap *k, const char *s, size_t len)
{
	int indent, hashes, lvl;
	enum ktap_line kind;

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	indent = strip_prefix(k, &s, &len);
	hashes = ktap_unnest(&s, &len, &indent);
	kind = ktap_classify(s, len);
	if (kind == KL_NONE) {
		note_totals(k, hashes, indent, s, len);
		note_subtest(k, hashes, indent, s, len);
		return;
	}
	if (kind == KL_BAIL) {
		k->bailed = 1;
		return;
	}
	lvl = hashes >= KTAP_MAX_DEPTH || indent > 4096 ? -1 : level_for(k, hashes * 256 + indent);
	if (lvl < 0) {
		if (kind == KL_RESULT)
			k->nresults++, k->trunc.deep++;
		return;
	}
	if (kind == KL_VERSION) {
		if (lvl == 0) {
			k->ndocs++;
			k->seen_header = 1;
			k->plan = -1;
			k->ntop = 0;
		}
		new_subtest(k, lvl);
	} else if (kind == KL_PLAN) {
		long n = ktap_plan_count(s, len);

		if (lvl == 0 && n >= 0)
			k->plan = n;
		else if (n >= 0)
			k->lv[lvl].plan = n;
	} else {
		handle_result(k, lvl, s, len);
	}
}

static void part(char *buf, size_t n, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void part(char *buf, size_t n, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*o + 3 >= n)
		return;
	if (*o)
		*o += snprintf(buf + *o, n - *o, ", ");
	va_start(ap, fmt);
	w = vsnprintf(buf + *o, n - *o, fmt, ap);
	va_end(ap);
	*o = w < 0 ? *o : *o + (size_t)w < n ? *o + (size_t)w : n - 1;
}

int ktap_trunc_note(const struct ktap *k, char *buf, size_t n)
{
	const struct ktap_trunc *t = &k->trunc;
	size_t o = 0;

	if (!n)
		return 0;
	buf[0] = '\0';
	if (t->deep)
		part(buf, n, &o, "depth cap %d (%lu results dropped)", KTAP_MAX_DEPTH, t->deep);
	if (t->budget)
		part(buf, n, &o, "budget of %d results / %u MiB exceeded (%lu results dropped)",
		     KTAP_MAX_PENDING, KTAP_PENDING_BYTES >> 20, t->budget);
	if (t->orphaned)
		part(buf, n, &o, "parent result line missing (%lu results dropped)", t->orphaned);
	if (t->clipped)
		part(buf, n, &o, "%lu names clipped (name %d, path %d, reason %d bytes)",
		     t->clipped, KTAP_NAME_MAX, KTAP_PATH_MAX, KTAP_REASON_MAX);
	return t->deep || t->budget || t->orphaned || t->clipped;
}
