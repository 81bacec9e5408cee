#include "jsonw.h"
#include "dbtext.h"

#include <math.h>
#include <stdint.h>
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

/* %.17g of v with 1e-4 <= |v| < 1e17 (fixed notation), exactly as printf
 * rounds (to nearest, ties to even), without printf's multi-precision
 * arithmetic: v = m * 2^e, so v * 10^d (d = 16 - its decimal exponent) is
 * m * 10^d shifted by e, within 128 bits. Timestamps, durations and rates
 * are all in this range. 0 when v is not (printf then writes it). */
static int real17(char *b, double v)
{
	static const double lim[] = { 1e-4, 1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
				      1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
				      1e17 };
	unsigned __int128 p, q, r, half, ten = 1;
	char dig[20], *o = b;
	double a = fabs(v);
	int x, e, d, k, n;
	uint64_t m, u;

	if (!(a >= lim[0] && a < lim[21]))
		return 0;
	for (x = -4; a >= lim[x + 5]; x++)
		;
	d = 16 - x;
	memcpy(&m, &a, sizeof(m));	/* a is normal here: a = m * 2^e, exactly */
	e = (int)(m >> 52) - 1075;
	m = (m & ((1ull << 52) - 1)) | 1ull << 52;
	for (k = 0; k < d; k++)
		ten *= 10;
	p = (unsigned __int128)m * ten;
	if (e >= 0) {
		if (e > 10)	/* a < 1e17 < 2^57: never */
			return 0;
		q = p << e;
	} else {
		if (-e >= 127)
			return 0;
		q = p >> -e;
		r = p & ((((unsigned __int128)1) << -e) - 1);
		half = ((unsigned __int128)1) << (-e - 1);
		if (r > half || (r == half && (q & 1)))
			q++;
	}
	/* 17 digits, or x was off by one (a next to a power of ten): printf */
	if (q < (unsigned __int128)10000000000000000ull || q >= (unsigned __int128)100000000000000000ull)
		return 0;
	for (u = (uint64_t)q, n = 17; n--; u /= 10)
		dig[n] = (char)('0' + (int)(u % 10));
	n = 17;
	while (n > 1 && n > x + 1 && dig[n - 1] == '0')	/* %g drops trailing zeros */
		n--;
	if (v < 0)
		*o++ = '-';
	if (x < 0) {
		*o++ = '0', *o++ = '.';
		for (k = -1; k > x; k--)
			*o++ = '0';
		memcpy(o, dig, (size_t)n), o += n;
	} else {
		memcpy(o, dig, (size_t)x + 1), o += x + 1;
		if (n > x + 1) {
			*o++ = '.';
			memcpy(o, dig + x + 1, (size_t)(n - x - 1)), o += n - x - 1;
		}
	}
	*o = '\0';
	return 1;
}

/* jansson's form: %.17g, with ".0" when that reads as an integer */
void jsonw_real(struct sb *sb, double v)
{
	char b[40];

	if (!isfinite(v)) {
		sb_adds(sb, "null");
		return;
	}
	if (v == 0) {
		sb_adds(sb, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	if (!real17(b, v))
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

void jsonw_int(struct sb *sb, int64_t v)
{
	char b[24], *o = b + sizeof(b);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--o = (char)('0' + (int)(u % 10));
	while (u /= 10);
	if (v < 0)
		*--o = '-';
	sb_add(sb, o, (size_t)(b + sizeof(b) - o));
}

void jsonw_col(struct sb *sb, sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		jsonw_int(sb, sqlite3_column_int64(s, i));
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
