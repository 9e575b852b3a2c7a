/* dl_model_summary: the Keras-style table behind `dl-train --summary`.
 * One row per layer: its number (what from= lists show), kind, options,
 * inputs when they are not just the previous row, output shape, params. */
#include "nn/model.h"

#include <string.h>

static void commas(char *buf, size_t n, size_t v)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof tmp, "%zu", v), o = 0;
	for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

static void shape_str(char *buf, size_t n, dl_shape s)
{
	if (s.h == 1 && s.w == 1)
		snprintf(buf, n, "(%d)", s.c);
	else
		snprintf(buf, n, "(%d, %d, %d)", s.h, s.w, s.c);
}

/* "3,7" or "input": the rows this layer reads, "" when it is the row above. */
static void inputs_str(const dl_layer *l, char *buf, size_t n)
{
	buf[0] = '\0';
	if (l->nin == 1 && l->in_from[0] == l->index - 1)
		return;
	size_t o = 0;
	for (int j = 0; j < l->nin && o + 1 < n; j++) {
		int w = l->in_from[j] < 0 ? snprintf(buf + o, n - o, "%sinput", j ? "," : "")
					  : snprintf(buf + o, n - o, "%s%d", j ? "," : "", l->in_from[j]);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

void dl_model_summary(const dl_model *m, FILE *out)
{
	char line[100];
	memset(line, '-', 84);
	line[84] = '\0';
	char shape[48], num[32];
	fprintf(out, "model: %s\n%s\n", m->name, line);
	fprintf(out, "%-4s %-10s %-24s %-10s %-16s %14s\n", "#", "layer", "options", "from",
		"output shape", "params");
	fprintf(out, "%s\n", line);
	shape_str(shape, sizeof shape, m->input);
	fprintf(out, "%-4s %-10s %-24s %-10s %-16s %14s\n", "", "input", "", "", shape, "0");
	for (int i = 0; i < m->nlayers; i++) {
		const dl_layer *l = &m->layers[i];
		char opts[64] = "", from[40];
		if (l->kind->describe)
			l->kind->describe(l, opts, sizeof opts);
		inputs_str(l, from, sizeof from);
		shape_str(shape, sizeof shape, l->out);
		size_t np = 0;
		for (int p = 0; p < l->nparam; p++)
			np += l->param[p].count;
		commas(num, sizeof num, np);
		fprintf(out, "%-4d %-10s %-24s %-10s %-16s %14s\n", i, l->kind->name, opts, from,
			shape, num);
	}
	char total[32];
	commas(total, sizeof total, m->nparams);
	fprintf(out, "%s\ntotal params: %s\ntrainable params: %s\n", line, total, total);
	if (m->nbuffers) {
		commas(total, sizeof total, m->nbuffers);
		fprintf(out, "buffers (running statistics, not trained): %s\n", total);
	}
	if (m->loss.kind != DL_LOSS_XENT || m->loss.smoothing > 0)
		fprintf(out, "loss: %s\n", dl_loss_name(&m->loss));
}
