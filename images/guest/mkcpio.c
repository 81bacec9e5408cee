/*
 * mkcpio.c - write a newc cpio archive (the initramfs format) from a list,
 * as the kernel's usr/gen_init_cpio does, but host-built and standalone so
 * that a non-root build can still create device nodes (/dev/console).
 * Output is reproducible: uid/gid 0, mtime 0, inodes numbered in order.
 *
 * usage: mkcpio [-0] [LIST] > out.cpio      (LIST defaults to stdin)
 * entries:
 *   dir   PATH MODE
 *   file  PATH SOURCE MODE        SOURCE is read following symlinks
 *   nod   PATH MODE c|b MAJOR MINOR
 *   slink PATH TARGET MODE
 * MODE is octal permission bits.  Paths are archive paths ("/init").
 * Text lists: one entry a line, fields split on blanks (so no field may
 * hold one), blank lines and "#" comments ignored.  With -0 every field,
 * whatever it holds (spaces, newlines: a cache under "/home/a b/"), ends
 * with a NUL byte, and each entry has exactly the fields its kind names:
 *   printf '%s\0' file /init "$src" 0755
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned long ino = 721;
static unsigned long long offset;
static int lineno;
static const char *unit = "line";	/* "entry" with -0 */

#define MAX_FIELDS 6
#define MAX_FIELD 4096

static int nfields(const char *kind)
{
	static const struct { const char *kind; int n; } k[] = {
		{ "dir", 3 }, { "file", 4 }, { "nod", 6 }, { "slink", 4 },
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!strcmp(kind, k[i].kind))
			return k[i].n;
	return 0;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mkcpio: %s %d: ", unit, lineno);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void out(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n) {
		perror("mkcpio: write");
		exit(1);
	}
	offset += n;
}

static void pad4(void)
{
	static const char zeros[4];

	out(zeros, (size_t)((4 - offset % 4) % 4));
}

static void header(const char *name, unsigned int mode, unsigned long size,
		   unsigned int rmaj, unsigned int rmin, unsigned int nlink)
{
	char h[160];
	size_t nlen;

	while (*name == '/')
		name++;
	if (!*name)
		name = ".";
	nlen = strlen(name) + 1;
	snprintf(h, sizeof(h),
		 "070701%08lX%08X%08X%08X%08X%08X%08lX%08X%08X%08X%08X%08lX%08X",
		 ino++ & 0xffffffffUL, mode, 0u, 0u, nlink, 0u,
		 size & 0xffffffffUL, 0u, 0u, rmaj, rmin,
		 (unsigned long)nlen & 0xffffffffUL, 0u);
	out(h, 110);
	out(name, nlen);
	pad4();
}

static unsigned int parse_mode(const char *s)
{
	char *end;
	unsigned long m;

	if (!s)
		die("missing mode", "");
	m = strtoul(s, &end, 8);
	if (*end || m > 07777)
		die("bad mode '%s'", s);
	return (unsigned int)m;
}

static void add_file(const char *path, const char *src, unsigned int mode)
{
	FILE *f = fopen(src, "rb");
	char buf[65536];
	struct stat st;
	size_t n;

	if (!f || fstat(fileno(f), &st) < 0)
		die("cannot open '%s'", src);
	if (!S_ISREG(st.st_mode))
		die("'%s' is not a regular file", src);
	header(path, S_IFREG | mode, (unsigned long)st.st_size, 0, 0, 1);
	unsigned long long left = (unsigned long long)st.st_size;
	while (left && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (n > left)
			n = (size_t)left;
		out(buf, n);
		left -= n;
	}
	if (left)
		die("short read from '%s'", src);
	fclose(f);
	pad4();
}

/* One entry; f[0] is its kind, missing fields are NULL. */
static void entry(char **f)
{
	const char *kind = f[0], *path = f[1];

	if (!path)
		die("missing path", "");
	if (!strcmp(kind, "dir")) {
		header(path, S_IFDIR | parse_mode(f[2]), 0, 0, 0, 2);
	} else if (!strcmp(kind, "file")) {
		if (!f[2])
			die("missing source", "");
		add_file(path, f[2], parse_mode(f[3]));
	} else if (!strcmp(kind, "nod")) {
		unsigned int mode = parse_mode(f[2]);

		if (!f[3] || !f[4] || !f[5] || (strcmp(f[3], "c") && strcmp(f[3], "b")))
			die("nod needs: MODE c|b MAJOR MINOR", "");
		header(path, (f[3][0] == 'c' ? S_IFCHR : S_IFBLK) | mode, 0,
		       (unsigned int)atoi(f[4]), (unsigned int)atoi(f[5]), 1);
	} else if (!strcmp(kind, "slink")) {
		unsigned int mode;

		if (!f[2])
			die("missing target", "");
		mode = parse_mode(f[3]);
		header(path, S_IFLNK | mode, (unsigned long)strlen(f[2]), 0, 0, 1);
		out(f[2], strlen(f[2]));
		pad4();
	} else {
		die("unknown entry '%s'", kind);
	}
}

static void read_text(FILE *in)
{
	char line[8192];

	while (fgets(line, sizeof(line), in)) {
		char *f[MAX_FIELDS] = { 0 }, *save;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		f[0] = strtok_r(line, " \t", &save);
		if (!f[0] || f[0][0] == '#')
			continue;
		for (int i = 1; i < MAX_FIELDS; i++)
			f[i] = strtok_r(NULL, " \t", &save);
		entry(f);
	}
}

/* Reads one NUL-terminated field into buf; 0 at a clean end of input. */
static int read_field(FILE *in, char *buf, int first)
{
	size_t n = 0;
	int c;

	while ((c = getc(in)) != EOF && c != '\0') {
		if (n + 1 >= MAX_FIELD)
			die("field longer than %s bytes", "4095");
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	if (c == EOF && (n || !first))
		die("%s", "list ends inside an entry (every field must end with a NUL)");
	return c != EOF;
}

static void read_nul(FILE *in)
{
	static char buf[MAX_FIELDS][MAX_FIELD];

	while (read_field(in, buf[0], 1)) {
		char *f[MAX_FIELDS] = { buf[0] };
		int n;

		lineno++;
		n = nfields(buf[0]);
		if (!n)
			die("unknown entry '%s'", buf[0]);
		for (int i = 1; i < n; i++) {
			read_field(in, buf[i], 0);
			f[i] = buf[i];
		}
		entry(f);
	}
}

int main(int argc, char **argv)
{
	FILE *in = stdin;
	int nul = argc > 1 && !strcmp(argv[1], "-0");

	argc -= nul;
	argv += nul;
	if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "usage: mkcpio [-0] [LIST] > out.cpio\n");
		return 2;
	}
	if (argc == 2 && !(in = fopen(argv[1], "r"))) {
		perror(argv[1]);
		return 1;
	}
	if (nul) {
		unit = "entry";
		read_nul(in);
	}
	else
		read_text(in);
	header("TRAILER!!!", 0, 0, 0, 0, 1);
	/* pad the archive to a 512-byte multiple like cpio(1) does */
	while (offset % 512)
		out("", 1);
	if (fflush(stdout) != 0) {
		perror("mkcpio: write");
		return 1;
	}
	return 0;
}
