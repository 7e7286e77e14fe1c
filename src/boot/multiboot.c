/*
 * Multiboot v1: find the header, check every field a hostile file can
 * get wrong before anything is placed, then load and describe the machine.
 * What QEMU does decides the ambiguous cases: with header flag bit 16 the
 * a.out kludge's addresses are used, otherwise the file must be ELF32.
 */
#include "boot/multiboot.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot/e820.h"
#include "core/layout.h"

/* Header flag bits 0-15 a loader must refuse when it does not know them. */
#define MB_HF_REQUIRED_MASK 0xffffu
#define MB_HF_KNOWN (MB_HF_PAGE_ALIGN | MB_HF_MEMINFO | MB_HF_VIDEO)

#define MB_LOADER_NAME "hearth"

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

int mb_find_header(const uint8_t *data, size_t size, uint32_t *off)
{
	size_t end = size < MB_SEARCH_LEN ? size : MB_SEARCH_LEN;

	/* The header is 32-bit aligned and 12 bytes at least. */
	for (size_t o = 0; o + 12 <= end; o += 4) {
		uint32_t magic = get32(data + o), flags = get32(data + o + 4);

		if (magic == MB_HEADER_MAGIC && magic + flags + get32(data + o + 8) == 0) {
			*off = (uint32_t)o;
			return 1;
		}
	}
	return 0;
}

/* Segments are placed by physical address: two must never share a byte. */
static int check_overlaps(const struct mb_layout *l, struct err *err)
{
	for (unsigned int i = 0; i < l->nsegs; i++)
		for (unsigned int j = i + 1; j < l->nsegs; j++) {
			const struct mb_segment *a = &l->segs[i], *b = &l->segs[j];

			if ((uint64_t)a->paddr < (uint64_t)b->paddr + b->memsz &&
			    (uint64_t)b->paddr < (uint64_t)a->paddr + a->memsz)
				return err_set(err, true, -EINVAL, "Multiboot segments overlap: "
					       "[0x%x, +0x%x) and [0x%x, +0x%x)", a->paddr,
					       a->memsz, b->paddr, b->memsz);
		}
	return 0;
}

static int parse_aout(const uint8_t *data, size_t size, struct mb_layout *l,
		      struct err *err)
{
	const uint8_t *h = data + l->header_off;
	uint32_t header_addr, load_addr, load_end, bss_end, entry;
	uint64_t file_off, load_len, mem_len;

	if ((uint64_t)l->header_off + 32 > size)
		return err_set(err, true, -EINVAL, "truncated Multiboot header: the a.out kludge's "
			       "address fields are missing");
	header_addr = get32(h + 12);
	load_addr = get32(h + 16);
	load_end = get32(h + 20);
	bss_end = get32(h + 24);
	entry = get32(h + 28);
	if (load_addr > header_addr || header_addr - load_addr > l->header_off)
		return err_set(err, true, -EINVAL, "a.out kludge: load_addr 0x%x and header_addr "
			       "0x%x put the image start before the file", load_addr, header_addr);
	file_off = l->header_off - (header_addr - load_addr);
	if (load_end == 0) {
		load_len = size - file_off;
	} else if (load_end <= load_addr) {
		return err_set(err, true, -EINVAL, "a.out kludge: load_end_addr 0x%x is not above "
			       "load_addr 0x%x", load_end, load_addr);
	} else {
		load_len = (uint64_t)load_end - load_addr;
	}
	if (file_off + load_len > size)
		return err_set(err, true, -EINVAL, "a.out kludge points outside the file: it loads "
			       "bytes up to %llu, the file has %zu",
			       (unsigned long long)(file_off + load_len), size);
	mem_len = load_len;
	if (bss_end) {
		if ((uint64_t)bss_end < load_addr + load_len)
			return err_set(err, true, -EINVAL, "a.out kludge: bss_end_addr 0x%x is "
				       "below the end of the loaded image", bss_end);
		mem_len = (uint64_t)bss_end - load_addr;
	}
	if (mem_len == 0 || (uint64_t)load_addr + mem_len > 0x100000000ull)
		return err_set(err, true, -EINVAL, "a.out kludge: the image is empty or runs past "
			       "4 GiB");
	if (entry < load_addr || entry - load_addr >= mem_len)
		return err_set(err, true, -EINVAL, "a.out kludge: entry_addr 0x%x is outside the "
			       "loaded image [0x%x, +0x%llx)", entry, load_addr,
			       (unsigned long long)mem_len);
	l->aout = 1;
	l->entry = entry;
	l->nsegs = 1;
	l->segs[0] = (struct mb_segment){ load_addr, (uint32_t)mem_len, (uint32_t)load_len,
					  (uint32_t)file_off };
	return 0;
}

