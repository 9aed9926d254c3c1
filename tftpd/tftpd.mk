# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# nappt-tftpd: included from the top-level Makefile.
#
#   make $(BUILD)/nappt-tftpd     the server
#   make test-tftpd-unit          cmocka tests of the protocol core
#   make test-tftpd-fuzz          libFuzzer run of the request parser (20 s)
#   make test-tftpd-e2e           real clients in network namespaces
#   make bench-tftp               boot storm against tftpd-hpa and atftpd
#   make fuzz-tftpd               longer fuzzing (FUZZ_SECONDS=300)

TFTPD_CORE_OBJS := $(BUILD)/tftpd/tftp-proto.o
TFTPD_OBJS := $(BUILD)/tftpd/tftpd.o $(TFTPD_CORE_OBJS)
TFTPD_FUZZ := $(BUILD)/fuzz_tftp_request
FUZZ_SECONDS ?= 20

BINS += $(BUILD)/nappt-tftpd
INSTALL_BINS += $(BUILD)/nappt-tftpd
UNITS += systemd/nappt-tftpd.service
TEST_RUNNERS += test-tftpd-unit test-tftpd-fuzz test-tftpd-e2e
BENCH_TARGETS += bench-tftp
FUZZ_TARGETS += fuzz-tftpd

$(BUILD)/tftpd/%.o: CPPFLAGS += -Itftpd -Iprovisioner

# --config FILE: the gateway's one parser ($(CONF_OBJS), Makefile).
$(BUILD)/nappt-tftpd: $(TFTPD_OBJS) $(CONF_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/tftpd/test_tftp_proto.o: CPPFLAGS += -Itftpd
$(BUILD)/test_tftp_proto: $(BUILD)/tests/tftpd/test_tftp_proto.o $(TFTPD_CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lcmocka -o $@

# The fuzzer is built with clang from the sources, not from the gcc objects.
$(TFTPD_FUZZ): tests/tftpd/fuzz_tftp_request.c tftpd/tftp-proto.c tftpd/tftp-internal.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Itftpd \
		tests/tftpd/fuzz_tftp_request.c tftpd/tftp-proto.c -o $@

.PHONY: test-tftpd-unit test-tftpd-fuzz test-tftpd-e2e bench-tftp fuzz-tftpd

test-tftpd-unit: $(BUILD)/test_tftp_proto
	$(Q)$(BUILD)/test_tftp_proto

test-tftpd-fuzz: $(TFTPD_FUZZ)
	$(Q)bash tests/tftpd/run-fuzz.sh $(TFTPD_FUZZ) $(FUZZ_SECONDS)

fuzz-tftpd: $(TFTPD_FUZZ)
	$(Q)bash tests/tftpd/run-fuzz.sh $(TFTPD_FUZZ) $(FUZZ_SECONDS)

test-tftpd-e2e: $(BUILD)/nappt-tftpd $(BUILD)/nappt-tftpd-asan $(BUILD)/no-openat2
	$(Q)bash tests/tftpd/test-tftpd.sh $(BUILD)

# The server under ASan/UBSan for the e2e tests of the eviction paths: a
# use-after-free there does not crash a plain build, it corrupts the heap.
$(BUILD)/nappt-tftpd-asan: tftpd/tftpd.c tftpd/tftp-proto.c $(wildcard tftpd/*.h) \
			   $(CONF_OBJS:$(BUILD)/%.o=%.c) provisioner/conf.h
	$(call msg,CC-ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itftpd -Iprovisioner -std=gnu11 -g -O1 \
		-fsanitize=address,undefined -fno-sanitize-recover=undefined \
		tftpd/tftpd.c tftpd/tftp-proto.c $(CONF_OBJS:$(BUILD)/%.o=%.c) -o $@

bench-tftp: $(BUILD)/nappt-tftpd $(BUILD)/tftp-storm
	$(Q)bash bench/bench-tftp.sh $(BUILD)

# The boot-storm client of bench-tftp: one process, many transfers.
$(BUILD)/tftp-storm: bench/tftp-storm.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@
