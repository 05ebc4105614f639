# fuzz.mk - libFuzzer targets for the code that reads untrusted bytes. Driven by
# the top-level Makefile (`make fuzz`, `make fuzz-ci`); usable alone:
#   make -f tests/fuzz/fuzz.mk run FUZZ_SECONDS=60 [FUZZ_TARGETS="wire utf8"]
#
# The project's .c files are compiled again with clang and
# -fsanitize=fuzzer-no-link,address,undefined into build/fuzz/obj (the gcc
# objects of `make` cannot carry libFuzzer's coverage instrumentation). Each
# target runs FUZZ_SECONDS on a corpus in build/fuzz/corpus/<target>, seeded
# from tests/fuzz/seeds/<target> (written by tests/fuzz/make_seeds.py); every
# target runs even when one fails; a crash leaves its input in
# build/fuzz/crash/<target>/ and fails the run. Warnings are not errors here:
# clang's set differs from gcc's, and `make lint` is where style is enforced.

FUZZ_CC      ?= clang-14
FUZZ_BUILD   ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= wire utf8 config upload params exif layout splice render consumer_ident \
                sentinel
PKGS         := libulfius liborcania hiredis libpq libturbojpeg libjpeg freetype2 fontconfig jansson \
                harfbuzz fribidi icu-uc
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -Wall -Wextra \
                -D_GNU_SOURCE -Ishared -Iservices $(shell pkg-config --cflags $(PKGS))
FUZZ_LIBS    := $(shell pkg-config --libs $(PKGS)) -lpthread -lm

# Every module except the services' entry points; the linker takes from the
# archive only what a target needs.
LIB_SRC := $(wildcard shared/*.c) \
           $(filter-out %/main.c,$(wildcard services/api/*.c services/render/*.c \
                                            services/persist/*.c))
# rqueue's Lua scripts (shared/lua/), embedded by the top-level Makefile's rule.
LUA_C   := $(patsubst %,$(FUZZ_BUILD)/gen/asset/%.c,$(wildcard shared/lua/*.lua))
LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC) $(LUA_C))
LIB     := $(FUZZ_BUILD)/libimgcap.a
BINS    := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

.PHONY: build run
.SECONDARY: $(LUA_C)

build: $(BINS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(LUA_C): $(FUZZ_BUILD)/gen/asset/%.c: %
	$(MAKE) -f Makefile BUILD=$(FUZZ_BUILD) $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(LIB) $(FUZZ_LIBS) -o $@

# -rss_limit_mb and -max_len keep the renderer (MAX_PIXELS is small in its
# target) and the multipart parser within this machine; the dictionary
# tests/fuzz/<target>.dict is used when present.
run: $(BINS)
	@failed=; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crash/$$t; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  IMGCAP_ROOT=$(CURDIR) LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	    $(FUZZ_BUILD)/fuzz_$$t $$dict -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crash/$$t/ \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/seeds/$$t > $(FUZZ_BUILD)/fuzz_$$t.log 2>&1 \
	    || failed="$$failed $$t"; \
	  grep -E '^(stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|SUMMARY)' \
	    $(FUZZ_BUILD)/fuzz_$$t.log; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: FAILED:$$failed (logs: $(FUZZ_BUILD)/fuzz_<target>.log, inputs: $(FUZZ_BUILD)/crash/)"; \
	  exit 1; \
	fi; echo "fuzz: $(words $(FUZZ_TARGETS)) targets, no crash"

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
