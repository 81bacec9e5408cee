#include "logdir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COMPONENTS 8

char *logdir_of(const char *db_path)
{
	return xasprintf("%s.logs", db_path);
}

char *logdir_run(const char *db_path, int64_t run)
{
	return xasprintf("%s.logs/run-%lld", db_path, (long long)run);
}

const char *logdir_name(const char *logs_dir, const char *path)
{
	size_t n = strlen(logs_dir);

	if (!path || strncmp(path, logs_dir, n) || path[n] != '/' || !path[n + 1])
		return NULL;
	return path + n + 1;
}

static int refuse(struct err *e, int c, const char *msg)
{
	return err_set(e, c, "%s", msg);
}

static int open_failed(struct err *e)
{
	if (errno == ENOENT)
		return refuse(e, 404, "console log not found");
	if (errno == ELOOP)
		return refuse(e, 403, "console log path goes through a symlink (refused)");
	if (errno == ENOTDIR)
		return refuse(e, 403, "console log path goes through a non-directory (refused)");
	if (errno == EACCES || errno == EPERM)
		return refuse(e, 403, "console log is not readable (permission denied)");
	return refuse(e, 500, "cannot open console log");
}

/* One component at a time from dirfd, none a symlink, "." or "..": the
 * kernel resolves nothing the row chose. Consumes dirfd. */
static int walk(int dirfd, const char *rel, struct err *e)
{
	char buf[PATH_MAX], *p = buf, *slash;
	int ncomp = 0;
	struct stat sb;

	if (strlen(rel) >= sizeof(buf)) {
		close(dirfd);
		return refuse(e, 403, "console log name is too long (refused)");
	}
	strcpy(buf, rel);
	for (;;) {
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || !strcmp(p, ".") || !strcmp(p, "..") || ++ncomp > MAX_COMPONENTS) {
			close(dirfd);
			return refuse(e, 403, "console log name leaves the logs directory "
				      "or is malformed (refused)");
		}
		if (!slash)
			break;
		int next = openat(dirfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		close(dirfd);
		if (next < 0)
			return open_failed(e);
		dirfd = next;
		p = slash + 1;
	}
	/* refuse FIFOs and devices before opening them: opening has side effects */
	if (fstatat(dirfd, p, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		close(dirfd);
		return open_failed(e);
	}
	if (S_ISLNK(sb.st_mode)) {
		close(dirfd);
		return refuse(e, 403, "console log is a symlink (refused)");
	}
	if (!S_ISREG(sb.st_mode)) {
		close(dirfd);
		return refuse(e, 403, "console log is not a regular file (refused)");
	}
	int fd = openat(dirfd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	close(dirfd);
	if (fd < 0)
		return open_failed(e);
	/* the file may have been swapped between the two looks */
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return refuse(e, 403, "console log is not a regular file (refused)");
	}
	return fd;
}

/* For an absolute name: the part under root (as given or resolved), or NULL. */
static const char *under(const char *root, const char *name)
{
	const char *rel = root[0] == '/' ? logdir_name(root, name) : NULL;
	char *real = rel ? NULL : realpath(root, NULL);

	if (real) {
		rel = logdir_name(real, name);
		free(real);
	}
	return rel;
}

int logdir_open(const char *db_path, const char *name, struct err *e)
{
	char *logs = logdir_of(db_path), *copy = xstrdup(db_path);
	char *legacy = xasprintf("%s/logs", dirname(copy));
	const char *root = logs, *rel = name;
	int dirfd;

	free(copy);
	if (name[0] == '/') {
		/* rows written before logs were per database held absolute paths */
		if ((rel = under(logs, name)))
			root = logs;
		else if ((rel = under(legacy, name)))
			root = legacy;
	}
	if (!rel) {
		free(logs);
		free(legacy);
		return refuse(e, 403, "console log path is outside the logs directory "
			      "(refused)");
	}
	dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(logs);
	free(legacy);
	if (dirfd < 0)
		return errno == ENOENT ? refuse(e, 404, "console log not found (no logs "
						"directory)")
				       : open_failed(e);
	return walk(dirfd, rel, e);
}
