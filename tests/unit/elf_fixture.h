/*
 * Shared by the ELF loader tests: a synthetic ELF64 x86-64 executable in
 * memory, optionally with Xen's PVH entry note, and its layout.
 */
#ifndef HEARTH_TESTS_ELF_FIXTURE_H
#define HEARTH_TESTS_ELF_FIXTURE_H

#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/loader.h"

#define FILE_SIZE 0x4000
#define NOTE_OFF 0x200
#define SEG1_OFF 0x1000
#define SEG1_PADDR 0x200000ull
#define SEG1_FILESZ 0x2000
#define SEG1_MEMSZ 0x3000
#define SEG2_OFF 0x3000
#define SEG2_PADDR 0x400000ull
#define SEG2_SIZE 0x1000
#define ENTRY64 0x200100ull
#define PVH_ENTRY 0x200040u

/* Program header indices in the synthetic file. */
enum { PH_NOTE, PH_LOAD1, PH_LOAD2, PH_STACK, NPH };

struct elf {
	uint8_t *data;
	size_t size;
};

static inline Elf64_Ehdr *ehdr(struct elf *e)
{
	return (Elf64_Ehdr *)e->data;
}

static inline Elf64_Phdr *phdr(struct elf *e, int i)
{
	return (Elf64_Phdr *)(e->data + sizeof(Elf64_Ehdr)) + i;
}

static inline size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
			      const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { .n_namesz = namesz, .n_descsz = descsz, .n_type = type };
	size_t off = 0;

	memcpy(p, &nh, sizeof(nh));
	off += sizeof(nh);
	memcpy(p + off, name, namesz);
	off += (namesz + 3u) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3u) & ~3u;
	return off;
}

/*
 * ELF64 x86-64 executable: a PT_NOTE (a GNU note, then optionally Xen's
 * PHYS32_ENTRY), a PT_LOAD with bss, a second PT_LOAD, and a
 * PT_GNU_STACK that must be ignored.
 */
static inline struct elf make_elf(int pvh)
{
	struct elf e;
	Elf64_Ehdr *h;
	Elf64_Phdr *ph;
	uint8_t gnu_desc[20];
	uint32_t entry = PVH_ENTRY;
	size_t nlen;

	e.size = FILE_SIZE;
	e.data = calloc(1, e.size);
	assert_non_null(e.data);
	h = ehdr(&e);
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_EXEC;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_entry = ENTRY64;
	h->e_phoff = sizeof(Elf64_Ehdr);
	h->e_ehsize = sizeof(Elf64_Ehdr);
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = NPH;

	memset(gnu_desc, 0x47, sizeof(gnu_desc));
	nlen = put_note(e.data + NOTE_OFF, "GNU", 4, NT_GNU_BUILD_ID, gnu_desc, sizeof(gnu_desc));
	if (pvh)
		nlen += put_note(e.data + NOTE_OFF + nlen, "Xen", 4, 18, &entry, 4);

	ph = phdr(&e, PH_NOTE);
	ph->p_type = PT_NOTE;
	ph->p_offset = NOTE_OFF;
	ph->p_filesz = nlen;
	ph->p_memsz = nlen;

	ph = phdr(&e, PH_LOAD1);
	ph->p_type = PT_LOAD;
	ph->p_offset = SEG1_OFF;
	ph->p_vaddr = 0xffffffff80000000ull + SEG1_PADDR;
	ph->p_paddr = SEG1_PADDR;
	ph->p_filesz = SEG1_FILESZ;
	ph->p_memsz = SEG1_MEMSZ;

	ph = phdr(&e, PH_LOAD2);
	ph->p_type = PT_LOAD;
	ph->p_offset = SEG2_OFF;
	ph->p_vaddr = 0xffffffff80000000ull + SEG2_PADDR;
	ph->p_paddr = SEG2_PADDR;
	ph->p_filesz = SEG2_SIZE;
	ph->p_memsz = SEG2_SIZE;

	ph = phdr(&e, PH_STACK);
	ph->p_type = PT_GNU_STACK;
	ph->p_offset = 0xffffffffffff0000ull; /* garbage that must not matter */
	ph->p_filesz = 0x100000;

	for (size_t i = SEG1_OFF; i < FILE_SIZE; i++)
		e.data[i] = (uint8_t)(i * 17 + 1);
	return e;
}

#endif
