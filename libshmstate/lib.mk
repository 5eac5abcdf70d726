# libshmstate: every libshmstate/*.c goes into both libraries.

LIB_SRCS	:= $(sort $(wildcard libshmstate/*.c))
LIB_OBJS	:= $(LIB_SRCS:%.c=$(B)/%.o)
SHMS_SOVERSION	:= 0
LIB_A		:= $(B)/libshmstate.a
LIB_SONAME	:= libshmstate.so.$(SHMS_SOVERSION)
LIB_SO		:= $(B)/libshmstate.so.$(SHMS_SOVERSION).1.0

# Library objects are built once, PIC and with hidden visibility, and
# serve the static library, the shared library and the unit tests.
$(LIB_OBJS): ALL_CFLAGS += -fPIC -fvisibility=hidden -DSHMS_BUILDING

# libxxhash's run-time dispatching XXH3 (see xxh.h), where a program
# linked the way ours are links with it. A fully static program would
# need an archive that has it; Debian's does not, so such a build should
# pass XXH_DISPATCH= to turn it off.
# Probed once per make run (`:=`), not once per object.
ifeq ($(origin XXH_DISPATCH),undefined)
XXH_DISPATCH	:= $(shell echo 'int main(void) { return (int)XXH3_64bits("", 0); }' | \
		    $(CC) -include xxhash.h -include xxh_x86dispatch.h -x c - \
		    -o /dev/null $(DEP_CFLAGS) $(DEP_LIBS) 2>/dev/null && echo 1)
endif
$(LIB_OBJS): ALL_CFLAGS += $(if $(XXH_DISPATCH),-DSHMS_XXH_DISPATCH)

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--no-undefined \
	    $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
	ln -sf $(notdir $@) $(B)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(B)/libshmstate.so

# Regenerated on every run (a sed is cheap) and replaced only when the
# text changes, so `make install PREFIX=/usr' after a plain `make' does not
# install a .pc naming the old prefix.
$(B)/shmstate.pc: libshmstate/shmstate.pc.in FORCE
	@mkdir -p $(dir $@)
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(shell sed -n 's/^#define SHMS_VERSION_STRING[^"]*"\(.*\)"/\1/p' libshmstate/shmstate.h)|' \
	    $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

FORCE:
.PHONY: FORCE

# Programs in the tree link the static library so they run uninstalled.
SHMS_LINK	= $(LIB_A) $(LIBS)
