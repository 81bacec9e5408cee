#include "dbtext.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

size_t dbtext_seq(const unsigned char *s, size_t n)
{
	unsigned int c = s[0], len, min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (unsigned int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static size_t valid_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0, k;

	for (k = 0; k < n && (i = dbtext_seq(s + k, n - k)); k += i)
		;
	return k;
}

static void repair(struct sb *sb, const unsigned char *s, size_t n, size_t k)
{
	size_t i;

	sb_init(sb);
	sb_add(sb, (const char *)s, k);
	while (k < n) {
		i = dbtext_seq(s + k, n - k);
		if (i)
			sb_add(sb, (const char *)s + k, i);
		else
			sb_adds(sb, "\xef\xbf\xbd");	/* U+FFFD */
		k += i ? i : 1;
	}
}

json_t *dbtext_json(const unsigned char *s, size_t n)
{
	struct sb sb;
	size_t k;
	json_t *v;

	if (!s)
		return json_string("");
	if ((k = valid_prefix(s, n)) == n)
		return json_stringn((const char *)s, n);
	repair(&sb, s, n, k);
	v = json_stringn(sb.buf, sb.len);
	sb_release(&sb);
	return v;
}

const char *dbtext_col(sqlite3_stmt *s, int i, struct dbtext_keep *k)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	size_t n, v;
	struct sb sb;

	if (!t)
		return NULL;
	/* as a C string: up to the first NUL */
	n = strnlen((const char *)t, (size_t)sqlite3_column_bytes(s, i));
	if ((v = valid_prefix(t, n)) == n)
		return (const char *)t;
	if (k->n >= (int)ARRAY_SIZE(k->p))
		return "\xef\xbf\xbd";
	repair(&sb, t, n, v);
	return k->p[k->n++] = sb_detach(&sb);
}

void dbtext_keep_release(struct dbtext_keep *k)
{
	while (k->n > 0)
		free(k->p[--k->n]);
}
