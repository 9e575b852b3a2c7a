# Fashion-MNIST end to end, the demo of `make demo`: fetch (Debian's
# dataset-fashion-mnist, offline) -> prep train/val/test -> train -> eval
# with the gate -> export -> summary.
#
#   make -f pipelines/fashion-mnist.mk          the demo (lenet, 2 epochs, full data); its last
#                                               line: test accuracy: A (lenet, 2 epochs; details in RUN/eval.json)
#   make -f pipelines/fashion-mnist.mk tiny     2,000 training images, mlp, 8 epochs, gate 0.70
#   make -f pipelines/fashion-mnist.mk ci       1,000 images, lenet, 3 epochs, batch 32, gate 0.60
#   make -f pipelines/fashion-mnist.mk recipe   our CNN recipe (pipelines/fmnist-bn.spec): batch norm,
#                                               AdamW one-cycle, flips, 8 epochs; >= 92% in < 15 min on 2 cores
#   make -f pipelines/fashion-mnist.mk all      the demo without its last line
#   make -f pipelines/fashion-mnist.mk sweep LRS="0.003 0.001" BATCHES="64 128"
#
# Variables (command line or environment, also with tiny, ci and recipe;
# man dl-pipelines):
#   DATA=data/fashion-mnist  RUN=runs/fashion-mnist-MODEL[-MODE]  MODEL=lenet
#   EPOCHS=2  BATCH=128  LR=0.001 (Adam)  SEED=1  DEVICE=auto  THREADS=  PRICE_PER_HOUR=0
#   MIN_ACCURACY=0.85 (tiny 0.70, ci 0.60, recipe 0.92)  TRAIN_FLAGS=
#   LIMIT= TEST_LIMIT= (first N images)  FROM=DIR|URL (mirror)  MANIFEST=  OFFLINE=1
#   NOWAIT=1 (a locked run or dataset exits 75 instead of waiting)  NP=N (mpirun)
PIPELINE := fashion-mnist
DATASET := fashion-mnist
METRIC := accuracy
ifeq ($(MODE),tiny)
MODEL ?= mlp
EPOCHS ?= 8
LIMIT ?= 2000
TEST_LIMIT ?= 1000
MIN_ACCURACY ?= 0.70
else ifeq ($(MODE),ci)
LIMIT ?= 1000
TEST_LIMIT ?= 500
EPOCHS ?= 3
BATCH ?= 32
MIN_ACCURACY ?= 0.60
else ifeq ($(MODE),recipe)
MODEL ?= $(dir $(lastword $(MAKEFILE_LIST)))fmnist-bn.spec
EPOCHS ?= 8
LR ?= 0.004
MIN_ACCURACY ?= 0.92
RECIPE_FLAGS ?= --optimizer adamw --weight-decay 0.0005 --schedule onecycle --augment flip
endif
MODEL ?= lenet
EPOCHS ?= 2
BATCH ?= 128
LR ?= 0.001
RECIPE_FLAGS ?= --optimizer adam
MIN_ACCURACY ?= 0.85
# tiny, ci and recipe run the demo (with its last line) in their mode
MODE_GOAL := demo

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
include $(PIPEDIR)/idx-data.mk

.DEFAULT_GOAL := demo
demo: all
	@printf 'test accuracy: %s (%s, %s epochs; details in %s)\n' \
	  "$$(sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' $(RUN)/eval.json)" $(MODEL) $(EPOCHS) $(RUN)/eval.json

.PHONY: demo
