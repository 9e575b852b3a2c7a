#include "progress.h"

#include <string.h>
#include <time.h>

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "12.3 MB" */
static void human(char *s, size_t n, double b)
{
	const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	int i = 0;
	while (b >= 1000 && i < 4) {
		b /= 1000;
		i++;
	}
	snprintf(s, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void progress_begin(progress *p, FILE *out, const char *label)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	snprintf(p->label, sizeof p->label, "%s", label);
	p->t0 = mono();
}

void progress_update(void *user, long long now, long long total)
{
	progress *p = user;
	if (!p || !p->out)
		return;
	if (!p->started) {
		p->started = 1;
		p->start_bytes = now;
	}
	double dt = mono() - p->t0;
	double rate = dt > 0.2 ? (double)(now - p->start_bytes) / dt : 0;
	char got[32], all[32] = "?", r[32] = "-", eta[32] = "--:--";
	human(got, sizeof got, (double)now);
	if (total > 0)
		human(all, sizeof all, (double)total);
	if (rate > 0) {
		human(r, sizeof r, rate);
		if (total > now) {
			long s = (long)((double)(total - now) / rate);
			snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
		}
	}
	int pct = total > 0 ? (int)(100.0 * (double)now / (double)total) : -1;
	char bar[23] = "[                    ]";
	for (int i = 0; pct >= 0 && i < 20 && i < pct / 5; i++)
		bar[1 + i] = '=';
	fprintf(p->out, "\r%-28.28s %s %s / %s  %s/s  ETA %s\033[K", p->label, bar, got, all, r, eta);
	fflush(p->out);
	p->shown = 1;
}

void progress_end(progress *p)
{
	if (p && p->out && p->shown) {
		fputc('\n', p->out);
		fflush(p->out);
	}
	if (p)
		p->shown = 0;
}
