# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# The provisioner's pure core and its store, included from the top-level
# Makefile:
#
#   make test-prov-store    lease store + map reconciliation (durability,
#                           invariant 1, expiry, group commit, real maps)
#   make test-prov-msg      DHCP codec, golden packets, plain and ASan/UBSan
#   make test-prov-policy   validation order, allocator, option 159, config,
#                           per-phone config templates
#   make test-prov-fuzz-conf libFuzzer on the config parser (15 s)
#   make test-prov-fuzz-msg libFuzzer on the DHCP parser (15 s)

PG_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
$(BUILD)/provisioner/lease-store-pg.o: CPPFLAGS += $(PG_CFLAGS)
PROV_STORE_OBJS := $(BUILD)/provisioner/lease-store.o \
		   $(BUILD)/provisioner/lease-store-pg.o \
		   $(BUILD)/provisioner/map-sync.o $(BUILD)/provisioner/log.o \
		   $(BUILD)/provisioner/privsep.o $(BUILD)/provisioner/startup.o
TEST_RUNNERS += test-prov-store

$(BUILD)/tests/provisioner/test_lease_store.o: CPPFLAGS += -Iprovisioner $(PG_CFLAGS)
$(BUILD)/test_lease_store: $(BUILD)/tests/provisioner/test_lease_store.o \
			   $(PROV_STORE_OBJS) $(BUILD)/provisioner/render.o \
			   $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lsqlite3 -lpq -lcmocka $(LDLIBS_BPF) -o $@

.PHONY: test-prov-store
test-prov-store: $(BUILD)/test_lease_store
	$(Q)bash tests/run-in-netns.sh $(BUILD)/test_lease_store

# A compromised parser (privilege separation): becomes the parser as the
# daemon does, then tries what it must not be able to do.
TEST_RUNNERS += test-prov-privsep
$(BUILD)/tests/provisioner/test_privsep.o: $(BUILD)/nappt.skel.h
$(BUILD)/test_privsep: $(BUILD)/tests/provisioner/test_privsep.o \
		       $(PROV_STORE_OBJS) $(BUILD)/provisioner/render.o \
		       $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lsqlite3 -lpq -lcmocka $(LDLIBS_BPF) -o $@

.PHONY: test-prov-privsep
test-prov-privsep: all $(BUILD)/test_privsep
	$(Q)bash tests/provisioner/test-privsep.sh $(BUILD)

# The DHCP message codec: golden-packet tests (plain and ASan/UBSan) and
# a libFuzzer run.
PROV_MSG_OBJS := $(BUILD)/provisioner/dhcp-msg.o
TEST_RUNNERS += test-prov-msg test-prov-fuzz-msg
FUZZ_TARGETS += fuzz-prov-msg
PROV_FUZZ_SECONDS ?= 15

