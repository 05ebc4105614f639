# fuzz.mk - libFuzzer targets for the code that reads untrusted bytes. Driven by
# the top-level Makefile (`make fuzz`, `make fuzz-ci`); usable alone:
#   make -f tests/fuzz/fuzz.mk run FUZZ_SECONDS=60 [FUZZ_TARGETS="wire utf8"]
#   make -f tests/fuzz/fuzz.mk run FUZZ_SECONDS=10 FUZZ_LONG_SECONDS=60
# The second form (CI's) gives FUZZ_LONG_SECONDS to each target whose code a
# commit of the last FUZZ_CHANGED_DAYS days touched (tests/fuzz/changed.py)
# and FUZZ_SECONDS to the rest; FUZZ_JOBS targets run at once.
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
FUZZ_LONG_SECONDS ?=
FUZZ_CHANGED_DAYS ?= 2
FUZZ_JOBS    ?= 2
FUZZ_TARGETS ?= wire utf8 config upload params listquery router exif layout splice render thumb \
                consumer_ident sentinel rqueue_url uuid idem
PKGS         := libulfius liborcania hiredis libpq libturbojpeg libjpeg freetype2 fontconfig jansson \
                harfbuzz fribidi icu-uc libcrypto
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

# The .d and the link map say which project files a target is built from
# (tests/fuzz/changed.py reads them).
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MF $@.d $< $(LIB) $(FUZZ_LIBS) \
	  -Wl,-Map=$@.map -o $@

# Every target runs even when one fails (tests/fuzz/run_one.sh runs one).
run: $(BINS)
	@long=; if [ -n "$(FUZZ_LONG_SECONDS)" ]; then \
	  long=$$(python3 tests/fuzz/changed.py $(FUZZ_BUILD) $(FUZZ_CHANGED_DAYS) $(FUZZ_TARGETS) \
	          | tr '\n' ' ') || exit 1; \
	  echo "fuzz: changed in the last $(FUZZ_CHANGED_DAYS) days, $(FUZZ_LONG_SECONDS) s each: $${long:-none}"; \
	fi; \
	for t in $(FUZZ_TARGETS); do \
	  s=$(FUZZ_SECONDS); case " $$long " in *" $$t "*) s=$(FUZZ_LONG_SECONDS);; esac; \
	  echo "$(FUZZ_BUILD) $$t $$s"; \
	done | xargs -P $(FUZZ_JOBS) -L 1 tests/fuzz/run_one.sh | tee $(FUZZ_BUILD)/run.out; \
	failed=$$(sed -n 's/^== fuzz_\([^:]*\): .*FAILED.*/\1/p' $(FUZZ_BUILD)/run.out | tr '\n' ' '); \
	ran=$$(grep -c '^== fuzz_' $(FUZZ_BUILD)/run.out); \
	if [ -n "$$failed" ] || [ "$$ran" -ne $(words $(FUZZ_TARGETS)) ]; then \
	  echo "fuzz: FAILED: $${failed}($$ran of $(words $(FUZZ_TARGETS)) ran; logs: $(FUZZ_BUILD)/fuzz_<target>.log, inputs: $(FUZZ_BUILD)/crash/)"; \
	  exit 1; \
	fi; echo "fuzz: $(words $(FUZZ_TARGETS)) targets, no crash"

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
