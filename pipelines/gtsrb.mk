# GTSRB (German Traffic Sign Recognition Benchmark) with gtsrb-cnn: each
# image cropped to its region of interest (the CSV's Roi.X1..Y2) and resized
# to 48x48; the official test split (Final_Test) with its labels from
# GT-final_test.csv (GTSRB_Final_Test_GT.zip).
#
#   make -f pipelines/gtsrb.mk            fetch, prep, train 10 epochs, gate 0.95, export, summary
#   make -f pipelines/gtsrb.mk tiny       43 x 50 training images, 3 epochs, gate 0.30
#   make -f pipelines/gtsrb.mk ci         43 x 30 images, pipelines/ci-gtsrb.spec, gate 0.40
#   make -f pipelines/gtsrb.mk sweep LRS="0.003 0.001" BATCHES="64 128"
#
# Recipe: Adam lr 0.001, batch 128, per-channel normalisation; train/val
# split 90/10 of the training set (stratified, seeded).
#
# Variables (command line or environment; man dl-pipelines):
#   DATA=data/gtsrb  RUN=runs/gtsrb-gtsrb-cnn[-MODE]  MODEL=gtsrb-cnn  SIZE=48x48
#   EPOCHS=10  BATCH=128  LR=0.001  SEED=1  DEVICE=auto  THREADS=  PRICE_PER_HOUR=0
#   MIN_ACCURACY=0.95 (tiny 0.30, ci 0.40)  TRAIN_FLAGS=  PER_CLASS= (N per class)
#   LIMIT= TEST_LIMIT=  FROM=DIR|URL (mirror)  MANIFEST=  OFFLINE=1  NOWAIT=1  NP=N
#   TRAIN_ROOT, TEST_ROOT, TEST_GT: where the unpacked archives hold the images
PIPELINE := gtsrb
DATASET ?= gtsrb
METRIC := accuracy
ifeq ($(MODE),tiny)
PER_CLASS ?= 50
TEST_LIMIT ?= 2000
EPOCHS ?= 3
MIN_ACCURACY ?= 0.30
else ifeq ($(MODE),ci)
PER_CLASS ?= 30
TEST_LIMIT ?= 1000
EPOCHS ?= 6
BATCH ?= 32
MODEL ?= $(dir $(lastword $(MAKEFILE_LIST)))ci-gtsrb.spec
LR ?= 0.01
MIN_ACCURACY ?= 0.40
endif
MODEL ?= gtsrb-cnn
EPOCHS ?= 10
BATCH ?= 128
LR ?= 0.001
SIZE ?= 48x48
PER_CLASS ?=
RECIPE_FLAGS ?= --optimizer adam --normalize dataset
MIN_ACCURACY ?= 0.95
RUN_TAG ?= $(basename $(notdir $(MODEL)))
PREP_TAG ?= -roi$(SIZE)$(if $(PER_CLASS),-pc$(PER_CLASS))

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

ifneq ($(PHASE),run)
RAW_NAMES := GTSRB-Training_fixed.zip GTSRB_Final_Test_Images.zip GTSRB_Final_Test_GT.zip
RAW := $(addprefix $(DATA)/raw/,$(RAW_NAMES))
TRAIN_ROOT ?= $(DATA)/raw/GTSRB-Training_fixed/GTSRB/Training
TEST_ROOT ?= $(DATA)/raw/GTSRB_Final_Test_Images/GTSRB
TEST_GT ?= $(DATA)/raw/GTSRB_Final_Test_GT/GT-final_test.csv

$(RAW) &:
	@$(DSTEP) fetch -- $(BIN)/dl-fetch $(DATASET) -d $(DATA)/raw $(FETCH_FLAGS)

$(TRAIN) $(VAL) &: $(DATA)/raw/GTSRB-Training_fixed.zip
	@$(DSTEP) prep-train -- $(BIN)/dl-prep gtsrb $(TRAIN_ROOT) --roi --size $(SIZE) \
	  $(if $(PER_CLASS),--per-class $(PER_CLASS)) $(if $(LIMIT),--limit $(LIMIT)) \
	  --val-fraction 0.1 --val-out $(VAL) --seed $(SEED) -o $(TRAIN)

$(TEST): $(DATA)/raw/GTSRB_Final_Test_Images.zip $(DATA)/raw/GTSRB_Final_Test_GT.zip
	@$(DSTEP) prep-test -- $(BIN)/dl-prep gtsrb $(TEST_ROOT) --split test --gt $(TEST_GT) --roi \
	  --size $(SIZE) $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@
endif
