# Coverage (issue 7): builds everything with gcov instrumentation in
# $(COV_B), runs make check there (every suite, failures reported but not
# fatal, so the figures still come out), and prints line and branch
# coverage of libshmstate/ and tools/ with lcov as `name: value unit`,
# then which error paths of the public API the run reached
# (tests/coverage/errpaths.py: the rule is in its header comment).
#   make coverage [COV_B=build-cov]   HTML report in $(COV_B)/html/
#   make coverage COV_CHECKS="check-unit check-fault"   a subset
#   make coverage COV_STRICT=1   fail when an API error path is unreached

COV_B		?= $(B)-cov
COV_CHECKS	?= check-run
LCOV_RC		= --rc lcov_branch_coverage=1
COV_STRICT	?=
# -u: link libgcov's __gcov_dump into every program, so that a child that
# leaves with _exit() (tests/fault) can still write its counts.
COV_LDFLAGS	= --coverage -Wl,-u,__gcov_dump

coverage:
	@command -v lcov >/dev/null || { echo "coverage: needs lcov" \
	    "(apt-get install lcov)"; exit 1; }
	@find $(COV_B) -name '*.gcda' -delete 2>/dev/null; true
	@mkdir -p $(COV_B)
	@$(MAKE) --no-print-directory -k B=$(COV_B) \
	    CFLAGS="-O0 -g --coverage" LDFLAGS="$(COV_LDFLAGS)" $(COV_CHECKS) \
	    >$(COV_B)/coverage.log 2>&1 || echo "coverage: some checks" \
	    "failed (figures still count what ran); log: $(COV_B)/coverage.log"
	@grep -E '^[a-z-]+: [0-9]+ passed' $(COV_B)/coverage.log || true
	@# The zero baseline of every compiled file, so that a file no test
	@# ran counts as 0 % instead of dropping out of the figures.
	@lcov --quiet $(LCOV_RC) --capture --initial --directory $(COV_B) \
	    --base-directory . --output-file $(COV_B)/base.info 2>/dev/null
	@lcov --quiet $(LCOV_RC) --capture --directory $(COV_B) \
	    --base-directory . --output-file $(COV_B)/run.info 2>/dev/null
	@lcov --quiet $(LCOV_RC) --add-tracefile $(COV_B)/base.info \
	    --add-tracefile $(COV_B)/run.info \
	    --output-file $(COV_B)/all.info 2>/dev/null
	@for part in libshmstate tools; do \
	    lcov --quiet $(LCOV_RC) --extract $(COV_B)/all.info \
	        "$$(pwd)/$$part/*" --output-file $(COV_B)/$$part.info \
	        >/dev/null 2>&1; \
	    lcov $(LCOV_RC) --summary $(COV_B)/$$part.info 2>&1 | \
	    sed -n "s/^ *\(lines\|functions\|branches\)\.*: \([0-9.]*\)%.*/coverage-$$part-\1: \2 %/p"; \
	done
	@python3 tests/coverage/errpaths.py --build=$(COV_B) \
	    $(if $(COV_STRICT),--strict) libshmstate/shmstate.h \
	    $(COV_B)/libshmstate.info $(LIB_SRCS)
	@genhtml --quiet $(LCOV_RC) --output-directory $(COV_B)/html \
	    $(COV_B)/libshmstate.info $(COV_B)/tools.info >/dev/null 2>&1 && \
	    echo "coverage: report in $(COV_B)/html/index.html" || true

.PHONY: coverage
