#include "stage.h"
#include "ssh.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stage {
	struct kssh *ssh;	/* NULL: local */
	char *host;
	pthread_mutex_t mu;	/* files */
	pthread_mutex_t ssh_mu;	/* one SFTP/command user of the session at a time */
	char **files;		/* hashes known to be in the host's cache this run */
	size_t nfiles;
};

struct stage *stage_new(struct kssh *ssh, const char *host)
{
	struct stage *st = xcalloc(1, sizeof(*st));

	st->ssh = ssh;
	st->host = xstrdup(host);
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->ssh_mu, NULL);
	return st;
}

void stage_free(struct stage *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nfiles; i++)
		free(st->files[i]);
	free(st->files);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->ssh_mu);
	free(st->host);
	free(st);
}

char *stage_where(struct stage *st, const char *local, const char *sha256, struct err *err)
{
	char *remote;

	if (!st->ssh)
		return xstrdup(local);
	/* hashed once, when the run pinned it: no second read that could see
	 * other bytes */
	if (!sha256 || strlen(sha256) != 64) {
		err_set(err, 0, "'%s' has no recorded sha256 to upload it by", local);
		return NULL;
	}
	/* no I/O (the home directory was found by the probe), so no waiting
	 * for the session's lock while a VM thread uploads */
	remote = kssh_cache_path(st->ssh, sha256);
	if (!remote)
		err_set(err, 0, "host '%s': its SSH session has no SFTP", st->host);
	return remote;
}

static int known(struct stage *st, const char *sha256)
{
	int k = 0;

	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->nfiles && !k; i++)
		k = !strcmp(st->files[i], sha256);
	pthread_mutex_unlock(&st->mu);
	return k;
}

int stage_put(struct stage *st, const char *local, const char *sha256,
	      int (*cancelled)(void *), void *arg, struct err *err)
{
	char *remote = NULL;

	if (!st->ssh)
		return 0;
	pthread_mutex_lock(&st->ssh_mu);
	if (known(st, sha256) || (cancelled && cancelled(arg))) {
		pthread_mutex_unlock(&st->ssh_mu);
		return 0;
	}
	if (kssh_upload(st->ssh, local, sha256, &remote, err) < 0) {
		pthread_mutex_unlock(&st->ssh_mu);
		return err_prefix(err, "host '%s': ", st->host);
	}
	pthread_mutex_lock(&st->mu);
	st->files = xrealloc(st->files, (st->nfiles + 1) * sizeof(*st->files));
	st->files[st->nfiles++] = xstrdup(sha256);
	pthread_mutex_unlock(&st->mu);
	pthread_mutex_unlock(&st->ssh_mu);
	free(remote);
	return 0;
}
