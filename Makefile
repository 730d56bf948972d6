# Inhouse — the two commands a newcomer needs on a fresh Debian 12 machine:
#   make run    install dependencies, build, run the main job
#   make test   install dependencies, build, run every test
# More: make sanitize (tests under ASan+UBSan), make fuzz (60 s of libFuzzer), make bench.

BUILD ?= build
JOBS ?= $(shell nproc)
RUN_MODEL ?= tests/data/models/stories260k-f32.gguf
RUN_PROMPT ?= Once upon a time

.PHONY: all deps build test sanitize fuzz bench run ci clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DINHOUSE_SANITIZE=ON -DINHOUSE_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

fuzz: deps
	./scripts/fuzz.sh 60

bench: build
	for b in $(BUILD)/bench/bench_*; do $$b --benchmark_repetitions=5 --benchmark_report_aggregates_only=true; done

run: build
	$(BUILD)/inhouse info $(RUN_MODEL) | head -n 12
	$(BUILD)/inhouse run -m $(RUN_MODEL) -p "$(RUN_PROMPT)" -n 64

ci: test sanitize fuzz

clean:
	rm -rf $(BUILD) build-asan build-fuzz
