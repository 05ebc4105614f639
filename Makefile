# imgcap - top-level build. `make` builds the three services into $(BUILD)/.
# `make test` runs the unit tests (check) and the integration tests (real
# redis-server and PostgreSQL started by the harness). See README.md.

BUILD    ?= build
CC       ?= cc
# Each service links only the libraries it uses: shared/ is a static archive,
# so a binary takes only the modules it calls (render never loads libpq or an
# HTTP library; persist no JPEG or font library; the api no font library).
# wire.c speaks JSON (jansson), rqueue.c Redis (hiredis), pgconn.c libpq.
API_PKGS     := libulfius libmicrohttpd liborcania hiredis libpq jansson
RENDER_PKGS  := hiredis libjpeg freetype2 fontconfig jansson
PERSIST_PKGS := hiredis libpq jansson
PKGS     := $(sort $(API_PKGS) $(RENDER_PKGS) $(PERSIST_PKGS))
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
svc_libs = $(shell pkg-config --libs $(1)) -lpthread -lm
CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS   := $(shell pkg-config --libs check)

OPT      ?= -O2 -g
SAN      ?=
CFLAGS   ?=
CFLAGS   += -std=gnu11 $(OPT) $(SAN) -Wall -Wextra -Werror -Wshadow -Wformat=2 \
            -Wno-format-nonliteral -fno-omit-frame-pointer -D_GNU_SOURCE -Ishared $(PKG_CFLAGS)
# --no-as-needed: what a binary loads is what its link line names, whatever the
# toolchain's default, so check-deploy's tests/deploy/check_service_libs.py
# checks these lists themselves.
LDFLAGS  += $(SAN) -rdynamic -Wl,--no-as-needed

