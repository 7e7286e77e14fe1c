/*
 * --flat images (boot/flat.h): every check a hostile or mistaken value
 * can fail is made before a byte of RAM is written.
 */
#include "boot/flat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/layout.h"
#include "util/file.h"

#define REAL_MODE_LIMIT 0x100000ull    /* what CS = 0xf000, IP = 0xffff reaches, plus one */
#define FOUR_GIB 0x100000000ull

static const char *const mode_names[] = {
	[FLAT_REAL] = "real",
	[FLAT_PROT32] = "prot32",
	[FLAT_LONG] = "long",
};

int flat_mode_parse(const char *s, enum flat_mode *out)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(s, mode_names[i])) {
			*out = (enum flat_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *flat_mode_name(enum flat_mode m)
{
	return (unsigned int)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

int flat_real_cs_ip(uint64_t entry, uint16_t *cs, uint16_t *ip)
{
	if (entry >= REAL_MODE_LIMIT)
		return -ERANGE;
	/* The 64 KiB-aligned segment holding entry: CS a multiple of 0x1000. */
	*cs = (uint16_t)((entry >> 4) & 0xf000);
	*ip = (uint16_t)(entry & 0xffff);
	return 0;
}

/* [base, base + size) is RAM below 4 GiB and clear of [start, end). */
static bool tables_fit(const struct guest_mem *gm, uint64_t base, uint64_t size, uint64_t start,
		       uint64_t end)
{
	return base + size <= FOUR_GIB && guest_mem_ptr(gm, base, size) &&
	       (base + size <= start || base >= end);
}

int flat_tables_place(const struct guest_mem *gm, enum flat_mode mode, uint64_t start,
		      uint64_t end, uint64_t *base, uint64_t *size)
{
	uint64_t above = (end + GUEST_PAGE_SIZE - 1) & ~(GUEST_PAGE_SIZE - 1);

	*base = 0;
	*size = mode == FLAT_LONG ? LAYOUT_TABLES_SIZE
		: mode == FLAT_PROT32 ? LAYOUT_TABLES_GDT_SIZE : 0;
	if (!*size)
		return 0;
	if (tables_fit(gm, LAYOUT_GDT, *size, start, end))
		*base = LAYOUT_GDT;
	else if (above >= end && tables_fit(gm, above, *size, start, end))
		*base = above;
	else
		return -ENOSPC;
	return 0;
}

/* Why [addr, addr + size) is not RAM, in one line. */
static int refuse_place(const struct guest_mem *gm, uint64_t addr, uint64_t size,
			struct err *err)
{
	uint64_t low = guest_mem_low_end(gm);
	char ram[96];

	if (gm->nregions > 1)
		snprintf(ram, sizeof(ram), "[0, 0x%llx) and [0x%llx, 0x%llx)",
			 (unsigned long long)low, (unsigned long long)gm->regions[1].gpa,
			 (unsigned long long)(gm->regions[1].gpa + gm->regions[1].size));
	else
		snprintf(ram, sizeof(ram), "[0, 0x%llx)", (unsigned long long)low);
	if (!guest_mem_ptr(gm, addr, 1))
		return err_set(err, true, -EINVAL, "addr=0x%llx is outside guest RAM %s",
			       (unsigned long long)addr, ram);
	return err_set(err, true, -E2BIG, "the image [0x%llx, 0x%llx) runs past the end of guest "
		       "RAM %s; raise --memory or lower addr", (unsigned long long)addr,
		       (unsigned long long)(addr + size), ram);
}

/* The values against the file's size and RAM, before anything is read. */
static int flat_check(const struct flat_spec *spec, const struct guest_mem *gm, uint64_t size,
		      uint64_t entry, struct err *err)
{
	uint64_t end = spec->addr + size;
	uint16_t cs, ip;

	if (size == 0)
		return err_set(err, true, -EINVAL, "empty file: an image needs at least one "
			       "instruction");
	if (size > gm->ram_bytes)
		return err_set(err, true, -E2BIG, "%llu bytes do not fit in guest RAM (%llu MiB); "
			       "raise --memory", (unsigned long long)size,
			       (unsigned long long)(gm->ram_bytes >> 20));
	if (end < spec->addr || !guest_mem_ptr(gm, spec->addr, size))
		return refuse_place(gm, spec->addr, size, err);
	if (entry < spec->addr || entry >= end)
		return err_set(err, true, -EINVAL, "entry=0x%llx is outside the image [0x%llx, "
			       "0x%llx)", (unsigned long long)entry,
			       (unsigned long long)spec->addr, (unsigned long long)end);
	if (spec->mode == FLAT_REAL && flat_real_cs_ip(entry, &cs, &ip))
		return err_set(err, true, -EINVAL, "entry=0x%llx: mode=real reaches only the first "
			       "1 MiB (entry below 0x100000)", (unsigned long long)entry);
	if (spec->mode != FLAT_REAL && end > FOUR_GIB)
		return err_set(err, true, -EINVAL, "mode=%s: the image must lie below 4 GiB "
			       "(it ends at 0x%llx)", flat_mode_name(spec->mode),
			       (unsigned long long)end);
	return 0;
}

int flat_load(const struct flat_spec *spec, struct guest_mem *gm, struct cpu_entry *e,
	      struct err *err)
{
	uint64_t entry = spec->entry_set ? spec->entry : spec->addr;
	uint64_t tables, tables_size;
	struct stat st;
	uint16_t cs = 0, ip = 0;
	ssize_t n;
	int fd, ret;

	/* O_NONBLOCK: a FIFO with no writer must be refused, not wait in open(). */
	fd = open(spec->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		return err_set(err, true, ret, "cannot open: %s", strerror(-ret));
	}
	ret = file_check_type(fd, false, &st, err);
	if (!ret)
		ret = flat_check(spec, gm, (uint64_t)st.st_size, entry, err);
	if (ret)
		goto out;
	if (flat_tables_place(gm, spec->mode, spec->addr, spec->addr + (uint64_t)st.st_size,
			      &tables, &tables_size)) {
		ret = err_set(err, true, -ENOSPC, "mode=%s: no room for the boot tables (0x%llx "
			      "bytes) at 0x%llx or above the image; raise --memory or move addr",
			      flat_mode_name(spec->mode), (unsigned long long)tables_size,
			      (unsigned long long)LAYOUT_GDT);
		goto out;
	}
	n = file_read_full(fd, guest_mem_ptr(gm, spec->addr, (uint64_t)st.st_size),
			   (size_t)st.st_size);
	if (n != (ssize_t)st.st_size) {
		ret = n < 0 ? (int)n : -EIO;
		err_set(err, true, ret, "read failed: %s", n < 0 ? strerror(-ret) : "the file shrank");
		goto out;
	}
	*e = (struct cpu_entry){ .rip = entry, .tables = tables };
	if (spec->mode == FLAT_REAL) {
		flat_real_cs_ip(entry, &cs, &ip);
		*e = (struct cpu_entry){ .mode = CPU_ENTRY_REAL16, .rip = ip, .real_seg = cs };
	} else {
		e->mode = spec->mode == FLAT_LONG ? CPU_ENTRY_LONG64 : CPU_ENTRY_FLAT32;
	}
out:
	close(fd);
	return ret;
}
