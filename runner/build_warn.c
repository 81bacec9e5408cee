#include "build_warn.h"
#include "text.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* "DIR/x" -> "x" when the path starts with src, or contains "/BASENAME(src)/"
 * (kbuild names sources relative to the O= tree: ../../src/linux-6.1-x/fs/a.c
 * beside the tree), or starts with "../" (an O= tree inside it: srctree = ..) */
static const char *strip_src(const char *path, size_t *len, const char *src)
{
	size_t sl = src ? strlen(src) : 0;

	while (sl > 1 && src[sl - 1] == '/')
		sl--;
	if (sl && *len > sl && !strncmp(path, src, sl) && path[sl] == '/') {
		*len -= sl + 1;
		return path + sl + 1;
	}
	if (sl) {
		const char *base = src + sl;
		size_t bl = 0;

		while (base > src && base[-1] != '/')
			base--, bl++;
		for (size_t i = 0; bl && i + bl + 1 < *len; i++)
			if (path[i] == '/' && !strncmp(path + i + 1, base, bl) &&
			    path[i + 1 + bl] == '/') {
				*len -= i + bl + 2;
				return path + i + bl + 2;
			}
	}
	if (*len > 3 && !strncmp(path, "../", 3))
		path += 3, *len -= 3;
	while (*len > 2 && !strncmp(path, "./", 2))
		path += 2, *len -= 2;
	return path;
}

static int have(const struct warn_list *w, const char *k)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->v[i], k))
			return 1;
	return 0;
}

/* One line: FILE:LINE[:COL]: warning: TEXT -> "FILE: warning: TEXT", or NULL */
static char *key_of(const char *line, size_t n, const char *src)
{
	const char *w = memmem(line, n, ": warning: ", 11), *p;
	size_t flen;

	if (!w)
		return NULL;
	/* the file ends at the first ":digits" before the marker */
	for (p = line; p < w; p++)
		if (*p == ':' && p + 1 < w && p[1] >= '0' && p[1] <= '9')
			break;
	flen = (size_t)(p - line);
	const char *file = strip_src(line, &flen, src);
	size_t tlen = n - (size_t)(w + 11 - line);
	struct sb k;
	char *v;

	/* valid UTF-8 (gcc quotes names with U+2018/U+2019), shown through
	 * text_term wherever it is printed; ASCII controls as '?' */
	sb_init(&k);
	for (size_t i = 0; i < flen; i++)
		sb_add(&k, ((unsigned char)file[i] < 0x20 || file[i] == 0x7f) ? "?" : file + i, 1);
	sb_adds(&k, ": warning: ");
	for (size_t i = 0; i < tlen && i < 400; i++)
		sb_add(&k, ((unsigned char)w[11 + i] < 0x20 || w[11 + i] == 0x7f) ? "?" : w + 11 + i, 1);
	v = text_clip_utf8(k.buf, k.len, 600);
	sb_release(&k);
	return v;
}

void build_warn_parse(const char *text, size_t len, const char *src, struct warn_list *w)
{
	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < len && w->n < BUILD_WARN_MAX;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - text - i) : len - i;
		char *k = key_of(text + i, n, src);

		if (k && !have(w, k)) {
			w->v = xrealloc(w->v, (w->n + 1) * sizeof(char *));
			w->v[w->n++] = k;
		} else {
			free(k);
		}
		i += n + 1;
	}
}

void warn_list_release(struct warn_list *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

/* A baseline: an earlier PASS build of tree x arch x config, of another
 * candidate, with its warnings stored (a failed build compiled only part) */
static const char earlier[] =
	"SELECT EXISTS (SELECT 1 FROM builds b JOIN sources s ON s.id = b.source_id"
	" WHERE s.tree = ?1 AND b.arch = ?2 AND b.config = ?3 AND b.id < ?4"
	" AND b.status = 'PASS' AND b.id IN (SELECT build_id FROM build_warn_sum)"
	" AND b.source_id != (SELECT source_id FROM builds WHERE id = ?4))";
/* seen in any earlier build of tree x arch x config (an incremental build's
 * log has only what it recompiled: earlier builds are taken together) */
static const char seen[] =
	"SELECT EXISTS (SELECT 1 FROM build_warnings w JOIN builds b ON b.id = w.build_id"
	" JOIN sources s ON s.id = b.source_id WHERE w.warning = ?5 AND s.tree = ?1"
	" AND b.arch = ?2 AND b.config = ?3 AND b.id < ?4)";

static int bind_common(sqlite3_stmt *s, const char *tree, const char *arch,
		       const char *config, int64_t build)
{
	sqlite3_bind_text(s, 1, tree, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, arch, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 3, config, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, build);
	return 0;
}

static int one_int(sqlite3_stmt *s)
{
	int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;

	sqlite3_reset(s);
	return v;
}

int build_warn_store(sqlite3 *db, int64_t build, const char *tree, const char *arch,
		     const char *config, const char *log_path, const char *src, struct err *e)
{
	struct warn_list w = { 0 };
	sqlite3_stmt *base = NULL, *old = NULL, *ins = NULL, *upd = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret = -1, baseline;
	long nnew = 0;

	if (log_path && read_file(log_path, 256u << 20, &text, &len) == 0)
		build_warn_parse(text, len, src, &w);
	free(text);
	if (!log_path || !len)
		return 0;	/* nothing to compare: new_warnings stays NULL */
	if (sqlite3_prepare_v2(db, earlier, -1, &base, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, seen, -1, &old, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO build_warnings (build_id, warning, new)"
			       " VALUES (?, ?, ?)", -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO build_warn_sum (new_warnings, build_id)"
			       " VALUES (?, ?)", -1, &upd, NULL) != SQLITE_OK)
		goto out;
	bind_common(base, tree, arch, config, build);
	bind_common(old, tree, arch, config, build);
	if ((baseline = one_int(base)) < 0)
		goto out;
	for (size_t i = 0; i < w.n; i++) {
		int is_new = 0;

		if (baseline) {
			sqlite3_bind_text(old, 5, w.v[i], -1, SQLITE_TRANSIENT);
			if ((is_new = one_int(old)) < 0)
				goto out;
			is_new = !is_new;
		}
		nnew += is_new;
		sqlite3_bind_int64(ins, 1, build);
		sqlite3_bind_text(ins, 2, w.v[i], -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ins, 3, is_new);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto out;
		sqlite3_reset(ins);
	}
	if (baseline)
		sqlite3_bind_int64(upd, 1, nnew);
	else
		sqlite3_bind_null(upd, 1);
	sqlite3_bind_int64(upd, 2, build);
	if (sqlite3_step(upd) == SQLITE_DONE)
		ret = 0;
out:
	if (ret)
		err_set(e, 0, "database: cannot store the warnings of build %lld: %s",
			(long long)build, sqlite3_errmsg(db));
	sqlite3_finalize(base), sqlite3_finalize(old), sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	warn_list_release(&w);
	return ret;
}