$(BUILD)/tests/provisioner/test_dhcp_msg.o: CPPFLAGS += -Iprovisioner
$(BUILD)/test_dhcp_msg: $(BUILD)/tests/provisioner/test_dhcp_msg.o $(PROV_MSG_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lcmocka -o $@

$(BUILD)/test_dhcp_msg_asan: tests/provisioner/test_dhcp_msg.c provisioner/dhcp-msg.c provisioner/dhcp-msg.h
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-Iprovisioner tests/provisioner/test_dhcp_msg.c provisioner/dhcp-msg.c -lcmocka -o $@

$(BUILD)/fuzz_dhcp_msg: tests/provisioner/fuzz_dhcp_msg.c provisioner/dhcp-msg.c provisioner/dhcp-msg.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Iprovisioner \
		tests/provisioner/fuzz_dhcp_msg.c provisioner/dhcp-msg.c -o $@

.PHONY: test-prov-msg test-prov-fuzz-msg fuzz-prov-msg
test-prov-msg: $(BUILD)/test_dhcp_msg $(BUILD)/test_dhcp_msg_asan
	$(Q)$(BUILD)/test_dhcp_msg_asan >/dev/null 2>&1 || { $(BUILD)/test_dhcp_msg_asan; exit 1; }
	$(Q)$(BUILD)/test_dhcp_msg

# A short run in make test; `make fuzz-prov-msg PROV_FUZZ_SECONDS=600` for long.
test-prov-fuzz-msg fuzz-prov-msg: $(BUILD)/fuzz_dhcp_msg
	$(Q)mkdir -p $(BUILD)/corpus/dhcp
	$(Q)if $(BUILD)/fuzz_dhcp_msg -max_total_time=$(PROV_FUZZ_SECONDS) \
		-max_len=1500 $(BUILD)/corpus/dhcp >$(BUILD)/fuzz_dhcp_msg.log 2>&1; then \
		tail -1 $(BUILD)/fuzz_dhcp_msg.log; echo "1 passed, 0 failed"; \
	else tail -30 $(BUILD)/fuzz_dhcp_msg.log; echo "0 passed, 1 failed"; exit 1; fi

# Validation, allocation, option 159, the config parser: plain and
# ASan/UBSan builds, and a libFuzzer run of the config parser.
TEST_RUNNERS += test-prov-policy test-prov-fuzz-conf
FUZZ_TARGETS += fuzz-prov-conf
PROV_POLICY_SRCS := provisioner/policy.c provisioner/conf.c provisioner/render.c \
		    provisioner/lease-table.c
$(BUILD)/tests/provisioner/%.o: CPPFLAGS += -Iprovisioner -DSRCDIR='"$(CURDIR)"'
$(BUILD)/test_policy: $(BUILD)/tests/provisioner/test_policy.o \
		      $(BUILD)/tests/provisioner/test_conf.o \
		      $(BUILD)/tests/provisioner/test_render.o \
		      $(PROV_POLICY_SRCS:%.c=$(BUILD)/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $(BUILD)/tests/provisioner/test_policy.o $(PROV_POLICY_SRCS:%.c=$(BUILD)/%.o) -lcmocka -o $@
	$(Q)$(CC) $(LDFLAGS) $(BUILD)/tests/provisioner/test_conf.o $(PROV_POLICY_SRCS:%.c=$(BUILD)/%.o) -lcmocka -o $(BUILD)/test_conf
	$(Q)$(CC) $(LDFLAGS) $(BUILD)/tests/provisioner/test_render.o $(PROV_POLICY_SRCS:%.c=$(BUILD)/%.o) -lcmocka -o $(BUILD)/test_render

$(BUILD)/test_policy_asan: tests/provisioner/test_policy.c tests/provisioner/test_conf.c tests/provisioner/test_render.c $(PROV_POLICY_SRCS) provisioner/policy.h provisioner/conf.h provisioner/render.h provisioner/lease-table.h
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-Iprovisioner tests/provisioner/test_policy.c $(PROV_POLICY_SRCS) -lcmocka -o $@
	$(Q)$(CC) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-Iprovisioner -DSRCDIR='"$(CURDIR)"' tests/provisioner/test_conf.c $(PROV_POLICY_SRCS) -lcmocka -o $(BUILD)/test_conf_asan
	$(Q)$(CC) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-Iprovisioner -DSRCDIR='"$(CURDIR)"' tests/provisioner/test_render.c $(PROV_POLICY_SRCS) -lcmocka -o $(BUILD)/test_render_asan

$(BUILD)/fuzz_conf: tests/provisioner/fuzz_conf.c $(PROV_POLICY_SRCS) provisioner/conf.h
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Iprovisioner \
		tests/provisioner/fuzz_conf.c $(PROV_POLICY_SRCS) -o $@

.PHONY: test-prov-policy test-prov-fuzz-conf fuzz-prov-conf
test-prov-policy: $(BUILD)/test_policy $(BUILD)/test_policy_asan
	$(Q)for t in test_policy_asan test_conf_asan test_render_asan; do \
		$(BUILD)/$$t >/dev/null 2>&1 || { $(BUILD)/$$t; exit 1; }; done
	$(Q)$(BUILD)/test_render
	$(Q)$(BUILD)/test_conf
	$(Q)$(BUILD)/test_policy

test-prov-fuzz-conf fuzz-prov-conf: $(BUILD)/fuzz_conf
	$(Q)mkdir -p $(BUILD)/corpus/conf
	$(Q)cp provisioner/provisioner.conf.example etc/nappt.conf.example $(BUILD)/corpus/conf/
	$(Q)if $(BUILD)/fuzz_conf -max_total_time=$(PROV_FUZZ_SECONDS) \
		$(BUILD)/corpus/conf >$(BUILD)/fuzz_conf.log 2>&1; then \
		tail -1 $(BUILD)/fuzz_conf.log; echo "1 passed, 0 failed"; \
	else tail -30 $(BUILD)/fuzz_conf.log; echo "0 passed, 1 failed"; exit 1; fi

# The server core driven without a network (fake send and maps, a real
# SQLite store), plain and ASan/UBSan.
TEST_RUNNERS += test-prov-server
PROV_SERVER_SRCS := provisioner/server.c provisioner/server-effects.c \
		    provisioner/parts.c \
		    provisioner/dhcp-msg.c \
		    provisioner/lease-store.c provisioner/lease-store-pg.c \
		    provisioner/log.c $(PROV_POLICY_SRCS)
$(BUILD)/test_server: $(BUILD)/tests/provisioner/test_server.o \
		      $(PROV_SERVER_SRCS:%.c=$(BUILD)/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lsqlite3 -lpq -lcmocka -o $@

$(BUILD)/test_server_asan: tests/provisioner/test_server.c $(PROV_SERVER_SRCS) \
			   $(wildcard provisioner/*.h)
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-Iprovisioner $(PG_CFLAGS) -DSRCDIR='"$(CURDIR)"' tests/provisioner/test_server.c \
		$(PROV_SERVER_SRCS) -lsqlite3 -lpq -lcmocka -o $@

# libFuzzer on the whole core: replies must parse, mappings never overlap.
TEST_RUNNERS += test-prov-fuzz-server
FUZZ_TARGETS += fuzz-prov-server
$(BUILD)/fuzz_server: tests/provisioner/fuzz_server.c $(PROV_SERVER_SRCS) \
		      $(wildcard provisioner/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Iprovisioner $(PG_CFLAGS) -DSRCDIR='"$(CURDIR)"' \
		tests/provisioner/fuzz_server.c $(PROV_SERVER_SRCS) -lsqlite3 -lpq -o $@

.PHONY: test-prov-fuzz-server fuzz-prov-server
test-prov-fuzz-server fuzz-prov-server: $(BUILD)/fuzz_server
	$(Q)mkdir -p $(BUILD)/corpus/server
	$(Q)cp tests/provisioner/corpus-server/* $(BUILD)/corpus/server/
	$(Q)if $(BUILD)/fuzz_server -max_total_time=$(PROV_FUZZ_SECONDS) \
		-max_len=4096 $(BUILD)/corpus/server >$(BUILD)/fuzz_server.log 2>&1; then \
		tail -1 $(BUILD)/fuzz_server.log; echo "1 passed, 0 failed"; \
	else tail -30 $(BUILD)/fuzz_server.log; echo "0 passed, 1 failed"; exit 1; fi

.PHONY: test-prov-server
test-prov-server: $(BUILD)/test_server $(BUILD)/test_server_asan
	$(Q)$(BUILD)/test_server_asan >$(BUILD)/test_server_asan.log 2>&1 || \
		{ cat $(BUILD)/test_server_asan.log; exit 1; }
	$(Q)$(BUILD)/test_server

# The daemon.
PROV_DAEMON_OBJS := $(BUILD)/provisioner/main.o $(BUILD)/provisioner/server.o \
		    $(BUILD)/provisioner/parts.o \
		    $(BUILD)/provisioner/server-effects.o \
		    $(PROV_MSG_OBJS) $(PROV_STORE_OBJS) \
		    $(PROV_POLICY_SRCS:%.c=$(BUILD)/%.o)
BINS += $(BUILD)/nappt-provisioner
INSTALL_BINS += $(BUILD)/nappt-provisioner
INSTALL_EXTRA += install-prov-templates
UNITS += systemd/nappt-provisioner.service
TEST_RUNNERS += test-prov-e2e test-prov-clients

$(BUILD)/nappt-provisioner: $(PROV_DAEMON_OBJS) $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lsqlite3 -lpq $(LDLIBS_BPF) -lpthread -o $@

.PHONY: install-prov-templates test-prov-e2e test-prov-clients
install-prov-templates:
	install -d $(DESTDIR)$(PREFIX)/share/nappt/templates
	install -m 0644 provisioner/templates/* $(DESTDIR)$(PREFIX)/share/nappt/templates/
	install -m 0644 provisioner/provisioner.conf.example $(DESTDIR)$(DOCDIR)/

test-prov-e2e: all
	$(Q)bash tests/provisioner/test-dhcp.sh $(BUILD)

# dhclient, perfdhcp as a relay with option 82, kill -9 mid-storm.
test-prov-clients: all
	$(Q)bash tests/provisioner/test-clients.sh $(BUILD)

# The core alone, CPU per DORA without a network (issue 10: compare
# before and after on a shared machine).  Not part of make test.
$(BUILD)/bench_prov_core: bench/dhcp-core.c $(PROV_SERVER_SRCS) \
			  $(wildcard provisioner/*.h)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Iprovisioner $(PG_CFLAGS) -DSRCDIR='"$(CURDIR)"' \
		bench/dhcp-core.c $(PROV_SERVER_SRCS) -lsqlite3 -lpq -o $@

.PHONY: bench-prov-core
bench-prov-core: $(BUILD)/bench_prov_core
	$(Q)$(BUILD)/bench_prov_core $(or $(N),20000) /dev/shm

# PostgreSQL (issue 14): the store's unit tests on a throwaway cluster,
# kill -9 mid-storm, two provisioners on one database, split brain.
TEST_RUNNERS += test-pg
.PHONY: test-pg
test-pg: all $(BUILD)/test_lease_store
	$(Q)bash tests/provisioner/test-pg.sh $(BUILD)
# An ACK never before its lease is durable, seen from the wire with the
# daemon's syncs made slow or failing (an LD_PRELOAD shim).
TEST_RUNNERS += test-prov-durable
.PHONY: test-prov-durable
$(BUILD)/sync_fault.so: tests/provisioner/sync_fault.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -fPIC -shared $< -ldl -o $@
test-prov-durable: all $(BUILD)/site-client $(BUILD)/sync_fault.so
	$(Q)bash tests/provisioner/test-durable.sh $(BUILD)
