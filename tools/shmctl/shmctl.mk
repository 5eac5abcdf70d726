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
