# Integration tests: real processes, real shared memory, loopback only.
# tests/integ/test_*.c are built into $(B)/tests/integ/ (cmocka or plain
# main, exit status decides); tests/integ/test_*.sh are run with $B, $SRC and
# a private $SHMSTATE_DIR in the environment. Helpers that are not tests are
# tests/integ/helper_*.c.

INTEG_CSRCS	:= $(sort $(wildcard tests/integ/test_*.c))
INTEG_HSRCS	:= $(sort $(wildcard tests/integ/helper_*.c))
INTEG_CBINS	:= $(INTEG_CSRCS:tests/integ/%.c=$(B)/tests/integ/%)
INTEG_HBINS	:= $(INTEG_HSRCS:tests/integ/%.c=$(B)/tests/integ/%)
INTEG_SH	:= $(sort $(wildcard tests/integ/test_*.sh))

$(B)/tests/integ/%: tests/integ/%.c $(LIB_A) $(wildcard tests/integ/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/integ -o $@ $< \
	    $(ALL_LDFLAGS) $(SHMS_LINK) $(CMOCKA_LIBS)

check-integ: build-all $(INTEG_CBINS) $(INTEG_HBINS)
	@B=$(B) sh scripts/run-tests.sh integ $(INTEG_CBINS) $(INTEG_SH)

CHECKS		+= check-integ
.PHONY: check-integ
