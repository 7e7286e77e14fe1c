/*
 * Uncompressed ELF vmlinux: entered through its PVH note (Xen's
 * XEN_ELFNOTE_PHYS32_ENTRY, 32-bit protected mode with hvm_start_info in
 * EBX), or else at e_entry in 64-bit mode with a zero page in RSI.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "boot/e820.h"
#include "core/layout.h"
#include "boot/loader.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define PVH_MODLIST_GPA (LAYOUT_BOOT_PARAMS + 0x100)
#define PVH_MEMMAP_GPA (LAYOUT_BOOT_PARAMS + 0x200)
#define PVH_MEMMAP_MAX 16

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

static int in_file(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static uint64_t find_pvh_entry(const uint8_t *data, size_t size, const Elf64_Phdr *ph)
{
	uint64_t off = ph->p_offset, end = ph->p_offset + ph->p_filesz;

	while (off + sizeof(Elf64_Nhdr) <= end) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, data + off, sizeof(nh));
		name_off = off + sizeof(nh);
		desc_off = name_off + ((nh.n_namesz + 3ull) & ~3ull);
		next = desc_off + ((nh.n_descsz + 3ull) & ~3ull);
		if (next > end || next <= off)
			break;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(data + name_off, "Xen", 4) == 0 && nh.n_descsz >= 4) {
			uint32_t entry;
			memcpy(&entry, data + desc_off, 4);
			return entry;
		}
		off = next;
	}
	return 0;
}

int elf_parse(const uint8_t *data, size_t size, struct kernel_image *img,
	      struct err *err)
{
	Elf64_Ehdr eh;
	unsigned int loads = 0;
	uint64_t pvh = 0;

	if (size < sizeof(eh))
		return err_set(err, true, -EINVAL, "truncated ELF header (%zu bytes)", size);
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return err_set(err, true, -EINVAL, "ELF file is not a 64-bit x86-64 image");
	if (eh.e_type != ET_EXEC)
		return err_set(err, true, -EINVAL, "ELF file is not an executable (e_type %u)",
			       eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_file(size, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr)))
		return err_set(err, true, -EINVAL, "truncated or malformed ELF program headers");
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (!in_file(size, ph.p_offset, ph.p_filesz))
			return err_set(err, true, -EINVAL, "truncated: segment %u needs bytes up "
				       "to %llu, file has %zu", i,
				       (unsigned long long)(ph.p_offset + ph.p_filesz), size);
		if (ph.p_type == PT_NOTE) {
			if (!pvh)
				pvh = find_pvh_entry(data, size, &ph);
			continue;
		}
		if (ph.p_filesz > ph.p_memsz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return err_set(err, true, -EINVAL, "malformed ELF segment %u", i);
		/* elf_load skips empty segments: only the others put a kernel in RAM. */
		if (ph.p_memsz)
			loads++;
	}
	if (!loads)
		return err_set(err, true, -EINVAL, "ELF file has no loadable segments");
	memset(img, 0, sizeof(*img));
	img->kind = pvh ? KERNEL_ELF_PVH : KERNEL_ELF64;
	img->entry = pvh ? pvh : eh.e_entry;
	return 0;
}

/*
 * Copies len bytes to guest RAM at dst (guest-physical gpa), leaving out
 * each guest page whose bytes here are all zero: the RAM is fresh (mapped
 * just now, all zero), and a page never written costs the host neither a
 * fault nor memory. A third of a stock kernel's pages are zeros (its
 * .bss and the padding between sections), so a VM saves some 15 MiB.
 */
static bool elf_page_zero(const uint8_t *src, uint64_t n)
{
	return src[0] == 0 && (n == 1 || memcmp(src, src + 1, n - 1) == 0);
}

