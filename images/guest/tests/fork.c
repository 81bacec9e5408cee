/*
 * fork: fork, exit status, death by signal, vfork, execve of /init itself
 * in its probe mode (argv, envp and an inherited fd arrive intact), the
 * exec error cases, waitpid/waitid/WNOHANG, and ECHILD.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kt.h"

#define PROBE_EXIT 42

/* `init --probe fork ARG FD`: argv/env check, write to FD, exit 42 */
static int probe(int argc, char **argv)
{
	const char *env = getenv("KFARM_PROBE");
	int fd;

	if (argc != 3 || strcmp(argv[1], "hello world") || !env ||
	    strcmp(env, "1"))
		return 1;
	fd = atoi(argv[2]);
	if (write(fd, "probe-ok", 8) != 8)
		return 2;
	return PROBE_EXIT;
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

static void test_fork_exit(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(7);
	if (pid < 0) {
		kt_fail("fork_exit_status", "fork: %s", kt_errname(errno));
		return;
	}
	st = wait_status(pid);
	kt_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 7,
		 "fork_exit_status", "wait status 0x%x, want exit 7", st);
}

static void test_fork_memory(void)
{
	static volatile int value = 1;
	int pfd[2], seen = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		kt_brok("pipe: %s", kt_errname(errno));
	pid = fork();
	if (pid == 0) {
		int v = value;	/* inherited copy */
		value = 99;	/* must not leak to the parent */
		_exit(write(pfd[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &seen, sizeof(seen)) != sizeof(seen))
		seen = -1;
	close(pfd[0]);
	wait_status(pid);
	kt_check(seen == 1 && value == 1, "fork_cow_memory",
		 "child saw %d (want 1), parent has %d after child wrote 99",
		 seen, value);
}

static void test_killed(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		for (;;)
			pause();
	}
	kill(pid, SIGKILL);
	st = wait_status(pid);
	kt_check(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		 "killed_by_sigkill", "wait status 0x%x", st);
}

static void test_vfork(void)
{
	pid_t pid = vfork();
	int st;

	if (pid == 0)
		_exit(3);
	st = pid < 0 ? -1 : wait_status(pid);
	kt_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3,
		 "vfork_exit_status", "wait status 0x%x (%s)", st,
		 pid < 0 ? kt_errname(errno) : "");
}

static void test_exec_probe(void)
{
	char fdarg[16];
	char buf[16] = "";
	int pfd[2], st;
	pid_t pid;

	if (pipe(pfd) < 0)
		kt_brok("pipe: %s", kt_errname(errno));
	snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)"init", (char *)"--probe",
				 (char *)"fork", (char *)"hello world", fdarg,
				 NULL };
		char *envp[] = { (char *)"KFARM_PROBE=1", NULL };
		close(pfd[0]);
		execve(kt_self_exe(), argv, envp);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(pfd[0]);
	st = wait_status(pid);
	kt_check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == PROBE_EXIT,
		 "execve_self_exit_status",
		 "wait status 0x%x, want exit %d (127 = exec failed)", st,
		 PROBE_EXIT);
	kt_check(!strcmp(buf, "probe-ok"), "execve_inherits_fd",
		 "read '%s' from the probe", buf);
}

/* execve in a child so a wrong success cannot replace the test */
static void expect_exec_err(const char *name, const char *path, int want)
{
	int pfd[2], err = 0, st;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		kt_brok("pipe: %s", kt_errname(errno));
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };
		char *envp[] = { NULL };
		execve(path, argv, envp);
		err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], &err, sizeof(err)) != sizeof(err))
		err = 0;	/* exec succeeded */
	close(pfd[0]);
	st = wait_status(pid);
	kt_check(err == want, name, "execve %s: got %s (status 0x%x), want %s",
		 path, err ? kt_errname(err) : "success", st,
		 kt_errname(want));
}

static void test_exec_errors(void)
{
	const char *noexec = "/tmp/kfarm-fork-noexec";
	const char *junk = "/tmp/kfarm-fork-junk";
	int fd;

	expect_exec_err("execve_missing_enoent", "/nonexistent/prog", ENOENT);

	fd = open(noexec, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		close(fd);
		chmod(noexec, 0644);
		expect_exec_err("execve_noexec_eacces", noexec, EACCES);
		unlink(noexec);
	} else {
		kt_skip("execve_noexec_eacces", "cannot create %s: %s", noexec,
			kt_errname(errno));
	}

	fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd >= 0) {
		static const char bytes[64] = "\x01\x02junk that is no executable";
		if (write(fd, bytes, sizeof(bytes)) != sizeof(bytes))
			kt_brok("write %s: %s", junk, kt_errname(errno));
		close(fd);
		chmod(junk, 0755);
		expect_exec_err("execve_junk_enoexec", junk, ENOEXEC);
		unlink(junk);
	} else {
		kt_skip("execve_junk_enoexec", "cannot create %s: %s", junk,
			kt_errname(errno));
	}
}

static void test_waitid_wnohang(void)
{
	int pfd[2], st;
	siginfo_t si;
	pid_t pid, r;
	char c = 0;

	if (pipe(pfd) < 0)
		kt_brok("pipe: %s", kt_errname(errno));
	pid = fork();
	if (pid == 0) {
		close(pfd[1]);
		/* exit only once the parent has looked */
		if (read(pfd[0], &c, 1) != 1)
			_exit(1);
		_exit(5);
	}
	close(pfd[0]);
	r = waitpid(pid, &st, WNOHANG);
	kt_check(r == 0, "wnohang_running_child", "waitpid returned %d (%s)",
		 (int)r, r < 0 ? kt_errname(errno) : "");

	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG);
	kt_check(r == 0 && si.si_pid == 0, "waitid_wnohang_running",
		 "waitid returned %d si_pid %d", (int)r, (int)si.si_pid);

	if (write(pfd[1], &c, 1) != 1)
		kt_brok("write: %s", kt_errname(errno));
	close(pfd[1]);

	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, (id_t)pid, &si, WEXITED);
	kt_check(r == 0 && si.si_pid == pid && si.si_code == CLD_EXITED &&
			 si.si_status == 5 && si.si_signo == SIGCHLD,
		 "waitid_exited", "r %d signo %d pid %d code %d status %d",
		 (int)r, si.si_signo, (int)si.si_pid, si.si_code,
		 si.si_status);
}

static void run(void)
{
	test_fork_exit();
	test_fork_memory();
	test_killed();
	test_vfork();
	test_exec_probe();
	test_exec_errors();
	test_waitid_wnohang();
	/* every child is reaped by now */
	KT_EXPECT_ERR("waitpid_no_children_echild", waitpid(-1, NULL, 0),
		      ECHILD);
	KT_EXPECT_ERR("waitpid_wnohang_no_children_echild",
		      waitpid(-1, NULL, WNOHANG), ECHILD);
}

KT_TEST(.name = "fork", .run = run, .timeout = 30, .probe = probe,
	.desc = "fork/vfork/execve/waitpid/waitid, exec errors, ECHILD");
