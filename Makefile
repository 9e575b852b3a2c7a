# dl-tools: deep-learning image training as small Unix programs.
#
#   make            build the library and the five tools into build/bin
#   make deps       install missing Debian packages (apt-get, non-interactive)
#   make demo       deps + build + the Fashion-MNIST pipeline end to end
#   make check      all tests (last line: N passed, N failed); CHECK_JOBS=N suites at once
#   make check-asan the same under AddressSanitizer + UBSan (build-san/)
#   make bench-cpu  train images/s next to PyTorch
#   make check-gpu  GPU against CPU, op by op and model by model (needs a GPU)
#   make bench-prep image decode + resize images/s next to PIL
#   make ort-node   onnxruntime-node (npm) for the ONNX export tests
#   make bench-serve  dl-eval serve under wrk (batching off/on) next to onnxruntime-node
#   make bench-prep-tool  dl-prep folder/tar.gz -> dataset images/s, -j1 and all cores
#   make bench-accuracy  test accuracy next to PyTorch, same init (minutes)
#   make bench-dnnl oneDNN conv timings next to ours (needs libdnnl-dev)
#   make bench-roofline  fp32/bf16 matmul GFLOP/s of the best kernel here, 1 and 2 threads
#   make bench-gemm fp32 gemm of the dense layers: OpenBLAS vs oneDNN matmul (DL_GEMM's rule)
#   make bench-conv 3x3 convs of vgg16/resnet18: oneDNN direct vs im2col + matmul (conv_gemm.c's rule)
#   make bench-fusion ReLU fusion (batch norm + relu, add + relu): separate vs fused ops
#   make bench-dist mpirun -np 2 vs one process vs PyTorch DDP; ResNet-50 scaling on paper
#   make fuzz       build libFuzzer targets (clang) into build-fuzz/
#   make fuzz-ci    run each fuzz target FUZZ_SECONDS (15) under ASan+UBSan
#   make install    PREFIX=/usr/local DESTDIR=: tools, man pages, models, CUDA backend
#   make uninstall  removes what make install put there
#   make device-bundle  build/device-bundle.tar.gz: tools + GPU tests for a GPU machine
#
# Switches: CUDA=auto|0|1  MPI=auto|0|1  DNNL=auto|0|1  SANITIZE=1  OPT=-O2
SHELL := /bin/bash
comma := ,
.DEFAULT_GOAL := all

CC ?= cc
CUDA ?= auto
# GPU generations libdl-cuda.so carries machine code for (A100 sm_80 (also
# sm_86/89 GPUs), H100/H200 sm_90, Blackwell sm_100 and sm_120), plus PTX
# of the newest for GPUs after those; e.g. make CUDA_ARCH=90 for one.
CUDA_ARCH ?= 80 90 100 120
CUDA_PTX ?= $(lastword $(CUDA_ARCH))
MPI ?= auto
DNNL ?= auto
SANITIZE ?= 0
OPT ?= -O2
VERSION := 0.1.0

BUILD := build
ifeq ($(SANITIZE),1)
BUILD := build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

# ---- configuration probes (each says what it found) -------------------------
NODEPS_GOALS := deps clean help
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
NEED_LIBS := 1
endif

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
ifeq ($(BLAS_LIBS),)
ifdef NEED_LIBS
ifneq ($(filter demo,$(MAKECMDGOALS)),demo)
$(error OpenBLAS not found (pkg-config openblas): run 'make deps')
endif
endif
endif
DEP_PKGS := zlib libcrypto libcurl libarchive libpng libjpeg
DEP_CFLAGS := $(shell pkg-config --cflags $(DEP_PKGS) 2>/dev/null)
DEP_LIBS := $(shell pkg-config --libs $(DEP_PKGS) 2>/dev/null)

