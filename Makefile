# Flowstate - one plain Makefile.
#   make            build build/flowstate (-O2)
#   make run        install what is missing, build, start the server
#   make test       install what is missing, build with ASan+UBSan, run all tests
#   make bench      build optimised, run the benchmarks
#   make fuzz       clang + libFuzzer: each fuzz/ target for FUZZ_SECONDS (60)
#   make SANITIZE=thread test-queue   (any sanitizer set: BUILD dir follows)

CC      ?= cc
SANITIZE ?=
BUILD   ?= build
PKGS    := sqlite3 libmicrohttpd jansson libcurl libpq

CFLAGS  := -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wshadow \
           -Wno-missing-field-initializers -MMD -MP -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstemmer -lpthread -lm
ifeq ($(SANITIZE),)
CFLAGS  += -O2
else
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=$(SANITIZE)
endif

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/templates.o
# The workflow templates, compiled in (scripts/embed-templates.sh).
TEMPLATES := $(sort $(wildcard workflows/*.json))
TEST_SRC := $(shell find tests -name '*.c' 2>/dev/null | sort)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(shell find bench -name '*.c' 2>/dev/null | sort)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# C++ drivers of other libraries (FAISS), built by `make bench` only.
BENCH_CXX_SRC := $(shell find bench -name '*.cpp' 2>/dev/null | sort)
BENCH_CXX_BIN := $(BENCH_CXX_SRC:bench/%.cpp=$(BUILD)/bench/%)
CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -MMD -MP -fopenmp
FUZZ_SRC := $(shell find fuzz -name '*.c' 2>/dev/null | sort)
FUZZ_REPLAY_OBJ := $(FUZZ_SRC:%.c=$(BUILD)/replay/%.o)
FUZZ_SECONDS ?= 60

$(TEST_OBJ) $(BENCH_SRC:%.c=$(BUILD)/%.o): CFLAGS += -Itests -Ibench

.PHONY: all run test check bench fuzz fuzz-merge clean deps deps-test \
        deps-bench deps-fuzz format

all: $(BUILD)/flowstate

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/templates.c: $(TEMPLATES) scripts/embed-templates.sh
	@mkdir -p $(dir $@)
	scripts/embed-templates.sh $@ $(TEMPLATES)

$(BUILD)/gen/templates.o: $(BUILD)/gen/templates.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libflowstate.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/flowstate: $(BUILD)/src/main.o $(BUILD)/libflowstate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/flowstate-tests: $(TEST_OBJ) $(FUZZ_REPLAY_OBJ) $(BUILD)/libflowstate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libflowstate.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BENCH_CXX_BIN): $(BUILD)/bench/%: bench/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $< -lfaiss -llapack -lblas -ldl

# The fuzz targets without LLVMFuzzerTestOneInput, linked into the tests
# (tests/fuzz/test_corpus.c replays the corpora through them).
$(BUILD)/replay/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_REPLAY -c $< -o $@

# A libFuzzer binary (clang; see the fuzz target below).
$(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/libflowstate.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
.SECONDARY: $(FUZZ_SRC:%.c=$(BUILD)/%.o)

deps:
	@scripts/setup.sh build
deps-test:
	@scripts/setup.sh test
deps-bench:
	@scripts/setup.sh bench
deps-fuzz:
	@scripts/setup.sh fuzz

run: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/flowstate serve $(ARGS)

# The suite CI runs: a ThreadSanitizer race check of the queue under
# concurrent workers, then everything under ASan + UBSan.
test: deps-test
	@$(MAKE) --no-print-directory BUILD=build/tsan SANITIZE=thread \
	    build/tsan/bench/bench_queue build/tsan/bench/bench_workflow
	TSAN_OPTIONS=halt_on_error=1 build/tsan/bench/bench_queue --jobs 2000 \
	    --quick --dir $${TMPDIR:-/tmp} >/dev/null
	TSAN_OPTIONS=halt_on_error=1 build/tsan/bench/bench_workflow --chain 100 \
	    --fan 1000 --runs 50 --dir $${TMPDIR:-/tmp} >/dev/null
	@echo "tsan: queue and workflow engine race checks passed"
	@$(MAKE) --no-print-directory BUILD=build/san SANITIZE=address,undefined \
	    build/san/flowstate build/san/flowstate-tests
	scripts/run-tests.sh build/san

# The same suite without sanitizers (faster, for iterating).
check: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/flowstate $(BUILD)/flowstate-tests
	scripts/run-tests.sh $(BUILD)

bench: deps-bench
	@$(MAKE) --no-print-directory BUILD=build/rel all $(BENCH_BIN:$(BUILD)/%=build/rel/%) \
	    $(BENCH_CXX_BIN:$(BUILD)/%=build/rel/%)
	scripts/bench.sh build/rel

# Every fuzz/ target, built with clang + libFuzzer + ASan + UBSan in
# build/fuzz, run one after the other for FUZZ_SECONDS each from its
# in-tree corpus (fuzz/run.sh); new inputs are kept in build/fuzz/new/ and
# `make fuzz-merge` adds those that reach new code to fuzz/corpus/.
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang \
	    SANITIZE=fuzzer-no-link,address,undefined \
	    $(FUZZ_SRC:%.c=build/fuzz/%)
	fuzz/run.sh run build/fuzz $(FUZZ_SECONDS)

fuzz-merge: deps-fuzz
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang \
	    SANITIZE=fuzzer-no-link,address,undefined \
	    $(FUZZ_SRC:%.c=build/fuzz/%)
	fuzz/run.sh merge build/fuzz

format:
	clang-format -i $(SRC) $(TEST_SRC) $(BENCH_SRC) $(BENCH_CXX_SRC) $(FUZZ_SRC) \
	    $(shell find src tests bench fuzz -name '*.h')

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
