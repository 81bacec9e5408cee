#include "text.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

size_t text_utf8_next(const char *str, size_t len, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	uint32_t c = s[0];
	size_t need;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	/* the second byte's range rules out overlongs (E0, F0), surrogates
	 * (ED) and code points past U+10FFFF (F4) */
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		c &= 0x0f;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;
		hi = s[0] == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		c &= 0x07;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		*cp = TEXT_INVALID;	/* C0, C1, F5..FF, or a stray continuation */
		return 1;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*cp = TEXT_INVALID;
			return i;
		}
		c = c << 6 | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = c;
	return need + 1;
}

char *text_clip_utf8(const char *s, size_t len, size_t max)
{
	struct sb sb;
	size_t i = 0, run = 0;	/* s[run..i) is valid, not yet copied */

	sb_init(&sb);
	while (i < len) {
		uint32_t cp;
		size_t n = text_utf8_next(s + i, len - i, &cp);
		int bad = cp == TEXT_INVALID || cp == 0;

		if (sb.len + (i - run) + (bad ? 3 : n) > max)
			break;
		if (bad) {
			sb_add(&sb, s + run, i - run);
			sb_add(&sb, TEXT_REPLACEMENT, 3);
			run = i + n;
		}
		i += n;
	}
	sb_add(&sb, s + run, i - run);
	return sb_detach(&sb);
}

int text_utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp;

		i += text_utf8_next(s + i, len - i, &cp);
		if (cp == TEXT_INVALID || cp == 0)
			return 0;
	}
	return 1;
}

/* Characters a terminal acts on instead of showing, or that reorder what
 * follows them on screen. */
static int term_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	       cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

static void render(struct sb *out, const char *s, size_t len, int lines)
{
	size_t i = 0, run = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = text_utf8_next(s + i, len - i, &cp);

		if (cp != TEXT_INVALID && !term_unsafe(cp)) {
			i += n;
			continue;
		}
		sb_add(out, s + run, i - run);
		if (lines && cp == '\r' && i + 1 < len && s[i + 1] == '\n')
			;	/* a serial console's line end: the '\n' follows */
		else if (lines && (cp == '\n' || cp == '\t'))
			sb_add(out, s + i, 1);
		else if (cp == '\t')
			sb_adds(out, " ");
		else if (cp == TEXT_INVALID)
			sb_adds(out, TEXT_REPLACEMENT);
		else if (cp < 0x80)
			sb_addf(out, "\\x%02x", (unsigned int)cp);
		else
			sb_addf(out, "\\u%04x", (unsigned int)cp);
		i += n;
		run = i;
	}
	sb_add(out, s + run, i - run);
}

const char *text_term(struct text_pool *p, const char *s)
{
	struct sb sb;

	sb_init(&sb);
	if (s)
		render(&sb, s, strlen(s), 0);
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = sb.buf;
	return sb.buf;
}

void text_pool_release(struct text_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

void text_term_write(FILE *f, const char *s, size_t len)
{
	struct sb sb;
	size_t chunk = 64 << 10;

	sb_init(&sb);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < chunk ? len - off : chunk;

		/* a chunk ends before a character's continuation bytes (and
		 * between "\r" and "\n"), looking back at most 4 bytes */
		for (int back = 0; off + n < len && n > 1 && back < 4 &&
		     (((unsigned char)s[off + n] & 0xc0) == 0x80 || s[off + n - 1] == '\r'); back++)
			n--;
		sb_reset(&sb);
		render(&sb, s + off, n, 1);
		fwrite(sb.buf, 1, sb.len, f);
		off += n;
	}
	sb_release(&sb);
}