SHARED_SRC  := $(wildcard shared/*.c)
API_SRC     := $(filter-out services/api/main.c,$(wildcard services/api/*.c))
RENDER_SRC  := $(filter-out services/render/main.c,$(wildcard services/render/*.c))
PERSIST_SRC := $(filter-out services/persist/main.c,$(wildcard services/persist/*.c))
UNIT_SRC    := $(wildcard tests/unit/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

SHARED_OBJ  := $(call obj,$(SHARED_SRC))
SHARED_LIB  := $(BUILD)/libimgcap-shared.a
API_OBJ     := $(call obj,$(API_SRC))
RENDER_OBJ  := $(call obj,$(RENDER_SRC))
PERSIST_OBJ := $(call obj,$(PERSIST_SRC))
UNIT_OBJ    := $(call obj,$(UNIT_SRC))

# services/api/openapi.json embedded in the api binary as api_openapi_json[]
# (NUL-terminated) and api_openapi_json_len; od and sed only, no xxd needed.
API_OBJ     += $(call obj,$(BUILD)/gen/openapi_json.c)

BINS := $(BUILD)/imgcap-api $(BUILD)/imgcap-render $(BUILD)/imgcap-persist

.PHONY: all test unit integration test-sanitize test-valgrind run clean deps \
        check-deploy bench bench-outside fuzz lint fuzz-ci test-tsan test-hosts

all: $(BINS)

$(BUILD)/gen/openapi_json.c: services/api/openapi.json
	@mkdir -p $(dir $@)
	{ echo '/* generated from $< by the Makefile: do not edit */'; \
	  echo 'const unsigned char api_openapi_json[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo 'const unsigned long api_openapi_json_len = sizeof api_openapi_json - 1;'; } > $@.tmp
	mv $@.tmp $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -Itests/unit -Iservices -MMD -MP -c $< -o $@

$(SHARED_LIB): $(SHARED_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/imgcap-api: $(call obj,services/api/main.c) $(API_OBJ) $(SHARED_LIB)
	$(CC) $(LDFLAGS) $^ $(call svc_libs,$(API_PKGS)) -o $@

$(BUILD)/imgcap-render: $(call obj,services/render/main.c) $(RENDER_OBJ) $(SHARED_LIB)
	$(CC) $(LDFLAGS) $^ $(call svc_libs,$(RENDER_PKGS)) -o $@

$(BUILD)/imgcap-persist: $(call obj,services/persist/main.c) $(PERSIST_OBJ) $(SHARED_LIB)
	$(CC) $(LDFLAGS) $^ $(call svc_libs,$(PERSIST_PKGS)) -o $@

# One check runner for every pure module: tests/unit/test_<name>.c defines
# Suite *<name>_suite(void); the list of suites is generated from file names.
$(BUILD)/unit_suites.h: $(UNIT_SRC)
	@mkdir -p $(BUILD)
	@for f in $(filter-out tests/unit/main.c tests/unit/unit_util.c,$(UNIT_SRC)); do \
	  n=$$(basename $$f .c); n=$${n#test_}; echo "SUITE($$n)"; done > $@

$(BUILD)/obj/tests/unit/main.o: $(BUILD)/unit_suites.h
$(BUILD)/obj/tests/unit/main.o: CFLAGS += -I$(BUILD)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(API_OBJ) $(RENDER_OBJ) $(PERSIST_OBJ) $(SHARED_OBJ)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(PKG_LIBS) $(shell pkg-config --libs libturbojpeg) \
	  -lpthread -lm -o $@

unit: $(BUILD)/unit-tests
	IMGCAP_ROOT=$(CURDIR) $(BUILD)/unit-tests

integration: all
	IMGCAP_BIN_DIR=$(CURDIR)/$(BUILD) python3 tests/integration/run.py

test: unit integration

# Several hosts as network namespaces (tests/hosts/): partitions, the loss of
# the Redis primary's host under Sentinel, a shared image directory. Root only.
test-hosts: all
	IMGCAP_BIN_DIR=$(CURDIR)/$(BUILD) python3 tests/hosts/run.py

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize:
	$(MAKE) BUILD=build/asan OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

test-valgrind: $(BUILD)/unit-tests
	CK_FORK=no IMGCAP_ROOT=$(CURDIR) valgrind --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect $(BUILD)/unit-tests

# ThreadSanitizer on the concurrent code: the mailbox and actor suites (a race
# report fails the test: check's fork mode sees the exit code), then the queue
# and logging integration tests against TSan builds of the services (the
# harness fails a test whose service printed a ThreadSanitizer report).
TSAN_SUITES ?= mailbox regress_actor
TSAN_INTEGRATION ?= test_pipeline test_reliability test_hardening.LogFiles
test-tsan:
	$(MAKE) BUILD=build/tsan OPT="-O1 -g" SAN=-fsanitize=thread build/tsan/unit-tests all
	@for s in $(TSAN_SUITES); do \
	  out=$$(CK_RUN_SUITE=$$s IMGCAP_ROOT=$(CURDIR) TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
	    build/tsan/unit-tests 2>&1); rc=$$?; echo "$$out"; \
	  echo "$$out" | grep -q 'Checks: [1-9]' || { echo "test-tsan: suite $$s ran nothing"; exit 1; }; \
	  [ $$rc -eq 0 ] || exit 1; \
	done
	IMGCAP_BIN_DIR=$(CURDIR)/build/tsan python3 tests/integration/run.py $(TSAN_INTEGRATION)

# libFuzzer targets (tests/fuzz/fuzz.mk, clang-14): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -f tests/fuzz/fuzz.mk run FUZZ_SECONDS=$(FUZZ_SECONDS)

# Every target briefly (seeds and past crash inputs first), for CI.
fuzz-ci:
	$(MAKE) -f tests/fuzz/fuzz.mk run FUZZ_SECONDS=10

# Static analysis of the project's C code; checks and exclusions are
# documented in .clang-tidy. Both tools must report nothing.
LINT_SRC = $(SHARED_SRC) $(wildcard services/*/*.c) $(wildcard tests/fuzz/*.c)
lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -Ishared -Iservices \
	  $(LINT_SRC)
	printf '%s\n' $(LINT_SRC) | xargs -P2 -I{} clang-tidy --quiet {} -- -std=gnu11 -D_GNU_SOURCE \
	  -Ishared -Iservices $(PKG_CFLAGS)

run: all
	deploy/run.sh

deps:
	deploy/deps.sh

# Figures, never pass/fail on time (tests/bench/README.md). BENCH_N, BENCH_C.
bench: all
	$(MAKE) -f tests/bench/bench.mk BUILD=$(BUILD)
	IMGCAP_BIN_DIR=$(CURDIR)/$(BUILD) BENCH_BIN_DIR=$(CURDIR)/$(BUILD)/bench \
	  python3 tests/bench/bench.py

# Issue 7's independent check: one curl --parallel, the public HTTP API only;
# figures only, fails only when an accepted upload is missing or listed twice.
bench-outside: all
	IMGCAP_BIN_DIR=$(CURDIR)/$(BUILD) tests/bench/outside.sh --local

# The Docker deployment, checked without an engine: compose files accepted by
# docker-compose, their structure, and the runtime image's package list against
# what the built binaries load (tests/deploy/).
check-deploy: all
	docker-compose -f docker-compose.yml config -q
	docker-compose -f docker-compose.yml -f compose.override.yml config -q
	docker-compose -f deploy/compose.app-host.yml --env-file deploy/app-host.env.example config -q
	python3 tests/deploy/test_deploy.py
	python3 tests/deploy/check_runtime_libs.py $(BINS)
	python3 tests/deploy/check_service_libs.py $(BUILD)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
