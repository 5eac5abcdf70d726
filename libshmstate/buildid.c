/*
 * buildid.c: the default writer build id, from the main executable's
 * NT_GNU_BUILD_ID note, so that every segment says which binary wrote it.
 */
#include <elf.h>
#include <link.h>
#include <string.h>

#include "internal.h"

struct find {
	char	*out;
	int	 found;
};

/* Notes are 4-byte aligned in ELF64 objects as produced by binutils. */
#define NOTE_ALIGN(n)	(((n) + 3u) & ~(size_t)3u)

static int
scan_notes(const unsigned char *p, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	ElfW(Nhdr) nh;
	size_t off = 0, name_sz, desc_sz, i;

	while (len - off >= sizeof(nh)) {
		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		name_sz = NOTE_ALIGN((size_t)nh.n_namesz);
		desc_sz = NOTE_ALIGN((size_t)nh.n_descsz);
		if (name_sz > len - off || desc_sz > len - off - name_sz)
			return 0;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(p + off, "GNU", 4) == 0 && nh.n_descsz > 0) {
			const unsigned char *d = p + off + name_sz;
			for (i = 0; i < nh.n_descsz &&
			    2 * i + 2 <= SHMS_BUILDID_MAX; i++) {
				out[2 * i] = hex[d[i] >> 4];
				out[2 * i + 1] = hex[d[i] & 15];
			}
			out[2 * i] = '\0';
			return 1;
		}
		off += name_sz + desc_sz;
	}
	return 0;
}

static int
phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	int i;

	/* The first object reported is the main program. */
	for (i = 0; i < info->dlpi_phnum && !f->found; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		f->found = scan_notes((const unsigned char *)(info->dlpi_addr +
		    ph->p_vaddr), ph->p_memsz, f->out);
	}
	return 1;
}

void
shms__default_build_id(char buf[SHMS_BUILDID_MAX + 1])
{
	struct find f = { buf, 0 };

	dl_iterate_phdr(phdr_cb, &f);
	if (!f.found)
		strcpy(buf, "unknown");
}
