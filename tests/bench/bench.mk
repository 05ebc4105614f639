# tests/bench/bench.mk - builds the benchmark programs; run by `make bench`
# (top-level Makefile) as: $(MAKE) -f tests/bench/bench.mk BUILD=build
BUILD  ?= build
CC     ?= cc
CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 -D_GNU_SOURCE \
          -fno-omit-frame-pointer

BENCH := $(BUILD)/bench

all: $(BENCH)/floors $(BENCH)/loadgen

$(BENCH)/floors: tests/bench/floors.c
	@mkdir -p $(BENCH)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libturbojpeg libjpeg) $< \
	  $(shell pkg-config --libs libturbojpeg libjpeg) -o $@

$(BENCH)/loadgen: tests/bench/loadgen.c
	@mkdir -p $(BENCH)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libcurl) $< \
	  $(shell pkg-config --libs libcurl) -o $@

.PHONY: all
