# make bench-site: a whole site powering up (bench/bench-site.sh), and its
# client: one process playing every phone over one AF_PACKET socket.
BENCH_TARGETS += bench-site

bench-site: all $(BUILD)/site-client
	$(Q)bash bench/bench-site.sh $(BUILD)

$(BUILD)/site-client: bench/site-client.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@
