#include "snapshot/memcore.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "mem/guest_mem_hotplug.h"
#include "snapshot/file.h"
#include "snapshot/memfile_layout.h"

#define NOTE_NAME "CORE"
#define NOTE_NAME_SZ 8u   /* "CORE\0" padded to 4 bytes: 8 */
#define NOTE_SIZE (sizeof(Elf64_Nhdr) + NOTE_NAME_SZ + ((sizeof(struct elf_prstatus) + 3u) & ~3u))
#define WRITE_RUN (1u << 20)   /* pages coalesced into one pwrite */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t notes_offset(unsigned int nregions)
{
	return sizeof(Elf64_Ehdr) + (1u + nregions) * sizeof(Elf64_Phdr);
}

int memcore_plan(const struct guest_mem *gm, unsigned int nvcpus, struct memcore_layout *l)
{
	uint64_t off;

	memset(l, 0, sizeof(*l));
	if (!gm->nregions || gm->nregions > GUEST_MEM_MAX_REGIONS || !nvcpus ||
	    nvcpus > MEMCORE_MAX_VCPUS)
		return -EINVAL;
	l->nregions = gm->nregions;
	off = notes_offset(gm->nregions + (gm->hp ? 1 : 0)) + nvcpus * NOTE_SIZE;
	/* 2 MiB-aligned data, so huge pages could back a mapping of it later. */
	for (unsigned int i = 0; i < gm->nregions; i++) {
		off = align_up(off, MEMCORE_ALIGN);
		l->gpa[i] = gm->regions[i].gpa;
		l->size[i] = gm->regions[i].size;
		l->offset[i] = off;
		off += gm->regions[i].size;
	}
	if (gm->hp) {
		off = align_up(off, MEMCORE_ALIGN);
		l->gpa[l->nregions] = gm->hp->gpa;
		l->size[l->nregions] = gm->hp->size;
		l->offset[l->nregions] = off;
		off += gm->hp->size;
		l->nregions++;
	}
	l->file_size = off;
	return 0;
}

/* struct user_regs_struct's order, which gdb reads NT_PRSTATUS's pr_reg in. */
static void fill_prstatus(struct elf_prstatus *p, const struct memcore_vcpu *v, unsigned int i)
{
	struct user_regs_struct u = {
		.r15 = v->regs.r15, .r14 = v->regs.r14, .r13 = v->regs.r13, .r12 = v->regs.r12,
		.rbp = v->regs.rbp, .rbx = v->regs.rbx, .r11 = v->regs.r11, .r10 = v->regs.r10,
		.r9 = v->regs.r9, .r8 = v->regs.r8, .rax = v->regs.rax, .rcx = v->regs.rcx,
		.rdx = v->regs.rdx, .rsi = v->regs.rsi, .rdi = v->regs.rdi, .orig_rax = 0,
		.rip = v->regs.rip, .cs = v->sregs.cs.selector, .eflags = v->regs.rflags,
		.rsp = v->regs.rsp, .ss = v->sregs.ss.selector, .fs_base = v->sregs.fs.base,
		.gs_base = v->sregs.gs.base, .ds = v->sregs.ds.selector,
		.es = v->sregs.es.selector, .fs = v->sregs.fs.selector, .gs = v->sregs.gs.selector,
	};

	memset(p, 0, sizeof(*p));
	p->pr_pid = (int)i + 1;   /* gdb lists threads by pid; 0 would look like no thread */
	memcpy(&p->pr_reg, &u, sizeof(u) < sizeof(p->pr_reg) ? sizeof(u) : sizeof(p->pr_reg));
}

int memcore_header(const struct memcore_layout *l, const struct memcore_vcpu *v,
		   unsigned int nvcpus, uint8_t **buf, size_t *len)
{
	size_t size = (size_t)notes_offset(l->nregions) + nvcpus * NOTE_SIZE;
	uint8_t *b = calloc(1, size), *p;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
	Elf64_Phdr *ph;

	if (!b)
		return -ENOMEM;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_SYSV;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (Elf64_Half)(1 + l->nregions);
	ph = (Elf64_Phdr *)(b + sizeof(Elf64_Ehdr));
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = notes_offset(l->nregions),
			      .p_filesz = nvcpus * NOTE_SIZE, .p_align = 4 };
	for (unsigned int i = 0; i < l->nregions; i++)
		ph[1 + i] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X,
					  .p_offset = l->offset[i], .p_vaddr = l->gpa[i],
					  .p_paddr = l->gpa[i], .p_filesz = l->size[i],
					  .p_memsz = l->size[i], .p_align = MEMCORE_PAGE };
	p = b + notes_offset(l->nregions);
	for (unsigned int i = 0; i < nvcpus; i++) {
		Elf64_Nhdr nh = { .n_namesz = sizeof(NOTE_NAME),
				  .n_descsz = sizeof(struct elf_prstatus), .n_type = NT_PRSTATUS };
		struct elf_prstatus pr;

		fill_prstatus(&pr, &v[i], i);
		memcpy(p, &nh, sizeof(nh));
		memcpy(p + sizeof(nh), NOTE_NAME, sizeof(NOTE_NAME));
		memcpy(p + sizeof(nh) + NOTE_NAME_SZ, &pr, sizeof(pr));
		p += NOTE_SIZE;
	}
	*buf = b;
	*len = size;
	return 0;
}

