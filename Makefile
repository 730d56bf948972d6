# Inhouse — the two commands a newcomer needs on a fresh Debian 12 machine:
#   make run    install dependencies, build, start the server (inhouse serve) on 127.0.0.1:8080
#   make test   install dependencies, build, run every test
# More: make sanitize (tests under ASan+UBSan), make fuzz (60 s of libFuzzer), make bench.

BUILD ?= build
JOBS ?= $(shell nproc)
# The bundled tiny models; point these at real GGUF files to serve them (make run CHAT_MODEL=...).
CHAT_MODEL ?= tests/data/models/qwen2-tiny-chat-q4_0.gguf
EMBED_MODEL ?= tests/data/models/bert-tiny-q8_0.gguf
PORT ?= 8080
DATA_DIR ?= $(HOME)/.local/share/inhouse

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
	$(BUILD)/inhouse serve --model chat=$(CHAT_MODEL) --model embed=$(EMBED_MODEL) \
	  --host 127.0.0.1 --port $(PORT) --data-dir $(DATA_DIR)

ci: test sanitize fuzz

clean:
	rm -rf $(BUILD) build-asan build-fuzz