static int parse_elf32(const uint8_t *data, size_t size, struct mb_layout *l,
		       struct err *err)
{
	Elf32_Ehdr eh;
	int entry_found = 0;

	if (size < sizeof(eh))
		return err_set(err, true, -EINVAL, "truncated ELF header");
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] == ELFCLASS64)
		return err_set(err, true, -EINVAL, "a 64-bit ELF with a Multiboot header: "
			       "Multiboot v1 loads ELF32 images (or an a.out kludge, header flag "
			       "bit 16)");
	if (eh.e_ident[EI_CLASS] != ELFCLASS32 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_386)
		return err_set(err, true, -EINVAL, "Multiboot ELF file is not a 32-bit "
			       "little-endian i386 image");
	if (eh.e_type != ET_EXEC)
		return err_set(err, true, -EINVAL, "Multiboot ELF file is not an executable "
			       "(e_type %u)", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf32_Phdr) || eh.e_phnum == 0 ||
	    (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr) > size)
		return err_set(err, true, -EINVAL, "truncated or malformed ELF program headers");
	if (eh.e_entry == 0)
		return err_set(err, true, -EINVAL, "Multiboot ELF file has no entry point (e_entry "
			       "is 0)");
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr ph;

		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if ((uint64_t)ph.p_offset + ph.p_filesz > size)
			return err_set(err, true, -EINVAL, "truncated: segment %u needs bytes up "
				       "to %llu, file has %zu", i,
				       (unsigned long long)ph.p_offset + ph.p_filesz, size);
		if (ph.p_filesz > ph.p_memsz || (uint64_t)ph.p_paddr + ph.p_memsz > 0x100000000ull ||
		    (uint64_t)ph.p_vaddr + ph.p_memsz > 0x100000000ull)
			return err_set(err, true, -EINVAL, "malformed ELF segment %u", i);
		if (l->nsegs == MB_MAX_SEGS)
			return err_set(err, true, -EINVAL, "more than %u loadable ELF segments",
				       MB_MAX_SEGS);
		l->segs[l->nsegs++] = (struct mb_segment){ ph.p_paddr, ph.p_memsz, ph.p_filesz,
							   ph.p_offset };
		/* e_entry is virtual; the CPU starts with paging off. */
		if (!entry_found && eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			l->entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
			entry_found = 1;
		}
	}
	if (!l->nsegs)
		return err_set(err, true, -EINVAL, "Multiboot ELF file has no loadable segments");
	if (!entry_found)
		return err_set(err, true, -EINVAL, "Multiboot ELF entry point 0x%x lies in no "
			       "loadable segment", eh.e_entry);
	return 0;
}

int mb_layout_parse(const uint8_t *data, size_t size, struct mb_layout *out,
		    struct err *err)
{
	uint32_t off;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!mb_find_header(data, size, &off))
		return err_set(err, true, -EINVAL, "no Multiboot header in the first 8 KiB");
	out->header_off = off;
	out->flags = get32(data + off + 4);
	if (out->flags & MB_HF_REQUIRED_MASK & ~MB_HF_KNOWN)
		return err_set(err, true, -EINVAL, "Multiboot header asks for features Hearth does "
			       "not provide (flags 0x%x)", out->flags);
	if (out->flags & MB_HF_AOUT_KLUDGE)
		ret = parse_aout(data, size, out, err);
	else if (size >= 4 && !memcmp(data, ELFMAG, SELFMAG))
		ret = parse_elf32(data, size, out, err);
	else
		ret = err_set(err, true, -EINVAL, "Multiboot image is neither ELF32 nor has the "
			      "a.out kludge (header flag bit 16)");
	return ret ? ret : check_overlaps(out, err);
}

