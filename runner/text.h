/* Text that crosses from the guest (or from a shared database): made valid
 * UTF-8 once, when it is stored, and made harmless to a terminal whenever it
 * is shown. Raw bytes exist only in the console log file. */
#ifndef KFARM_TEXT_H
#define KFARM_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TEXT_INVALID UINT32_MAX		/* text_utf8_next: ill-formed */
#define TEXT_REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD in UTF-8 */

/* Decodes the character starting s[0..len) (len >= 1) into *cp and returns
 * its length; an ill-formed sequence (overlong, surrogate, > U+10FFFF,
 * truncated, stray continuation byte) gives *cp = TEXT_INVALID and the
 * length of its maximal subpart (Unicode's "U+FFFD per maximal subpart"). */
size_t text_utf8_next(const char *s, size_t len, uint32_t *cp);

/* s[0..len) as valid UTF-8 of at most max bytes, cut at a character boundary,
 * every ill-formed sequence and every NUL replaced by one U+FFFD. Valid text
 * shorter than max comes back unchanged, so applying it twice is harmless. */
char *text_clip_utf8(const char *s, size_t len, size_t max);

/* True when s is valid UTF-8 without NUL bytes (what text_clip_utf8 makes). */
int text_utf8_valid(const char *s, size_t len);

/* Strings rendered for a terminal, owned by the pool until it is released:
 * C0 controls, DEL, C1 controls (U+0080-U+009F), bidirectional overrides and
 * line/paragraph separators appear as visible escapes ("\x1b", "\u009b"),
 * a tab as a space, ill-formed UTF-8 as U+FFFD. NULL renders as "". */
struct text_pool {
	char **v;
	size_t n;
};
const char *text_term(struct text_pool *p, const char *s);
void text_pool_release(struct text_pool *p);

/* Writes s[0..len) (a console log: many lines) to f rendered as text_term
 * does, except that newlines and tabs stay and "\r\n" becomes "\n". */
void text_term_write(FILE *f, const char *s, size_t len);

#endif
