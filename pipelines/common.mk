# pipelines/common.mk: what every pipeline shares (man dl-pipelines).
#
# A pipeline file sets PIPELINE, DATASET, METRIC (accuracy or mae), its
# defaults with ?= (MODE-dependent ones first: MODE is "", tiny, ci or
# recipe), then includes this file, then defines, inside
# `ifneq ($(PHASE),run)`, the rules that make $(TRAIN) $(VAL) $(TEST) from
# the fetched files (their stages run through $(DSTEP)), or includes
# idx-data.mk for MNIST and Fashion-MNIST.
#
# How a run goes (`make -f pipelines/X.mk`, the default goal `all`):
#   1. under a lock on the prepared dataset $(PREP)/.lock, a sub-make with
#      PHASE=data fetches and prepares train/val/test (once, however many
#      runs or sweeps share it);
#   2. under a lock on the run folder $(RUN)/.lock, a sub-make with
#      PHASE=run trains ($(RUN)/train.done marks a finished training),
#      evaluates with the gate (eval.json), exports (model-torch.safetensors,
#      model.onnx) and writes summary.json; it sees the data as plain files.
# A second make on the same run or data waits for the lock, then finds
# everything done; NOWAIT=1 makes it exit at once with BUSY_EXIT (75).
# Each stage runs through pipelines/step: one run.log line at its start and
# end, atomic stdout outputs, a one-line message naming the failed stage,
# and the tool's exit code as the recipe's ("Error 8" in make's message;
# pipelines/run turns it into its own exit status).
# A training stopped early (signal, --time-limit, --max-cost: dl-train exit
# 8) keeps its checkpoint; the next make resumes it (a checkpoint newer than
# the training data is resumed, anything else starts afresh), and nothing
# is published until it finishes.

SELF := $(firstword $(MAKEFILE_LIST))
PIPEDIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BIN ?= build/bin
# oneDNN's OpenMP threads sleep between convolutions instead of spinning
# against our own thread pool (libgomp reads this when it loads)
export OMP_WAIT_POLICY ?= PASSIVE

DATA ?= data/$(DATASET)
SEED ?= 1
DEVICE ?= auto
THREADS ?=
PRICE_PER_HOUR ?= 0
LIMIT ?=
TEST_LIMIT ?=
TRAIN_FLAGS ?=
RECIPE_FLAGS ?=
EVAL_FLAGS ?=
FROM ?=
MANIFEST ?=
OFFLINE ?=
NOWAIT ?=
BUSY_EXIT ?= 75
NP ?= 1
MPIRUN ?= mpirun
MIN_ACCURACY ?= 0.5
# what tiny, ci and recipe run (fashion-mnist.mk: demo, all plus its last line)
MODE_GOAL ?= all
MAX_MAE ?= 0.1
MODEL_TAG ?= $(basename $(notdir $(MODEL)))
RUN ?= runs/$(PIPELINE)$(if $(RUN_TAG),-$(RUN_TAG),-$(MODEL_TAG))$(if $(MODE),-$(MODE))
# the prepared dataset: one folder per way of preparing it
PREP ?= $(DATA)/prep$(PREP_TAG)$(if $(LIMIT),-$(LIMIT))$(if $(TEST_LIMIT),-t$(TEST_LIMIT))$(if $(filter-out 1,$(SEED)),-s$(SEED))
TRAIN := $(PREP)/train.safetensors
VAL := $(PREP)/val.safetensors
TEST ?= $(PREP)/test.safetensors
CKPT := $(RUN)/model.safetensors
LOG := $(RUN)/run.log
DATALOG := $(PREP)/prep.log
PUBLISHED := $(addprefix $(RUN)/,eval.json eval-failed.json model-torch.safetensors model.onnx summary.json summary.txt)

