/* kfarm report: a run's (or a tree's latest candidates') results as text to
 * paste into a review thread, as Markdown, or as an RFC 5322 message for
 * `sendmail -t` on stdout (kfarm sends nothing). Every header value is
 * checked: printable ASCII only, so no CR/LF can inject a header. */
#include "api.h"
#include "cmds.h"
#include "report.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HEADER_MAX 900	/* bytes of one header value (RFC 5322: lines <= 998) */

static const char report_usage[] =
	"usage: kfarm report [--run N | --tree T] [--format text|markdown|email] [--db PATH]\n"
	"                    [--to ADDR]... [--cc ADDR]... [--from ADDR] [--in-reply-to MSGID]\n"
	"                    [--subject S]\n"
	"  --run N      that run's jobs (default: the latest run)\n"
	"  --tree T     tree T's latest candidate per arch, over all its runs\n"
	"  --format     text (default; for a review reply), markdown, or email: an RFC 5322\n"
	"               message on stdout for `sendmail -t` (nothing is sent); --to required,\n"
	"               Subject 'Re: S' when --in-reply-to is given\n"
	"exit: 0 report written, 1 no such run or tree, 2 bad usage, 3 database trouble\n";

struct ropts {
	char *db, *tree, *from, *subject, *irt;
	struct sb to, cc;
	unsigned long run;
	int fmt;	/* RF_TEXT, RF_MARKDOWN, or 2: email */
};

/* A header value: printable ASCII, bounded (no CR, LF or other control
 * byte can end the header and start another). */
