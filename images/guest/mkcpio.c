/*
 * mkcpio.c - write a newc cpio archive (the initramfs format) from a list,
 * as the kernel's usr/gen_init_cpio does, but host-built and standalone so
 * that a non-root build can still create device nodes (/dev/console).
 * Output is reproducible: uid/gid 0, mtime 0, inodes numbered in order.
 *
 * usage: mkcpio [LIST] > out.cpio      (LIST defaults to stdin)
 * list lines (blank lines and "#" comments ignored):
 *   dir   PATH MODE
 *   file  PATH SOURCE MODE        SOURCE is read following symlinks
 *   nod   PATH MODE c|b MAJOR MINOR
 *   slink PATH TARGET MODE
 * MODE is octal permission bits.  Paths are archive paths ("/init").
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

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mkcpio: line %d: ", lineno);
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

int main(int argc, char **argv)
{
	FILE *in = stdin;
	char line[8192];

	if (argc > 2 || (argc == 2 && !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "usage: mkcpio [LIST] > out.cpio\n");
		return 2;
	}
	if (argc == 2 && !(in = fopen(argv[1], "r"))) {
		perror(argv[1]);
		return 1;
	}
	while (fgets(line, sizeof(line), in)) {
		char *kind, *path, *save;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		kind = strtok_r(line, " \t", &save);
		if (!kind || kind[0] == '#')
			continue;
		path = strtok_r(NULL, " \t", &save);
		if (!path)
			die("missing path", "");
		if (!strcmp(kind, "dir")) {
			unsigned int mode = parse_mode(strtok_r(NULL, " \t", &save));
			header(path, S_IFDIR | mode, 0, 0, 0, 2);
		} else if (!strcmp(kind, "file")) {
			char *src = strtok_r(NULL, " \t", &save);
			if (!src)
				die("missing source", "");
			add_file(path, src, parse_mode(strtok_r(NULL, " \t", &save)));
		} else if (!strcmp(kind, "nod")) {
			unsigned int mode = parse_mode(strtok_r(NULL, " \t", &save));
			char *type = strtok_r(NULL, " \t", &save);
			char *maj = strtok_r(NULL, " \t", &save);
			char *min = strtok_r(NULL, " \t", &save);
			if (!type || !maj || !min || (strcmp(type, "c") && strcmp(type, "b")))
				die("nod needs: MODE c|b MAJOR MINOR", "");
			header(path, (type[0] == 'c' ? S_IFCHR : S_IFBLK) | mode, 0,
			       (unsigned int)atoi(maj), (unsigned int)atoi(min), 1);
		} else if (!strcmp(kind, "slink")) {
			char *target = strtok_r(NULL, " \t", &save);
			if (!target)
				die("missing target", "");
			unsigned int mode = parse_mode(strtok_r(NULL, " \t", &save));
			header(path, S_IFLNK | mode, (unsigned long)strlen(target), 0, 0, 1);
			out(target, strlen(target));
			pad4();
		} else {
			die("unknown entry '%s'", kind);
		}
	}
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
