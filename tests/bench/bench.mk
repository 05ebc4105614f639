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

# Not built by `make bench`: queueops links the shared objects `make` built, so
# it follows shared/rqueue.c. Build it with
#   make && make -f tests/bench/bench.mk queueops
QUEUEOPS_OBJ := $(addprefix $(BUILD)/obj/shared/,rqueue.o rqha.o sentinel.o uuid.o log.o timeutil.o \
                  actor.o mailbox.o)

$(BENCH)/queueops: tests/bench/queueops.c tests/bench/benchutil.h $(QUEUEOPS_OBJ)
	@mkdir -p $(BENCH)
	$(CC) $(CFLAGS) -Ishared $(shell pkg-config --cflags hiredis) $< $(QUEUEOPS_OBJ) \
	  $(shell pkg-config --libs hiredis) -lpthread -o $@

queueops: $(BENCH)/queueops

.PHONY: all queueops
