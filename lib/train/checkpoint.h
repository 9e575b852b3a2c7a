/* Checkpoints (safetensors): everything needed to use or resume a run.
 *
 * tensors  "<i>.weight", "<i>.bias"  parameters of layer i, in OUR layout
 *                                     (conv [k,kh,kw,c]); dl-export converts
 *          "<i>.<buffer>"             non-trainable buffers of layer i
 *                                     (batch norm running_mean, running_var)
 *          "optim.state"              F32 [nstate, P] (momentum, or Adam m and v)
 * metadata "dl.format"   "dl-tools checkpoint 1"
 *          "dl.model"    the model spec text; "dl.model_name"
 *          "dl.input"    JSON: h, w, c, scale, mean[], std[] (how u8 pixels
 *                        become the model's input)
 *          "dl.classes"  JSON array of class names (from the dataset)
 *          "dl.train"    JSON: epoch, step, optimizer settings, seed, batch,
 *                        rng state (hex) at the start of the current epoch,
 *                        position in the epoch (pos steps, seen samples, the
 *                        epoch's loss statistics so far), best monitored
 *                        metric, its epoch, and the early-stop counter
 *          "dl.run"      the run's settings as dl-train recorded them (JSON);
 *                        --resume refuses different ones
 */
#ifndef DL_TRAIN_CHECKPOINT_H
#define DL_TRAIN_CHECKPOINT_H

#include "core/rng.h"
#include "nn/model.h"
#include "nn/optim.h"

#define DL_CHECKPOINT_FORMAT "dl-tools checkpoint 1"

typedef struct dl_train_state {
	int epoch;          /* epochs completed */
	long step;          /* optimizer steps completed */
	int batch;
	uint64_t seed;
	dl_rng rng;         /* shuffling state after `epoch` epochs (start of the current one) */
	long pos;           /* steps done in the current epoch */
	long seen;          /* samples behind stats */
	float stats[DL_LOSS_NSTATS];   /* the current epoch's loss statistics so far */
	double best;        /* best monitored metric (valid when best_epoch > 0) */
	int best_epoch;     /* epoch that reached it, 0: none yet */
	int bad_epochs;     /* epochs since the best (early stopping) */
	double loss0;       /* mean training loss of step 1 (divergence rule), 0: unknown */
	const char *run;    /* dl.run JSON to save (borrowed, may be NULL) */
} dl_train_state;

typedef struct dl_checkpoint {
	dl_norm norm;
	char *classes_json;     /* owned, may be NULL */
	char *run_json;         /* dl.run, owned, may be NULL */
	dl_train_state train;
	int has_optim;
} dl_checkpoint;

int dl_checkpoint_save(const char *path, const dl_model *m, const dl_optim *o,
		       const dl_train_state *st, const dl_norm *norm, const char *classes_json,
		       dl_err *err);

/* Builds m from the checkpoint's spec, allocates it on be and loads the
 * parameters.  If o is not NULL, also restores the optimizer (allocated on
 * be).  DL_EDATA "<path>: ..." for anything malformed or inconsistent. */
int dl_checkpoint_load(const char *path, dl_model *m, dl_backend *be, dl_optim *o,
		       dl_checkpoint *ck, dl_err *err);
void dl_checkpoint_release(dl_checkpoint *ck);

/* JSON for dl.input, shared with dl-export. */
void dl_norm_json(const dl_norm *norm, int h, int w, char *buf, size_t n);

#endif
