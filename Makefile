# t9kfs build. `make` builds ./t9kfs; `make test` installs what the tests
# need (as root), builds with ASan+UBSan and runs the integration and unit
# tests; `make bench` runs the benchmarks, `make bench-report` draws them. ASAN=1 builds with sanitizers,
# WERROR=1 turns warnings into errors (the test build does both).

CC ?= gcc
PKG_CONFIG ?= pkg-config
PKGS = openssl libzstd libcurl libmicrohttpd jansson fuse3 liburing grpc libprotobuf-c
# RDMA for the cache group's peer transport, where libibverbs is installed.
HAVE_RDMA := $(shell $(PKG_CONFIG) --exists libibverbs 2>/dev/null && echo 1)
ifeq ($(HAVE_RDMA),1)
PKGS += libibverbs
RDMA_CFLAGS = -DT9K_HAVE_RDMA
endif
TEST_PKGS = check

OPT ?= -O2 -g
WARN = -Wall -Wextra -Wvla -Wshadow -Wformat=2 -Wno-format-nonliteral -Wstrict-prototypes
ifeq ($(FUZZ),1)
# libFuzzer: clang, coverage on every object, the fuzzer's main linked in.
CC = clang
BUILD = build/fuzz
SAN = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(ASAN),1)
BUILD = build/asan
SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD = build/release
SAN =
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

# Recursive (=) so pkg-config runs only when a rule needs it, after the
# dependencies are installed.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -I. -I$(GEN) -pthread $(OPT) $(WARN) $(SAN) $(PKG_CFLAGS) $(RDMA_CFLAGS) \
	-include lib/banned.h -MMD -MP $(CFLAGS)
ALL_LDFLAGS = -pthread $(SAN) $(LDFLAGS)
# librocksdb-dev ships no pkg-config file.
LIBS = $(PKG_LIBS) -lrocksdb

