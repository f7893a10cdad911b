# t9kfs build. `make` builds ./t9kfs; `make test` installs what the tests
# need (as root), builds with ASan+UBSan and runs the integration and unit
# tests; `make bench` runs the benchmarks. ASAN=1 builds with sanitizers,
# WERROR=1 turns warnings into errors (the test build does both).

CC ?= gcc
PKG_CONFIG ?= pkg-config
PKGS = openssl libzstd
TEST_PKGS = check

OPT ?= -O2 -g
WARN = -Wall -Wextra -Wvla -Wshadow -Wformat=2 -Wno-format-nonliteral -Wstrict-prototypes
ifeq ($(ASAN),1)
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
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -I. -pthread $(OPT) $(WARN) $(SAN) $(PKG_CFLAGS) \
	-include lib/banned.h -MMD -MP $(CFLAGS)
ALL_LDFLAGS = -pthread $(SAN) $(LDFLAGS)
LIBS = $(PKG_LIBS)

LIB_SRC := $(wildcard lib/*.c store/*.c)
TOOL_SRC := $(wildcard tools/*.c)
UNIT_SRC := $(wildcard test/unit/*.c)
BENCH_SRC := $(wildcard bench/*.c)
obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

.PHONY: all test unit integration bench deps clean demo
all: t9kfs

t9kfs: $(BUILD)/t9kfs
	cp $< $@

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libt9kfs.a: $(call obj,$(LIB_SRC))
	rm -f $@
	ar rcs $@ $^

$(BUILD)/t9kfs: $(call obj,$(TOOL_SRC)) $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/check_t9kfs: $(call obj,$(UNIT_SRC)) $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))

$(BUILD)/test/unit/%.o: ALL_CFLAGS += $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS))

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libt9kfs.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

deps:
	@if [ "$$(id -u)" = 0 ]; then scripts/install-deps.sh; else scripts/install-deps.sh --check; fi

# Integration tests run against the sanitizer build; Check's summary line
# of the unit tests comes last.
test: deps
	$(MAKE) ASAN=1 WERROR=1 build/asan/t9kfs build/asan/check_t9kfs
	T9KFS_BIN=$(CURDIR)/build/asan/t9kfs test/integration/run.sh
	cd build/asan && CK_DEFAULT_TIMEOUT=120 ./check_t9kfs

unit: deps
	$(MAKE) ASAN=1 WERROR=1 build/asan/check_t9kfs
	cd build/asan && CK_DEFAULT_TIMEOUT=120 ./check_t9kfs

integration: deps
	$(MAKE) ASAN=1 WERROR=1 build/asan/t9kfs
	T9KFS_BIN=$(CURDIR)/build/asan/t9kfs test/integration/run.sh $(T)

bench: deps
	$(MAKE) t9kfs build/release/bench/chunk_bench
	bench/run.sh

demo: deps
	$(MAKE) t9kfs
	scripts/demo.sh

clean:
	rm -rf build t9kfs

-include $(shell find build -name '*.d' 2>/dev/null)