NVCC_PATH := $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
ifneq ($(NVCC_PATH),)
NVCC_VER := $(shell $(NVCC_PATH) --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
CUDA_MSG := nvcc $(NVCC_VER) at $(NVCC_PATH) (CUDA=$(CUDA)$(if $(filter 0,$(CUDA)),: not built,$(if $(filter 1,$(SANITIZE)),; SANITIZE=1: libdl-cuda.so not built,: $(BUILD)/lib/libdl-cuda.so for sm_{$(CUDA_ARCH)} + compute_$(CUDA_PTX) PTX$(if $(wildcard $(dir $(NVCC_PATH))../include/nccl.h),$(comma) NCCL))))
else
CUDA_MSG := nvcc not found (CUDA=$(CUDA); CPU only)
endif
ifeq ($(CUDA),1)
ifeq ($(NVCC_PATH),)
$(error CUDA=1 but nvcc was not found)
endif
endif
# oneDNN (libdnnl-dev) for CPU convolutions (lib/backend/cpu/conv_dnnl.c):
# used when <oneapi/dnnl/dnnl.h> compiles and links (DNNL=auto), required
# (DNNL=1) or left out (DNNL=0: im2col + OpenBLAS only).
DNNL_OK :=
ifneq ($(DNNL),0)
ifdef NEED_LIBS
DNNL_OK := $(shell printf '\043include <oneapi/dnnl/dnnl.h>\nint main(void){return dnnl_version()==0;}\n' | \
	$(CC) -x c - -o /dev/null -ldnnl 2>/dev/null && echo 1)
endif
endif
ifeq ($(DNNL),1)
ifdef NEED_LIBS
ifneq ($(DNNL_OK),1)
$(error DNNL=1 but oneDNN was not found (<oneapi/dnnl/dnnl.h>, -ldnnl): apt-get install libdnnl-dev)
endif
endif
endif
DNNL_CFLAGS := $(if $(DNNL_OK),-DDL_HAVE_DNNL)
DNNL_LIBS := $(if $(DNNL_OK),-ldnnl -lgomp)
DNNL_MSG := $(if $(DNNL_OK),oneDNN conv and gemm used (DNNL=$(DNNL); DL_CONV=auto|im2col|dnnl and DL_GEMM=auto|blas|dnnl at run time),not used (DNNL=$(DNNL)$(if $(filter 0,$(DNNL)),,; libdnnl-dev not found)))
# MPI (Open MPI) for data-parallel dl-train (lib/dist/mpi.c): mpicc's flags
# (--showme), else pkg-config ompi-c; MPI=0 leaves it out (lib/dist/none.c:
# a run launched as N > 1 ranks then refuses), MPI=1 requires it.
MPI_CFLAGS :=
MPI_LIBS :=
MPICC_PATH :=
ifneq ($(MPI),0)
MPICC_PATH := $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC_PATH),)
MPI_CFLAGS := $(patsubst -I%,-isystem %,$(shell $(MPICC_PATH) --showme:compile 2>/dev/null))
MPI_LIBS := $(shell $(MPICC_PATH) --showme:link 2>/dev/null)
MPI_FROM := mpicc at $(MPICC_PATH)
endif
ifeq ($(MPI_LIBS),)
MPI_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags ompi-c 2>/dev/null))
MPI_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null)
MPI_FROM := pkg-config ompi-c
endif
endif
ifeq ($(MPI),1)
ifdef NEED_LIBS
ifeq ($(MPI_LIBS),)
$(error MPI=1 but neither mpicc nor pkg-config ompi-c was found: apt-get install libopenmpi-dev openmpi-bin)
endif
endif
endif
MPI_MSG := $(if $(MPI_LIBS),$(MPI_FROM) ($(strip $(MPI_LIBS)); MPI=$(MPI): dl-train runs under mpirun/srun),$(if $(filter 0,$(MPI)),not used (MPI=0),not found (MPI=$(MPI); dl-train refuses N > 1 ranks)))

ifeq ($(MAKELEVEL),0)
ifdef NEED_LIBS
$(info config: blas=$(if $(BLAS_LIBS),openblas ($(strip $(BLAS_LIBS))),MISSING) | cuda: $(CUDA_MSG) | mpi: $(MPI_MSG) | dnnl: $(DNNL_MSG) | build=$(BUILD))
endif
endif

# -fvect-cost-model=dynamic: GCC 12's -O2 vectorises only loops whose trip
# count it knows (its "very cheap" model), which left the backend's
# elementwise loops (relu, axpby, adam, batch norm's remainders) scalar.
# Vectorising them changes no result: GCC does not reorder float sums
# unless told to (no -ffast-math), and -std=c11 keeps a*b+c unfused.
# (GCC only: clang has no such flag and vectorises these at -O2.)
# -fno-math-errno: sqrtf may then be one instruction, not a call that sets
# errno, so loops with it vectorise (Adam); the result is the same
# correctly rounded root, and nothing here reads errno after a math call.
VECT_CFLAGS := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -1)),,-fvect-cost-model=dynamic)
CFLAGS := -std=c11 -D_GNU_SOURCE -DDL_VERSION='"$(VERSION)"' $(OPT) $(VECT_CFLAGS) -fno-math-errno -g \
	-Wall -Wextra -Werror -Wshadow -Wvla -pthread -Ilib \
	$(BLAS_CFLAGS) $(DEP_CFLAGS) $(DNNL_CFLAGS) $(SANFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SANFLAGS) $(EXTRA_LDFLAGS)