LIB_SRC := $(wildcard lib/*.c store/*.c meta/*.c fs/*.c cache/*.c csi/*.c)
TOOL_SRC := $(wildcard tools/*.c)
UNIT_SRC := $(wildcard test/unit/*.c)
BENCH_SRC := $(wildcard bench/*.c)
FUZZ_SRC := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_SECONDS ?= 15
TEST_FUZZ_SECONDS ?= 10
obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

.PHONY: all sdk sdk-check test unit integration bench bench-report deps clean demo fuzz fuzz-build
# Keep objects that only pattern rules name (bench, fuzz), so they are not rebuilt every time.
.SECONDARY:
all: t9kfs sdk

t9kfs: $(BUILD)/t9kfs
	cp $< $@

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The CSI driver's messages: C code generated from csi/csi.proto (and from
# the well-known types it imports, as Debian ships them) at build time, into
# $(GEN); nothing generated is committed.
PROTO_INC ?= /usr/include
GEN = $(BUILD)/gen
GEN_SRC = $(GEN)/csi/csi.pb-c.c $(GEN)/google/protobuf/timestamp.pb-c.c \
	$(GEN)/google/protobuf/wrappers.pb-c.c
GEN_HDR = $(GEN_SRC:.c=.h)

$(GEN)/csi/csi.pb-c.c $(GEN)/csi/csi.pb-c.h &: csi/csi.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I. -I$(PROTO_INC) csi/csi.proto

$(GEN)/google/protobuf/%.pb-c.c $(GEN)/google/protobuf/%.pb-c.h: $(PROTO_INC)/google/protobuf/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I$(PROTO_INC) google/protobuf/$*.proto

# The web console (ui/): its files as C arrays (scripts/embed-ui.sh), built
# into the binary, so it is served with no network at run time. Generated
# into $(GEN), never committed.
UI_FILES := $(sort $(wildcard ui/*.html ui/static/*))
$(GEN)/ui_assets.c: $(UI_FILES) scripts/embed-ui.sh
	@mkdir -p $(GEN)
	sh scripts/embed-ui.sh $@ $(UI_FILES)

# Generated code is not ours to warn about.
$(GEN)/%.o: $(GEN)/%.c
	$(CC) $(ALL_CFLAGS) -w -c $< -o $@

$(call obj,$(wildcard csi/*.c) $(TOOL_SRC) $(UNIT_SRC)): $(GEN_HDR)

$(BUILD)/libt9kfs.a: $(call obj,$(LIB_SRC)) $(GEN_SRC:.c=.o) $(GEN)/ui_assets.o
	rm -f $@
	ar rcs $@ $^

$(BUILD)/t9kfs: $(call obj,$(TOOL_SRC)) $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The unit tests of tools/ modules (yaml.c) and of the SDK's C API link their objects too.
$(BUILD)/check_t9kfs: $(call obj,$(UNIT_SRC)) $(BUILD)/tools/yaml.o $(BUILD)/sdk/t9kfs.o $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))

# libt9kfs.so, the SDK's C API (sdk/t9kfs.h): position-independent objects
# of the library folders, built from the same sources in build/pic with
# hidden visibility, linked with only the t9kfs_* symbols exported
# (sdk/libt9kfs.map) and every symbol resolved (-z defs); --as-needed
# leaves out what it does not use (FUSE, gRPC). The Python package
# (sdk/python) loads build/libt9kfs.so.0.
PIC = build/pic
PIC_SRC := $(wildcard lib/*.c store/*.c meta/*.c fs/*.c cache/*.c)
SDK_SONAME = libt9kfs.so.0

sdk: build/libt9kfs.so

$(PIC)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(filter-out $(SAN),$(ALL_CFLAGS)) -fPIC -fvisibility=hidden -c $< -o $@

$(PIC)/store/cdc.o: ALL_CFLAGS += -falign-loops=32

$(PIC)/libt9kfs.a: $(patsubst %.c,$(PIC)/%.o,$(PIC_SRC))
	rm -f $@
	ar rcs $@ $^

build/$(SDK_SONAME): $(PIC)/sdk/t9kfs.o $(PIC)/libt9kfs.a sdk/libt9kfs.map
	$(CC) -shared -pthread -Wl,-soname,$(SDK_SONAME) -Wl,--version-script=sdk/libt9kfs.map \
		-Wl,-z,defs -o $@ $(PIC)/sdk/t9kfs.o $(PIC)/libt9kfs.a -Wl,--as-needed $(LIBS) $(LDFLAGS)

build/libt9kfs.so: build/$(SDK_SONAME)
	ln -sf $(SDK_SONAME) $@

# The C API's checks beside its unit tests (test/unit/check_sdk.c): the
# header alone compiles as C and as C++, a C++ program links and runs
# against the library, which exports t9kfs_* only, under its soname.
CXX ?= g++
sdk-check: build/libt9kfs.so
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c sdk/t9kfs.h
	$(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ sdk/t9kfs.h
	$(CXX) -std=c++11 -Wall -Wextra -Werror -Isdk -o build/sdk-cxx test/unit/sdk_cxx.cc \
		-Lbuild -lt9kfs
	LD_LIBRARY_PATH=build build/sdk-cxx
	@readelf -d build/$(SDK_SONAME) | grep -q 'SONAME.*\[$(SDK_SONAME)\]' || \
		{ echo "sdk-check: soname is not $(SDK_SONAME)"; exit 1; }
	@bad=$$(nm -D --defined-only build/$(SDK_SONAME) | awk '$$3 !~ /^t9kfs_/ && $$3 != "T9KFS_0"'); \
		[ -z "$$bad" ] || { echo "sdk-check: exports beyond t9kfs_*:"; echo "$$bad"; exit 1; }
	@echo "sdk-check: header C and C++, C++ link, exports and soname ok"

# FastCDC's hot loop runs at 2.3 or 4 GB/s depending on whether it straddles
# a cache line, which otherwise depends on unrelated code linked before it.
$(BUILD)/store/cdc.o: ALL_CFLAGS += -falign-loops=32

$(BUILD)/test/unit/%.o: ALL_CFLAGS += $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS))

# The integration tests' driver of the store API (S3 multipart, ranges, lists).
$(BUILD)/store-tool: $(BUILD)/test/integration/store-tool.o $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The random-operation exerciser of the mount tests (t0402-fsx.sh).
$(BUILD)/fsx: $(BUILD)/test/integration/fsx.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/test/fuzz/%: $(BUILD)/test/fuzz/%.o $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# Each decoder's fuzz target runs FUZZ_SECONDS from seeds written by
# test/fuzz/make-seeds.sh; a finding fails the target.
fuzz-build:
	$(MAKE) FUZZ=1 WERROR=1 $(patsubst %.c,build/fuzz/%,$(FUZZ_SRC))

fuzz: deps fuzz-build
	@sh test/fuzz/make-seeds.sh build/fuzz/seeds
	@for f in $(patsubst test/fuzz/%.c,%,$(FUZZ_SRC)); do \
		corpus=build/fuzz/corpus/$$f; mkdir -p $$corpus; \
		seeds=build/fuzz/seeds/$$f; [ -d $$seeds ] || seeds=; \
		echo "fuzz: $$f for $(FUZZ_SECONDS)s"; \
		build/fuzz/test/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			-artifact_prefix=build/fuzz/ $$corpus $$seeds 2>build/fuzz/$$f.log || \
			{ tail -n 40 build/fuzz/$$f.log; echo "fuzz: $$f FAILED"; exit 1; }; \
		grep -E "^Done|#[0-9]+ *DONE" build/fuzz/$$f.log | tail -n 1; \
	done

deps:
	@if [ "$$(id -u)" = 0 ]; then scripts/install-deps.sh; else scripts/install-deps.sh --check; fi

# Integration tests run against the sanitizer build, then each decoder is
# fuzzed briefly; Check's summary line of the unit tests comes last.
test: deps
	$(MAKE) ASAN=1 WERROR=1 build/asan/t9kfs build/asan/check_t9kfs build/asan/store-tool build/asan/fsx
	$(MAKE) WERROR=1 sdk-check
	T9KFS_BIN=$(CURDIR)/build/asan/t9kfs test/integration/run.sh
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	cd build/asan && CK_DEFAULT_TIMEOUT=120 ./check_t9kfs

unit: deps
	$(MAKE) ASAN=1 WERROR=1 build/asan/check_t9kfs
	cd build/asan && CK_DEFAULT_TIMEOUT=120 ./check_t9kfs

integration: deps
	$(MAKE) ASAN=1 WERROR=1 build/asan/t9kfs build/asan/store-tool build/asan/fsx
	$(MAKE) WERROR=1 sdk
	T9KFS_BIN=$(CURDIR)/build/asan/t9kfs test/integration/run.sh $(T)

bench: deps
	$(MAKE) t9kfs sdk build/release/bench/chunk_bench build/release/bench/meta_bench \
		build/release/bench/gc_bench \
		build/release/bench/read_files
	bench/run.sh

# The latest results as bench/results/report.html (SVG charts) and
# summary.png (drawn by a headless Chromium when one is installed).
bench-report:
	bench/report.py

demo: deps
	$(MAKE) t9kfs
	scripts/demo.sh

clean:
	rm -rf build t9kfs

-include $(shell find build -name '*.d' 2>/dev/null)
