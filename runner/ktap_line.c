#include "ktap_line.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

const char *test_status_name(enum test_status s)
{
	switch (s) {
	case TS_PASS: return "PASS";
	case TS_FAIL: return "FAIL";
	case TS_SKIP: return "SKIP";
	case TS_MISSING: return "MISSING";
	}
	return "?";
}

int ktap_starts(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && !memcmp(s, p, n);
}

/* Digits from s[*i], at least one; returns 0 if none. */
static int digits(const char *s, size_t len, size_t *i)
{
	size_t j = *i;

	while (j < len && isdigit((unsigned char)s[j]))
		j++;
	if (j == *i)
		return 0;
	*i = j;
	return 1;
}

enum ktap_line ktap_classify(const char *s, size_t len)
{
	size_t i;

	if (ktap_starts(s, len, "ok") || ktap_starts(s, len, "not ok")) {
		i = s[0] == 'o' ? 2 : 6;
		return i == len || isspace((unsigned char)s[i]) ? KL_RESULT : KL_NONE;
	}
	if (ktap_starts(s, len, "KTAP version ") || ktap_starts(s, len, "TAP version ")) {
		i = s[0] == 'K' ? 13 : 12;
		if (!digits(s, len, &i))
			return KL_NONE;
		while (i < len && isspace((unsigned char)s[i]))
			i++;
		return i == len ? KL_VERSION : KL_NONE;
	}
	if (ktap_starts(s, len, "1..")) {
		i = 3;
		if (!digits(s, len, &i))
			return KL_NONE;
		return i == len || isspace((unsigned char)s[i]) ? KL_PLAN : KL_NONE;
	}
	return ktap_starts(s, len, "Bail out!") ? KL_BAIL : KL_NONE;
}

size_t ktap_clip_len(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	for (int b = 0; b < 3 && max && ((unsigned char)s[max] & 0xc0) == 0x80; b++)
		max--;
	return max;
}

void ktap_trim(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)**s))
		(*s)++, (*len)--;
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static enum test_status directive(const char *r, size_t n, enum test_status st)
{
	if ((n >= 4 && !strncasecmp(r, "SKIP", 4)) || (n >= 4 && !strncasecmp(r, "TODO", 4)))
		return TS_SKIP;
	if (n >= 5 && !strncasecmp(r, "XFAIL", 5))
		return TS_PASS;
	if ((n >= 7 && !strncasecmp(r, "TIMEOUT", 7)) || (n >= 5 && !strncasecmp(r, "ERROR", 5)))
		return TS_FAIL;
	return st;
}

/* "ok|not ok [N] [- ]name [# directive]"; only a "- " separator is not part
 * of the name ("ok 1 -EINVAL" is named "-EINVAL"). */
void ktap_parse_result(const char *s, size_t len, unsigned long count, struct ktap_parsed *p)
{
	int is_not = s[0] == 'n';
	size_t i = is_not ? 6 : 2, j;
	const char *hash = NULL;

	p->st = is_not ? TS_FAIL : TS_PASS;
	p->num = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i < len && isdigit((unsigned char)s[i])) {
		for (; i < len && isdigit((unsigned char)s[i]); i++)
			if (p->num < 100000000)
				p->num = p->num * 10 + (s[i] - '0');
	} else {
		p->num = count;
	}
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i + 1 < len && s[i] == '-' && isspace((unsigned char)s[i + 1]))
		i += 2;
	for (j = i; j < len; j++) {	/* the directive: the first unescaped '#' */
		if (s[j] == '\\' && j + 1 < len)
			j++;
		else if (s[j] == '#')
			break;
	}
	if (j < len)
		hash = s + j;
	p->name = s + i;
	p->namelen = (hash ? (size_t)(hash - s) : len) - i;
	p->reason = hash ? hash + 1 : "";
	p->rlen = hash ? (size_t)(s + len - p->reason) : 0;
	ktap_trim(&p->name, &p->namelen);
	ktap_trim(&p->reason, &p->rlen);
	p->st = directive(p->reason, p->rlen, p->st);
}

void ktap_description(const struct ktap_parsed *r, const char **d, size_t *dl)
{
	static const char *const words[] = { "SKIP", "TODO", "XFAIL", "TIMEOUT", "ERROR" };

	*d = r->reason;
	*dl = r->rlen;
	for (size_t w = 0; w < sizeof(words) / sizeof(*words); w++) {
		size_t wl = strlen(words[w]);

		if (*dl >= wl && !strncasecmp(*d, words[w], wl) &&
		    (*dl == wl || isspace((unsigned char)(*d)[wl]) || (*d)[wl] == ':')) {
			*d += wl, *dl -= wl;
			break;
		}
	}
	while (*dl && (isspace((unsigned char)**d) || **d == ':'))
		(*d)++, (*dl)--;
}

long ktap_plan_count(const char *s, size_t len)
{
	unsigned long n = 0;

	for (size_t i = 3; i < len && isdigit((unsigned char)s[i]) && n <= 1000000; i++)
		n = n * 10 + (unsigned long)(s[i] - '0');
	return n <= 1000000 ? (long)n : -1;
}

int ktap_unnest(const char **s, size_t *len, int *indent)
{
	int hashes = 0;

	while (ktap_starts(*s, *len, "# ") || ktap_starts(*s, *len, "#\t")) {
		const char *r = *s + 2;
		size_t rl = *len - 2;
		int extra = 0;

		while (rl && *r == ' ')
			r++, rl--, extra++;
		if (ktap_classify(r, rl) == KL_NONE && !ktap_starts(r, rl, "# ") &&
		    !ktap_starts(r, rl, "#\t"))
			break;
		hashes++;
		*indent += extra;
		*s = r;
		*len = rl;
	}
	return hashes;
}

int ktap_totals_failed(const char *s, size_t len)
{
	static const char tag[] = "# Totals:";
	int bad = 0;

	if (!ktap_starts(s, len, tag))
		return -1;
	for (size_t j = sizeof(tag) - 1; j < len; j++) {
		size_t m = 0;
		unsigned long v = 0;

		if (ktap_starts(s + j, len - j, " fail:"))
			m = 6;
		else if (ktap_starts(s + j, len - j, " error:"))
			m = 7;
		if (!m)
			continue;
		for (j += m; j < len && isdigit((unsigned char)s[j]) && v < 1000000; j++)
			v = v * 10 + (unsigned long)(s[j] - '0');
		bad |= v > 0;
		j--;	/* the loop's j++ lands on what follows the number */
	}
	return bad;
}
