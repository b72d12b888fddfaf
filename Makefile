# tollgate: build, run, test.
#   make            build the gateway, the mock Ollama and the unit tests
#   make run        install what is missing, build, start tollgate on :8080
#   make test       install what is missing, build, run every test (also under ASan+UBSan and TSan)
#   make SAN=1      the same targets under ASan+UBSan, in build-asan/
#   make SAN=thread the same targets under ThreadSanitizer, in build-tsan/
#   make bench      side-by-side benchmarks (bench/)
#   make install    the binary, man pages, systemd unit, logrotate file and an
#                   example config (PREFIX=/usr/local, DESTDIR, SYSCONFDIR=/etc)
#   make uninstall  removes what install put there, except the config
#   make deb        a Debian package, $(BUILD)/tollgate_VERSION_ARCH.deb (packaging/deb)

CC       ?= cc
SAN      ?= 0
# OPT and CFLAGS are the user's to set (make OPT=-O0, make CFLAGS=-O0,
# make CC=clang): they are added to what the code needs, never in its place.
# What the code needs (the C standard, _GNU_SOURCE, the include paths, the
# warnings, -pthread, the sanitizers of SAN=1 and SAN=thread) is in the
# FINAL_* variables, as Valkey does. SAN_FLAGS reach both the compile and the
# link line.
ifeq ($(SAN),1)
BUILD    ?= build-asan
OPT      ?= -O1
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),thread)
# ThreadSanitizer cannot be combined with ASan; the workers, the thread
# pool (crypt verification, the access log, quota files) and the ACME
# manager thread are what it watches.
BUILD    ?= build-tsan
OPT      ?= -O1
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifneq ($(SAN),0)
$(error SAN=$(SAN): use SAN=1 (ASan+UBSan) or SAN=thread (TSan))
else
BUILD    ?= build
# Link-time optimisation: a request's path crosses files (buf, head, rewrite,
# relay) and small helpers there inline only at link time.
OPT      ?= -O2 -flto=auto
SAN_FLAGS :=
endif

LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# Where `make install` puts things. The config lives in SYSCONFDIR whatever
# PREFIX is, and the binary reads SYSCONFDIR/tollgate/tollgate.conf when it
# is given no -c and no flag describing a site.
PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/tollgate
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

# llhttp's strict mode: no leniency about chunk CRLFs or tabs in targets.
WARN           := -Wall -Wextra -Werror
FINAL_CPPFLAGS := -Iinclude -I$(LLHTTP_INC) -D_GNU_SOURCE -DTG_VERSION='"$(VERSION)"' -DLLHTTP_STRICT_MODE=1 $(CPPFLAGS)
FINAL_CFLAGS   := -std=c11 -g $(OPT) $(SAN_FLAGS) $(WARN) -pthread -MMD -MP $(CFLAGS)
FINAL_LDFLAGS  := $(filter -O% -flto%,$(OPT) $(CFLAGS)) $(SAN_FLAGS) -pthread $(LDFLAGS)
FINAL_LIBS     := -luv -ljansson -lm -lssl -lcrypto -lcrypt -lhiredis -luring -lnghttp2 $(LDLIBS)

# Debian packages the build and the tests need (scripts/deps.sh installs the missing ones).
BUILD_PKGS := gcc make libc6-dev libuv1-dev libjansson-dev node-llhttp libssl-dev libcrypt-dev libhiredis-dev liburing-dev libnghttp2-dev
TEST_PKGS  := clang-format curl perl nghttp=nghttp2-client node=nodejs npm=npm nginx=nginx-light caddy pebble htpasswd=apache2-utils clang libclang-rt-14-dev chromium=chromium cppcheck man-db groff-base systemd logrotate procps python3=python3-minimal python3-h2 lintian dpkg-dev binutils adduser redis-server

