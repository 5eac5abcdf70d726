# Fuzzing (issue 7): tests/fuzz/fuzz_<target>.c each define
# LLVMFuzzerTestOneInput() for one parser of untrusted bytes. Seeds are in
# tests/fuzz/corpus/<target>/, inputs that once crashed in
# tests/fuzz/regress/<target>/.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="hdr arena"]
#                             libFuzzer runs (clang, ASan+UBSan), each
#                             target for FUZZ_SECONDS; new inputs go to
#                             $(FUZZ_B)/work, crashes to $(FUZZ_B)/crashes
#   make check-fuzz-regress   (in make check) replays every corpus and
#                             regression input through each target built
#                             with the normal compiler, no libFuzzer
#   make fuzz-corpus          rewrites the seeds made from library files

FUZZ_NAMES	:= $(patsubst tests/fuzz/fuzz_%.c,%,\
		    $(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS	?= $(FUZZ_NAMES)
FUZZ_SECONDS	?= 60
FUZZ_CC		?= clang
FUZZ_B		?= $(B)-fuzz

# What each target links besides its own object.
fuzz_objs_hdr		= $(LIB_OBJS)
fuzz_objs_manifest	= $(LIB_OBJS)
fuzz_objs_arena		= $(LIB_OBJS)
fuzz_objs_arena_file	= $(LIB_OBJS)
fuzz_objs_notify	= $(LIB_OBJS)
fuzz_objs_handoff	= $(LIB_OBJS)
fuzz_objs_ctlproto	= $(B)/tools/shmsupervise/ctlproto.o
fuzz_objs_mcproto	= $(SC_LIBOBJS) $(LIB_OBJS)
fuzz_ldflags_mcproto	= -Wl,--wrap=sc_now

ifneq ($(FUZZ_ENGINE),)
# Coverage instrumentation for every object of the libFuzzer build.
SANFLAGS	+= -fsanitize=fuzzer-no-link
endif

$(B)/tests/fuzz/%.o: ALL_CFLAGS += -Itests/fuzz -Itools/shmsupervise \
		    -Iexamples/shardcache

define FUZZ_TARGET_RULES
$(B)/tests/fuzz/replay_$(1): $(B)/tests/fuzz/fuzz_$(1).o \
    $(B)/tests/fuzz/replay.o $$(fuzz_objs_$(1))
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(fuzz_ldflags_$(1)) $$(LIBS)

$(B)/tests/fuzz/fuzz_$(1): $(B)/tests/fuzz/fuzz_$(1).o $$(fuzz_objs_$(1))
	$$(CC) $$(ALL_LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ \
	    $$(fuzz_ldflags_$(1)) $$(LIBS)
endef
$(foreach t,$(FUZZ_NAMES),$(eval $(call FUZZ_TARGET_RULES,$(t))))

check-fuzz-regress: $(FUZZ_NAMES:%=$(B)/tests/fuzz/replay_%)
	@pass=0; for t in $(FUZZ_NAMES); do \
	    if $(B)/tests/fuzz/replay_$$t tests/fuzz/corpus/$$t \
	        tests/fuzz/regress/$$t >$(B)/tests/fuzz/replay_$$t.log 2>&1; \
	    then pass=$$((pass + 1)); \
	        printf '  PASS  fuzz-regress/%-26s %s\n' $$t \
	            "$$(tail -n 1 $(B)/tests/fuzz/replay_$$t.log | \
	            sed 's/.*: //')"; \
	    else printf '  FAIL  fuzz-regress/%s\n' $$t; \
	        tail -n 30 $(B)/tests/fuzz/replay_$$t.log | sed 's/^/    | /'; \
	        echo "fuzz-regress: $$pass passed, 1 failed"; exit 1; fi; \
	done; echo "fuzz-regress: $$pass passed, 0 failed"

fuzz:
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) SAN=1 \
	    FUZZ_ENGINE=1 FUZZ_TARGETS="$(FUZZ_TARGETS)" fuzz-run

fuzz-run: $(FUZZ_TARGETS:%=$(B)/tests/fuzz/fuzz_%)
	@B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run-fuzz.sh \
	    $(FUZZ_TARGETS)

$(B)/tests/fuzz/gen_corpus: $(B)/tests/fuzz/gen_corpus.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHMS_LINK)

fuzz-corpus: $(B)/tests/fuzz/gen_corpus
	rm -f tests/fuzz/corpus/hdr/ckpt-* tests/fuzz/corpus/hdr/arena-* \
	    tests/fuzz/corpus/manifest/manifest-* tests/fuzz/corpus/arena/* \
	    tests/fuzz/corpus/arena_file/*
	$(B)/tests/fuzz/gen_corpus tests/fuzz/corpus

CHECKS		+= check-fuzz-regress
.PHONY: check-fuzz-regress fuzz fuzz-run fuzz-corpus
