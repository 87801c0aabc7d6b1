# bale: the two commands of the README (make run, make test) and their helpers.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all bootstrap build test unit-test integration-test test-asan fuzz run bench format clean \
        cluster cluster-stop

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja: CMakeLists.txt | bootstrap
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: bootstrap $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Both test targets fail on a skipped test that tests/allowed_skips.txt does not list
# (scripts/check_skips; run.sh runs it for the integration tests).
unit-test: build
	scripts/run_unit_tests $(BUILD) -j $(JOBS)

integration-test: build
	tests/integration/run.sh $(BUILD)/bale

test: unit-test integration-test

$(ASAN_BUILD)/build.ninja: CMakeLists.txt | bootstrap
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DBALE_SANITIZE=ON

test-asan: bootstrap $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  scripts/run_unit_tests $(ASAN_BUILD) -j $(JOBS)

run: build
	$(BUILD)/bale serve

# A local cluster on the default ports (etcd, a directory, three stores, a router), data
# under ./cluster-data; docs/cluster.md. TLS=1: TLS on every internal link and to etcd,
# with a local CA made under ./cluster-data/tls. cluster-stop stops it.
cluster: build
	scripts/cluster start $(BUILD)/bale $(if $(filter-out 0,$(TLS)),--tls)

cluster-stop:
	scripts/cluster stop

fuzz: bootstrap
	scripts/fuzz $(or $(FUZZ_SECONDS),60)

# About half an hour: the engine against one file per object at 1M objects, then
# bale serve against memcached. bench/RESULTS.md has the 10M-object engine command.
bench: build
	bench/run_engine.sh --objects 1000000 --baseline-objects 1000000 --rounds 3
	bench/run_memcached.py --rounds 3 --time 10s
	bench/run_http.py --rounds 3 --time 10s

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