static bool page_zero(const uint8_t *p)
{
	static const uint8_t zero[MEMCORE_PAGE];

	return !memcmp(p, zero, MEMCORE_PAGE);
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, buf, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -ENOSPC;
		buf += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/*
 * A full file's non-zero pages of [hva, hva+size), in runs; zero pages
 * stay holes, and so does any page hp (may be NULL) has not plugged.
 */
static int write_full_region(int fd, const uint8_t *hva, uint64_t size, uint64_t off,
			     const struct guest_hotplug *hp)
{
	uint64_t npages = size / MEMCORE_PAGE, run = 0, start = 0;
	int ret;

	for (uint64_t pg = 0; pg <= npages; pg++) {
		bool want = false;

		if (pg < npages)
			want = (!hp || guest_mem_hotplug_plugged(hp, pg * MEMCORE_PAGE)) &&
			       !page_zero(hva + pg * MEMCORE_PAGE);
		if (want && !run)
			start = pg;
		if (want)
			run++;
		if (run && (!want || run * MEMCORE_PAGE >= WRITE_RUN)) {
			ret = pwrite_all(fd, hva + start * MEMCORE_PAGE, run * MEMCORE_PAGE,
					 off + start * MEMCORE_PAGE);
			if (ret)
				return ret;
			run = 0;
		}
	}
	return 0;
}

/*
 * A diff's dirty pages are written even when zero (snap-dev's writer,
 * memfile_layout.h), since a hole there means "unchanged".
 */
static int write_region(int fd, const struct guest_region *r, uint64_t off,
			const uint64_t *dirty)
{
	if (dirty)
		return memfile_diff_write_region(fd, off, r->hva, r->size, dirty, NULL);
	return write_full_region(fd, r->hva, r->size, off, NULL);
}

static int mf_err(struct err *err, const char *path, const char *what, int e)
{
	return err_set(err, false, -e, "memory file %s: %s: %s", path, what, strerror(e));
}

/* The header and every region into fd, sized first; name is for the messages. */
static int write_all_regions(int fd, const char *name, const struct guest_mem *gm,
			     const struct memcore_vcpu *v, unsigned int nvcpus,
			     const uint64_t *const *dirty, struct err *err)
{
	struct memcore_layout l;
	uint8_t *hdr = NULL;
	size_t hlen;
	int ret;

	ret = memcore_plan(gm, nvcpus, &l);
	if (!ret)
		ret = memcore_header(&l, v, nvcpus, &hdr, &hlen);
	if (ret)
		return mf_err(err, name, "laying out", -ret);
	/* The full size first: what is never written reads back as zeros (holes). */
	if (ftruncate(fd, (off_t)l.file_size) < 0) {
		ret = mf_err(err, name, "sizing", errno);
		goto out;
	}
	ret = pwrite_all(fd, hdr, hlen, 0);
	for (unsigned int i = 0; !ret && i < gm->nregions; i++)
		ret = write_region(fd, &gm->regions[i], l.offset[i], dirty ? dirty[i] : NULL);
	/*
	 * In a diff, its dirty pages whether plugged or not (an unplugged
	 * block's dirty pages are its zeros since it went), at its place.
	 */
	if (!ret && gm->hp && dirty)
		ret = dirty[GUEST_MEM_HP_MAP] ?
			memfile_diff_write_region(fd, l.offset[gm->nregions], gm->hp->hva,
						  gm->hp->size, dirty[GUEST_MEM_HP_MAP], NULL) :
			-EINVAL;
	else if (!ret && gm->hp)
		ret = write_full_region(fd, gm->hp->hva, gm->hp->size, l.offset[gm->nregions],
					gm->hp);
	if (ret)
		ret = mf_err(err, name, "writing", -ret);
out:
	free(hdr);
	return ret;
}

int memcore_write_fd(int fd, const struct guest_mem *gm, const struct memcore_vcpu *v,
		     unsigned int nvcpus, struct err *err)
{
	return write_all_regions(fd, "(fork)", gm, v, nvcpus, NULL, err);
}

int memcore_write(const char *path, const struct guest_mem *gm, const struct memcore_vcpu *v,
		  unsigned int nvcpus, const uint64_t *const *dirty, struct err *err)
{
	char *dcopy = strdup(path), *tmp = NULL;
	int fd = -1, dfd = -1, ret;

	tmp = snap_tmp_name(path);
	if (!dcopy || !tmp) {
		ret = mf_err(err, path, "preparing", ENOMEM);
		goto out;
	}
	dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ret = mf_err(err, path, "opening its directory", errno);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = mf_err(err, path, "creating a temporary file", errno);
		goto out;
	}
	ret = write_all_regions(fd, path, gm, v, nvcpus, dirty, err);
	if (ret)
		goto err_unlink;
	if (fsync(fd) < 0) {
		ret = mf_err(err, path, "syncing", errno);
		goto err_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = mf_err(err, path, "renaming into place", errno);
		goto err_unlink;
	}
	if (fsync(dfd) < 0)
		ret = mf_err(err, path, "syncing its directory", errno);
	goto out;

err_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dcopy);
	return ret;
}
