#include "vcpu/regs.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/layout.h"
#include "util/log.h"

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

#define SEL_CODE64 0x10 /* __BOOT_CS in the boot protocol */
#define SEL_DATA 0x18   /* __BOOT_DS */
#define SEL_TSS 0x20
#define SEL_CODE32 0x28 /* PVH enters in 32-bit mode */

/* base, limit, flags (G, D/B, L, AVL) and access byte in the GDT layout. */
#define GDT_ENTRY(base, limit, flags_access)                                            \
	((((uint64_t)(base) & 0xff000000ull) << 32) | (((uint64_t)(base) & 0xffffffull) << 16) | \
	 (((uint64_t)(limit) & 0xf0000ull) << 32) | ((uint64_t)(limit) & 0xffffull) |         \
	 (((uint64_t)(flags_access) & 0xf0ffull) << 40))

static const uint64_t gdt[] = {
	0,
	0,
	GDT_ENTRY(0, 0xfffff, 0xa09b), /* 0x10 code, L=1 */
	GDT_ENTRY(0, 0xfffff, 0xc093), /* 0x18 data, D/B=1 */
	GDT_ENTRY(0, 0xfffff, 0x008b), /* 0x20 busy TSS */
	GDT_ENTRY(0, 0xfffff, 0xc09b), /* 0x28 code, D/B=1 */
};

_Static_assert(LAYOUT_PML4 == LAYOUT_GDT + LAYOUT_TABLES_GDT_SIZE &&
	       LAYOUT_PDPT == LAYOUT_PML4 + 0x1000 && LAYOUT_PD == LAYOUT_PDPT + 0x1000,
	       "the boot tables are one block: GDT, PML4, PDPT, then four PDs");

int regs_setup_tables(struct guest_mem *gm, uint64_t base, bool paging)
{
	uint64_t pml4_gpa = base + (LAYOUT_PML4 - LAYOUT_GDT);
	uint64_t pdpt_gpa = base + (LAYOUT_PDPT - LAYOUT_GDT);
	uint64_t pd_gpa = base + (LAYOUT_PD - LAYOUT_GDT);
	uint64_t *pml4, *pdpt, *pd;

	if (guest_mem_write(gm, base, gdt, sizeof(gdt)))
		return -EFAULT;
	if (!paging)
		return 0;
	pml4 = guest_mem_ptr(gm, pml4_gpa, 4096);
	pdpt = guest_mem_ptr(gm, pdpt_gpa, 4096);
	pd = guest_mem_ptr(gm, pd_gpa, 4 * 4096);
	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = pdpt_gpa | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (pd_gpa + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static struct kvm_segment seg_from_gdt(uint16_t sel)
{
	uint64_t e = gdt[sel >> 3];
	struct kvm_segment s = {
		.base = (uint32_t)(((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000)),
		.limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000)),
		.selector = sel,
		.type = (e >> 40) & 0xf,
		.present = (e >> 47) & 1,
		.dpl = (e >> 45) & 3,
		.db = (e >> 54) & 1,
		.s = (e >> 44) & 1,
		.l = (e >> 53) & 1,
		.g = (e >> 55) & 1,
		.avl = (e >> 52) & 1,
	};
	/* KVM wants the byte-granular limit. */
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

/* Real mode as after reset (KVM's state at creation), only the segments moved. */
static void real_segments(struct kvm_sregs *s, uint16_t sel)
{
	struct kvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss };

	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		segs[i]->selector = sel;
		segs[i]->base = (uint64_t)sel << 4;
	}
}

