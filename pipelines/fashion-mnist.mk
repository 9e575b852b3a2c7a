# Fashion-MNIST end to end: fetch -> prep (train/val/test) -> train -> eval -> export.
#
#   make -f pipelines/fashion-mnist.mk          the demo (lenet, 2 epochs, full data)
#   make -f pipelines/fashion-mnist.mk tiny     CI-sized: 2,000 training images, mlp
#   make -f pipelines/fashion-mnist.mk recipe   our CNN recipe: batch norm, one-cycle,
#                                               flips; >= 92% test accuracy in < 15 min on 2 cores
#
# Every step writes its outputs atomically, so `make` re-runs only what is
# out of date and a second `make` does nothing.  Override any variable:
#   make -f pipelines/fashion-mnist.mk MODEL=mlp EPOCHS=5 RUN=runs/mlp5
BIN ?= build/bin
# oneDNN's OpenMP threads sleep between convolutions instead of spinning
# against our own thread pool (libgomp reads this when it loads)
export OMP_WAIT_POLICY ?= PASSIVE
DATA ?= data/fashion-mnist
MODEL ?= lenet
EPOCHS ?= 2
BATCH ?= 128
LR ?= 0.001
SEED ?= 1
LIMIT ?=
TEST_LIMIT ?=
MIN_ACCURACY ?= 0.85
RUN ?= runs/fashion-mnist-$(MODEL)
TRAIN_FLAGS ?= --optimizer adam

RAW_NAMES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz
RAW := $(addprefix $(DATA)/raw/,$(RAW_NAMES))
PREP := $(DATA)/prep$(if $(LIMIT),-$(LIMIT))
TRAIN := $(PREP)/train.safetensors
VAL := $(PREP)/val.safetensors
TEST := $(PREP)/test.safetensors
CKPT := $(RUN)/model.safetensors

demo: $(RUN)/eval.json $(RUN)/model-torch.safetensors
	@printf 'test accuracy: %s (%s, %s epochs; details in %s)\n' \
	  "$$(sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' $(RUN)/eval.json)" $(MODEL) $(EPOCHS) $(RUN)/eval.json

tiny:
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) demo MODEL=mlp EPOCHS=8 \
	  LIMIT=2000 TEST_LIMIT=1000 MIN_ACCURACY=0.70 RUN=$(RUN)-tiny

recipe:
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) demo \
	  MODEL=pipelines/fmnist-bn.spec EPOCHS=8 LR=0.004 MIN_ACCURACY=0.92 \
	  TRAIN_FLAGS="--optimizer adamw --weight-decay 0.0005 --schedule onecycle --augment flip" \
	  RUN=runs/fashion-mnist-recipe

# verified copy of the four IDX files (Debian's dataset-fashion-mnist, or download)
$(RAW) &:
	$(BIN)/dl-fetch fashion-mnist -d $(DATA)/raw

$(TRAIN) $(VAL) &: $(DATA)/raw/train-images-idx3-ubyte.gz $(DATA)/raw/train-labels-idx1-ubyte.gz
	@mkdir -p $(PREP)
	$(BIN)/dl-prep idx $^ --classes fashion-mnist $(if $(LIMIT),--limit $(LIMIT)) \
	  --val-fraction 0.1 --val-out $(VAL) --seed $(SEED) -o $(TRAIN)

$(TEST): $(DATA)/raw/t10k-images-idx3-ubyte.gz $(DATA)/raw/t10k-labels-idx1-ubyte.gz
	@mkdir -p $(PREP)
	$(BIN)/dl-prep idx $^ --classes fashion-mnist $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@

$(CKPT): $(TRAIN) $(VAL)
	$(BIN)/dl-train -m $(MODEL) --train $(TRAIN) --val $(VAL) -o $(RUN) \
	  --epochs $(EPOCHS) --batch $(BATCH) --lr $(LR) --seed $(SEED) $(TRAIN_FLAGS)

# the quality gate: dl-eval exits 7 (and make stops) below MIN_ACCURACY
$(RUN)/eval.json: $(CKPT) $(TEST)
	$(BIN)/dl-eval $(CKPT) $(TEST) --json --min-accuracy $(MIN_ACCURACY) > $@.tmp
	@mv $@.tmp $@

$(RUN)/model-torch.safetensors: $(CKPT)
	$(BIN)/dl-export $(CKPT) --format safetensors -o $@

.PHONY: demo tiny recipe
.DELETE_ON_ERROR:
