#include "jsonw.h"
#include "dbtext.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void jsonw_str(struct sb *sb, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, k;

	if (!s) {
		sb_adds(sb, "null");
		return;
	}
	sb_add(sb, "\"", 1);
	while (i < n) {
		unsigned char c = u[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		sb_add(sb, s + run, i - run);
		if (c >= 0x80) {
			k = dbtext_seq(u + i, n - i);
			if (k)
				sb_add(sb, s + i, k);
			else
				sb_adds(sb, "\xef\xbf\xbd");	/* U+FFFD */
			i += k ? k : 1;
		} else {
			static const char *const esc[] = { ['"'] = "\\\"", ['\\'] = "\\\\",
				['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r",
				['\t'] = "\\t" };

			if (c < ARRAY_SIZE(esc) && esc[c])
				sb_adds(sb, esc[c]);
			else
				sb_addf(sb, "\\u%04X", c);
			i++;
		}
		run = i;
	}
	sb_add(sb, s + run, i - run);
	sb_add(sb, "\"", 1);
}

void jsonw_strz(struct sb *sb, const char *s)
{
	jsonw_str(sb, s, s ? strlen(s) : 0);
}

/* jansson's form: %.17g, with ".0" when that reads as an integer */
void jsonw_real(struct sb *sb, double v)
{
	char b[40];

	if (!isfinite(v)) {
		sb_adds(sb, "null");
		return;
	}
	snprintf(b, sizeof(b), "%.17g", v);
	/* and, as jansson, an exponent without '+' or leading zeros */
	char *e = strchr(b, 'e');
	if (e) {
		char *d = e + 1 + (e[1] == '-'), *z = d + (*d == '+');

		while (*z == '0' && z[1])
			z++;
		memmove(e[1] == '+' ? e + 1 : d, z, strlen(z) + 1);
	}
	sb_adds(sb, b);
	if (!strpbrk(b, ".eE"))
		sb_adds(sb, ".0");
}

void jsonw_col(struct sb *sb, sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		sb_addf(sb, "%lld", (long long)sqlite3_column_int64(s, i));
		break;
	case SQLITE_FLOAT:
		jsonw_real(sb, sqlite3_column_double(s, i));
		break;
	case SQLITE_TEXT: {
		const char *t = (const char *)sqlite3_column_text(s, i);

		jsonw_str(sb, t ? t : "", t ? (size_t)sqlite3_column_bytes(s, i) : 0);
		break;
	}
	default:
		sb_adds(sb, "null");
	}
}

int jsonw_rows(struct sb *sb, sqlite3_stmt *s)
{
	int rc, n = 0;

	sb_add(sb, "[", 1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sb_adds(sb, n++ ? ",{" : "{");
		for (int i = 0; i < sqlite3_column_count(s); i++) {
			if (i)
				sb_add(sb, ",", 1);
			jsonw_strz(sb, sqlite3_column_name(s, i));
			sb_add(sb, ":", 1);
			jsonw_col(sb, s, i);
		}
		sb_add(sb, "}", 1);
	}
	sb_add(sb, "]", 1);
	return rc;
}
