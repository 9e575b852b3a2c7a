/* Starting a run from pretrained weights (dl-train --init FILE).
 *
 * FILE is a safetensors file with tensors named "<layer>.<param>" and
 * "<layer>.<buffer>" (layer = the index in the spec, as dl-train --summary
 * numbers them and as torch.nn.Sequential numbers modules): a dl-tools
 * checkpoint (metadata dl.format "dl-tools checkpoint 1": our layouts), or
 * anything else in PyTorch's layouts — a dl-export --format safetensors
 * file, or a state dict saved by safetensors.torch.save_file() from the
 * equivalent torch model (a "module." prefix, as DDP writes it, is
 * dropped).  F32 tensors only (F16/BF16 are refused by name).
 *
 * A layer is loaded when every parameter (and buffer) it has is in FILE
 * with the same shape; skipped when FILE has it with another shape (the
 * usual new head for other classes); fresh when FILE lacks it.  Skipped
 * and fresh layers keep the initialisation they had. */
#ifndef DL_TRAIN_INIT_H
#define DL_TRAIN_INIT_H

#include "core/buf.h"
#include "nn/model.h"

typedef struct dl_init_report {
	int loaded, skipped, fresh;     /* layers with parameters */
	dl_buf text;                    /* one line per skipped layer: why */
	dl_buf json;                    /* {"loaded": [...], "skipped": [...], "fresh": [...]} */
} dl_init_report;

/* Loads what matches into m (allocated on its backend).  DL_EIO/DL_EDATA
 * for an unreadable file; a file that matches no layer at all is DL_EDATA
 * (wrong file, not a fine-tune).  rep is initialised here; release it. */
int dl_init_from(dl_model *m, const char *path, dl_init_report *rep, dl_err *err);
void dl_init_report_release(dl_init_report *rep);

/* Parses LAYERS ("0,3,5-7": indices as --summary shows them) into a
 * flag per layer (frozen[nlayers]); DL_EUSAGE for bad or out-of-range
 * entries and layers without parameters. */
int dl_parse_layers(const dl_model *m, const char *spec, unsigned char *frozen, dl_err *err);

#endif
