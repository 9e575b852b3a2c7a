/* dl-eval's parts: metrics (main.c), `predict` (predict.c), `plot` and the
 * confusion heat map (plot.c, on canvas.c), `serve` (serve*.c). */
#ifndef DL_EVAL_TOOL_H
#define DL_EVAL_TOOL_H

#include "core/error.h"
#include "eval/metrics.h"

/* dl-eval's subcommands (dl_subcmd_fn): argv[0] is "predict" / "plot". */
int predict_main(int argc, char **argv, const void *data);
int plot_main(int argc, char **argv, const void *data);
int serve_main(int argc, char **argv, const void *data);   /* serve*.c, serve.h */
/* PNG heat map of m's confusion matrix (row-normalised colour, counts in
 * the cells, class names from classes_json when given). */
int plot_confusion(const dl_cls_metrics *m, const char *classes_json, const char *title,
		   const char *path, dl_err *err);

#endif
