#include "ktap.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A bound on buffered children so a garbage stream cannot grow us forever. */
#define MAX_PENDING 4096

struct pending {
	int depth;		/* below the level holding it */
	unsigned long num;
	enum test_status status;
	char *name;
	char *reason;
};

struct ktap_level {
	int key;		/* "# " prefixes * 256 + indentation */
	unsigned long count;	/* results seen at this level */
	struct pending *pend;	/* results of this level waiting for their parent */
	size_t npend, cappend;
};

const char *test_status_name(enum test_status s)
{
	switch (s) {
	case TS_PASS: return "PASS";
	case TS_FAIL: return "FAIL";
	case TS_SKIP: return "SKIP";
	}
	return "?";
}

void ktap_init(struct ktap *k, ktap_cb cb, void *data)
{
	memset(k, 0, sizeof(*k));
	k->cb = cb;
	k->data = data;
	k->plan = -1;
	k->cap = 4;
	k->lv = xcalloc(k->cap, sizeof(*k->lv));
	k->nlv = 1;
}

static void level_clear(struct ktap_level *l)
{
	for (size_t i = 0; i < l->npend; i++) {
		free(l->pend[i].name);
		free(l->pend[i].reason);
	}
	l->npend = 0;
}

void ktap_release(struct ktap *k)
{
	for (int i = 0; i < k->cap; i++) {
		level_clear(&k->lv[i]);
		free(k->lv[i].pend);
	}
	free(k->lv);
	k->lv = NULL;
}

static int starts(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && !memcmp(s, p, n);
}

static int is_ktap_body(const char *s, size_t len)
{
	return starts(s, len, "ok") || starts(s, len, "not ok") || starts(s, len, "1..") ||
	       starts(s, len, "KTAP version") || starts(s, len, "TAP version");
}

/* Finds or opens the level for key. Returning to a level keeps the pending
 * results one level down (they await this level's next result) and drops
 * anything deeper, which a well-formed stream has already consumed. */
static int level_for(struct ktap *k, int key)
{
	int i;

	for (i = k->nlv - 1; i > 0 && k->lv[i].key > key; i--)
		;
	if (k->lv[i].key < key) {
		i++;
		if (i + 1 >= k->cap) {
			k->lv = xrealloc(k->lv, 2 * k->cap * sizeof(*k->lv));
			memset(k->lv + k->cap, 0, k->cap * sizeof(*k->lv));
			k->cap *= 2;
		}
		if (k->lv[i].key != key || i >= k->nlv) {
			level_clear(&k->lv[i]);
			k->lv[i].count = 0;
			k->lv[i].key = key;
		}
	}
	for (int j = i + 2; j < k->cap; j++)
		level_clear(&k->lv[j]);
	if (i + 1 < k->cap && k->lv[i + 1].key <= key)
		level_clear(&k->lv[i + 1]);
	k->nlv = i + 1;
	return i;
}

static void add_pending(struct ktap_level *l, int depth, unsigned long num,
			enum test_status st, char *name, char *reason)
{
	if (l->npend >= MAX_PENDING) {
		free(name);
		free(reason);
		return;
	}
	if (l->npend == l->cappend) {
		l->cappend = l->cappend ? 2 * l->cappend : 16;
		l->pend = xrealloc(l->pend, l->cappend * sizeof(*l->pend));
	}
	l->pend[l->npend++] = (struct pending){ depth, num, st, name, reason };
}

static void emit(struct ktap *k, int depth, unsigned long num, enum test_status st,
		 const char *name, const char *reason)
{
	struct ktap_result r = { depth, num, st, name, reason };

	if (k->cb)
		k->cb(k->data, &r);
}

