/* The child kfarm processes of a bisection: started from /proc/self/exe
 * (the same binary) with argv only, waited for, recognised after a kill. */
#include "bisect_child.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int pid_is_kfarm(long pid)
{
	char a[64], pa[PATH_MAX], pb[PATH_MAX];
	ssize_t na, nb;

	if (pid <= 0 || kill((pid_t)pid, 0) < 0)
		return 0;
	snprintf(a, sizeof(a), "/proc/%ld/exe", pid);
	na = readlink(a, pa, sizeof(pa) - 1);
	nb = readlink("/proc/self/exe", pb, sizeof(pb) - 1);
	if (na < 0 || nb < 0)
		return 1;	/* cannot tell: assume it is ours and wait */
	pa[na] = pb[nb] = '\0';
	return !strncmp(pa, pb, (size_t)nb);
}

pid_t spawn_kfarm(char **argv, const char *log, struct err *e)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), rc;

	if (fd < 0)
		return err_set(e, 0, "cannot open '%s': %s", log, strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	if (rc)
		return err_set(e, 0, "cannot start kfarm: %s", strerror(rc));
	return pid;
}

int wait_kfarm(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
