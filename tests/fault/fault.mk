# Fault injection (issue 7): tests/fault/test_*.c link the library's
# objects with -Wl,--wrap for every system call and allocation the library
# makes during checkpoint and adopt, so each can be made to fail (or the
# process killed) at any call; the library has no test hook of its own.
#   make check-fault     the fault and kill matrices (in make check)

FAULT_SRCS	:= $(sort $(wildcard tests/fault/test_*.c))
FAULT_BINS	:= $(FAULT_SRCS:tests/fault/%.c=$(B)/tests/fault/%)
FAULT_WRAPS	:= openat fstat fstatat ftruncate fallocate mmap pwrite pread \
		   renameat unlinkat fsync close fchmod fcntl fdopendir \
		   readdir fstatfs flock madvise malloc calloc realloc \
		   reallocarray free \
		   XXH3_createState

$(B)/tests/fault/%: $(B)/tests/fault/%.o $(LIB_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(FAULT_WRAPS:%=-Wl,--wrap=%) $(LIBS)

check-fault: $(FAULT_BINS)
	@KEEP_LOGS=1 B=$(B) sh scripts/run-tests.sh fault $(FAULT_BINS) && \
	    grep -h -e '^fault-' -e '^kill-matrix' $(B)/test-logs/fault/*.log

CHECKS		+= check-fault
.PHONY: check-fault
