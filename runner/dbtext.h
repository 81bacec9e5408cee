/* Text read back from a database, which may have been edited: as JSON, valid
 * UTF-8 always (jansson refuses anything else, and a refused value would
 * silently vanish from its object). */
#ifndef KFARM_DBTEXT_H
#define KFARM_DBTEXT_H

#include <jansson.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
size_t dbtext_seq(const unsigned char *s, size_t n);
/* A JSON string of s[0..n), each invalid sequence replaced by U+FFFD.
 * NULL only when out of memory. */
json_t *dbtext_json(const unsigned char *s, size_t n);

#endif
