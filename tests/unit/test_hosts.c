/* The hosts inventory and the SSH helpers that need no network: inventories
 * are validated (no passwords, unique names, an address or a local URI), a
 * host's libvirt URI is derived with the same key and known_hosts file,
 * --libvirt-uri gives a one-host inventory, and remote arguments are quoted
 * so that a POSIX shell gives back exactly the argv (no injection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/hosts.h"
#include "../../runner/ssh.h"
#include "../../runner/util.h"

static void parse_ok(const char *json, struct hosts *hs)
{
	struct err err = { 0 };

	if (hosts_parse(json, strlen(json), "/etc/kfarm", hs, &err))
		fail_msg("rejected: %s", err.msg);
}

static void expect_bad(const char *json, const char *want)
{
	struct hosts hs;
	struct err err = { 0 };

	assert_int_equal(hosts_parse(json, strlen(json), NULL, &hs, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not mention '%s'", err.msg, want);
}

static void test_good(void **state)
{
	struct hosts hs;

	(void)state;
	setenv("HOME", "/home/u", 1);
	parse_ok("{\"known_hosts\": \"~/kh\", \"hosts\": ["
		 " {\"name\": \"lab-a\", \"address\": \"10.0.0.5\", \"user\": \"kf\","
		 "  \"key\": \"keys/id\", \"slots\": 4},"
		 " {\"name\": \"lab-b\", \"address\": \"fd00::7\", \"port\": 2222},"
		 " {\"name\": \"lab-c\", \"address\": \"c.example\", \"libvirt\": \"qemu+tls://c.example/system\"},"
		 " {\"name\": \"here\", \"libvirt\": \"qemu:///session\"}]}", &hs);
	assert_int_equal(hs.n, 4);
	assert_string_equal(hs.known_hosts, "/home/u/kh");
	assert_string_equal(hs.v[0].key, "/etc/kfarm/keys/id");	/* relative to the file */
	assert_int_equal(hs.v[0].slots, 4);
	assert_int_equal(hs.v[0].port, 22);
	assert_string_equal(hs.v[0].uri,
			    "qemu+libssh://kf@10.0.0.5/system?keyfile=/etc/kfarm/keys/id"
			    "&sshauth=privkey&known_hosts=/home/u/kh");
	assert_int_equal(hs.v[1].slots, 1);
	assert_string_equal(hs.v[1].uri, "qemu+libssh://[fd00::7]:2222/system?"
			    "sshauth=agent&known_hosts=/home/u/kh");
	assert_string_equal(hs.v[2].uri, "qemu+tls://c.example/system");	/* verbatim */
	assert_false(hs.v[2].local);
	assert_true(hs.v[3].local);
	assert_null(hs.v[3].address);
	assert_ptr_equal(hosts_find(&hs, "lab-b"), &hs.v[1]);
	assert_null(hosts_find(&hs, "nope"));
	hosts_release(&hs);
}

static void test_bad(void **state)
{
	(void)state;
	expect_bad("[]", "not a JSON object");
	expect_bad("{\"hosts\": []}", "non-empty array");
	expect_bad("{\"hosts\": [{\"address\": \"a\"}]}", "\"name\"");
	expect_bad("{\"hosts\": [{\"name\": \"a b\", \"address\": \"a\"}]}", "\"name\"");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"a\", \"password\": \"x\"}]}",
		   "passwords are not accepted");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"a\", \"key_passphrase\": \"x\"}]}",
		   "passwords are not accepted");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"a\", \"slot\": 2}]}",
		   "unknown field \"slot\"");
	expect_bad("{\"hosts\": [{\"name\": \"a\"}]}", "needs an \"address\"");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"x\", \"libvirt\": \"qemu:///system\"}]}",
		   "local libvirt URI and an SSH \"address\"");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"x\", \"slots\": 0}]}", "1..256");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"x\", \"port\": 70000}]}", "1..65535");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"x\", \"libvirt\": \"nope\"}]}",
		   "not a URI");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"x\"}, {\"name\": \"a\", \"address\": \"y\"}]}",
		   "listed twice");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"x\"}], \"extra\": 1}",
		   "unknown field \"extra\"");
	expect_bad("{\"hosts\": [", "line 1");
}

