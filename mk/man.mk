# Man pages (mdoc). Every page must be lint-clean under mandoc -Tlint at
# every level, style included. Two messages are about the machine, not the
# page, and are left out: cross references to pages of this tree that are
# not installed yet, and a stale system mandoc.db (run makewhatis).

MANS		+= $(sort $(wildcard man/*.[1-8]))

check-man:
	@for m in $(MANS); do \
	    out=$$(mandoc -Tlint $$m 2>&1 | grep -v \
		-e 'referenced manual not found' -e 'outdated mandoc.db'); \
	    if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; \
	done; \
	if [ -n "$$fail" ]; then echo "check-man: FAILED"; exit 1; fi; \
	echo "check-man: $(words $(MANS)) pages lint-clean"

CHECKS		+= check-man

# The names listed in a page's NAME section, one per line.
MAN_NAMES	= awk '/^\.Sh NAME/ { n = 1; next } /^\.(Nd|Sh)/ { if (n) exit } \
		  n && /^\.Nm/ { print $$2 }'

# Grouped pages document several functions; a symlink per extra name lets
# `man shms_svc_close` find shms_svc_open.3. Runs as part of install.
install-man-links:
	@for m in $(MANS); do \
	    s=$${m##*.}; page=$${m##*/}; d=$(DESTDIR)$(MANDIR)/man$$s; \
	    for n in $$($(MAN_NAMES) $$m); do \
		[ "$$n.$$s" = "$$page" ] && continue; \
		$(INSTALL) -d $$d || exit 1; \
		echo "ln -sf $$page $$d/$$n.$$s"; \
		ln -sf $$page $$d/$$n.$$s || exit 1; \
	    done; \
	done

install: install-man-links

# Every public function of shmstate.h must be named in some page's NAME
# section (a grouped page is fine), and every cross reference to a page of
# this tree must resolve, counting the links install-man-links makes.
check-man-coverage:
	@names=$$(for m in $(MANS); do \
	    echo "$${m##*/}"; \
	    for n in $$($(MAN_NAMES) $$m); do echo "$$n.$${m##*.}"; done; \
	done); \
	miss=0; \
	for f in $$(sed -n 's/^SHMS_EXPORT[^(]*[ *]\(shms_[a-z0-9_]*\)(.*/\1/p' \
	    libshmstate/shmstate.h); do \
		echo "$$names" | grep -qx "$$f.3" || \
		    { echo "undocumented: $$f"; miss=1; }; \
	done; \
	for x in $$(cat $(MANS) | sed -n 's/^\.Xr \(shm[a-z0-9_]*\|libshmstate\|shardcache\) \([1-8]\).*/\1.\2/p' | sort -u); do \
		echo "$$names" | grep -qx "$$x" || \
		    { echo "dangling reference: $$x"; miss=1; }; \
	done; \
	if [ $$miss != 0 ]; then echo "check-man-coverage: FAILED"; exit 1; fi; \
	echo "check-man-coverage: every function and reference has a page"

CHECKS		+= check-man-coverage
.PHONY: check-man check-man-coverage install-man-links
