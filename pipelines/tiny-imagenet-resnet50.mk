# Tiny ImageNet (200 classes, 64x64) with ResNet-50 (3x3 stem, no max pool).
#
#   make -f pipelines/tiny-imagenet-resnet50.mk          fetch, prep, train 30 epochs, gate, export, summary
#   make -f pipelines/tiny-imagenet-resnet50.mk NP=4     the same under mpirun -np 4 (data parallel)
#   make -f pipelines/tiny-imagenet-resnet50.mk tiny     200 x 20 images, 2 epochs, gate 0.01
#   make -f pipelines/tiny-imagenet-resnet50.mk ci       20 images per class, pipelines/ci-tiny.spec,
#                                                        gate 0.40 (on the fixture's 4 classes)
#
# Recipe: SGD momentum 0.9 nesterov, lr 0.1 one-cycle, weight decay 5e-4,
# batch 256, crop=8,flip, per-channel normalisation.  Train/val: 90/10 of
# the official train split (stratified, seeded); test: the official val
# split (val_annotations.txt), since Tiny ImageNet's test labels are not
# published.  The zip is read as an archive (not unpacked).
#
# NP=N (N > 1) runs dl-train as `$(MPIRUN) -np N dl-train ...` (MPIRUN
# defaults to mpirun; e.g. MPIRUN="mpirun --bind-to none" or "srun"); the
# batch stays the global batch.  This needs a dl-train built with MPI.
#
# Variables (command line or environment; man dl-pipelines):
#   DATA=data/tiny-imagenet  RUN=runs/tiny-imagenet-resnet50-resnet50[-MODE]  MODEL=resnet50
#   EPOCHS=30  BATCH=256  LR=0.1  SEED=1  DEVICE=auto  THREADS=  PRICE_PER_HOUR=0
#   MIN_ACCURACY=0.45 (tiny 0.01, ci 0.40)  TRAIN_FLAGS=  PER_CLASS=  LIMIT= TEST_LIMIT=
#   FROM=DIR|URL (mirror)  MANIFEST=  OFFLINE=1  NOWAIT=1  NP=1  MPIRUN=mpirun
PIPELINE := tiny-imagenet-resnet50
DATASET ?= tiny-imagenet
METRIC := accuracy
ifeq ($(MODE),tiny)
PER_CLASS ?= 20
TEST_LIMIT ?= 2000
EPOCHS ?= 2
MIN_ACCURACY ?= 0.01
else ifeq ($(MODE),ci)
PER_CLASS ?= 20
TEST_LIMIT ?= 1000
EPOCHS ?= 6
BATCH ?= 32
MODEL ?= $(dir $(lastword $(MAKEFILE_LIST)))ci-tiny.spec
LR ?= 0.01
RECIPE_FLAGS ?= --optimizer adam --normalize dataset
MIN_ACCURACY ?= 0.40
endif
MODEL ?= resnet50
EPOCHS ?= 30
BATCH ?= 256
LR ?= 0.1
PER_CLASS ?=
RECIPE_FLAGS ?= --optimizer sgd --momentum 0.9 --nesterov --weight-decay 0.0005 --schedule onecycle \
  --augment crop=8,flip --normalize dataset
MIN_ACCURACY ?= 0.45
RUN_TAG ?= $(basename $(notdir $(MODEL)))
PREP_TAG ?= $(if $(PER_CLASS),-pc$(PER_CLASS))

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

ifneq ($(PHASE),run)
ARCHIVE := $(DATA)/raw/tiny-imagenet-200.zip

$(ARCHIVE):
	@$(DSTEP) fetch -- $(BIN)/dl-fetch $(DATASET) -d $(DATA)/raw --no-unpack $(FETCH_FLAGS)

$(TRAIN) $(VAL) &: $(ARCHIVE)
	@$(DSTEP) prep-train -- $(BIN)/dl-prep tiny-imagenet $(ARCHIVE) --split train \
	  $(if $(PER_CLASS),--per-class $(PER_CLASS)) $(if $(LIMIT),--limit $(LIMIT)) \
	  --val-fraction 0.1 --val-out $(VAL) --seed $(SEED) -o $(TRAIN)

$(TEST): $(ARCHIVE)
	@$(DSTEP) prep-test -- $(BIN)/dl-prep tiny-imagenet $(ARCHIVE) --split val \
	  $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@
endif
