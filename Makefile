# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# One Makefile for the whole tree.  Components add themselves through the
# fragments included at the bottom (provisioner/, tftpd/), by appending to
# BINS, TEST_RUNNERS, BENCH_TARGETS, FUZZ_TARGETS, INSTALL_BINS, UNITS.
#
#   make            build BPF objects, skeletons, libnappt, the binaries
#   make test       install deps if missing, build, run every test runner
#   make bench      every benchmark (make bench-xdp, bench-fwd, ...)
#   make demo       gateway + simulated phones in network namespaces
#   make lint       clang-format check
#   make install DESTDIR= PREFIX=
#   make clean
#
# V=1 for the full commands.

.DELETE_ON_ERROR:
.SUFFIXES:
.DEFAULT_GOAL := all

V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/lib/nappt
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow \
	  -Wno-missing-field-initializers \
	  -Wformat=2 -Wstrict-prototypes -fno-strict-aliasing \
	  -D_FORTIFY_SOURCE=2 -fstack-protector-strong
CPPFLAGS += -Iinclude -Ilib -I$(BUILD) -Itests
LDLIBS_BPF := -lbpf -lelf -lz
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Wno-unused-function \
	      -I$(ARCH_INC) -Iinclude -Ibpf

BPF_HDRS := include/nappt.h $(wildcard bpf/lib/*.h)
BPF_PROGS := nappt bench pass
BPF_OBJS := $(patsubst %,$(BUILD)/bpf/%.bpf.o,$(BPF_PROGS))
SKELS := $(patsubst %,$(BUILD)/%.skel.h,$(BPF_PROGS))

LIBNAPPT := $(BUILD)/libnappt.a
LIBNAPPT_OBJS := $(BUILD)/lib/libnappt.o $(BUILD)/lib/slot-store.o

BINS := $(BUILD)/nappt
TEST_RUNNERS := test-datapath test-libnappt test-loader test-e2e test-restart
BENCH_TARGETS := bench-xdp bench-fwd bench-dhcp bench-fuzz
FUZZ_TARGETS :=
INSTALL_BINS := $(BUILD)/nappt
INSTALL_EXTRA :=
UNITS := systemd/nappt.service


# --- BPF ------------------------------------------------------------------

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# --- user space -----------------------------------------------------------

$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBNAPPT): $(LIBNAPPT_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

# The gateway's one configuration parser (provisioner/conf.c, conf.h),
# linked into the loader, the provisioner and nappt-tftpd.
CONF_OBJS := $(BUILD)/provisioner/conf.o $(BUILD)/provisioner/policy.o

$(BUILD)/loader/loader.o: $(BUILD)/nappt.skel.h
$(BUILD)/loader/loader.o: CPPFLAGS += -Iprovisioner
$(BUILD)/nappt: $(BUILD)/loader/loader.o $(CONF_OBJS) $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -o $@

# --- tests ----------------------------------------------------------------

# XDP on the far veth ends of the test and bench topologies (not installed).
TEST_TOOLS := $(BUILD)/nappt-test-pass
$(BUILD)/tests/tools/nappt-pass.o: $(BUILD)/pass.skel.h
$(BUILD)/nappt-test-pass: $(BUILD)/tests/tools/nappt-pass.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -o $@

# openat2 answering ENOSYS, as under nappt-tftpd.service (tests/tftpd).
TEST_TOOLS += $(BUILD)/no-openat2
$(BUILD)/no-openat2: $(BUILD)/tests/tools/no-openat2.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@

# Numbered UDP stream both ways, gaps counted (tests/restart).
TEST_TOOLS += $(BUILD)/nappt-stream
$(BUILD)/nappt-stream: $(BUILD)/tests/tools/nappt-stream.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/bpf/test_datapath.o: $(BUILD)/nappt.skel.h
$(BUILD)/test_datapath: $(BUILD)/tests/bpf/test_datapath.o $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -lcmocka -o $@

# --wrap: the test models what a BPF reader sees of every slot store.
$(BUILD)/test_libnappt: $(BUILD)/tests/test_libnappt.o $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -lcmocka \
		-Wl,--wrap=nappt__slot_store -o $@

$(BUILD)/bench/bench_xdp.o: $(BUILD)/bench.skel.h
$(BUILD)/bench_xdp: $(BUILD)/bench/bench_xdp.o $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -lm -o $@

# --- fragments of the components -------------------------------------------

-include provisioner/core.mk
-include tftpd/tftpd.mk
-include tests/failover/failover.mk
-include bench/site.mk

# --- top-level targets ------------------------------------------------------

.PHONY: all deps test bench demo lint format install clean fuzz \
	test-install test-systemd \
	$(TEST_RUNNERS) $(BENCH_TARGETS) bench-fuzz

all: $(BPF_OBJS) $(SKELS) $(LIBNAPPT) $(BINS) $(TEST_TOOLS)

deps:
	$(Q)bash scripts/deps.sh

# Each runner prints its own summary line; tests/run.sh runs them all
# even when one fails, and ends with one line for the lot.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/test_datapath $(BUILD)/test_libnappt
	$(Q)bash tests/run.sh $(TEST_RUNNERS)

test-datapath: $(BUILD)/test_datapath $(BUILD)/nappt
	$(Q)bash tests/bpf/run-datapath.sh $(BUILD)

test-libnappt: $(BUILD)/test_libnappt
	$(Q)bash tests/run-in-netns.sh $(BUILD)/test_libnappt

test-loader: $(BUILD)/nappt $(TEST_TOOLS)
	$(Q)bash tests/loader/test-loader.sh $(BUILD)

test-e2e: all
	$(Q)bash tests/e2e/run.sh $(BUILD)

# The one configuration (issue 12): -n of the three programs, attach from
# the file, the pool mismatch refused, status with the daemons' counters.
TEST_RUNNERS += test-config
.PHONY: test-config
test-config: all
	$(Q)bash tests/config/test-config.sh $(BUILD)
# Restarts and upgrades under a numbered stream: gaps per case.
test-restart: all
	$(Q)bash tests/restart/test-restart.sh $(BUILD)

bench: deps
	$(Q)$(MAKE) --no-print-directory $(BENCH_TARGETS)

bench-xdp: $(BUILD)/bench_xdp $(BUILD)/bpf/bench.bpf.o
	$(Q)bash bench/bench-xdp.sh $(BUILD)

bench-fwd: all
	$(Q)bash bench/bench-fwd.sh $(BUILD)

bench-dhcp: all
	$(Q)bash bench/bench-dhcp.sh $(BUILD)

# Every fuzzer for long (SECONDS_EACH, default 120); the tests run them
# for seconds.
bench-fuzz:
	$(Q)bash bench/bench-fuzz.sh $(BUILD)

fuzz: $(FUZZ_TARGETS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tests/demo.sh $(BUILD)

# The demo as a runner of make test (about 20 s): every phone row ok.
TEST_RUNNERS += test-demo
.PHONY: test-demo
test-demo: all
	$(Q)if bash tests/demo.sh $(BUILD) >$(BUILD)/demo.log 2>&1; then \
		tail -2 $(BUILD)/demo.log | head -1; echo "1 passed, 0 failed"; \
	else sed 's/\x1b\[[0-9;]*m//g' $(BUILD)/demo.log | tail -60; \
		echo "0 passed, 1 failed"; exit 1; fi

LINT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
lint:
	$(Q)clang-format --dry-run -Werror $(LINT_SRCS)
	@echo "lint: $(words $(LINT_SRCS)) files formatted"

format:
	$(Q)clang-format -i $(LINT_SRCS)

DOCDIR ?= $(PREFIX)/share/doc/nappt
CONFDIR ?= $(SYSCONFDIR)/nappt
# The example's [tftpd] root: created empty, so tftpd starts before the
# operator puts the phones' images there.
TFTPROOT ?= /srv/tftp

# The programs are embedded in the loader (skeleton): no .o to install.
# Units name /usr/local/sbin and /etc/nappt/nappt.conf; they are
# rewritten for the SBINDIR and CONFDIR used.  The binaries find the
# templates from where they are (SBINDIR/../share/nappt/templates).  The
# example configuration goes to DOCDIR, and to CONFDIR/nappt.conf only
# if there is none: an operator's file is never overwritten.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) \
		$(DESTDIR)$(TFTPROOT)
	$(if $(INSTALL_EXTRA),$(MAKE) --no-print-directory $(INSTALL_EXTRA))
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(SBINDIR)/
	install -m 0644 README.md etc/nappt.conf.example $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(DOCDIR)/provisioner $(DESTDIR)$(DOCDIR)/tftpd
	install -m 0644 provisioner/README.md $(DESTDIR)$(DOCDIR)/provisioner/
	install -m 0644 tftpd/README.md $(DESTDIR)$(DOCDIR)/tftpd/
	[ -e $(DESTDIR)$(CONFDIR)/nappt.conf ] || \
		install -m 0644 etc/nappt.conf.example $(DESTDIR)$(CONFDIR)/nappt.conf
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
		sed 's|/usr/local/sbin/|$(SBINDIR)/|g; s|/usr/local/share/doc/nappt|$(DOCDIR)|g; s|/etc/nappt/nappt.conf|$(CONFDIR)/nappt.conf|g' \
			$$u >$(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	done

# make install into a temporary DESTDIR, then run what it installed.
TEST_RUNNERS += test-install
test-install: all
	$(Q)bash tests/systemd/test-install.sh $(BUILD)

# The units under a real systemd as PID 1 (systemd-nspawn over this
# machine's root, in a network namespace of the test).
TEST_RUNNERS += test-systemd
test-systemd: all
	$(Q)bash tests/systemd/test-systemd.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