static void elf_copy_nonzero(uint8_t *dst, uint64_t gpa, const uint8_t *src, uint64_t len)
{
	while (len) {
		uint64_t n = 4096 - (gpa & 4095), run;

		if (n > len)
			n = len;
		if (elf_page_zero(src, n)) {
			dst += n;
			src += n;
			gpa += n;
			len -= n;
			continue;
		}
		/* A run of pages with data: allocated at once, then copied. */
		for (run = n; run < len;) {
			uint64_t m = len - run < 4096 ? len - run : 4096;

			if (elf_page_zero(src + run, m))
				break;
			run += m;
		}
		guest_mem_prefault(dst, run);
		memcpy(dst, src, run);
		dst += run;
		src += run;
		gpa += run;
		len -= run;
	}
}

int elf_load(const struct kernel_image *img, struct guest_mem *gm, struct boot_plan *plan,
	     struct err *err)
{
	Elf64_Ehdr eh;
	uint64_t lo = UINT64_MAX, hi = 0;

	memcpy(&eh, img->data, sizeof(eh));
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		memcpy(&ph, img->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		/* Low memory holds our page tables, zero page and ACPI tables. */
		if (ph.p_paddr < LAYOUT_KERNEL_LOAD)
			return err_set(err, true, -EINVAL, "ELF segment %u at 0x%llx overlaps the "
				       "loader area below 1 MiB", i,
				       (unsigned long long)ph.p_paddr);
		dst = guest_mem_ptr(gm, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return err_set(err, true, -E2BIG, "ELF segment %u [0x%llx, +0x%llx) is "
				       "outside guest RAM", i, (unsigned long long)ph.p_paddr,
				       (unsigned long long)ph.p_memsz);
		/* The rest of p_memsz (.bss) is fresh RAM's zeros already. */
		if (img->from_fd) {
			int ret = elf_read_segment(img, dst, ph.p_offset, ph.p_filesz);

			if (ret)
				return err_set(err, true, ret, "ELF segment %u: read failed: %s",
					       i, strerror(-ret));
		} else {
			elf_copy_nonzero(dst, ph.p_paddr, img->data + ph.p_offset, ph.p_filesz);
		}
		if (ph.p_paddr < lo)
			lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > hi)
			hi = ph.p_paddr + ph.p_memsz;
	}
	if (!guest_mem_ptr(gm, img->entry, 1))
		return err_set(err, true, -EINVAL, "ELF entry point 0x%llx is outside guest RAM",
			       (unsigned long long)img->entry);
	if (!guest_mem_ptr(gm, LAYOUT_BOOT_PARAMS, sizeof(struct boot_params)))
		return -EFAULT;
	memset(guest_mem_ptr(gm, LAYOUT_BOOT_PARAMS, sizeof(struct boot_params)), 0,
	       sizeof(struct boot_params));
	plan->entry = img->entry;
	plan->params_gpa = LAYOUT_BOOT_PARAMS;
	plan->pvh = img->kind == KERNEL_ELF_PVH;
	plan->kernel_start = lo;
	plan->kernel_end = hi;
	return 0;
}

int elf_pvh_fill(struct guest_mem *gm, const struct boot_plan *plan, uint64_t rsdp_gpa,
		 struct err *err)
{
	struct boot_e820_entry map[PVH_MEMMAP_MAX];
	struct hvm_memmap_entry mm[PVH_MEMMAP_MAX];
	struct hvm_modlist_entry mod = { .paddr = plan->initrd_gpa, .size = plan->initrd_size };
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.nr_modules = plan->initrd_size ? 1 : 0,
		.modlist_paddr = plan->initrd_size ? PVH_MODLIST_GPA : 0,
		.cmdline_paddr = plan->cmdline_gpa,
		.rsdp_paddr = rsdp_gpa,
		.memmap_paddr = PVH_MEMMAP_GPA,
	};
	int n = e820_build(gm, map, PVH_MEMMAP_MAX);

	if (n < 0)
		return err_set(err, false, n, "cannot build the memory map");
	for (int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	si.memmap_entries = (uint32_t)n;
	if (guest_mem_write(gm, plan->params_gpa, &si, sizeof(si)) ||
	    guest_mem_write(gm, PVH_MODLIST_GPA, &mod, sizeof(mod)) ||
	    guest_mem_write(gm, PVH_MEMMAP_GPA, mm, (size_t)n * sizeof(mm[0])))
		return -EFAULT;
	return 0;
}
