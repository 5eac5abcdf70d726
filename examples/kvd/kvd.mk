# examples/kvd: the TCP key-value service that shmsupervise wraps.

KVD_BIN		:= $(B)/kvd

$(KVD_BIN): $(B)/examples/kvd/kvd.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHMS_LINK)

BINS		+= $(KVD_BIN)
