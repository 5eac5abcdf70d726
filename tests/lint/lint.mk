# Static analysis (issue 7): cppcheck and clang-tidy over the library, the
# tools, the examples and the hardening tests. Zero findings: a finding
# is fixed, or suppressed with its reason (tests/lint/cppcheck.supp,
# .clang-tidy).
#   make lint                  both (clang-tidy per file, so make -j2 helps)

LINT_SRCS	:= $(sort $(wildcard libshmstate/*.c tools/*/*.c \
		    examples/*/*.c tests/fuzz/*.c tests/fault/*.c))
LINT_INC	:= -Ilibshmstate -Itools/shmsupervise -Itools/shmctl \
		   -Iexamples/shardcache -Itests/fuzz
CLANG_TIDY	?= clang-tidy
CPPCHECK	?= cppcheck

$(B)/lint/%.tidy: %.c .clang-tidy
	@mkdir -p $(dir $@)
	@$(CLANG_TIDY) --quiet $< -- -std=c11 -D_GNU_SOURCE $(LINT_INC) \
	    $(DEP_CFLAGS) >$@.log 2>&1 || { cat $@.log; exit 1; }
	@touch $@

lint-tidy: $(LINT_SRCS:%.c=$(B)/lint/%.tidy)
	@echo "lint-clang-tidy: $(words $(LINT_SRCS)) files, 0 findings"

lint-cppcheck:
	@$(CPPCHECK) --std=c11 --library=posix --library=gnu \
	    --enable=warning,portability,performance --inline-suppr \
	    --suppressions-list=tests/lint/cppcheck.supp \
	    --error-exitcode=1 -q -D_GNU_SOURCE -D__GNUC__ $(LINT_INC) \
	    --template='{file}:{line}: {severity}: {id}: {message}' \
	    $(LINT_SRCS)
	@echo "lint-cppcheck: $(words $(LINT_SRCS)) files, 0 findings"

lint: lint-cppcheck lint-tidy

.PHONY: lint lint-tidy lint-cppcheck
