# tests/bench/bench.mk - builds the benchmark programs; run by `make bench`
# (top-level Makefile) as: $(MAKE) -f tests/bench/bench.mk BUILD=build
BUILD  ?= build
CC     ?= cc
CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 -D_GNU_SOURCE \
          -fno-omit-frame-pointer

BENCH := $(BUILD)/bench

all: $(BENCH)/floors $(BENCH)/loadgen

$(BENCH)/floors: tests/bench/floors.c tests/bench/benchutil.h
	@mkdir -p $(BENCH)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libturbojpeg libjpeg) $< \
	  $(shell pkg-config --libs libturbojpeg libjpeg) -o $@

$(BENCH)/loadgen: tests/bench/loadgen.c tests/bench/benchutil.h
	@mkdir -p $(BENCH)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libcurl) $< \
	  $(shell pkg-config --libs libcurl) -o $@

# Not built by `make bench`: queueops links the shared archive `make` built
# (shared/ and the Lua scripts it embeds), so it follows shared/rqueue.c.
# Build it with
#   make && make -f tests/bench/bench.mk queueops
SHARED_LIB := $(BUILD)/libimgcap-shared.a

$(BENCH)/queueops: tests/bench/queueops.c tests/bench/benchutil.h $(SHARED_LIB)
	@mkdir -p $(BENCH)
	$(CC) $(CFLAGS) -Ishared $(shell pkg-config --cflags hiredis) $< $(SHARED_LIB) \
	  $(shell pkg-config --libs hiredis) -lpthread -o $@

queueops: $(BENCH)/queueops

.PHONY: all queueops
