/*
 * --exit-stats: where a boot's time and exits went, for the boot bench
 * (bench/bench.py) and for anyone asking why a guest is slow to start.
 * Hearth sees only the exits that reach userspace; each is a round trip
 * through the host kernel, so they are what a device model can remove.
 */
#include "vmm/vm.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#define STATS_ROWS_MAX 64  /* regions listed; the rest are summed on one line */

struct stats_row {
	const struct bus_region *r;
	enum bus_space space;
	uint64_t total;
};

uint64_t vm_stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int row_cmp(const void *a, const void *b)
{
	const struct stats_row *x = a, *y = b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->r->base < y->r->base ? -1 : x->r->base > y->r->base;
}

static void report_phases(struct vm *vm, FILE *out, uint64_t end_ns)
{
	const uint64_t *t = vm->t_mark;
	uint64_t first = 0;

	/* The first vCPU to enter the guest, the BSP in practice. */
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		uint64_t f = vm->vcpus[i] ? __atomic_load_n(&vm->vcpus[i]->first_run_ns,
							    __ATOMIC_RELAXED) : 0;
		if (f && (!first || f < first))
			first = f;
	}
	fprintf(out, "hearth: exit-stats: marks (CLOCK_BOOTTIME s) create=%.6f start=%.6f "
		"first_run=%.6f end=%.6f\n", t[VM_MARK_CREATE] / 1e9, t[VM_MARK_START] / 1e9,
		first / 1e9, end_ns / 1e9);
	if (!first)
		return;
	/* A restore loads no kernel: its LOADED mark is its RAM's mapping. */
	fprintf(out, "hearth: exit-stats: build %.1f ms (RAM and kernel %.1f, KVM and its memory "
		"slots %.1f, devices and vCPUs %.1f), host setup to the start %.1f ms, to the "
		"first KVM_RUN %.1f ms, guest %.1f ms\n",
		(t[VM_MARK_BUILT] - t[VM_MARK_CREATE]) / 1e6,
		(t[VM_MARK_LOADED] - t[VM_MARK_CREATE]) / 1e6,
		(t[VM_MARK_MEMSLOTS] - t[VM_MARK_LOADED]) / 1e6,
		(t[VM_MARK_BUILT] - t[VM_MARK_MEMSLOTS]) / 1e6,
		(t[VM_MARK_START] - t[VM_MARK_BUILT]) / 1e6, (first - t[VM_MARK_START]) / 1e6,
		(end_ns - first) / 1e6);
}

static void report_kinds(struct vm *vm, FILE *out)
{
	uint64_t sum[VCPU_EXIT_KINDS] = { 0 };
	char line[512];
	size_t len = 0;

	for (unsigned int i = 0; i < vm->ncpus; i++)
		for (int k = 0; k < VCPU_EXIT_KINDS; k++)
			if (vm->vcpus[i])
				sum[k] += vcpu_exit_count(vm->vcpus[i], (enum vcpu_exit_kind)k);
	line[0] = 0;
	for (int k = 0; k < VCPU_EXIT_KINDS && len < sizeof(line); k++)
		if (sum[k])
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=%" PRIu64,
						vcpu_exit_name((enum vcpu_exit_kind)k), sum[k]);
	fprintf(out, "hearth: exit-stats: to userspace by kind:%s\n", line[0] ? line : " none");
}

void vm_stats_report(struct vm *vm, FILE *out)
{
	struct stats_row rows[STATS_ROWS_MAX];
	uint64_t end = vm_stats_now_ns(), rest = 0, total = 0;
	size_t n = 0, skipped = 0;

	report_phases(vm, out, end);
	report_kinds(vm, out);
	for (int s = BUS_PIO; s <= BUS_MMIO; s++) {
		const struct bus_region *r;

		for (size_t i = 0; (r = bus_region_at(&vm->bus, (enum bus_space)s, i)); i++) {
			uint64_t t = __atomic_load_n(&r->hits[0], __ATOMIC_RELAXED) +
				     __atomic_load_n(&r->hits[1], __ATOMIC_RELAXED);

			if (!t)
				continue;
			total += t;
			if (n < STATS_ROWS_MAX) {
				rows[n++] = (struct stats_row){ r, (enum bus_space)s, t };
			} else {
				rest += t;
				skipped++;
			}
		}
	}
	qsort(rows, n, sizeof(rows[0]), row_cmp);
	fprintf(out, "hearth: exit-stats: %" PRIu64 " port and MMIO exits to devices, "
		"%lu port and %lu MMIO to nothing\n", total,
		bus_unclaimed_count(&vm->bus, BUS_PIO), bus_unclaimed_count(&vm->bus, BUS_MMIO));
	for (size_t i = 0; i < n; i++)
		fprintf(out, "hearth: exit-stats: %8" PRIu64 " %s 0x%" PRIx64 "+0x%" PRIx64
			" %s: %" PRIu64 " reads, %" PRIu64 " writes\n", rows[i].total,
			rows[i].space == BUS_PIO ? "port" : "mmio", rows[i].r->base, rows[i].r->len,
			rows[i].r->name ? rows[i].r->name : "?",
			__atomic_load_n(&rows[i].r->hits[0], __ATOMIC_RELAXED),
			__atomic_load_n(&rows[i].r->hits[1], __ATOMIC_RELAXED));
	if (skipped)
		fprintf(out, "hearth: exit-stats: %8" PRIu64 " in %zu more regions\n", rest, skipped);
	fflush(out);
}
