# autopeft: one GNU Makefile for the three programs, the test suite, fuzzers and benchmarks.
#
#   make                       build build/bin/{autopeft,autopeft-coordinator,autopeft-worker}
#   make deps                  install the Debian packages the build, tests and runs need
#   make test                  build and run every test (ends with "N passed, N failed")
#   make check-layers          the rooms of the tree use only what they may (docs/architecture.md)
#   make SANITIZE=address,undefined test    the same under sanitizers (own build folder)
#   make bench                 every benchmark; make bench-deps installs their Python references
#   make fuzz                  libFuzzer harnesses (clang) under build/fuzz/
#   make install PREFIX=/usr/local DESTDIR= [TORCH_PYTHON=/usr/bin/python3]
#   make clean
#
# Layout (docs/architecture.md): each room of the tree is one static library, and a program
# links the rooms it is made of, highest first. Every .c file of a room is part of it, so new
# modules need no edit here; the rooms and what each may use are checked by `make
# check-layers` (tests/layers/).

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
SANITIZE   ?=
WERROR     ?=

comma := ,
ifeq ($(SANITIZE),)
BUILD      ?= build
else
BUILD      ?= build/san-$(subst $(comma),-,$(SANITIZE))
endif

CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3
# The interpreter `make install` puts in autopeft-torch-train's first line: one whose PyTorch
# sees the GPUs (a conda environment's python, say); Debian's python3-torch by default.
TORCH_PYTHON ?= /usr/bin/python3
NPROC      := $(shell nproc 2>/dev/null || echo 2)

# Libraries found through pkg-config; evaluated lazily so that `make deps` works before they exist.
PKGS        = libzmq libprotobuf-c libuv jansson sqlite3 libutf8proc openblas lapacke inih
PKG_CFLAGS  = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS    = $(shell $(PKG_CONFIG) --libs $(PKGS))

CFLAGS     ?= -O2 -g
WARNINGS   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
ALL_CFLAGS  = -std=c11 $(WARNINGS) -pthread -fPIC -MMD -MP $(CFLAGS) $(PKG_CFLAGS)
ALL_CPPFLAGS = -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -I. -I$(BUILD)/gen $(CPPFLAGS)
ALL_LDFLAGS = -pthread $(LDFLAGS)
LDLIBS     += $(PKG_LIBS) -lm

ifneq ($(WERROR),)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

# ---- sources --------------------------------------------------------------------------------
PROTO_SRC   := proto/autopeft.proto
PROTO_C     := $(BUILD)/gen/autopeft.pb-c.c
PROTO_H     := $(BUILD)/gen/autopeft.pb-c.h
BUILDINFO_H := $(BUILD)/gen/buildinfo.h

# The rooms, lowest first. A room's sources are the .c files of its folder (not below it).
ROOMS       := common coordinator/search coordinator/runtime coordinator/cli \
               worker/engine worker/inputs worker/trial worker/daemon worker/cli