STEP = $(PIPEDIR)/step -p $(PIPELINE) -l $(LOG)
DSTEP = $(PIPEDIR)/step -p $(PIPELINE) -l $(DATALOG)
REPORT = $(PIPEDIR)/report
FETCH_FLAGS = $(if $(MANIFEST),-f $(MANIFEST)) $(if $(FROM),$(if $(findstring ://,$(FROM)),--mirror $(FROM),--from $(FROM))) $(if $(OFFLINE),--offline)
DEV_FLAGS = --device $(DEVICE) $(if $(THREADS),--threads $(THREADS))
GATE_FLAGS = $(if $(filter mae,$(METRIC)),--max-mae $(MAX_MAE),--min-accuracy $(MIN_ACCURACY))
GATE_TEXT = $(if $(filter mae,$(METRIC)),mae <= $(MAX_MAE),accuracy >= $(MIN_ACCURACY))
# NP > 1: through pipelines/launch, which turns the signal step forwards into
# one SIGUSR1 to mpirun, so the stopped job exits 8 (mpirun itself exits 1
# on SIGTERM/SIGINT/SIGHUP: Open MPI 4 aborts the job)
MPI_PREFIX = $(if $(filter-out 0 1,$(NP)),$(PIPEDIR)/launch $(MPIRUN) -np $(NP))
TRAIN_CMD = $(MPI_PREFIX) $(BIN)/dl-train -m $(MODEL) --train $(TRAIN) --val $(VAL) \
  --epochs $(EPOCHS) --batch $(BATCH) --lr $(LR) --seed $(SEED) $(RECIPE_FLAGS) $(TRAIN_FLAGS) \
  $(DEV_FLAGS) $(if $(filter-out 0,$(PRICE_PER_HOUR)),--price-per-hour $(PRICE_PER_HOUR))

# lock DIR, then run a sub-make of this file in PHASE with ARGS
LOCK_NOTE = flock -n $(1)/.lock true 2>/dev/null || echo "$(PIPELINE): $(1) is locked by another run; $(if $(NOWAIT),giving up (NOWAIT),waiting)" >&2
BUSY = { rc=$$?; if [ $$rc -eq $(BUSY_EXIT) ] && [ -n "$$DL_PIPE_STATUS" ]; then echo "$$rc lock" >"$$DL_PIPE_STATUS"; fi; exit $$rc; }
locked = mkdir -p $(1) && { $(LOCK_NOTE); } && flock $(if $(NOWAIT),-n -E $(BUSY_EXIT)) $(1)/.lock $(MAKE) --no-print-directory -f $(SELF) $(2) PHASE=$(3) MODE=$(MODE) $(4) || $(BUSY)

all:
	+@$(call locked,$(PREP),_data,data)
	+@$(call locked,$(RUN),_run,run)

# sub-targets: the same chain (MODE_GOAL) in another MODE; the user's
# variables (command line, environment) still win over the mode's defaults
tiny ci recipe:
	+@$(MAKE) --no-print-directory -f $(SELF) $(MODE_GOAL) MODE=$@

data:
	+@$(call locked,$(PREP),_data,data)

_data: $(TRAIN) $(VAL) $(TEST)
	@:

_run: $(RUN)/summary.json
	@cat $(RUN)/summary.txt

$(RUN)/train.done: $(TRAIN) $(VAL)
	@mkdir -p $(RUN)
	@echo "$$(date -u +%Y-%m-%dT%H:%M:%SZ) make $(PIPELINE) $(MODE) pid $$$$: $(MAKE_COMMAND) -f $(SELF) (run $(RUN))" >>$(LOG)
	@if [ -e $(CKPT) ] && [ $(CKPT) -nt $(TRAIN) ] && [ $(CKPT) -nt $(VAL) ]; then \
	  echo "$(PIPELINE): resuming the training in $(RUN)" >&2; o="--resume $(RUN)"; \
	else rm -f $(PUBLISHED); o="-o $(RUN)"; fi; \
	exec $(STEP) train -- $(TRAIN_CMD) $$o
	@touch $@

# the quality gate: dl-eval exits 7 below MIN_ACCURACY (above MAX_MAE); the
# figures then go to eval-failed.json, never to eval.json
$(RUN)/eval.json: $(RUN)/train.done $(TEST)
	@$(STEP) -O $@ -k $(RUN)/eval-failed.json eval -- $(BIN)/dl-eval $(CKPT) $(TEST) --json \
	  $(GATE_FLAGS) $(DEV_FLAGS) $(EVAL_FLAGS)

# exports only after the gate passed
$(RUN)/model-torch.safetensors: $(RUN)/eval.json
	@$(STEP) export -- $(BIN)/dl-export $(CKPT) --format safetensors -o $@

$(RUN)/model.onnx: $(RUN)/eval.json
	@$(STEP) export-onnx -- $(BIN)/dl-export $(CKPT) --format onnx -o $@

$(RUN)/summary.json: $(RUN)/eval.json $(RUN)/model-torch.safetensors $(RUN)/model.onnx
	@$(STEP) summary -- $(REPORT) summary $(RUN) $(PIPELINE) $(DATASET) $(MODEL) $(METRIC) \
	  "$(GATE_TEXT)" $(PRICE_PER_HOUR)

# sweeps: every LRS x BATCHES combination in its own run folder under
# SWEEP, from the data prepared once; sweep.tsv sorted by the gated metric
# and SWEEP/best, a link to the best run that passed its gate
LRS ?= $(LR)
BATCHES ?= $(BATCH)
SWEEP ?= runs/$(PIPELINE)-sweep$(if $(MODE),-$(MODE))
SWEEP_RUNS := $(foreach l,$(LRS),$(foreach b,$(BATCHES),$(SWEEP)/lr$(l)-b$(b)))
sweep: $(addprefix _sweep/,$(SWEEP_RUNS))
	@$(REPORT) sweep $(SWEEP) $(METRIC) $(SWEEP_RUNS)

define sweep_rule
_sweep/$(SWEEP)/lr$(1)-b$(2): data
	+@$$(call locked,$(SWEEP)/lr$(1)-b$(2),_run,run,RUN=$(SWEEP)/lr$(1)-b$(2) LR=$(1) BATCH=$(2)) \
	  || [ -e $(SWEEP)/lr$(1)-b$(2)/eval-failed.json ]
endef
$(foreach l,$(LRS),$(foreach b,$(BATCHES),$(eval $(call sweep_rule,$(l),$(b)))))

# the nightly retrain's last step: copy the run's model into PUBLISH only if
# it passed its gate and beats the model published there (kept as previous)
PUBLISH ?= published/$(PIPELINE)
publish: all
	@$(REPORT) publish $(RUN) $(PUBLISH) $(METRIC)

.PHONY: all tiny ci recipe data _data _run sweep publish $(addprefix _sweep/,$(SWEEP_RUNS))
.PRECIOUS: $(CKPT) $(RUN)/best.safetensors
.DELETE_ON_ERROR:
