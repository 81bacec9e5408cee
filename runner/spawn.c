#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int wait_child(pid_t pid, struct err *e)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return err_set(e, 0, "waitpid: %s", strerror(errno));
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* Reads the child's output until EOF, keeping at most max bytes. */
static void drain(int fd, struct sb *out, size_t max)
{
	char buf[8192];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len < max)
			sb_add(out, buf, (size_t)n < max - out->len ? (size_t)n : max - out->len);
	}
}

int spawn_run(char *const argv[], const char *cwd, const char *out_path, struct sb *out,
	      size_t max, struct err *e)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 }, ofd = -1, rc;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_path) {
		ofd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (ofd < 0) {
			posix_spawn_file_actions_destroy(&fa);
			return err_set(e, 0, "cannot open '%s': %s", out_path, strerror(errno));
		}
		posix_spawn_file_actions_adddup2(&fa, ofd, 1);
		posix_spawn_file_actions_adddup2(&fa, ofd, 2);
	} else if (out) {
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			posix_spawn_file_actions_destroy(&fa);
			return err_set(e, 0, "pipe: %s", strerror(errno));
		}
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	}
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ofd >= 0)
		close(ofd);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (rc) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		return err_set(e, 0, "cannot run %s: %s", argv[0], strerror(rc));
	}
	if (pipefd[0] >= 0) {
		drain(pipefd[0], out, max);
		close(pipefd[0]);
	}
	return wait_child(pid, e);
}

int spawn_rm_rf(const char *path, struct err *e)
{
	char *argv[] = { "rm", "-rf", "--", (char *)path, NULL };

	return spawn_run(argv, NULL, NULL, NULL, 0, e);
}
