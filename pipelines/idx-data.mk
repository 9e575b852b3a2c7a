# pipelines/idx-data.mk: the fetch and prep rules of the IDX datasets (MNIST,
# Fashion-MNIST), included after common.mk by mnist.mk and fashion-mnist.mk;
# not a pipeline of its own.  The four .gz files come from dl-fetch DATASET
# (Fashion-MNIST from Debian's dataset-fashion-mnist, offline); train/val
# is a seeded 90/10 split of the training set, test the t10k set.
ifneq ($(PHASE),run)
RAW_NAMES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz
RAW := $(addprefix $(DATA)/raw/,$(RAW_NAMES))
CLASSES := $(if $(filter fashion-mnist,$(DATASET)),--classes fashion-mnist)

$(RAW) &:
	@$(DSTEP) fetch -- $(BIN)/dl-fetch $(DATASET) -d $(DATA)/raw $(FETCH_FLAGS)

$(TRAIN) $(VAL) &: $(DATA)/raw/train-images-idx3-ubyte.gz $(DATA)/raw/train-labels-idx1-ubyte.gz
	@$(DSTEP) prep-train -- $(BIN)/dl-prep idx $^ $(CLASSES) $(if $(LIMIT),--limit $(LIMIT)) \
	  --val-fraction 0.1 --val-out $(VAL) --seed $(SEED) -o $(TRAIN)

$(TEST): $(DATA)/raw/t10k-images-idx3-ubyte.gz $(DATA)/raw/t10k-labels-idx1-ubyte.gz
	@$(DSTEP) prep-test -- $(BIN)/dl-prep idx $^ $(CLASSES) $(if $(TEST_LIMIT),--limit $(TEST_LIMIT)) -o $@
endif
