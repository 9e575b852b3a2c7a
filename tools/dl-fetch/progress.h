/* A one-line progress bar on stderr: bytes, rate, ETA.  Only when stderr
 * is a terminal (the caller decides); redrawn in place with '\r'. */
#ifndef DL_FETCH_PROGRESS_H
#define DL_FETCH_PROGRESS_H

#include <stdio.h>

typedef struct progress {
	FILE *out;
	char label[64];
	double t0;               /* monotonic seconds at begin */
	long long start_bytes;   /* bytes already there at the first update (resume) */
	int shown, started;
} progress;

void progress_begin(progress *p, FILE *out, const char *label);
/* io/http.h's progress callback (user: a progress *). */
void progress_update(void *user, long long now, long long total);
/* Ends the line if anything was drawn. */
void progress_end(progress *p);

#endif
