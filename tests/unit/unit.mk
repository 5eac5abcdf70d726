# Unit tests: tests/unit/test_<module>.c, one cmocka group per module,
# linked against the library objects (not the .so) so that a test can
# reach failure paths with -Wl,--wrap: list the symbols to wrap, one per
# line, in tests/unit/test_<module>.wrap.

UNIT_SRCS	:= $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS	:= $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
unit_wraps	= $(foreach s,$(shell cat tests/unit/$(1).wrap 2>/dev/null),-Wl,--wrap=$(s))

$(B)/tests/unit/%: tests/unit/%.c $(LIB_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit -o $@ $< \
	    $(LIB_OBJS) $(call unit_wraps,$*) $(ALL_LDFLAGS) $(CMOCKA_LIBS) $(LIBS)

check-unit: $(UNIT_BINS)
	@sh scripts/run-tests.sh unit $(UNIT_BINS)

CHECKS		+= check-unit
.PHONY: check-unit