static void test_from_uri(void **state)
{
	struct hosts hs;
	struct err err;

	(void)state;
	assert_int_equal(hosts_from_uri("qemu+libssh://kf@lab.example:2200/system?"
					"keyfile=/k%20ey&known_hosts=/kh&sshauth=privkey",
					3, &hs, &err), 0);
	assert_int_equal(hs.n, 1);
	assert_false(hs.v[0].local);
	assert_string_equal(hs.v[0].name, "lab.example");
	assert_string_equal(hs.v[0].address, "lab.example");
	assert_string_equal(hs.v[0].user, "kf");
	assert_int_equal(hs.v[0].port, 2200);
	assert_string_equal(hs.v[0].key, "/k ey");
	assert_string_equal(hs.v[0].known_hosts, "/kh");
	assert_int_equal(hs.v[0].slots, 3);
	hosts_release(&hs);

	assert_int_equal(hosts_from_uri("qemu:///session", 2, &hs, &err), 0);
	assert_true(hs.v[0].local);
	assert_string_equal(hs.v[0].name, "local");
	hosts_release(&hs);

	assert_int_equal(hosts_from_uri("qemu+ssh://[fd00::1]:22/system", 1, &hs, &err), 0);
	assert_string_equal(hs.v[0].address, "fd00::1");
	hosts_release(&hs);

	assert_int_equal(hosts_from_uri("not a uri", 1, &hs, &err), -1);
	assert_int_equal(hosts_from_uri("qemu+ssh://h:99999/system", 1, &hs, &err), -1);
}

static void from_uri_bad(const char *uri, const char *want)
{
	struct hosts hs;
	struct err err = { 0 };

	assert_int_equal(hosts_from_uri(uri, 1, &hs, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("'%s': error '%s' does not mention '%s'", uri, err.msg, want);
}

static void from_uri_is(const char *uri, const char *want)
{
	struct hosts hs;
	struct err err = { 0 };

	if (hosts_from_uri(uri, 1, &hs, &err))
		fail_msg("'%s' rejected: %s", uri, err.msg);
	assert_string_equal(hs.v[0].uri, want);
	hosts_release(&hs);
}

/* libvirt checks the host key against the file kfarm checked, and no URI
 * may turn libvirt's check off. */
static void test_uri_host_keys(void **state)
{
	struct hosts hs;

	(void)state;
	setenv("HOME", "/home/u", 1);
	/* derived, no known_hosts in the inventory: kfarm's default, named */
	parse_ok("{\"hosts\": [{\"name\": \"a\", \"address\": \"10.0.0.1\"}]}", &hs);
	assert_string_equal(hs.v[0].uri, "qemu+libssh://10.0.0.1/system?sshauth=agent"
			    "&known_hosts=/home/u/.ssh/known_hosts");
	hosts_release(&hs);
	/* user-supplied libssh URI: the inventory's file added */
	parse_ok("{\"known_hosts\": \"/kh\", \"hosts\": [{\"name\": \"a\", \"address\": \"h\","
		 " \"libvirt\": \"qemu+libssh://h/system?sshauth=agent\"}]}", &hs);
	assert_string_equal(hs.v[0].uri, "qemu+libssh://h/system?sshauth=agent&known_hosts=/kh");
	hosts_release(&hs);
	parse_ok("{\"known_hosts\": \"/kh\", \"hosts\": [{\"name\": \"a\", \"address\": \"h\","
		 " \"libvirt\": \"qemu+libssh2://h/system?known_hosts=/kh&known_hosts_verify=normal\"}]}",
		 &hs);
	assert_string_equal(hs.v[0].uri,
			    "qemu+libssh2://h/system?known_hosts=/kh&known_hosts_verify=normal");
	hosts_release(&hs);
	expect_bad("{\"known_hosts\": \"/kh\", \"hosts\": [{\"name\": \"a\", \"address\": \"h\","
		   " \"libvirt\": \"qemu+libssh://h/system?known_hosts=/other\"}]}",
		   "checks host keys against '/other', but kfarm checks '/kh'");
	expect_bad("{\"hosts\": [{\"name\": \"a\", \"address\": \"h\","
		   " \"libvirt\": \"qemu+libssh://h/system?known_hosts_verify=ignore\"}]}",
		   "host 'a': libvirt URI 'qemu+libssh://h/system?known_hosts_verify=ignore': "
		   "\"known_hosts_verify=ignore\" would let libvirt accept host keys");
	expect_bad("{\"known_hosts\": \"/kh\", \"hosts\": [{\"name\": \"a\", \"address\": \"h\","
		   " \"libvirt\": \"qemu+ssh://h/system\"}]}",
		   "the ssh transport cannot be told to check host keys against '/kh'");

	/* --libvirt-uri */
	from_uri_is("qemu+libssh://kf@h/system",
		    "qemu+libssh://kf@h/system?known_hosts=/home/u/.ssh/known_hosts");
	from_uri_is("qemu+libssh://h/system?",
		    "qemu+libssh://h/system?known_hosts=/home/u/.ssh/known_hosts");
	from_uri_is("qemu+libssh://h/system?keyfile=/k&known_hosts=/kh",
		    "qemu+libssh://h/system?keyfile=/k&known_hosts=/kh");
	from_uri_is("qemu+libssh://h/system?known_hosts_verify=NORMAL&no_verify=0",
		    "qemu+libssh://h/system?known_hosts_verify=NORMAL&no_verify=0"
		    "&known_hosts=/home/u/.ssh/known_hosts");
	from_uri_is("qemu+ssh://h/system", "qemu+ssh://h/system");
	from_uri_is("qemu+tls://h/system", "qemu+tls://h/system");
	from_uri_is("qemu:///system?no_verify=1", "qemu:///system?no_verify=1");	/* local */
	from_uri_bad("qemu+libssh://h/system?known_hosts_verify=ignore", "known_hosts_verify=ignore");
	from_uri_bad("qemu+libssh://h/system?known_hosts_verify=auto", "known_hosts_verify=auto");
	from_uri_bad("qemu+libssh://h/system?KNOWN_HOSTS_VERIFY=Ignore", "KNOWN_HOSTS_VERIFY=Ignore");
	from_uri_bad("qemu+libssh://h/system?known%5Fhosts%5Fverify=%69gnore",
		     "known_hosts_verify=ignore");
	from_uri_bad("qemu+ssh://h/system?no_verify=1", "\"no_verify=1\" would let libvirt");
	from_uri_bad("qemu+libssh2://h/system?no_verify=yes", "no_verify=yes");
	from_uri_bad("qemu+libssh://h/system?known_hosts=/kh&known_hosts=/dev/null",
		     "known_hosts=/dev/null");
	from_uri_bad("qemu+ssh://h/system?known_hosts=/kh",
		     "the ssh transport cannot be told to check host keys against '/kh'");
}

/* The documented example loads, and its given URI gets the inventory's
 * known_hosts file. */
static void test_example(void **state)
{
	struct hosts hs;

	(void)state;
	setenv("HOME", "/home/me", 1);
	assert_int_equal(hosts_load(KFARM_ARCHES_DIR "/../docs/hosts.example.json", &hs, NULL), 0);
	assert_int_equal(hs.n, 3);
	assert_string_equal(hs.v[1].uri, "qemu+libssh://kfarm@lab-b.example.org:2222/system?"
			    "keyfile=/home/me/.ssh/kfarm_ed25519&sshauth=privkey"
			    "&known_hosts=/home/me/.config/kfarm/known_hosts");
	hosts_release(&hs);
}

/* hosts_load fails into err with the file named (what kfarm prints). */
static void test_load_errors(void **state)
{
	char path[] = "/tmp/kfarm-test-hostsXXXXXX";
	int fd = mkstemp(path);
	struct hosts hs;
	struct err err;
	char *want;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"hosts\": 5}", 12), 12);
	close(fd);
	assert_int_equal(hosts_load(path, &hs, &err), -1);
	want = xasprintf("hosts file '%s': ", path);
	if (strncmp(err.msg, want, strlen(want)) || strlen(err.msg) == strlen(want))
		fail_msg("error '%s' (wanted '%s' + the problem)", err.msg, want);
	free(want);
	unlink(path);
	assert_int_equal(hosts_load(path, &hs, &err), -1);
	want = xasprintf("cannot read hosts file '%s': No such file or directory", path);
	assert_string_equal(err.msg, want);
	free(want);
}