int mb_parse(const uint8_t *data, size_t size, struct kernel_image *img,
	     struct err *err)
{
	struct mb_layout l;
	int ret = mb_layout_parse(data, size, &l, err);

	if (ret)
		return ret;
	memset(img, 0, sizeof(*img));
	img->kind = KERNEL_MULTIBOOT;
	img->entry = l.entry;
	return 0;
}

/* Below 1 MiB, what Hearth writes or the kernel expects untouched: the rest is free. */
static const struct mb_low_area mb_low_areas[] = {
	{ 0, MB_LOW_FREE_START, "the real-mode IVT and BIOS data area" },
	{ LAYOUT_GDT, MB_INFO_GPA, "Hearth's boot GDT, page tables and initial stack" },
	{ MB_INFO_GPA, MB_AREA_END, "the Multiboot information" },
	{ LAYOUT_EBDA, LAYOUT_KERNEL_LOAD, "the EBDA, VGA and BIOS area (ACPI tables at 0xe0000)" },
};

const struct mb_low_area *mb_low_overlap(uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < sizeof(mb_low_areas) / sizeof(mb_low_areas[0]); i++) {
		const struct mb_low_area *a = &mb_low_areas[i];

		if (start < a->end && a->start < start + len)
			return a;
	}
	return NULL;
}

int mb_load(const struct kernel_image *img, struct guest_mem *gm, struct boot_plan *plan,
	    struct err *err)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	struct mb_layout l;
	int ret = mb_layout_parse(img->data, img->size, &l, err);

	if (ret)
		return ret;
	/* Check every segment first: a refused image leaves RAM untouched. */
	for (unsigned int i = 0; i < l.nsegs; i++) {
		const struct mb_segment *s = &l.segs[i];

		const struct mb_low_area *a = mb_low_overlap(s->paddr, s->memsz);

		if (a)
			return err_set(err, true, -EINVAL, "Multiboot segment %u [0x%x, +0x%x) "
				       "overlaps %s [0x%llx, 0x%llx)", i, s->paddr, s->memsz,
				       a->what, (unsigned long long)a->start,
				       (unsigned long long)a->end);
		if (!guest_mem_ptr(gm, s->paddr, s->memsz))
			return err_set(err, true, -E2BIG, "Multiboot segment %u [0x%x, +0x%x) does "
				       "not fit in guest RAM (%llu MiB below the 3 GiB hole); "
				       "raise --memory", i, s->paddr, s->memsz,
				       (unsigned long long)(guest_mem_low_end(gm) >> 20));
	}
	for (unsigned int i = 0; i < l.nsegs; i++) {
		const struct mb_segment *s = &l.segs[i];
		uint8_t *dst = guest_mem_ptr(gm, s->paddr, s->memsz);

		memcpy(dst, img->data + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		if (s->paddr < lo)
			lo = s->paddr;
		if ((uint64_t)s->paddr + s->memsz > hi)
			hi = (uint64_t)s->paddr + s->memsz;
	}
	plan->entry = l.entry;
	plan->params_gpa = MB_INFO_GPA;
	plan->cmdline_gpa = MB_CMDLINE_GPA;
	plan->multiboot = 1;
	plan->kernel_start = lo;
	plan->kernel_end = hi;
	return 0;
}

