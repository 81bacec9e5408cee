/* Content-addressed copies of boot inputs (contract in pin.h). */
#include "pin.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PRUNE_AFTER_S (30 * 86400)

/* Copies in to out, hashing exactly the bytes copied. -1 with errno set;
 * *which says whose error it was (0: reading, 1: writing). */
static int copy_hashed(int in, int out, char sha[65], int *which)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ret = -1;

	if (!ctx)
		die("out of memory");
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*which = 0;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, n);
		if (write_all(out, buf, n) < 0) {
			*which = 1;
			goto out;
		}
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		sprintf(sha + 2 * i, "%02x", md[i]);
	sha[64] = '\0';
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Once per process: copies unused for PRUNE_AFTER_S go (every pin renames a
 * fresh copy into place, so a file's mtime is its last use), as do
 * temporaries left by a kfarm that died mid-copy. */
static void prune(const char *dir)
{
	static int done;
	DIR *d;
	struct dirent *e;
	time_t now = time(NULL);

	if (done++ || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		struct stat st;
		int part = !strncmp(e->d_name, ".part-", 6);

		if ((strlen(e->d_name) != 64 && !part) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (now - st.st_mtime > (part ? 86400 : PRUNE_AFTER_S))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* The cache's pinned/, or, when this user cannot write the cache (a cache
 * shared read-only by the user who built the kernels), a private per-user
 * directory: created 0700 and used only if it is ours and not a symlink,
 * since /tmp is shared. NULL with e. */
static char *pin_dir(struct err *e)
{
	char *dir = xasprintf("%s/pinned", cache_dir());
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (mkdir_p(dir, 0755) == 0 && access(dir, W_OK) == 0)
		return dir;
	free(dir);
	dir = rt && *rt == '/' ? xasprintf("%s/kfarm-pinned", rt)
			       : xasprintf("/tmp/kfarm-pinned-%u", (unsigned)getuid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err_set(e, 0, "cannot create '%s': %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077)) {
		err_set(e, 0, "'%s' is not a private directory of this user (refused)", dir);
		free(dir);
		return NULL;
	}
	return dir;
}

int pin_file(const char *path, char sha[65], char **pinned, struct err *e)
{
	static unsigned long seq;
	char *dir = NULL, *tmp = NULL, *final = NULL;
	int in = -1, out = -1, which = 0, ret = -1;
	struct stat st;

	*pinned = NULL;
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		err_set(e, 0, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, 0, "'%s' is not a regular file", path);
		goto out;
	}
	if (!(dir = pin_dir(e)))
		goto out;
	prune(dir);
	tmp = xasprintf("%s/.part-%d-%lu", dir, (int)getpid(), ++seq);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (out < 0) {
		err_set(e, 0, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (copy_hashed(in, out, sha, &which) < 0) {
		if (which)
			err_set(e, 0, "cannot write '%s': %s", tmp, strerror(errno));
		else
			err_set(e, 0, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (close(out) < 0) {
		out = -1;
		err_set(e, 0, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	out = -1;
	final = xasprintf("%s/%s", dir, sha);
	/* same name, same bytes: replacing an existing copy changes nothing for
	 * a VM that has it open */
	if (rename(tmp, final) < 0) {
		err_set(e, 0, "cannot rename '%s' to '%s': %s", tmp, final, strerror(errno));
		goto out;
	}
	*pinned = final;
	final = NULL;
	ret = 0;
out:
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	if (tmp && ret)
		unlink(tmp);
	free(tmp);
	free(final);
	free(dir);
	return ret;
}
