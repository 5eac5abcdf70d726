# Upgrade soak (issue 7 part 3): shardcache under shmsupervise with
# SOAK_GB of data, 50 connections of mixed load, SOAK_UPGRADES upgrades
# alternating between two builds and SOAK_CRASHES kill -9 of the child.
# The short version (64 MiB, 10 upgrades, 2 crashes) is
# tests/integ/test_soak_upgrade.sh, in make check.
#   make soak [SOAK_GB=1 SOAK_UPGRADES=100 SOAK_CRASHES=10 SOAK_SEED=N]

SOAK_GB		?= 1
SOAK_UPGRADES	?= 100
SOAK_CRASHES	?= 10
SOAK_FULL_EVERY	?= 10

# The second build: the same objects linked with another build id, so the
# supervisor alternates between two genuinely different files.
$(B)/shardcache-b: $(SC_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -Wl,--build-id=0x736f616b2d62 -o $@ $(SC_OBJS) \
	    $(SHMS_LINK)

BINS		+= $(B)/shardcache-b

soak: $(B)/shardcache $(B)/shardcache-b $(B)/shmsupervise $(B)/shmctl
	@d=$$(mktemp -d /dev/shm/shmstate-soak.XXXXXX) && \
	SHMSTATE_DIR=$$d B=$(B) SOAK_MB=$$(($(SOAK_GB) * 1024)) \
	    SOAK_UPGRADES=$(SOAK_UPGRADES) SOAK_CRASHES=$(SOAK_CRASHES) \
	    SOAK_FULL_EVERY=$(SOAK_FULL_EVERY) \
	    python3 tests/integ/test_soak_upgrade.py; rc=$$?; \
	rm -rf $$d; exit $$rc

.PHONY: soak