/* What /bin/sh makes of the quoted argv, one "[arg]" per argument. */
static char *through_shell(const char *const *argv)
{
	char *joined = shell_join(argv), *cmd = xasprintf("printf '[%%s]' %s", joined), buf[4096];
	FILE *f = popen(cmd, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	pclose(f);
	free(cmd);
	free(joined);
	return xstrdup(buf);
}

static void test_quoting(void **state)
{
	static const char *const evil[] = {
		"plain", "with space", "", "it's", "'", "''", "$(touch /tmp/kfarm-pwned)",
		"`id`", "a;b", "a&&b", "a|b", "$HOME", "${x:-y}", "\\", "\"q\"", "*", "~",
		"-n", "new\nline", "tab\there", "#comment", "!x", "%s", NULL,
	};
	struct sb want;
	char *got, *q;

	(void)state;
	sb_init(&want);
	for (const char *const *a = evil; *a; a++)
		sb_addf(&want, "[%s]", *a);
	got = through_shell(evil);
	assert_string_equal(got, want.buf);
	free(got);
	sb_release(&want);
	assert_int_equal(access("/tmp/kfarm-pwned", F_OK), -1);

	/* safe words stay readable; everything else is single-quoted */
	const char *const plain[] = { "mkdir", "-p", "--", "/home/u/.cache/kfarm-remote", NULL };
	q = shell_join(plain);
	assert_string_equal(q, "mkdir -p -- /home/u/.cache/kfarm-remote");
	free(q);
	const char *const odd[] = { "a b", "it's", "", NULL };
	q = shell_join(odd);
	assert_string_equal(q, "'a b' 'it'\\''s' ''");
	free(q);
}

static void test_uri_escape(void **state)
{
	char *e;

	(void)state;
	e = uri_escape("/home/u/my key&x=1?#%");
	assert_string_equal(e, "/home/u/my%20key%26x%3D1%3F%23%25");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_from_uri),
		cmocka_unit_test(test_uri_host_keys),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_uri_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
