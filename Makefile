# kfarm — multi-architecture kernel regression test farm runner.
#   make            build bin/kfarm
#   make deps       install Debian 12 packages (root)
#   make images     default kernels + initramfs per arch, into $(KFARM_CACHE)
#   make demo       deps + build + images + the default 5-arch matrix
#   make test       the whole test suite
#   make bench      benchmarks (ratios measured side by side)

KFARM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kfarm
# every arches/NAME.json profile (an arch is its profile and its config
# fragment: no list to edit here); ARCHES_ORDER only orders the known ones
# first (the host's arch, then the quicker guests), any other follows by name
ARCHES_ORDER = x86_64 arm64 riscv64 sparc64 alpha
ARCHES_ALL := $(sort $(basename $(notdir $(wildcard arches/*.json))))
ARCHES ?= $(filter $(ARCHES_ALL),$(ARCHES_ORDER)) $(filter-out $(ARCHES_ORDER),$(ARCHES_ALL))
VERSIONS ?= 6.1 6.12
export KFARM_CACHE

CC ?= cc
BUILD ?= build
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
PKGS = jansson sqlite3 libmicrohttpd libcrypto libvirt libssh libxml-2.0 libcurl yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
KFARM_CPPFLAGS = -D_GNU_SOURCE -DKFARM_ARCHES_DIR='"$(CURDIR)/arches"' \
	-DKFARM_WEB_DIR='"$(CURDIR)/web"' -DKFARM_KNOWN_DIR='"$(CURDIR)/known"'
ALL_CFLAGS = -std=gnu11 $(WARN) $(KFARM_CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP

RUNNER_SRC := $(filter-out runner/main.c,$(wildcard runner/*.c))
RUNNER_OBJ := $(RUNNER_SRC:runner/%.c=$(BUILD)/runner/%.o)

all: bin/kfarm

bin/kfarm: $(RUNNER_OBJ) $(BUILD)/runner/main.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/runner/%.o: runner/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

-include $(wildcard $(BUILD)/runner/*.d)

# --- images: default kernels and the guest suite (images/*.mk) ---
-include images/kernel.mk
-include images/guest.mk

images: kernels initramfs

# --- Debian 12 packages ---
DEPS = build-essential patch pkg-config bc bison flex libelf-dev libssl-dev cpio xz-utils \
	jq curl sqlite3 python3 ccache rsync libxml2-dev \
	qemu-system-x86 qemu-system-arm qemu-system-misc qemu-system-sparc \
	gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu gcc-sparc64-linux-gnu gcc-alpha-linux-gnu \
	libc6-dev-arm64-cross libc6-dev-riscv64-cross libc6-dev-sparc64-cross \
	libc6.1-dev-alpha-cross linux-source-6.1 linux-source-6.12 \
	libsqlite3-dev libjansson-dev libmicrohttpd-dev libcmocka-dev libvirt-dev libssh-dev \
	valgrind libxml2-utils wrk chromium cppcheck \
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients openssh-server iproute2 clang libclang-rt-14-dev \
	libcurl4-openssl-dev libyaml-dev postgresql
# LAVA (backend_lava, t-lava.sh): its postinst creates its database, so
# PostgreSQL must already run; without systemd (CI) nothing starts it
LAVA_DEPS = lava-server lava-dispatcher
deps: deps-base
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	missing=$$(for p in $(LAVA_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		pg_lsclusters -h | grep -q ' online ' || $$SUDO pg_ctlcluster 15 main start; \
		echo "installing: $$missing"; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
deps-base:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	else echo "all packages present"; fi; \
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q nodejs npm

demo: deps
	$(MAKE) all
	$(MAKE) images
	./bin/kfarm run

clean:
	rm -rf $(BUILD) bin

.PHONY: all images deps deps-base demo clean

# --- tests ---
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(RUNNER_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(RUNNER_OBJ) $(PKG_LIBS) -lcmocka -lpthread

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: bin/kfarm
	tests/run-integration.sh

# the whole suite: builds everything it needs first (images are cached).
# lint, unit and fuzz run beside the kernel builds, which are niced: the
# checks use a core each, a kernel build leaves one idle while it configures
# and links. Their output is held and shown once the images are done.
test: all
	@log=$$(mktemp /tmp/kfarm-checks.XXXXXX); \
	$(MAKE) --no-print-directory lint unit fuzz FUZZ_SECONDS=10 >$$log 2>&1 & checks=$$!; \
	nice -n 10 $(MAKE) --no-print-directory images; images=$$?; \
	wait $$checks; checks=$$?; cat $$log; rm -f $$log; \
	[ $$images = 0 ] || { echo "make test: make images failed"; exit 1; }; \
	[ $$checks = 0 ] || { echo "make test: lint, unit or fuzz failed (above)"; exit 1; }
	$(MAKE) integration
	tests/valgrind.sh

# static analysis, enforced by make test; no dependency circle in runner/,
# no file over 600 lines or function over 85 there
lint: $(RUNNER_OBJ) $(BUILD)/runner/main.o $(BUILD)/fuzz/mkseed_db
	tests/lint/include-cycles.sh runner $(BUILD)/runner
	tests/lint/sizes.sh runner
	tests/lint/seed-schema.sh $(BUILD)/fuzz/mkseed_db tests/fuzz/corpus/db/kfarm-2runs.sqlite
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
		-D_GNU_SOURCE -I runner --library=tests/lint/jansson.cfg runner/*.c

check-valgrind: bin/kfarm
	tests/valgrind.sh

.PHONY: unit integration test lint check-valgrind

# --- benchmarks ---
$(BUILD)/bench/standin-guest: tests/bench/standin-guest.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/bench/bench-store: tests/bench/bench-store.c $(RUNNER_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(RUNNER_OBJ) $(PKG_LIBS) -lpthread

# the same benchmark with the store preparing every statement at each use
# (as before statements were kept per store), for the before/after figure
BENCH_EACH_SRC = runner/store.c runner/store_job.c runner/summary.c
BENCH_EACH_OBJ = $(filter-out $(BENCH_EACH_SRC:runner/%.c=$(BUILD)/runner/%.o),$(RUNNER_OBJ))
$(BUILD)/bench/bench-store-each: tests/bench/bench-store.c $(BENCH_EACH_SRC) $(BENCH_EACH_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -DSTORE_PREPARE_EACH -o $@ tests/bench/bench-store.c \
		$(BENCH_EACH_SRC) $(BENCH_EACH_OBJ) $(PKG_LIBS) -lpthread

bench: bin/kfarm $(BUILD)/bench/standin-guest $(BUILD)/bench/bench-store $(BUILD)/bench/bench-store-each
	tests/bench/run.sh
	tests/bench/build-overlap.sh

.PHONY: bench

# --- sanitizers: the unit and integration tests against an ASan+UBSan build ---
# -Wno-format-*: under -fsanitize=undefined gcc 12 takes a pointer that cannot be
# NULL for one in its format checks (test_cache.c's xasprintf of a just-made path);
# the normal build keeps both warnings.
check-asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -Wno-format-truncation -Wno-format-overflow" \
		LDFLAGS="-fsanitize=address,undefined" build-asan/kfarm unit
	KFARM_BIN=$(CURDIR)/build-asan/kfarm ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/run-integration.sh t-badinput.sh t-faults.sh

build-asan/kfarm: $(RUNNER_OBJ) $(BUILD)/runner/main.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

.PHONY: check-asan

# --- fuzzing (clang + libFuzzer): make fuzz FUZZ_SECONDS=N ---
FUZZ_TARGETS = ktap profile route hosts db pipeline lavalog
FUZZ_SECONDS ?= 10
# a blowup is a finding too: memory and per-input time are bounded
FUZZ_FLAGS = -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=2 -max_len=8192
# fuzz_db: a seed database is ~10 KiB, SQLite and ASan hold more memory
FUZZ_FLAGS_db = -max_len=65536 -rss_limit_mb=1024
FUZZ_SRC = runner/ktap.c runner/ktap_line.c runner/console.c runner/err.c runner/profile.c runner/route.c \
	runner/util.c runner/lava_job.c
# these reach the SSH, libvirt and store code: they link the whole runner
$(BUILD)/fuzz/fuzz_hosts $(BUILD)/fuzz/fuzz_db $(BUILD)/fuzz/fuzz_pipeline $(BUILD)/fuzz/fuzz_route: \
		$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(RUNNER_SRC)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(KFARM_CPPFLAGS) $(PKG_CFLAGS) \
		-o $@ $< $(RUNNER_SRC) $(PKG_LIBS) -lpthread

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRC)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(KFARM_CPPFLAGS) $(PKG_CFLAGS) \
		-o $@ $< $(FUZZ_SRC) $(PKG_LIBS)

# fuzz_db's seed at the current schema: make fuzz-seed after a new migration
$(BUILD)/fuzz/mkseed_db: tests/fuzz/mkseed_db.c $(RUNNER_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(RUNNER_OBJ) $(PKG_LIBS) -lpthread
fuzz-seed: $(BUILD)/fuzz/mkseed_db
	$(BUILD)/fuzz/mkseed_db tests/fuzz/corpus/db/kfarm-2runs.sqlite
	rm -rf tests/fuzz/corpus/db/kfarm-2runs.sqlite.logs

.PHONY: fuzz-seed

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$t; \
		echo "== fuzz $$t ($(FUZZ_SECONDS)s)"; \
		case $$t in db) extra='$(FUZZ_FLAGS_db)';; *) extra=;; esac; \
		rc=0; $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) $$extra \
			-print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$t- \
			$(BUILD)/fuzz/corpus-$$t tests/fuzz/corpus/$$t >$(BUILD)/fuzz/$$t.log 2>&1 || rc=$$?; \
		grep -E 'stat::number_of_executed_units|cov:|ERROR|SUMMARY|invariant' $(BUILD)/fuzz/$$t.log | tail -3; \
		[ $$rc = 0 ] || { echo "fuzz $$t: finding (exit $$rc): $(BUILD)/fuzz/$$t.log"; exit 1; }; \
	done

.PHONY: fuzz
