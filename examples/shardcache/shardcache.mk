# shardcache: the memcached-compatible sharded cache (examples/shardcache).
#   make B=... $(B)/shardcache      the server
#   make check-shardcache-unit      its unit tests (link its objects)

SC_SRCS		:= $(sort $(wildcard examples/shardcache/*.c))
SC_OBJS		:= $(SC_SRCS:%.c=$(B)/%.o)
SC_LIBOBJS	:= $(filter-out $(B)/examples/shardcache/main.o,$(SC_OBJS))
SC_TSRCS	:= $(sort $(wildcard examples/shardcache/tests/test_*.c))
SC_TBINS	:= $(SC_TSRCS:examples/shardcache/tests/%.c=$(B)/examples/shardcache/tests/%)

$(B)/shardcache: $(SC_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SC_OBJS) $(SHMS_LINK)

$(B)/examples/shardcache/tests/%: examples/shardcache/tests/%.c $(SC_LIBOBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Iexamples/shardcache \
	    -o $@ $< $(SC_LIBOBJS) $(ALL_LDFLAGS) $(SHMS_LINK) $(CMOCKA_LIBS)

check-shardcache-unit: $(SC_TBINS)
	@sh scripts/run-tests.sh shardcache-unit $(SC_TBINS)

BINS		+= $(B)/shardcache
INSTALL_SBIN	+= $(B)/shardcache
CHECKS		+= check-shardcache-unit
.PHONY: check-shardcache-unit

# The main job (make run): shardcache under shmsupervise, in the
# foreground; Ctrl-C stops it gracefully (the arenas are sealed clean and
# the next `make run` adopts them). State in $SHMSTATE_DIR, by default
# /dev/shm/shmstate/shardcache.
SC_RUN_LISTEN	?= 127.0.0.1:11211
SC_RUN_ARGS	?= -m 1024

run-main: $(B)/shardcache $(B)/shmsupervise $(B)/shmctl
	@printf '%s\n' \
	    "shardcache on $(SC_RUN_LISTEN), state in $${SHMSTATE_DIR:-/dev/shm/shmstate}/shardcache" \
	    "Ctrl-C stops it; the items stay and the next make run adopts them." \
	    "From another shell:" \
	    "  printf 'set k 0 0 5\\r\\nhello\\r\\nget k\\r\\n' | nc -q1 $(subst :, ,$(SC_RUN_LISTEN))" \
	    "  memcstat --servers=$(SC_RUN_LISTEN); memccat --servers=$(SC_RUN_LISTEN) k" \
	    "  $(abspath $(B))/shmctl upgrade shardcache --binary $(abspath $(B))/shardcache" \
	    "  $(abspath $(B))/shmctl status shardcache; $(abspath $(B))/shmctl list shardcache" \
	    "  printf 'stats shmstate\\r\\n' | nc -q1 $(subst :, ,$(SC_RUN_LISTEN))"
	exec $(B)/shmsupervise --name shardcache --listen tcp:$(SC_RUN_LISTEN) \
	    -- $(abspath $(B))/shardcache $(SC_RUN_ARGS)

.PHONY: run-main
