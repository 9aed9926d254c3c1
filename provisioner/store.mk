# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# The provisioner's lease store (SQLite) and map reconciliation: included
# from the top-level Makefile.
#
#   make test-prov-store    cmocka tests (durability, invariant 1, expiry,
#                           group commit, reconcile against real maps)

PROV_STORE_OBJS := $(BUILD)/provisioner/lease-store.o \
		   $(BUILD)/provisioner/map-sync.o
TEST_RUNNERS += test-prov-store

$(BUILD)/tests/provisioner/test_lease_store.o: CPPFLAGS += -Iprovisioner
$(BUILD)/tests/provisioner/test_lease_store.o: $(BUILD)/nappt.skel.h
$(BUILD)/test_lease_store: $(BUILD)/tests/provisioner/test_lease_store.o \
			   $(PROV_STORE_OBJS) $(LIBNAPPT)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lsqlite3 -lcmocka $(LDLIBS_BPF) -o $@

.PHONY: test-prov-store
test-prov-store: $(BUILD)/test_lease_store
	$(Q)bash tests/run-in-netns.sh $(BUILD)/test_lease_store
