# tollgate: build, run, test.
#   make            build the gateway, the mock Ollama and the unit tests
#   make run        install what is missing, build, start tollgate on :8080
#   make test       install what is missing, build, run every test (also under ASan+UBSan)
#   make bench      side-by-side benchmarks (bench/)

CC       ?= cc
SAN      ?= 0
ifeq ($(SAN),1)
BUILD    ?= build-asan
OPT      := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
OPT      := -O2
endif

LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# llhttp's strict mode: no leniency about chunk CRLFs or tabs in targets.
CPPFLAGS += -Iinclude -I$(LLHTTP_INC) -D_GNU_SOURCE -DTG_VERSION='"$(VERSION)"' -DLLHTTP_STRICT_MODE=1
CFLAGS   += -std=c11 -g $(OPT) -Wall -Wextra -Werror -pthread -MMD -MP
LDFLAGS  += $(filter -fsanitize%,$(OPT)) -pthread
LDLIBS   += -luv -ljansson -lm -lssl -lcrypto

# Debian packages the build and the tests need (scripts/deps.sh installs the missing ones).
BUILD_PKGS := gcc make libc6-dev libuv1-dev libjansson-dev node-llhttp libssl-dev
TEST_PKGS  := curl perl node=nodejs npm=npm nginx=nginx-light caddy

LIB_SRC   := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
MOCK_SRC  := $(shell find tools/mock-ollama -name '*.c' | sort)
MOCK_OBJ  := $(MOCK_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(shell find tests/unit -name '*.c' | sort)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps run test unit integration bench clean format
all: $(BUILD)/tollgate $(BUILD)/mock-ollama $(BUILD)/unit-tests

$(BUILD)/libtg.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/tollgate: $(BUILD)/src/main.o $(BUILD)/libtg.a $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mock-ollama: $(MOCK_OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libtg.a $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# llhttp is generated C; build it with our flags except -Werror.
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(filter-out -Werror -Wextra,$(CFLAGS)) -c -o $@ $<

deps:
	@scripts/deps.sh $(BUILD_PKGS)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/tollgate $(BUILD)/mock-ollama
	@scripts/run.sh $(BUILD)

test:
	@scripts/deps.sh $(BUILD_PKGS) $(TEST_PKGS)
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all
	@scripts/test.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

format:
	clang-format -i $$(find src include tests/unit tools -name '*.[ch]')

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