int regs_setup_boot(int vcpu_fd, const struct cpu_entry *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment data = seg_from_gdt(SEL_DATA);
	uint64_t tables = e->tables ? e->tables : LAYOUT_GDT;

	/* Firmware starts where the processor does: nothing to change. */
	if (e->mode == CPU_ENTRY_RESET)
		return 0;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	if (e->mode == CPU_ENTRY_REAL16) {
		real_segments(&sregs, e->real_seg);
		goto set;
	}
	sregs.gdt.base = tables;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = seg_from_gdt(SEL_TSS);
	if (e->mode == CPU_ENTRY_FLAT32) {
		sregs.cs = seg_from_gdt(SEL_CODE32);
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr4 = 0;
		sregs.cr3 = 0;
		sregs.efer = 0;
	} else {
		sregs.cs = seg_from_gdt(SEL_CODE64);
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs.cr3 = tables + (LAYOUT_PML4 - LAYOUT_GDT);
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
set:
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2; /* bit 1 is reserved-one; IF stays clear */
	regs.rip = e->rip;
	regs.rsp = e->rsp;
	regs.rax = e->rax;
	regs.rbx = e->rbx;
	regs.rsi = e->rsi;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int regs_setup_fpu(int vcpu_fd)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI 0x4

static void lapic_set_mode(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&l->regs[reg], &v, 4);
}

int regs_setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state l;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	lapic_set_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &l) < 0)
		return -errno;
	return 0;
}

/* The guest-physical address of RIP, for showing the faulting bytes. */
static int rip_to_gpa(int vcpu_fd, const struct kvm_sregs *s, uint64_t rip, uint64_t *gpa)
{
	struct kvm_translation tr = { .linear_address = s->cs.base + rip };

	if (!(s->cr0 & CR0_PG)) {
		*gpa = (uint32_t)(s->cs.base + rip);
		return 0;
	}
	if (ioctl(vcpu_fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return -EFAULT;
	*gpa = tr.physical_address;
	return 0;
}

void regs_dump(int vcpu_fd, unsigned int index, const struct guest_mem *gm)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	uint64_t gpa;
	uint8_t code[16];
	char hex[16 * 3 + 1] = "unavailable";

	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		log_err("vcpu%u: cannot read registers: %s", index, strerror(errno));
		return;
	}
	log_err("vcpu%u registers:", index);
	log_err(" rip %016" PRIx64 " rsp %016" PRIx64 " rflags %08" PRIx64, (uint64_t)r.rip,
		(uint64_t)r.rsp, (uint64_t)r.rflags);
	log_err(" rax %016" PRIx64 " rbx %016" PRIx64 " rcx %016" PRIx64 " rdx %016" PRIx64,
		(uint64_t)r.rax, (uint64_t)r.rbx, (uint64_t)r.rcx, (uint64_t)r.rdx);
	log_err(" rsi %016" PRIx64 " rdi %016" PRIx64 " rbp %016" PRIx64 " r8  %016" PRIx64,
		(uint64_t)r.rsi, (uint64_t)r.rdi, (uint64_t)r.rbp, (uint64_t)r.r8);
	log_err(" r9  %016" PRIx64 " r10 %016" PRIx64 " r11 %016" PRIx64 " r12 %016" PRIx64,
		(uint64_t)r.r9, (uint64_t)r.r10, (uint64_t)r.r11, (uint64_t)r.r12);
	log_err(" r13 %016" PRIx64 " r14 %016" PRIx64 " r15 %016" PRIx64, (uint64_t)r.r13,
		(uint64_t)r.r14, (uint64_t)r.r15);
	log_err(" cs %04x (base %" PRIx64 " l=%u d=%u) ss %04x cr0 %" PRIx64 " cr3 %" PRIx64
		" cr4 %" PRIx64 " efer %" PRIx64,
		s.cs.selector, (uint64_t)s.cs.base, s.cs.l, s.cs.db, s.ss.selector,
		(uint64_t)s.cr0, (uint64_t)s.cr3, (uint64_t)s.cr4, (uint64_t)s.efer);
	if (rip_to_gpa(vcpu_fd, &s, r.rip, &gpa) == 0 &&
	    guest_mem_read(gm, gpa, code, sizeof(code)) == 0) {
		for (size_t i = 0; i < sizeof(code); i++)
			snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", code[i]);
		hex[sizeof(hex) - 2] = '\0';
	}
	log_err(" code at rip: %s", hex);
}
