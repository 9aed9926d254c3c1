# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# Failover of gateway A to standby B (issue 14), included from the
# top-level Makefile:
#
#   make test-failover    A and B in namespaces with keepalived (VRRPv3),
#                         phones streaming UDP through A, A killed: gap,
#                         addresses and ports kept, renewals to B
#   make bench-failover   the same, ending with one RESULT line

# The stream is tests/tools/nappt-stream (the restart test's too).
FAILOVER_TOOLS := $(BUILD)/nappt-stream
TEST_RUNNERS += test-failover
BENCH_TARGETS += bench-failover

.PHONY: test-failover bench-failover
test-failover: all $(FAILOVER_TOOLS)
	$(Q)bash tests/failover/test-failover.sh $(BUILD)

bench-failover: all $(FAILOVER_TOOLS)
	$(Q)bash bench/bench-failover.sh $(BUILD)
