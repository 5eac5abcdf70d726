# shmstate: top-level Makefile.
#
# Each part has its own fragment (libshmstate/lib.mk, tools/*/*.mk,
# examples/*/*.mk, tests/*/*.mk, bench/bench.mk, mk/man.mk) that appends to
# BINS, CHECKS, BENCHES and INSTALL_* below. Objects go to $(B) so that
# sanitizer builds do not mix with normal ones.
#
#   make                 libraries, tools, examples
#   make check           every test (unit, integration, man lint)
#   make asan            make check under ASan+UBSan (build/asan)
#   make bench           benchmarks (not tests)
#   make run             the main job (see README.md)
#   make install         PREFIX=/usr/local DESTDIR=

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
DESTDIR		?=

CC		?= cc
AR		?= ar
PKG_CONFIG	?= pkg-config
INSTALL		?= install

B		?= build

CFLAGS		?= -O2 -g
WARNFLAGS	= -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
		  -Wshadow -Wpointer-arith -Wsign-compare -Wformat=2 \
		  -Wno-unused-parameter
ifneq ($(WERROR),)
WARNFLAGS	+= -Werror
endif
ifneq ($(SAN),)
SANFLAGS	= -fsanitize=address,undefined -fno-sanitize-recover=all \
		  -fno-omit-frame-pointer
endif
ifneq ($(TSAN),)
SANFLAGS	= -fsanitize=thread -fno-omit-frame-pointer
endif

DEPS_PC		= libbsd libxxhash
BSD_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags libbsd-overlay 2>/dev/null)
DEP_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags $(DEPS_PC) 2>/dev/null)
DEP_LIBS	:= $(shell $(PKG_CONFIG) --libs $(DEPS_PC) 2>/dev/null)
CMOCKA_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS	:= $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

ALL_CFLAGS	= -std=c11 -D_GNU_SOURCE $(WARNFLAGS) $(SANFLAGS) $(CFLAGS) \
		  -Ilibshmstate $(DEP_CFLAGS) -MMD -MP
ALL_LDFLAGS	= $(SANFLAGS) $(LDFLAGS)
LIBS		= $(DEP_LIBS) -lpthread

# Filled in by the fragments.
BINS		=
CHECKS		=
BENCHES		=
INSTALL_BIN	=
INSTALL_SBIN	=
MANS		=
CLEAN		=

all: build-all

include libshmstate/lib.mk
include $(sort $(wildcard tools/*/*.mk))
include $(sort $(wildcard examples/*/*.mk))
include $(sort $(wildcard tests/*/*.mk))
include $(sort $(wildcard bench/*.mk))
include mk/man.mk

build-all: $(LIB_A) $(LIB_SO) $(B)/shmstate.pc $(BINS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Dependencies: install on Debian when root, else say what to run.
deps:
	@sh scripts/deps.sh build

deps-check:
	@sh scripts/deps.sh check

check: deps-check
	@$(MAKE) --no-print-directory check-run

check-run: build-all $(CHECKS)
	@echo "make check: all passed"

asan:
	@$(MAKE) --no-print-directory B=build/asan SAN=1 check

tsan:
	@$(MAKE) --no-print-directory B=build/tsan TSAN=1 check-tsan

bench: deps
	@$(MAKE) --no-print-directory bench-run

bench-run: build-all $(BENCHES)

run: deps
	@$(MAKE) --no-print-directory run-main

install: build-all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 libshmstate/shmstate.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libshmstate.so
	$(INSTALL) -m 0644 $(B)/shmstate.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(if $(INSTALL_BIN),$(INSTALL) -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/)
	$(if $(INSTALL_SBIN),$(INSTALL) -m 0755 $(INSTALL_SBIN) $(DESTDIR)$(SBINDIR)/)
	@for m in $(MANS); do \
	    s=$${m##*.}; \
	    echo "$(INSTALL) -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/"; \
	    $(INSTALL) -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done

clean:
	rm -rf build $(CLEAN)

.PHONY: all build-all deps deps-check check check-run asan tsan bench \
	bench-run run run-main install clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)
