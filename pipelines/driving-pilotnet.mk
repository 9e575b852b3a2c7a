# Steering regression with PilotNet from a driving log (Udacity simulator
# layout: driving_log.csv with center,left,right,steering,throttle,brake,
# speed and the frames in IMG/): all three cameras, the side cameras'
# steering corrected by STEER_CORRECTION, frames centre-cropped to 66:200
# and resized to 66x200; the gate is the mean absolute steering error.
#
#   make -f pipelines/driving-pilotnet.mk FROM=~/sim-recording     your own folder, read in place
#   make -f pipelines/driving-pilotnet.mk MANIFEST=m FROM=URL      an archive named in a manifest
#   make -f pipelines/driving-pilotnet.mk tiny | ci                the first 300 | 150 log lines
#
# There is no public registry copy of a driving log, so the data come from
# FROM=DIR (a folder holding driving_log.csv and IMG/, used as it is) or
# from MANIFEST=FILE, a dl-fetch manifest whose dataset DATASET (driving)
# holds the archive ARCHIVE_NAME (driving.zip, one top folder with the log
# and IMG/), fetched from its URLs or the mirror FROM=URL.
# Train/val: 80/20 of the log's samples (seeded).  Test: TEST_LOG=NAME, a
# second log in the same folder (a held-out lap; center camera only) --
# without it the gate runs on the validation split.
#
# Recipe: Adam lr 0.001, batch 64, 10 epochs, per-channel normalisation.
#
# Variables (command line or environment; man dl-pipelines):
#   DATA=data/driving  RUN=runs/driving-pilotnet-pilotnet[-MODE]  MODEL=pilotnet
#   EPOCHS=10  BATCH=64  LR=0.001  SEED=1  DEVICE=auto  THREADS=  PRICE_PER_HOUR=0
#   MAX_MAE=0.12 (tiny 0.15, ci 0.15)  STEER_CORRECTION=0.2  CAMERAS=center,left,right
#   TEST_LOG=  TRAIN_FLAGS=  LIMIT= (log lines x cameras)  FROM=DIR|URL  MANIFEST=
#   OFFLINE=1  NOWAIT=1  NP=N (mpirun)
PIPELINE := driving-pilotnet
DATASET ?= driving
METRIC := mae
ifeq ($(MODE),tiny)
LIMIT ?= 900
EPOCHS ?= 5
MAX_MAE ?= 0.15
else ifeq ($(MODE),ci)
LIMIT ?= 450
EPOCHS ?= 8
BATCH ?= 32
MAX_MAE ?= 0.15
endif
MODEL ?= pilotnet
EPOCHS ?= 10
BATCH ?= 64
LR ?= 0.001
MAX_MAE ?= 0.12
STEER_CORRECTION ?= 0.2
CAMERAS ?= center,left,right
ARCHIVE_NAME ?= driving.zip
TEST_LOG ?=
RECIPE_FLAGS ?= --optimizer adam --normalize dataset
RUN_TAG ?= $(basename $(notdir $(MODEL)))
PREP_TAG ?= -c$(STEER_CORRECTION)
ifeq ($(TEST_LOG),)
# no held-out log: the gate scores the validation split
TEST = $(VAL)
endif

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

ifneq ($(PHASE),run)
ROOT ?= $(if $(MANIFEST),$(DATA)/raw/$(ARCHIVE_NAME),$(FROM))
ifeq ($(ROOT),)
$(TRAIN) $(VAL) $(TEST):
	@echo "$(PIPELINE): no driving log: set FROM=DIR (a folder with driving_log.csv and IMG/) or MANIFEST=FILE (and FROM=URL for a mirror)" >&2; exit 2
else
PREP_DRIVING = $(BIN)/dl-prep driving $(ROOT) --size 66x200 --center-crop
$(TRAIN) $(VAL) &: $(if $(MANIFEST),$(ROOT),$(ROOT)/driving_log.csv)
	@$(DSTEP) prep-train -- $(PREP_DRIVING) --cameras $(CAMERAS) --steer-correction $(STEER_CORRECTION) \
	  $(if $(LIMIT),--limit $(LIMIT)) --val-fraction 0.2 --val-out $(VAL) --seed $(SEED) -o $(TRAIN)
ifneq ($(TEST_LOG),)
$(TEST): $(TRAIN)
	@$(DSTEP) prep-test -- $(PREP_DRIVING) --log $(TEST_LOG) --cameras center \
	  $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@
endif
endif
ifneq ($(MANIFEST),)
$(DATA)/raw/$(ARCHIVE_NAME):
	@$(DSTEP) fetch -- $(BIN)/dl-fetch $(DATASET) -d $(DATA)/raw --no-unpack $(FETCH_FLAGS)
endif
endif
