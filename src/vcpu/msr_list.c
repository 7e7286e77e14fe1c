#include "vcpu/msr_list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MSR_IA32_PRED_CMD 0x49u      /* write-only: a barrier, not state */
#define MSR_IA32_UCODE_WRITE 0x79u   /* write-only */
#define MSR_IA32_FLUSH_CMD 0x10bu    /* write-only */
#define MSR_IA32_MCG_CTL 0x17bu      /* readable only after MCE setup, which Hearth skips */
#define MSR_X2APIC_FIRST 0x800u      /* the LAPIC's registers: KVM_SET_LAPIC restores them */
#define MSR_X2APIC_LAST 0xbffu

int msr_list_saveable(uint32_t index)
{
	switch (index) {
	case MSR_IA32_PRED_CMD:
	case MSR_IA32_UCODE_WRITE:
	case MSR_IA32_FLUSH_CMD:
	case MSR_IA32_MCG_CTL:
		return 0;
	default:
		return index < MSR_X2APIC_FIRST || index > MSR_X2APIC_LAST;
	}
}

/* The restore order: TSC, then ascending, then the deadline. */
static unsigned int msr_rank(uint32_t index)
{
	if (index == MSR_IA32_TSC_INDEX)
		return 0;
	return index == MSR_IA32_TSC_DEADLINE_INDEX ? 2 : 1;
}

static int msr_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	unsigned int rx = msr_rank(x), ry = msr_rank(y);

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x < y ? -1 : x > y;
}

int msr_list_build(const uint32_t *indices, uint32_t n, struct kvm_msrs **out)
{
	uint32_t *sorted, kept = 0;
	struct kvm_msrs *m;

	*out = NULL;
	if (n > MSR_LIST_MAX)
		return -EINVAL;
	sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (msr_list_saveable(indices[i]))
			sorted[kept++] = indices[i];
	qsort(sorted, kept, sizeof(*sorted), msr_cmp);
	m = calloc(1, sizeof(*m) + (kept ? kept : 1) * sizeof(m->entries[0]));
	if (!m) {
		free(sorted);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < kept; i++) {
		/* Equal indices sort next to each other: keep the first. */
		if (i && sorted[i] == sorted[i - 1])
			continue;
		m->entries[m->nmsrs++].index = sorted[i];
	}
	free(sorted);
	*out = m;
	return 0;
}

uint32_t msr_list_batch(const struct kvm_msrs *all, uint32_t from, struct kvm_msrs *batch,
			uint32_t max)
{
	uint32_t n;

	if (max > MSR_BATCH_MAX)
		max = MSR_BATCH_MAX;
	n = from < all->nmsrs ? all->nmsrs - from : 0;
	if (n > max)
		n = max;
	if (n)
		memcpy(batch->entries, all->entries + from, n * sizeof(all->entries[0]));
	batch->nmsrs = n;
	return n;
}
