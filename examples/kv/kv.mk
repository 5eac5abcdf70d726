# examples/kv: the key-value demo of copy-mode checkpoint, exec and adopt
# (`make run-kv`; `make run` runs shardcache).

KV_BIN		:= $(B)/kv

$(KV_BIN): $(B)/examples/kv/kv.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHMS_LINK)

BINS		+= $(KV_BIN)

# The demo: 1M entries into 2 segments, exec, adopt, verify.
KV_RUN_ENTRIES	?= 1000000
KV_RUN_SEGMENTS	?= 2

run-kv: $(KV_BIN)
	$(KV_BIN) -n $(KV_RUN_ENTRIES) -s $(KV_RUN_SEGMENTS)

.PHONY: run-kv
