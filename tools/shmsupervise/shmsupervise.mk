# shmsupervise: the service supervisor.

SUP_SRCS	:= $(sort $(wildcard tools/shmsupervise/*.c))
SUP_OBJS	:= $(SUP_SRCS:%.c=$(B)/%.o)

$(B)/shmsupervise: $(SUP_OBJS) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SUP_OBJS) $(SHMS_LINK)

BINS		+= $(B)/shmsupervise
INSTALL_SBIN	+= $(B)/shmsupervise