static void trim(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)**s))
		(*s)++, (*len)--;
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static void handle_result(struct ktap *k, int lvl, const char *s, size_t len)
{
	enum test_status st = TS_PASS;
	unsigned long num = 0;
	const char *name, *hash = NULL, *reason = "";
	size_t namelen;
	char *full, *why;
	struct ktap_level *l = &k->lv[lvl];
	int is_not = starts(s, len, "not ok");
	size_t i = is_not ? 6 : 2;

	if (i < len && !isspace((unsigned char)s[i]))
		return;		/* "okay", "oknot": not a result */
	if (is_not)
		st = TS_FAIL;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i < len && isdigit((unsigned char)s[i])) {
		while (i < len && isdigit((unsigned char)s[i])) {
			if (num < 100000000)
				num = num * 10 + (s[i] - '0');
			i++;
		}
	} else {
		num = l->count + 1;
	}
	while (i < len && (isspace((unsigned char)s[i]) || s[i] == '-'))
		i++;
	name = s + i;
	namelen = len - i;
	/* the directive starts at the first unescaped '#' */
	for (size_t j = i; j < len; j++) {
		if (s[j] == '\\' && j + 1 < len) {
			j++;
			continue;
		}
		if (s[j] == '#') {
			hash = s + j;
			break;
		}
	}
	if (hash) {
		namelen = hash - name;
		reason = hash + 1;
	}
	trim(&name, &namelen);
	size_t rlen = hash ? (size_t)(s + len - reason) : 0;
	trim(&reason, &rlen);
	if (rlen >= 4 && !strncasecmp(reason, "SKIP", 4)) {
		st = TS_SKIP;
	} else if (rlen >= 4 && !strncasecmp(reason, "TODO", 4)) {
		st = TS_SKIP;
	} else if (rlen >= 5 && !strncasecmp(reason, "XFAIL", 5)) {
		st = TS_PASS;
	} else if (rlen >= 7 && !strncasecmp(reason, "TIMEOUT", 7)) {
		st = TS_FAIL;
	} else if (rlen >= 5 && !strncasecmp(reason, "ERROR", 5)) {
		st = TS_FAIL;
	}
	why = xstrndup(reason, rlen);
	l->count++;

	/* the results pending one level down are this result's children */
	struct ktap_level *child = &k->lv[lvl + 1];
	char *base = namelen ? xstrndup(name, namelen) : xasprintf("test %lu", num);

	for (size_t c = 0; c < child->npend; c++) {
		struct pending *p = &child->pend[c];

		full = xasprintf("%s/%s", base, p->name);
		if (lvl == 0)
			emit(k, p->depth + 1, p->num, p->status, full, p->reason);
		else
			add_pending(l, p->depth + 1, p->num, p->status, xstrdup(full),
				    xstrdup(p->reason));
		free(full);
	}
	level_clear(child);
	if (lvl == 0) {
		k->ntop++;
		emit(k, 0, num, st, base, why);
		free(base);
		free(why);
	} else {
		add_pending(l, 0, num, st, base, why);
	}
}

void ktap_feed(struct ktap *k, const char *s, size_t len)
{
	int indent = 0, hashes = 0, lvl;

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	while (len && (*s == ' ' || *s == '\t')) {
		indent += *s == '\t' ? 8 : 1;
		s++, len--;
	}
	/* kselftest nests by prefixing "# " to a child's whole output */
	while (starts(s, len, "# ") || starts(s, len, "#\t")) {
		const char *r = s + 2;
		size_t rl = len - 2;
		int extra = 0;

		while (rl && *r == ' ')
			r++, rl--, extra++;
		if (!is_ktap_body(r, rl) && !starts(r, rl, "# "))
			break;
		hashes++;
		indent += extra;
		s = r;
		len = rl;
	}
	if (hashes > 100 || indent > 200)
		return;
	if (starts(s, len, "Bail out!")) {
		k->bailed = 1;
		return;
	}
	if (!is_ktap_body(s, len))
		return;
	int key = hashes * 256 + indent;

	lvl = level_for(k, key);
	if (starts(s, len, "KTAP version") || starts(s, len, "TAP version")) {
		if (lvl == 0)
			k->seen_header = 1;
		return;
	}
	if (starts(s, len, "1..")) {
		unsigned long n;
		char buf[16];
		size_t i = 3, j = 0;

		while (i < len && j < sizeof(buf) - 1 && isdigit((unsigned char)s[i]))
			buf[j++] = s[i++];
		buf[j] = '\0';
		if (lvl == 0 && !parse_uint(buf, 1000000, &n))
			k->plan = n;
		return;
	}
	handle_result(k, lvl, s, len);
}
