# CIFAR-10 with VGG-16 (batch norm), 5 epochs: the workload of the GPU
# cost/speed comparison.
#
#   make -f pipelines/cifar10-vgg16.mk            fetch, prep, train 5 epochs, gate, export, summary
#   make -f pipelines/cifar10-vgg16.mk tiny       5,000 images, 2 epochs, gate 0.25
#   make -f pipelines/cifar10-vgg16.mk ci         2,000 images (LIMIT), pipelines/ci-cifar.spec,
#                                                 3 epochs, gate 0.30: the chain in seconds
#   make -f pipelines/cifar10-vgg16.mk sweep LRS="0.1 0.03 0.01" BATCHES="64 128"
#   make -f pipelines/cifar10-vgg16.mk DEVICE=cuda PRICE_PER_HOUR=2.49
#
# Recipe: SGD momentum 0.9, lr 0.05 one-cycle, batch 128, crop=4,flip,
# per-channel normalisation; train/val 45,000/5,000 (seeded, stratified),
# test: the official test_batch.bin.  The raw file is the binary version
# (cifar-10-binary.tar.gz), read as an archive (not unpacked).
#
# Variables (command line or environment; man dl-pipelines):
#   DATA=data/cifar-10  RUN=runs/cifar10-vgg16-vgg16[-MODE]  MODEL=vgg16
#   EPOCHS=5  BATCH=128  LR=0.05  SEED=1  DEVICE=auto  THREADS=  PRICE_PER_HOUR=0
#   MIN_ACCURACY=0.60 (tiny 0.25, ci 0.30)  TRAIN_FLAGS=  LIMIT= TEST_LIMIT=
#   FROM=DIR|URL (mirror)  MANIFEST=  OFFLINE=1  NOWAIT=1  NP=N (mpirun)
PIPELINE := cifar10-vgg16
DATASET ?= cifar-10
METRIC := accuracy
ifeq ($(MODE),tiny)
LIMIT ?= 5000
TEST_LIMIT ?= 2000
EPOCHS ?= 2
MIN_ACCURACY ?= 0.25
else ifeq ($(MODE),ci)
LIMIT ?= 2000
TEST_LIMIT ?= 1000
EPOCHS ?= 3
BATCH ?= 32
MODEL ?= $(dir $(lastword $(MAKEFILE_LIST)))ci-cifar.spec
LR ?= 0.01
RECIPE_FLAGS ?= --optimizer adam --normalize dataset
MIN_ACCURACY ?= 0.30
endif
MODEL ?= vgg16
EPOCHS ?= 5
BATCH ?= 128
LR ?= 0.05
RECIPE_FLAGS ?= --optimizer sgd --momentum 0.9 --schedule onecycle --augment crop=4,flip --normalize dataset
MIN_ACCURACY ?= 0.60
RUN_TAG ?= $(basename $(notdir $(MODEL)))

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

ifneq ($(PHASE),run)
ARCHIVE := $(DATA)/raw/cifar-10-binary.tar.gz

$(ARCHIVE):
	@$(DSTEP) fetch -- $(BIN)/dl-fetch $(DATASET) -d $(DATA)/raw --no-unpack $(FETCH_FLAGS)

$(TRAIN) $(VAL) &: $(ARCHIVE)
	@$(DSTEP) prep-train -- $(BIN)/dl-prep cifar10 $(ARCHIVE) $(if $(LIMIT),--limit $(LIMIT)) \
	  --val-fraction 0.1 --val-out $(VAL) --seed $(SEED) -o $(TRAIN)

$(TEST): $(ARCHIVE)
	@$(DSTEP) prep-test -- $(BIN)/dl-prep cifar10 $(ARCHIVE) --split test \
	  $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@
endif