room_src     = $(wildcard $(1)/*.c)
room_lib     = $(BUILD)/lib/libap-$(subst /,-,$(1)).a
MAIN_SRC    := autopeft.c coordinator/main.c worker/main.c
TEST_SRC    := $(wildcard tests/*.c tests/unit/*.c tests/unit/*/*.c tests/unit/*/*/*.c \
                 tests/integration/*.c tests/fuzz/fuzz_*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_OBJ   := $(BUILD)/obj/gen/autopeft.pb-c.o
ROOM_OBJ    := $(foreach r,$(ROOMS),$(call obj,$(call room_src,$(r))))
TEST_OBJ    := $(call obj,$(TEST_SRC))
BENCH_OBJ   := $(call obj,$(BENCH_SRC))
ALL_OBJ     := $(PROTO_OBJ) $(ROOM_OBJ) $(TEST_OBJ) $(BENCH_OBJ) $(call obj,$(MAIN_SRC))

$(foreach r,$(ROOMS),$(eval $(call room_lib,$(r)): $(call obj,$(call room_src,$(r)))))
$(call room_lib,common): $(PROTO_OBJ)

# What each program is made of, highest room first (the order static libraries need).
LIBS_COORD  := $(foreach r,coordinator/cli coordinator/runtime coordinator/search common,\
                 $(call room_lib,$(r)))
LIBS_WORKER := $(foreach r,worker/cli worker/daemon worker/trial worker/inputs worker/engine common,\
                 $(call room_lib,$(r)))
LIBS_ALL    := $(foreach r,coordinator/cli coordinator/runtime coordinator/search worker/cli \
                 worker/daemon worker/trial worker/inputs worker/engine common,$(call room_lib,$(r)))

BIN_CLI     := $(BUILD)/bin/autopeft
BIN_COORD   := $(BUILD)/bin/autopeft-coordinator
BIN_WORKER  := $(BUILD)/bin/autopeft-worker
BIN_TESTS   := $(BUILD)/tests/autopeft-tests
BIN_BENCH   := $(BUILD)/bench/autopeft-bench
PROGRAMS    := $(BIN_CLI) $(BIN_COORD) $(BIN_WORKER)

.PHONY: all deps bench-deps test check-layers test-slurm bench bench-wire bench-inputs bench-dispatch bench-train \
        bench-bo bench-trial bench-torch fuzz install uninstall clean reference FORCE
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

all: $(PROGRAMS)

# ---- generated code ---------------------------------------------------------------------------
$(PROTO_C) $(PROTO_H) &: $(PROTO_SRC)
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $(notdir $(PROTO_SRC))

# Rewritten only when the version or the commit changes, so it does not force rebuilds.
$(BUILDINFO_H): FORCE
	@mkdir -p $(dir $@)
	@commit=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	 printf '#define AUTOPEFT_VERSION "%s"\n#define AUTOPEFT_COMMIT "%s"\n' '$(VERSION)' "$$commit" \
	   > $@.tmp; \
	 if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Every object may include the generated headers: make sure they exist before the first compile.
$(ALL_OBJ): | $(PROTO_H) $(BUILDINFO_H)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# protoc-c's output is not ours to fix: compile it with the same flags minus -Werror-prone extras.
$(BUILD)/obj/gen/autopeft.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(filter-out -Wshadow -Wmissing-prototypes,$(ALL_CFLAGS)) -c -o $@ $<

# ---- libraries and programs -------------------------------------------------------------------
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN_COORD): $(BUILD)/obj/coordinator/main.o $(LIBS_COORD)
$(BIN_WORKER): $(BUILD)/obj/worker/main.o $(LIBS_WORKER)
$(BIN_CLI): $(BUILD)/obj/autopeft.o $(LIBS_ALL)
$(BIN_TESTS): $(TEST_OBJ) $(LIBS_ALL)
# The browser test (tests/integration/test_report_browser.c) decodes Chromium's PNG screenshots
# with zlib: only the test program links it.
$(BIN_TESTS): LDLIBS += $(shell $(PKG_CONFIG) --libs zlib)
$(BIN_BENCH): $(BENCH_OBJ) $(LIBS_ALL)
$(PROGRAMS) $(BIN_TESTS) $(BIN_BENCH):
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS)

# ---- tests ------------------------------------------------------------------------------------
# The suite runs every test in its own process with a timeout; programs under test are found
# through AUTOPEFT_BIN_DIR, shared data through AUTOPEFT_SHARED (skipped with a message if absent).
# Sanitized code runs several times slower: its tests get proportionally longer timeouts.
TEST_ARGS ?=
TEST_TIMEOUT_SCALE := $(if $(SANITIZE),4,1)
test: $(PROGRAMS) $(BIN_TESTS)
	AUTOPEFT_BIN_DIR=$(abspath $(BUILD)/bin) AUTOPEFT_SRC_DIR=$(CURDIR) \
	  AUTOPEFT_TEST_TIMEOUT_SCALE=$(TEST_TIMEOUT_SCALE) $(BIN_TESTS) -j $(NPROC) $(TEST_ARGS)

# The tree's boundaries (docs/architecture.md): includes and calls against tests/layers/rules.
check-layers: $(ROOM_OBJ) $(call obj,$(MAIN_SRC))
	tests/layers/check.sh --obj $(BUILD)/obj

# A real single-node Slurm cluster (installs slurm-wlm and munge; needs root) running the worker
# array script of deploy/slurm/ against a coordinator: tests/slurm/run.sh.
test-slurm: $(PROGRAMS)
	bash tests/slurm/run.sh $(BUILD)/bin

# ---- benchmarks -------------------------------------------------------------------------------
bench: bench-wire bench-inputs bench-train bench-dispatch bench-bo bench-trial bench-mf bench-torch

bench-wire: $(BIN_BENCH)
	$(BIN_BENCH) wire

# Tokenizer, GLUE reading and checkpoint reading against the Python reference (needs ../shared).
bench-inputs: $(BIN_BENCH)
	$(BIN_BENCH) inputs

# A worker's first and second trial on bert-mini-mlm and SST-2: the cache (needs ../shared).
bench-trial: $(BIN_BENCH)
	$(BIN_BENCH) trial

# The coordinator as a program (it needs build/bin) with worker daemons as threads of the bench.
bench-dispatch: $(BIN_BENCH) $(PROGRAMS)
	$(BIN_BENCH) dispatch

# The engine's training step against PyTorch 1.13 (python3-torch, see bench-deps), same run.
BENCH_TRAIN_ARGS ?=
bench-train: $(BIN_BENCH)
	AUTOPEFT_SRC_DIR=$(CURDIR) PYTHON=$(PYTHON) $(BIN_BENCH) train $(BENCH_TRAIN_ARGS)

# The search engine (docs/search.md): sample efficiency against random search and Optuna 3.1
# (NSGA-II, multivariate TPE), then suggestion latency against scikit-learn's GP fit. Needs
# `make bench-deps`; 78 minutes on two heavily shared cores, about 40 on quiet ones. BO_ARGS
# passes options to the first (e.g. BO_ARGS=--quick).
BO_ARGS ?=
bench-bo: $(BIN_BENCH)
	PYTHON=$(PYTHON) $(BIN_BENCH) bo $(BO_ARGS)
	PYTHON=$(PYTHON) $(BIN_BENCH) suggest

# Multi-fidelity search against full fidelity at equal compute (docs/search.md): 4 methods x
# 10 seeds on the synthetic problem (2 minutes) and on the embedded default (about 40 minutes).
# MF_ARGS passes options (e.g. MF_ARGS='--problems synthetic --seeds 3').
MF_ARGS ?=
bench-mf: $(BIN_BENCH) $(PROGRAMS)
	$(BIN_BENCH) mf $(MF_ARGS)

# The PyTorch trainer (worker/torch/) against the built-in one on SST-2: accuracy against the
# seed spread, steps per second (docs/torch.md; needs ../shared and python3-torch).
TORCH_ARGS ?=
bench-torch: $(PROGRAMS)
	$(PYTHON) tests/bench/bench_torch.py $(TORCH_ARGS)

# ---- fuzzing (clang + libFuzzer) --------------------------------------------------------------
# Each tests/fuzz/fuzz_NAME.c defines FUZZ_TARGET(NAME); the test suite replays the saved inputs
# of tests/fuzz/corpus/NAME/ through the same function, so crashes found here stay fixed.
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BUILD  := build/fuzz
fuzz:
	$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) \
	  SANITIZE=address,undefined,fuzzer-no-link fuzz-bins

fuzz-bins: $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/fuzz/fuzz_%,$(FUZZ_SRC))
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -DFUZZ_LIBFUZZER -fsanitize=fuzzer \
	  -o $@ $< $(filter %.a,$^) $(LDLIBS)

# ---- installation -----------------------------------------------------------------------------
# deploy/ goes to PREFIX/share/autopeft/deploy, its systemd units pointing at PREFIX/bin.
DEPLOY_DIRS := slurm systemd configs examples
DEPLOY_DEST  = $(DESTDIR)$(PREFIX)/share/autopeft/deploy

install: $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/autopeft \
	    $(addprefix $(DEPLOY_DEST)/,$(DEPLOY_DIRS))
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 README.md $(wildcard docs/*.md) $(DESTDIR)$(PREFIX)/share/doc/autopeft/
	install -m 0644 deploy/README.md $(DEPLOY_DEST)/
	for f in $(wildcard $(addsuffix /*,$(addprefix deploy/,$(DEPLOY_DIRS)))); do \
	    if [ -x $$f ]; then m=0755; else m=0644; fi; \
	    install -m $$m $$f $(DEPLOY_DEST)/$${f#deploy/} || exit 1; done
	sed -i 's|/usr/local/bin/|$(PREFIX)/bin/|g' $(DEPLOY_DEST)/systemd/*.service
	sed '1s|^#!.*|#!$(TORCH_PYTHON)|' worker/torch/autopeft_torch_train.py \
	    > $(DESTDIR)$(PREFIX)/bin/autopeft-torch-train
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/autopeft-torch-train

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGRAMS)) autopeft-torch-train)
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/autopeft $(DESTDIR)$(PREFIX)/share/autopeft

clean:
	rm -rf build

# ---- dependencies -----------------------------------------------------------------------------
# Debian packages: installed only when one is missing, so the target is idempotent and quiet.
DEPS_BUILD := make gcc pkg-config git protobuf-c-compiler libprotobuf-c-dev libzmq3-dev \
              libuv1-dev libopenblas-dev liblapacke-dev libjansson-dev libsqlite3-dev \
              libutf8proc-dev libinih-dev clang libclang-rt-14-dev
# The tests: Chromium renders the HTML report headless (its test is skipped without it), with
# the report's font; zlib decodes the screenshot; PyTorch runs the PyTorch trainer
# (worker/torch/) against the built-in one.
DEPS_TEST  := chromium fonts-dejavu-core zlib1g-dev python3 python3-numpy python3-torch
DEPS_BENCH := python3 python3-numpy python3-torch python3-sklearn python3-optuna

define install_packages
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	      || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all present ($(words $(1)) packages)"; else \
	  echo "deps: installing $$missing"; \
	  sudo= ; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_packages,$(DEPS_BUILD) $(DEPS_TEST))

bench-deps:
	$(call install_packages,$(DEPS_BENCH))

# Reference fixtures under tests/reference/ are regenerated by their scripts (Python only here).
reference:
	@for s in tests/reference/*.py; do [ -e "$$s" ] || continue; \
	  echo "reference: $$s"; $(PYTHON) $$s || exit 1; done

-include $(ALL_OBJ:.o=.d)
