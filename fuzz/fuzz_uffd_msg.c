/*
 * libFuzzer target for the Uffd backend's mapping message
 * (src/snapshot/uffd_msg.c uffd_msg_parse), which a page-fault handler
 * (tests/uffd/uffd_handler.c) reads from its socket: the input is the
 * message.
 *
 * Checked besides ASan/UBSan: a refusal says why and counts nothing; a
 * message that parses has only checked mappings (aligned, inside the
 * address space, no two overlapping), and built again (uffd_msg_build)
 * parses to the same mappings.
 */
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "snapshot/uffd_msg.h"

static void check_mappings(const struct uffd_mapping *m, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t p = m[i].page_size;

		CHECK(p >= 4096 && !(p & (p - 1)));
		CHECK(m[i].size && !(m[i].size & (p - 1)) && !(m[i].base_host_virt_addr & (p - 1)));
		CHECK(!(m[i].offset & 4095));
		CHECK(m[i].base_host_virt_addr + m[i].size > m[i].base_host_virt_addr);
		for (unsigned int j = 0; j < i; j++)
			CHECK(m[i].base_host_virt_addr >= m[j].base_host_virt_addr + m[j].size ||
				 m[j].base_host_virt_addr >= m[i].base_host_virt_addr + m[i].size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uffd_mapping m[UFFD_MSG_MAX_REGIONS], back[UFFD_MSG_MAX_REGIONS];
	struct err e = ERR_INIT;
	unsigned int n = 99, n2 = 0;
	char *s;
	size_t len;

	if (size > UFFD_MSG_MAX)
		return 0;
	if (uffd_msg_parse((const char *)data, size, m, UFFD_MSG_MAX_REGIONS, &n, &e)) {
		CHECK(e.msg[0] && n == 0);
		return 0;
	}
	CHECK(n >= 1 && n <= UFFD_MSG_MAX_REGIONS);
	check_mappings(m, n);
	CHECK(uffd_msg_build(m, n, &s, &len) == 0);
	CHECK(uffd_msg_parse(s, len, back, UFFD_MSG_MAX_REGIONS, &n2, &e) == 0);
	CHECK(n2 == n && !memcmp(back, m, n * sizeof(m[0])));
	free(s);
	return 0;
}
