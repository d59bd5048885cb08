# utpost — the two commands: `make run` and `make test`. Everything else is optional.
#   make run          install missing Debian packages, build, start utpost --target=all
#   make test         install, build, lint the protos, run every test and every fuzz harness
#                     for FUZZ_REGRESS_SECONDS from its checked-in corpus
#   make bench        install PostgreSQL and libpq too (the benchmark's peer), build optimised
#                     and run the benchmarks (writes bench/results.md)
#   make asan         build and test with AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz         build the libFuzzer harnesses (clang) and run each for FUZZ_SECONDS
#   make fuzz-merge   add what make fuzz found that reaches new coverage to fuzz/corpus
#   make fuzz-seeds   rewrite the seed inputs in fuzz/corpus
#   make format       clang-format every source file; make format-check only checks
MAKEFLAGS += --no-print-directory
JOBS      ?= 2
BUILD     ?= build
ASAN_BUILD = build-asan
BENCH_BUILD = build-bench
FUZZ_BUILD = build-fuzz
FUZZ_SECONDS ?= 60
# make test runs each harness this long, from the checked-in corpus.
FUZZ_REGRESS_SECONDS ?= 5
CMAKE_FLAGS ?=
BUF_VERSION = 1.47.2
SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null)

.PHONY: run test build deps bench-deps bench asan format format-check lint-proto clean \
        fuzz fuzz-build fuzz-merge fuzz-seeds fuzz-regress

deps:
	@tools/install-deps.sh

# make bench also needs PostgreSQL (the benchmark's peer) and libpq; make run and make test do not.
bench-deps:
	@tools/install-deps.sh bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# make run builds only the two programs it needs (the tests are make test's), and registers
# the example form types (examples/forms/) once the server is up.
run: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS) --target utpost utpostctl
	tools/seed-dev-forms.sh $(BUILD)/clients/cli/utpostctl & \
	exec $(BUILD)/services/utpost/utpost --target=all --data-dir=data --config=config/utpost.dev.yaml

test: build lint-proto fuzz-build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600
	fuzz/run.sh regress $(FUZZ_BUILD) $(FUZZ_REGRESS_SECONDS)

# buf from npm, pinned, installed under the build directory (nothing global).
lint-proto: deps
	@if [ ! -x $(BUILD)/npm/node_modules/.bin/buf ]; then \
	  npm install --silent --no-save --no-audit --no-fund --prefix $(BUILD)/npm @bufbuild/buf@$(BUF_VERSION) >/dev/null; fi
	cd proto && ../$(BUILD)/npm/node_modules/.bin/buf lint
	@echo "buf lint: passed"

bench: bench-deps
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DUTPOST_BUILD_TESTS=OFF
	cmake --build $(BENCH_BUILD) -j$(JOBS) --target utpost utpost_loadgen utpost_bench_ceilings \
	  utpost_bench_lease utpost_registry_import utpost_bench_routing utpost_bench_forms \
	  utpost_crypto_bench utpost_bench_pg
	bench/run.sh $(BENCH_BUILD)
	$(BENCH_BUILD)/bench/utpost_crypto_bench --benchmark_min_time=0.5 | tee bench/crypto_results.txt

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUTPOST_SANITIZE=ON -DUTPOST_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 900

# The harnesses and the project code they call, built by clang with libFuzzer, ASan and UBSan
# in a build directory of their own (about a minute from cold on 2 cores).
$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DUTPOST_FUZZ=ON -DUTPOST_BUILD_TESTS=OFF -DUTPOST_BUILD_BENCH=OFF $(CMAKE_FLAGS)

fuzz-build: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target utpost_fuzzers

fuzz: fuzz-build
	fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-regress: fuzz-build
	fuzz/run.sh regress $(FUZZ_BUILD) $(FUZZ_REGRESS_SECONDS)

fuzz-merge: fuzz-build
	fuzz/run.sh merge $(FUZZ_BUILD)

fuzz-seeds: fuzz-build
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target utpost_fuzz_seeds
	$(FUZZ_BUILD)/fuzz/utpost_fuzz_seeds fuzz/corpus

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD)
