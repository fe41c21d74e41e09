# Thin wrapper over CMake. `make run` and `make test` work on a fresh Debian 12 machine as root.
BUILD      ?= build
JOBS       ?= 2
MARCH      ?= native
CONFIG     ?= conf/tapewire.toml
ARGS       ?=
CMAKE_ARGS ?=

.PHONY: all deps configure build run test bench test-sanitize test-tsan format format-check tidy clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DTAPEWIRE_MARCH=$(MARCH) $(CMAKE_ARGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j$(JOBS)

run: build
	./$(BUILD)/tapewire run --config $(CONFIG) $(ARGS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

bench: build
	bash bench/run.sh $(BUILD)

# ASan + UBSan over the whole test binary.
test-sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEWIRE_SANITIZE=address,undefined -DTAPEWIRE_MARCH=$(MARCH) -DTAPEWIRE_BENCH=OFF
	cmake --build build-asan -j$(JOBS) --target tapewire_tests tapewire
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1:alloc_dealloc_mismatch=1 ctest --test-dir build-asan --output-on-failure -j$(JOBS)

# TSan over the tests that run threads.
test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEWIRE_SANITIZE=thread -DTAPEWIRE_MARCH=$(MARCH) -DTAPEWIRE_BENCH=OFF
	cmake --build build-tsan -j$(JOBS) --target tapewire_tests
	mkdir -p build-tsan/test/work
	cd build-tsan/test/work && TSAN_OPTIONS=halt_on_error=1 ../tapewire_tests '[concurrency]'

format:
	clang-format -i $$(git ls-files '*.hpp' '*.cpp')

format-check:
	@command -v clang-format >/dev/null || apt-get install -y -q clang-format >/dev/null
	clang-format --dry-run --Werror $$(git ls-files '*.hpp' '*.cpp')

tidy: configure
	clang-tidy -p $(BUILD) $$(git ls-files 'src/*.cpp' 'operators/*.cpp')

clean:
	rm -rf $(BUILD) build-asan build-tsan
