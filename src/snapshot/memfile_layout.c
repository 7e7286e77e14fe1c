/*
 * Reading the memory file's layout (memfile_layout.h), with nothing taken
 * on trust: a memory file is user input like the state file, and merge
 * and restore act on the offsets it names.
 */
#include "snapshot/memfile_layout.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"

/* Room for the ELF header and every program header we accept. */
#define HDR_MAX (sizeof(Elf64_Ehdr) + (MEMFILE_MAX_REGIONS + 1) * sizeof(Elf64_Phdr))

static int check_ehdr(const Elf64_Ehdr *eh, struct err *err)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return err_set(err, true, -EINVAL, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return err_set(err, true, -EINVAL, "not a 64-bit little-endian ELF file");
	if (eh->e_type == MEMFILE_ET_MERGING)
		return err_set(err, true, -EINVAL, "an interrupted snapshot-merge left it "
			       "half-merged; run the merge again");
	if (eh->e_type != ET_CORE || eh->e_machine != EM_X86_64)
		return err_set(err, true, -EINVAL, "not an x86-64 ELF core file (type %u, machine "
			       "%u)", eh->e_type, eh->e_machine);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff < sizeof(Elf64_Ehdr))
		return err_set(err, true, -EINVAL, "unexpected program header table");
	if (eh->e_phnum < 2 || eh->e_phnum > MEMFILE_MAX_REGIONS + 1)
		return err_set(err, true, -EINVAL, "%u program headers (a note and 1 to %u "
			       "regions)", eh->e_phnum, MEMFILE_MAX_REGIONS);
	return 0;
}

static int check_load(const Elf64_Phdr *ph, const struct memfile_region *prev, uint64_t data_start,
		      unsigned int i, struct err *err)
{
	if (ph->p_type != PT_LOAD)
		return err_set(err, true, -EINVAL, "program header %u is not PT_LOAD", i + 1);
	if (ph->p_filesz != ph->p_memsz || !ph->p_filesz || ph->p_paddr != ph->p_vaddr ||
	    (ph->p_offset | ph->p_filesz | ph->p_paddr) & (MEMFILE_PAGE - 1))
		return err_set(err, true, -EINVAL, "region %u is not page-aligned RAM", i);
	if (ph->p_offset + ph->p_filesz < ph->p_offset || ph->p_paddr + ph->p_filesz < ph->p_paddr)
		return err_set(err, true, -EINVAL, "region %u wraps around", i);
	if (prev ? (ph->p_paddr < prev->gpa + prev->size || ph->p_offset < prev->offset + prev->size)
		 : ph->p_offset < data_start)
		return err_set(err, true, -EINVAL, "region %u overlaps what comes before it", i);
	return 0;
}

int memfile_layout_parse(const void *buf, size_t len, uint64_t file_size,
			 struct memfile_layout *l, struct err *err)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t table_end;
	int ret;

	if (len < SELFMAG || memcmp(buf, ELFMAG, SELFMAG))
		return err_set(err, true, -EINVAL, len ? "not an ELF file" : "empty file");
	if (len < sizeof(eh))
		return err_set(err, true, -ENODATA, "truncated: %zu bytes", len);
	memcpy(&eh, buf, sizeof(eh));
	ret = check_ehdr(&eh, err);
	if (ret)
		return ret;
	table_end = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(ph);
	if (eh.e_phoff > HDR_MAX || table_end > len)
		return err_set(err, true, table_end > file_size ? -ENODATA : -EINVAL,
			       "the program headers end at %llu, past %s",
			       (unsigned long long)table_end,
			       table_end > file_size ? "the end of the file" : "the header area");
	memset(l, 0, sizeof(*l));
	memcpy(&ph, (const uint8_t *)buf + eh.e_phoff, sizeof(ph));
	if (ph.p_type != PT_NOTE)
		return err_set(err, true, -EINVAL, "the first program header is not PT_NOTE");
	if (ph.p_offset < table_end || ph.p_offset + ph.p_filesz < ph.p_offset)
		return err_set(err, true, -EINVAL, "the note overlaps the headers");
	l->note_offset = ph.p_offset;
	l->note_size = ph.p_filesz;
	for (unsigned int i = 0; i + 1 < eh.e_phnum; i++) {
		memcpy(&ph, (const uint8_t *)buf + eh.e_phoff + (i + 1) * sizeof(ph), sizeof(ph));
		ret = check_load(&ph, i ? &l->r[i - 1] : NULL, l->note_offset + l->note_size, i,
				 err);
		if (ret)
			return ret;
		l->r[i] = (struct memfile_region){ ph.p_paddr, ph.p_filesz, ph.p_offset };
		l->nregions = i + 1;
	}
	l->file_size = l->r[l->nregions - 1].offset + l->r[l->nregions - 1].size;
	if (file_size < l->file_size)
		return err_set(err, true, -ENODATA, "truncated: %llu bytes, the regions need %llu",
			       (unsigned long long)file_size, (unsigned long long)l->file_size);
	if (file_size > l->file_size)
		return err_set(err, true, -EINVAL, "%llu bytes after the last region",
			       (unsigned long long)(file_size - l->file_size));
	return 0;
}

int memfile_layout_read(int fd, struct memfile_layout *l, struct err *err)
{
	uint8_t buf[HDR_MAX];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return err_set(err, true, -errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, true, -EINVAL, "not a regular file");
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return err_set(err, true, -errno, "%s", strerror(errno));
	return memfile_layout_parse(buf, (size_t)n, (uint64_t)st.st_size, l, err);
}

bool memfile_layout_same(const struct memfile_layout *a, const struct memfile_layout *b)
{
	if (a->nregions != b->nregions || a->file_size != b->file_size)
		return false;
	for (unsigned int i = 0; i < a->nregions; i++)
		if (a->r[i].gpa != b->r[i].gpa || a->r[i].size != b->r[i].size ||
		    a->r[i].offset != b->r[i].offset)
			return false;
	return true;
}
