# examples/readme: README.md's API example, built and run so it stays true.
# check-readme fails if the README's code block (between the
# "<!-- examples/readme/readme.c -->" comments) differs from the region of
# readme.c between "README begin" and "README end", or if the EXAMPLES of
# libshmstate(3) do not contain that region, then runs the program
# (checkpoint, exec, adopt) with a private $SHMSTATE_DIR.

README_BIN	:= $(B)/readme

$(README_BIN): $(B)/examples/readme/readme.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHMS_LINK)

BINS		+= $(README_BIN)

check-readme: $(README_BIN)
	@mkdir -p $(B)/examples/readme
	@sed -n '/README begin/,/README end/p' examples/readme/readme.c | \
	    sed '1d;$$d' > $(B)/examples/readme/want.c
	@sed -n '/<!-- examples\/readme\/readme.c -->/,/<!-- end -->/p' \
	    README.md | sed -e '1,2d' | sed -e '$$d' | sed -e '$$d' \
	    > $(B)/examples/readme/got.c
	@diff -u $(B)/examples/readme/want.c $(B)/examples/readme/got.c || \
	    { echo "check-readme: README.md's example differs from" \
	    "examples/readme/readme.c"; exit 1; }
	@sed -n '/^\.Sh EXAMPLES/,/^\.Ed/p' man/libshmstate.3 | \
	    sed -e 's/\\e/\\/g' -e 's/^\\&//' > $(B)/examples/readme/man.c
	@python3 -c 'import sys; w, m = (open(f).read() for f in sys.argv[1:]); \
	    sys.exit(0 if w in m else 1)' $(B)/examples/readme/want.c \
	    $(B)/examples/readme/man.c || \
	    { echo "check-readme: the EXAMPLES of man/libshmstate.3 differ" \
	    "from examples/readme/readme.c"; exit 1; }
	@sh scripts/run-tests.sh readme $(README_BIN)

CHECKS		+= check-readme
.PHONY: check-readme
