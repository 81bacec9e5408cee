/* kfarm run, stage 4 (report): the end-of-run summary and --json, read back
 * from the store row by row (the jobs' final attempts, in run order), in the
 * API's shapes ("kernel" is the candidate's label, as in /api/jobs). Needs
 * no memory per job. */
#ifndef KFARM_RUN_REPORT_H
#define KFARM_RUN_REPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct store;

struct run_report {
	struct store *st;
	int64_t run;
	const int64_t *jobs;	/* final attempts' rows in run order, 0: not stored */
	size_t n;
};

/* 0 all passed, 1 a kernel or test failure, 3 only infrastructure errors */
int run_report_verdict(const struct run_report *r);
/* For a terminal: guest text goes through text_term. */
void run_report_summary(const struct run_report *r, json_t *changes, FILE *f);
/* --json on stdout, streamed job by job; 1 if a job could not be written. */
int run_report_json(const struct run_report *r, json_t *changes);

#endif