static int check_header(const char *name, const char *v)
{
	size_t n = strlen(v);

	if (!n)
		return error("--%s is empty", name);
	if (n > HEADER_MAX)
		return error("--%s is %zu bytes long (at most %d)", name, n, HEADER_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return error("--%s contains byte 0x%02x at offset %zu (header values must be"
				     " printable ASCII: no CR, LF or control bytes)", name,
				     (unsigned char)v[i], i);
	return 0;
}

static int add_addr(struct sb *list, const char *name, const char *v)
{
	if (check_header(name, v))
		return -1;
	if (list->len)
		sb_adds(list, ", ");
	sb_adds(list, v);
	if (list->len > HEADER_MAX)
		return error("--%s: the address list is longer than %d bytes", name, HEADER_MAX);
	return 0;
}

/* "<id@host>": one message id, angle brackets added when missing. */
static char *msg_id(const char *v)
{
	size_t n = strlen(v);
	int br = n >= 2 && v[0] == '<' && v[n - 1] == '>';
	const char *in = br ? v + 1 : v;
	size_t m = br ? n - 2 : n;

	if (check_header("in-reply-to", v))
		return NULL;
	if (!m || !memchr(in, '@', m) || strcspn(in, " <>\"\\") < m) {
		error("--in-reply-to '%s' is not a message id (<local@domain>)", v);
		return NULL;
	}
	return xasprintf("<%.*s>", (int)m, in);
}

static int parse(int argc, char **argv, struct ropts *o)
{
	static const struct option opts[] = {
		{ "run", required_argument, NULL, 'r' }, { "tree", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'f' }, { "db", required_argument, NULL, 'd' },
		{ "to", required_argument, NULL, 'T' }, { "cc", required_argument, NULL, 'C' },
		{ "from", required_argument, NULL, 'F' }, { "subject", required_argument, NULL, 'S' },
		{ "in-reply-to", required_argument, NULL, 'I' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, mail_opt = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (parse_uint(optarg, 1ul << 53, &o->run) || !o->run)
				return error("--run wants a run id, got '%s'", optarg), 2;
			break;
		case 't': o->tree = optarg; break;
		case 'd': o->db = optarg; break;
		case 'f':
			if (!strcmp(optarg, "text")) o->fmt = RF_TEXT;
			else if (!strcmp(optarg, "markdown")) o->fmt = RF_MARKDOWN;
			else if (!strcmp(optarg, "email")) o->fmt = 2;
			else return error("--format wants text, markdown or email, got '%s'", optarg), 2;
			break;
		case 'T': mail_opt = 1; if (add_addr(&o->to, "to", optarg)) return 2; break;
		case 'C': mail_opt = 1; if (add_addr(&o->cc, "cc", optarg)) return 2; break;
		case 'F': mail_opt = 1; if (check_header("from", optarg)) return 2; o->from = optarg; break;
		case 'S': mail_opt = 1; if (check_header("subject", optarg)) return 2; o->subject = optarg; break;
		case 'I': mail_opt = 1; o->irt = optarg; break;
		case 'h': fputs(report_usage, stdout); return 1;
		default: fputs(report_usage, stderr); return 2;
		}
	}
	if (optind < argc)
		return error("unexpected argument '%s'", argv[optind]), 2;
	if (o->run && o->tree)
		return error("--run and --tree are exclusive (a run, or a tree's latest candidates)"), 2;
	if (mail_opt && o->fmt != 2)
		return error("--to, --cc, --from, --subject and --in-reply-to need --format email"), 2;
	if (o->fmt == 2 && !o->to.len)
		return error("--format email needs --to (sendmail -t takes the recipients from it)"), 2;
	return 0;
}

static void add_date_and_id(struct sb *m, int64_t run)
{
	char date[64] = "", host[64] = "";
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	sb_addf(m, "Date: %s\n", date);
	if (gethostname(host, sizeof(host) - 1) || !*host ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	    strlen(host))
		snprintf(host, sizeof(host), "kfarm.invalid");
	sb_addf(m, "Message-ID: <kfarm-report.%lld.%lld.%ld@%s>\n", (long long)run, (long long)t,
		(long)getpid(), host);
}

/* The message: headers (each checked), a blank line, the text report. */
static char *email(struct ropts *o, json_t *r, const char *body)
{
	struct sb m;
	char *id = NULL, *title = report_title(r), *subj;
	const char *base = o->subject ? o->subject : title;

	if (o->irt && !(id = msg_id(o->irt))) {
		free(title);
		return NULL;
	}
	/* the default names a guest-reported release: ASCII only, as headers are */
	for (char *p = title; *p; p++)
		if ((unsigned char)*p >= 0x7f)
			*p = '?';
	subj = id && strncasecmp(base, "Re:", 3) ? xasprintf("Re: %s", base) : xstrdup(base);
	free(title);
	if (check_header("subject", subj)) {
		free(subj);
		free(id);
		return NULL;
	}
	sb_init(&m);
	if (o->from)
		sb_addf(&m, "From: %s\n", o->from);
	sb_addf(&m, "To: %s\n", o->to.buf);
	if (o->cc.len)
		sb_addf(&m, "Cc: %s\n", o->cc.buf);
	sb_addf(&m, "Subject: %s\n", subj);
	if (id)
		sb_addf(&m, "In-Reply-To: %s\nReferences: %s\n", id, id);
	add_date_and_id(&m, json_integer_value(json_object_get(r, "run")));
	sb_adds(&m, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
		    "Content-Transfer-Encoding: 8bit\nUser-Agent: kfarm report\n\n");
	sb_adds(&m, body);
	free(subj);
	free(id);
	return sb_detach(&m);
}

static int64_t latest_run(sqlite3 *db)
{
	sqlite3_stmt *s;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db, "SELECT max(run_id) FROM jobs", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return id;
}

static int write_out(const char *text)
{
	size_t n = strlen(text);

	if (fwrite(text, 1, n, stdout) != n || fflush(stdout))
		return error_errno("cannot write the report to stdout"), 3;
	return 0;
}

int cmd_report(struct cmd_ctx *c, int argc, char **argv)
{
	struct ropts o = { .fmt = RF_TEXT };
	struct err e = { 0 };
	struct store *st = NULL;
	char *text = NULL, *msg = NULL;
	json_t *r = NULL;
	int64_t run;
	int ret;

	sb_init(&o.to);
	sb_init(&o.cc);
	ret = parse(argc, argv, &o);
	if (ret) {
		ret = ret == 1 ? 0 : ret;	/* 1: --help printed */
		goto out;
	}
	ret = 3;
	c->db = o.db;
	st = cmd_store(c);	/* read-only, closed by the dispatcher */
	if (!st)
		goto out;
	run = o.tree ? 0 : o.run ? (int64_t)o.run : latest_run(store_db(st));
	if (run < 0 || (!o.tree && !run)) {
		ret = run < 0 ? 3 : 1;
		error(run < 0 ? "database '%s': cannot read its runs" : "no runs in '%s' to report on",
		      store_path(st));
		goto out;
	}
	r = report_build(store_db(st), run, o.tree, &e);
	if (!r) {
		ret = e.code == 404 ? 1 : 3;
		error("%s", e.msg);
		goto out;
	}
	text = report_render(r, o.fmt == 2 ? RF_TEXT : (enum report_format)o.fmt);
	if (o.fmt == 2 && !(msg = email(&o, r, text))) {
		ret = 2;
		goto out;
	}
	ret = write_out(msg ? msg : text);
out:
	free(msg);
	free(text);
	json_decref(r);
	sb_release(&o.to);
	sb_release(&o.cc);
	return ret;
}
