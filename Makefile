# Thin wrapper around Meson; see README.md.
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps test unit guest integration lab asan demo bench bench-api bench-api-load clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	@scripts/deps.sh build
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

deps:
	scripts/deps.sh all

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Everything: both builds (timed by the script), unit, guest and
# integration tests on the normal and the sanitizer build, the fuzz smoke,
# then the lab (real kernel boots).
test: $(BUILD)/build.ninja $(ASAN_BUILD)/build.ninja
	scripts/test.sh

demo: all
	scripts/demo.sh

bench: all
	bench/run.sh

# The control plane (issue 7): API socket ready, InstanceStart to /init.
bench-api: all
	bench/run.sh --api

# The API socket under a client pool's load, on the host (issue 28 §3).
bench-api-load: all
	bench/run.sh --api-load

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