LIBS := $(BLAS_LIBS) $(DNNL_LIBS) $(DEP_LIBS) -lm -ldl

# ---- sources ------------------------------------------------------------
LIB_SRC := $(filter-out lib/dist/$(if $(MPI_LIBS),none,mpi).c,$(sort $(shell find lib -name '*.c')))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIBA := $(BUILD)/libdltools.a
TOOLS := dl-fetch dl-prep dl-train dl-eval dl-export
TOOL_BINS := $(TOOLS:%=$(BUILD)/bin/%)
TEST_SRC := $(sort $(wildcard tests/unit/*.c tests/grad/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(BUILD)/tests/unit-runner

all: $(TOOL_BINS)

# MPI: only lib/dist/mpi.c sees its headers; only what may call it links it
$(BUILD)/obj/lib/dist/mpi.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/bin/dl-train $(TEST_BIN) $(BUILD)/tests/gpu-runner: LIBS += $(MPI_LIBS)

# the CPU backend's objects are rebuilt when the oneDNN choice changes
DNNL_STAMP := $(BUILD)/.dnnl-$(if $(DNNL_OK),on,off)
$(filter $(BUILD)/obj/lib/backend/cpu/%,$(LIB_OBJ)): $(DNNL_STAMP)
$(DNNL_STAMP):
	@mkdir -p $(@D) && rm -f $(BUILD)/.dnnl-* && touch $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# models/*.spec are compiled in as strings (lib/nn/builtin_models.c)
$(BUILD)/obj/gen/models.o: $(BUILD)/gen/models.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/gen/models.c: $(sort $(wildcard models/*.spec)) scripts/embed-models
	@mkdir -p $(@D)
	scripts/embed-models $(sort $(wildcard models/*.spec)) > $@.tmp && mv $@.tmp $@

$(LIBA): $(LIB_OBJ) $(BUILD)/obj/gen/models.o
	@rm -f $@
	ar rcs $@ $^

# one rule per tool: build/bin/dl-X from tools/dl-X/*.c and the library
define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/$(1)/*.c)) $(LIBA)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIBA) $$(LIBS) $$(LIBS_$(1))
endef
# dl-eval serve: libmicrohttpd (Debian libmicrohttpd-dev)
LIBS_dl-eval := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
ifdef NEED_LIBS
ifeq ($(LIBS_dl-eval),)
ifneq ($(filter demo,$(MAKECMDGOALS)),demo)
$(error libmicrohttpd not found (pkg-config libmicrohttpd): run 'make deps')
endif
endif
endif
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(TEST_BIN): $(TEST_OBJ) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIBA) $(LIBS)

# ---- CUDA backend ------------------------------------------------------
# build/lib/libdl-cuda.so: lib/backend/cuda/*.cu, loaded by backend.c with
# dlopen() only for --device cuda/auto, so the tools never link CUDA.  Built
# when nvcc is found (CUDA=auto) or required (CUDA=1); never under
# SANITIZE=1 (ASan cannot instrument nvcc's device code; --device cuda then
# reports the library as missing).  cudart is linked statically into the
# .so; cuDNN and cuBLAS are found through its RUNPATH or ldconfig.
CUDA_SO :=
ifneq ($(CUDA),0)
ifneq ($(NVCC_PATH),)
ifneq ($(SANITIZE),1)
CUDA_SO := $(BUILD)/lib/libdl-cuda.so
endif
endif
endif
CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC_PATH))
CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
NVCC_ARCH ?= $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
	-gencode arch=compute_$(CUDA_PTX),code=compute_$(CUDA_PTX)
NVCC_FLAGS := -std=c++17 $(OPT) -g -Ilib $(NVCC_ARCH) -Werror all-warnings \
	-DDL_CUDA_ARCHS='"$(CUDA_ARCH)"' -DDL_CUDA_PTX='"$(CUDA_PTX)"' \
	-Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra,-Werror -MMD -MP
# NCCL (data-parallel GPUs, lib/backend/cuda/nccl.cu) when nccl.h is there
NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
NCCL_LIBS := $(if $(NCCL_H),-lnccl)
CUDA_SRC := $(filter-out $(if $(NCCL_H),,lib/backend/cuda/nccl.cu),$(sort $(wildcard lib/backend/cuda/*.cu)))
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/obj/%.o)

# the objects are rebuilt when the architecture list changes
CUDA_STAMP := $(BUILD)/.cuda-arch-$(subst $(eval) ,_,$(strip $(CUDA_ARCH)))-ptx$(CUDA_PTX)
$(CUDA_OBJ): $(CUDA_STAMP)
$(CUDA_STAMP):
	@mkdir -p $(@D) && rm -f $(BUILD)/.cuda-arch-* && touch $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(@D)
	$(NVCC_PATH) $(NVCC_FLAGS) -c $< -o $@

# No RUNPATH: cuDNN and cuBLAS are found where the user has them
# (LD_LIBRARY_PATH, ldconfig, or backend.c's search of CUDA and Python
# site-packages folders, which preloads them before this .so).
$(BUILD)/lib/libdl-cuda.so: $(CUDA_OBJ)
	@mkdir -p $(@D)
	$(NVCC_PATH) -shared -cudart static -o $@ $^ -L$(CUDA_LIBDIR) -lcudnn -lcublas -lcublasLt $(NCCL_LIBS) \
		-ldl -Xlinker --no-undefined

all: $(CUDA_SO)

# make check-gpu: tests/gpu/run (needs a CUDA device: fails with "no CUDA
# device" otherwise); check-gpu-memcheck runs the op suite under
# compute-sanitizer.  Neither is part of make check, but make check builds
# the runner (and, with nvcc, the library) and runs what needs no device
# (tests/cli/t0710).
GPU_TEST_SRC := $(sort $(wildcard tests/gpu/*.c))
GPU_TEST_OBJ := $(GPU_TEST_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/unit/main.o
GPU_RUNNER := $(BUILD)/tests/gpu-runner
$(GPU_RUNNER): $(GPU_TEST_OBJ) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(GPU_TEST_OBJ) $(LIBA) $(LIBS)

# Fakes for the loader tests (tests/cli/t0710): a backend library with a
# wrong ABI number or a hole in its table, and a driver (libcuda.so.1)
# that is too old or sees no GPU.  Plain C, no CUDA needed.
FAKE_DIR := $(BUILD)/tests/fake
FAKES := $(FAKE_DIR)/libdl-fake-backend.so $(FAKE_DIR)/libcuda.so.1
FAKE_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -Ilib -shared -fPIC -fvisibility=hidden
$(FAKE_DIR)/libdl-fake-backend.so: tests/cuda/fake_backend.c lib/backend/backend.h lib/backend/ops.h
	@mkdir -p $(@D)
	$(CC) $(FAKE_CFLAGS) -o $@ $<
$(FAKE_DIR)/libcuda.so.1: tests/cuda/fake_libcuda.c
	@mkdir -p $(@D)
	$(CC) $(FAKE_CFLAGS) -Wl,-soname,libcuda.so.1 -o $@ $<

check-gpu: all $(GPU_RUNNER)
	@tests/gpu/run $(BUILD)

check-gpu-memcheck: all $(GPU_RUNNER)
	@tests/gpu/run $(BUILD) --memcheck

# make device-bundle: BUILD/device-bundle.tar.xz, everything a GPU machine
# without our Debian libraries needs for the one device run (tools, CUDA
# backend, GPU runner, their libraries with RPATH $ORIGIN, prepared
# Fashion-MNIST, run.sh): see tests/gpu/README.  Refused over 64 MiB.
device-bundle: all $(GPU_RUNNER)
	@scripts/device-bundle $(BUILD) $(BUILD)/device-bundle
	@tests/gpu/bundle/check-self-contained $(BUILD)/device-bundle
	@tar -C $(BUILD) -cf - device-bundle | xz -T2 -6 > $(BUILD)/device-bundle.tar.xz.tmp
	@mv $(BUILD)/device-bundle.tar.xz.tmp $(BUILD)/device-bundle.tar.xz
	@sz=$$(stat -c %s $(BUILD)/device-bundle.tar.xz); echo "device-bundle: $(BUILD)/device-bundle.tar.xz, $$((sz / 1048576)) MiB"; \
	  [ $$sz -lt 67108864 ] || { echo "device-bundle: over 64 MiB" >&2; exit 1; }

.PHONY: check-gpu check-gpu-memcheck device-bundle

# ---- install ----------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: the five tools in bin/, the
# CUDA backend (when built) in lib/dl-tools/ (where the tools look:
# ../lib/dl-tools/ beside their bin/), man pages, and in share/dl-tools/
# the built-in model specs (also compiled into the tools) and the pipelines.
PREFIX ?= /usr/local
INST_BIN := $(DESTDIR)$(PREFIX)/bin
INST_LIB := $(DESTDIR)$(PREFIX)/lib/dl-tools
INST_MAN := $(DESTDIR)$(PREFIX)/share/man
INST_DATA := $(DESTDIR)$(PREFIX)/share/dl-tools
MAN_PAGES := $(sort $(wildcard man/*.[1-9]))
install: all
	install -d $(INST_BIN) $(INST_DATA)/models $(INST_DATA)/pipelines
	install -m 755 $(TOOL_BINS) $(INST_BIN)/
	$(if $(CUDA_SO),install -d $(INST_LIB) && install -m 755 $(CUDA_SO) $(INST_LIB)/)
	$(foreach m,$(MAN_PAGES),install -d $(INST_MAN)/man$(subst .,,$(suffix $(m))) && \
		install -m 644 $(m) $(INST_MAN)/man$(subst .,,$(suffix $(m)))/ &&) true
	install -m 644 models/*.spec $(INST_DATA)/models/
	install -m 644 pipelines/*.mk pipelines/*.spec $(INST_DATA)/pipelines/
	install -m 755 pipelines/step pipelines/report pipelines/run pipelines/launch $(INST_DATA)/pipelines/

uninstall:
	rm -f $(addprefix $(INST_BIN)/,$(TOOLS)) $(INST_LIB)/libdl-cuda.so
	rm -f $(foreach m,$(MAN_PAGES),$(INST_MAN)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -rf $(INST_DATA)
	-rmdir $(INST_LIB) 2>/dev/null; true

.PHONY: install uninstall

# ---- goals ----------------------------------------------------------------
deps:
	@scripts/deps

demo: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -f pipelines/fashion-mnist.mk demo

check: all $(TEST_BIN) $(GPU_RUNNER) $(FAKES)
	@tests/run-all $(BUILD)

check-asan:
	@$(MAKE) --no-print-directory SANITIZE=1 check

bench-cpu: all $(BUILD)/bench-roofline
	@bench/bench-cpu $(BUILD)

bench-prep: all
	@bench/bench-prep $(BUILD)
# onnxruntime for the ONNX export tests (tests/cli/t0510): npm, into build/node
ort-node: build/node/node_modules/onnxruntime-node/package.json
build/node/node_modules/onnxruntime-node/package.json:
	@mkdir -p build/node
	npm install --prefix build/node --ignore-scripts --no-audit --no-fund onnxruntime-node

# dl-eval serve under wrk, batching off and on, next to onnxruntime-node (bench/serve-ort.js)
bench-serve: all ort-node
	@bench/bench-serve $(BUILD)

bench-prep-tool: all
	@bench/bench-prep-tool.sh $(BUILD)
# dl-train vs PyTorch test accuracy, same init/optimizer/epochs (minutes)
bench-accuracy: all
	@bench/bench-accuracy $(BUILD)
# oneDNN conv timings next to ours (libdnnl-dev; THREADS, default 2)
# make bench-dist: mpirun -np 2 -j 1 vs -np 1 -j 2 vs PyTorch DDP (gloo), and
# the on-paper ResNet-50 ring all-reduce table (bench/dist_model.py)
bench-dist: all
	@bench/bench-dist $(BUILD)

bench-dnnl: $(LIBA)
	$(CC) $(CFLAGS) bench/bench-dnnl.c -o $(BUILD)/bench-dnnl $(LIBA) $(LIBS) $(if $(DNNL_OK),,-ldnnl -lgomp)
	@$(BUILD)/bench-dnnl $(or $(THREADS),2)

# this machine's fp32/bf16 matmul ceiling (oneDNN, OpenBLAS), per thread count
bench-roofline: $(BUILD)/bench-roofline
	@$(BUILD)/bench-roofline $(or $(N),2048) $(or $(THREADS),1 2)
$(BUILD)/bench-roofline: bench/bench-roofline.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(BLAS_LIBS) -ldnnl -lgomp

# the dense layers' fp32 gemms on OpenBLAS and on oneDNN (DL_GEMM=auto's rule)
bench-gemm: $(BUILD)/bench-gemm
	@$(BUILD)/bench-gemm $(or $(THREADS),1 2)
# 3x3 convolutions: oneDNN's direct kernels vs whole-batch im2col + matmul
bench-conv: $(BUILD)/bench-conv
	@$(BUILD)/bench-conv $(or $(THREADS),2)
$(BUILD)/bench-conv: bench/bench-conv.c $(LIBA)
	$(CC) $(CFLAGS) $< -o $@ $(LIBA) $(LIBS)
# ReLU fusion: batch norm + relu and add + relu, separate vs fused
bench-fusion: $(BUILD)/bench-fusion
	@$(BUILD)/bench-fusion $(or $(THREADS),2)
$(BUILD)/bench-fusion: bench/bench-fusion.c $(LIBA)
	$(CC) $(CFLAGS) $< -o $@ $(LIBA) $(LIBS)
$(BUILD)/bench-gemm: bench/bench-gemm.c $(LIBA)
	$(CC) $(CFLAGS) $< -o $@ $(LIBA) $(LIBS)

# Fuzz targets link the parsers (lib/core, lib/io) built with clang's
# fuzzer instrumentation into an archive, so only what a target uses is pulled in.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
# The whole library (models, the CPU backend, checkpoints) so that targets can
# run what they load; a target links only the objects it uses.
# (lib/dist/none.c, not mpi.c: fuzz targets are single processes without MPI)
FUZZ_LIB_SRC := $(filter-out lib/dist/mpi.c,$(sort $(shell find lib -name '*.c')))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build-fuzz/obj/%.o) build-fuzz/obj/gen/models.o
FUZZ_LIBA := build-fuzz/libdlfuzz.a
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -DDL_VERSION='"$(VERSION)"' -g -O1 -Wall -Wextra -Wshadow -Wvla \
	-pthread -Ilib $(BLAS_CFLAGS) $(DEP_CFLAGS) $(DNNL_CFLAGS) \
	$(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP
fuzz: $(FUZZ_BINS)
	@for b in $(FUZZ_BINS); do echo "fuzz: $$b (run: $$b -max_total_time=60 tests/fuzz/corpus/$$(basename $$b | sed 's/^fuzz_//'))"; done

# CI: every target FUZZ_SECONDS (default 15) under ASan + UBSan from its
# committed corpus (new inputs go to a scratch folder, not the corpus);
# any crash, leak or UB fails.  scripts/fuzz-run is the loop.
FUZZ_SECONDS ?= 15
fuzz-ci: $(FUZZ_BINS)
	@scripts/fuzz-run $(FUZZ_SECONDS) $(FUZZ_BINS)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c $< -o $@

build-fuzz/obj/gen/models.o: $(BUILD)/gen/models.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_LIBA): $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# targets of a tool's parsers link that tool's objects (all but main.c)
FUZZ_PREP_OBJ := $(patsubst %.c,build-fuzz/obj/%.o,$(filter-out %/main.c,$(wildcard tools/dl-prep/*.c)))
FUZZ_FETCH_OBJ := $(patsubst %.c,build-fuzz/obj/%.o,$(filter-out %/main.c,$(wildcard tools/dl-fetch/*.c)))
build-fuzz/fuzz_prep_text build-fuzz/fuzz_archive: $(FUZZ_PREP_OBJ)
build-fuzz/fuzz_manifest: $(FUZZ_FETCH_OBJ)

$(FUZZ_BINS): build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIBA)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(filter %.o,$^) $(FUZZ_LIBA) -o $@ $(LIBS)

clean:
	rm -rf build build-san build-fuzz

help:
	@awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' Makefile

.PHONY: all deps demo check check-asan bench-cpu bench-prep bench-serve bench-prep-tool bench-accuracy bench-dnnl bench-roofline bench-gemm bench-conv bench-fusion bench-dist ort-node fuzz fuzz-ci clean help

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include $(shell find build-fuzz/obj -name '*.d' 2>/dev/null)
