# shmctl: every tools/shmctl/*.c is part of it (a command in its own file
# needs no edit here; see shmctl.h).

SHMCTL_SRCS	:= $(sort $(wildcard tools/shmctl/*.c))
SHMCTL_OBJS	:= $(SHMCTL_SRCS:%.c=$(B)/%.o)

$(SHMCTL_OBJS): ALL_CFLAGS += -Itools/shmctl

$(B)/shmctl: $(SHMCTL_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SHMCTL_OBJS) $(SHMS_LINK)

BINS		+= $(B)/shmctl
INSTALL_BIN	+= $(B)/shmctl

# Test builds for tests/integ/test_shmctl_arena_sigbus.sh (not installed):
# shmctl_sigbus is shmctl with mmap wrapped so that a named arena is
# truncated right after it is mapped (tests/integ/sigbus_mmap.c);
# sigbus_guard checks ctl_guard.c itself (tests/integ/sigbus_guard.c).
SHMCTL_TBINS	:= $(B)/tests/integ/shmctl_sigbus $(B)/tests/integ/sigbus_guard

$(B)/tests/integ/sigbus_mmap.o $(B)/tests/integ/sigbus_guard.o: \
    ALL_CFLAGS += -Itools/shmctl

$(B)/tests/integ/shmctl_sigbus: $(SHMCTL_OBJS) \
    $(B)/tests/integ/sigbus_mmap.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -Wl,--wrap=mmap -o $@ $(SHMCTL_OBJS) \
	    $(B)/tests/integ/sigbus_mmap.o $(SHMS_LINK)

$(B)/tests/integ/sigbus_guard: $(B)/tests/integ/sigbus_guard.o \
    $(B)/tools/shmctl/ctl_guard.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(B)/tests/integ/sigbus_guard.o \
	    $(B)/tools/shmctl/ctl_guard.o $(SHMS_LINK)

check-integ: $(SHMCTL_TBINS)
