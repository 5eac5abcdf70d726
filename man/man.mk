# Man pages (mdoc). Every page must be lint-clean.

MANS		+= $(sort $(wildcard man/*.[1-8]))

check-man:
	@for m in $(MANS); do \
	    out=$$(mandoc -Tlint -W warning $$m 2>&1); \
	    if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; \
	done; \
	if [ -n "$$fail" ]; then echo "check-man: FAILED"; exit 1; fi; \
	echo "check-man: $(words $(MANS)) pages lint-clean"

CHECKS		+= check-man
.PHONY: check-man