/* Writes s (with its NUL) at gpa if it fits in max bytes. */
static int put_string(struct guest_mem *gm, uint64_t gpa, size_t max, const char *a,
		      const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	size_t len = la + (lb ? 1 + lb : 0);
	uint8_t *dst;

	if (len + 1 > max)
		return -E2BIG;
	dst = guest_mem_ptr(gm, gpa, len + 1);
	if (!dst)
		return -EFAULT;
	memcpy(dst, a, la);
	if (lb) {
		dst[la] = ' ';
		memcpy(dst + la + 1, b, lb);
	}
	dst[len] = '\0';
	return 0;
}

int mb_info_fill(struct guest_mem *gm, const struct boot_plan *plan, const char *kernel_path,
		 const char *cmdline, const char *initrd_path, struct err *err)
{
	struct boot_e820_entry map[MB_MMAP_MAX];
	uint8_t *info = guest_mem_ptr(gm, MB_INFO_GPA, MB_INFO_SIZE);
	uint8_t *mods = guest_mem_ptr(gm, MB_MODS_GPA, 16);
	uint8_t *mmap = guest_mem_ptr(gm, MB_MMAP_GPA, MB_MMAP_MAX * 24);
	uint32_t flags = MB_IF_MEM | MB_IF_CMDLINE | MB_IF_MODS | MB_IF_MMAP | MB_IF_LOADER_NAME;
	uint64_t upper;
	int n, ret;

	if (!info || !mods || !mmap)
		return -EFAULT;
	ret = put_string(gm, MB_CMDLINE_GPA, MB_CMDLINE_MAX, kernel_path,
			 cmdline && *cmdline ? cmdline : NULL);
	if (ret)
		return err_set(err, true, ret, "the kernel's path and command line are %zu bytes; "
			       "Multiboot's area holds %u",
			       strlen(kernel_path) + 1 + (cmdline ? strlen(cmdline) : 0),
			       MB_CMDLINE_MAX - 1);
	if (put_string(gm, MB_LOADER_NAME_GPA, MB_MODSTR_GPA - MB_LOADER_NAME_GPA, MB_LOADER_NAME,
		       NULL))
		return -EFAULT;
	memset(info, 0, MB_INFO_SIZE);
	memset(mods, 0, 16);
	if (plan->initrd_size) {
		ret = put_string(gm, MB_MODSTR_GPA, MB_MODSTR_MAX, initrd_path ? initrd_path : "",
				 NULL);
		if (ret)
			return err_set(err, true, ret, "the initrd's path is longer than %u bytes",
				       MB_MODSTR_MAX - 1);
		put32(mods + 0, (uint32_t)plan->initrd_gpa);
		put32(mods + 4, (uint32_t)(plan->initrd_gpa + plan->initrd_size));
		put32(mods + 8, MB_MODSTR_GPA);
		put32(info + MBI_MODS_COUNT, 1);
	}
	put32(info + MBI_MODS_ADDR, MB_MODS_GPA);
	n = e820_build(gm, map, MB_MMAP_MAX);
	if (n < 0)
		return err_set(err, false, n, "cannot build the memory map: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		uint8_t *e = mmap + 24 * i;

		put32(e, 20); /* size of the rest of the entry */
		memcpy(e + 4, &map[i].addr, 8);
		memcpy(e + 12, &map[i].size, 8);
		put32(e + 20, map[i].type);
	}
	/* mem_upper: KiB from 1 MiB to the first hole, which is where low RAM ends. */
	upper = (guest_mem_low_end(gm) - LAYOUT_KERNEL_LOAD) >> 10;
	put32(info + MBI_FLAGS, flags);
	put32(info + MBI_MEM_LOWER, (uint32_t)(LAYOUT_EBDA >> 10));
	put32(info + MBI_MEM_UPPER, upper > UINT32_MAX ? UINT32_MAX : (uint32_t)upper);
	put32(info + MBI_CMDLINE, MB_CMDLINE_GPA);
	put32(info + MBI_MMAP_LENGTH, (uint32_t)(24 * n));
	put32(info + MBI_MMAP_ADDR, MB_MMAP_GPA);
	put32(info + MBI_LOADER_NAME, MB_LOADER_NAME_GPA);
	return 0;
}