# On a machine without the libraries, say which command installs them
# rather than stop at the first compiler error ("uv.h: No such file").
# Checked only when this make compiles something itself (run, test and
# bench install first, then call make again).
HASH := \#
DEP_HEADERS := uv.h=libuv1-dev jansson.h=libjansson-dev openssl/ssl.h=libssl-dev crypt.h=libcrypt-dev hiredis/hiredis.h=libhiredis-dev liburing.h=liburing-dev nghttp2/nghttp2.h=libnghttp2-dev
has_header = $(shell printf '$(HASH)include <$(1)>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo y)
ifneq ($(filter-out deps run test bench clean format uninstall,$(or $(MAKECMDGOALS),all)),)
ifeq ($(shell command -v $(firstword $(CC)) 2>/dev/null),)
$(error no C compiler '$(CC)': run `make deps` (installs: $(BUILD_PKGS)))
endif
ifneq ($(call has_header,$(subst $(eval) ,>\n$(HASH)include <,$(foreach d,$(DEP_HEADERS),$(firstword $(subst =, ,$(d)))))),y)
MISSING_PKGS := $(foreach d,$(DEP_HEADERS),$(if $(call has_header,$(firstword $(subst =, ,$(d)))),,$(lastword $(subst =, ,$(d)))))
endif
MISSING_PKGS += $(if $(wildcard $(LLHTTP_INC)/llhttp.h),,node-llhttp)
ifneq ($(strip $(MISSING_PKGS)),)
$(error the headers of $(strip $(MISSING_PKGS)) are missing: run `make deps` (installs: $(strip $(MISSING_PKGS))))
endif
endif

LIB_SRC   := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
MOCK_SRC  := $(shell find tools/mock-ollama -name '*.c' | sort)
MOCK_OBJ  := $(MOCK_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(shell find tests/unit -name '*.c' | sort)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps run test unit integration bench clean format cppcheck install uninstall deb
all: $(BUILD)/tollgate $(BUILD)/mock-ollama $(BUILD)/unit-tests $(BUILD)/no-io-uring

# The admin page's files as C strings (committed; rewritten when a page file changes).
src/admin/status-assets.c: $(wildcard src/admin/page/*) tools/embed-page.sh
	tools/embed-page.sh

$(BUILD)/libtg.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tollgate: $(BUILD)/src/main.o $(BUILD)/libtg.a $(LLHTTP_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

$(BUILD)/mock-ollama: $(MOCK_OBJ) $(LLHTTP_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

# runs a command with io_uring refused by seccomp (the io_engine fallback test)
$(BUILD)/no-io-uring: tools/no-io-uring/no-io-uring.c
	@mkdir -p $(@D)
	$(CC) $(FINAL_CPPFLAGS) $(FINAL_CFLAGS) $(FINAL_LDFLAGS) -o $@ $<

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libtg.a $(LLHTTP_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

$(BUILD)/src/main.o: FINAL_CPPFLAGS += -DTG_CONF_PATH='"$(SYSCONFDIR)/tollgate/tollgate.conf"'

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FINAL_CPPFLAGS) $(FINAL_CFLAGS) -c -o $@ $<

# llhttp is generated C; build it with our flags except -Werror.
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(@D)
	$(CC) $(FINAL_CPPFLAGS) $(filter-out -Werror -Wextra,$(FINAL_CFLAGS)) -c -o $@ $<

# The unit and the config name the installed paths; packaging/ holds them
# with PREFIX=/usr and SYSCONFDIR=/etc, as the Debian package has them.
install_paths = sed -e 's|/usr/sbin/tollgate|$(SBINDIR)/tollgate|g' -e 's|/etc/tollgate|$(SYSCONFDIR)/tollgate|g'

install: $(BUILD)/tollgate
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(SYSCONFDIR)/tollgate $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/tollgate $(DESTDIR)$(SBINDIR)/tollgate
	install -m 0644 man/tollgate.8 $(DESTDIR)$(MANDIR)/man8/tollgate.8
	install -m 0644 man/tollgate.conf.5 $(DESTDIR)$(MANDIR)/man5/tollgate.conf.5
	$(install_paths) packaging/tollgate.service > $(DESTDIR)$(UNITDIR)/tollgate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tollgate.service
	install -m 0644 packaging/tollgate.sysusers $(DESTDIR)$(SYSUSERSDIR)/tollgate.conf
	install -m 0644 packaging/tollgate.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/tollgate
	install -m 0644 packaging/tollgate.conf $(DESTDIR)$(DOCDIR)/tollgate.conf.example
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/tollgate/tollgate.conf ]; then \
	  echo "install: $(DESTDIR)$(SYSCONFDIR)/tollgate/tollgate.conf exists: kept (the example is $(DOCDIR)/tollgate.conf.example)"; \
	else \
	  install -m 0644 packaging/tollgate.conf $(DESTDIR)$(SYSCONFDIR)/tollgate/tollgate.conf; \
	fi
	@echo "install: done. As root: systemd-sysusers (creates the tollgate user), then systemctl daemon-reload && systemctl enable --now tollgate"

deb: $(BUILD)/tollgate
	@packaging/deb/build.sh $(BUILD) $(VERSION)

# The config is the administrator's: it stays, as a package's conffile would.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tollgate $(DESTDIR)$(MANDIR)/man8/tollgate.8 $(DESTDIR)$(MANDIR)/man5/tollgate.conf.5 \
	  $(DESTDIR)$(UNITDIR)/tollgate.service $(DESTDIR)$(SYSUSERSDIR)/tollgate.conf \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d/tollgate $(DESTDIR)$(DOCDIR)/tollgate.conf.example
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/tollgate/tollgate.conf ]; then echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/tollgate/tollgate.conf kept"; fi

deps:
	@scripts/deps.sh $(BUILD_PKGS)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/tollgate $(BUILD)/mock-ollama
	@scripts/run.sh $(BUILD)

test:
	@scripts/deps.sh $(BUILD_PKGS) $(TEST_PKGS)
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all
	@$(MAKE) --no-print-directory SAN=thread all
	@scripts/test.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

# cppcheck over src/ with the build's -I and -D flags (scripts/cppcheck.sh).
cppcheck:
	@scripts/cppcheck.sh $(FINAL_CPPFLAGS)

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'include/*.h' 'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]' 'tools/*.[ch]' 'bench/*.c')

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang into build-fuzz/.
#   make fuzz        each target for FUZZ_SECONDS (default 60) over tests/fuzz/corpus/<name>/
#   make fuzz-smoke  regressions replayed, then each target for 15 s ("fuzz: N passed, N failed")
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_EXTRA   ?=
FUZZ_CFLAGS  := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer -pthread -Wall -Wextra -Werror -Itests/fuzz $(FUZZ_EXTRA)
FUZZ_NAMES   := $(sort $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)
FUZZ_SUPPORT := $(FUZZ_BUILD)/tests/fuzz/proxy_harness.o $(FUZZ_BUILD)/tests/fuzz/http_ref.o
.PHONY: fuzz fuzz-build fuzz-smoke
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/tests/fuzz/%.o)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) 15 smoke

$(FUZZ_BUILD)/libtg.a: $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_SUPPORT) $(LLHTTP_OBJ:$(BUILD)/%=$(FUZZ_BUILD)/%)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libtg.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wl,--wrap=tg_vlog -o $@ $^ $(FINAL_LIBS)

$(FUZZ_BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FINAL_CPPFLAGS) $(filter-out -Werror -Wextra,$(FUZZ_CFLAGS)) -c -o $@ $<

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FINAL_CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

clean:
	rm -rf build build-asan build-tsan build-fuzz build-matrix

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
