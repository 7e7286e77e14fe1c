/*
 * The lab guest's view of VMGenID's 16 bytes (test_vmgenid.py): maps the
 * page at ADDR (default Hearth's 0xfeffa000) from /dev/mem and prints the
 * bytes in hex on one line. Built static by the test and put into the L2
 * initramfs.
 *
 * Why not busybox: read(2) of /dev/mem stops at the end of RAM on x86
 * (valid_phys_addr_range), and busybox devmem opens it O_SYNC, asking for
 * an uncached mapping of a page Linux's vmgenid driver has already mapped
 * cacheable (memremap MEMREMAP_WB), which PAT refuses. Opened without
 * O_SYNC, the mapping is write-back like the driver's.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul
#define ID_LEN 16

int main(int argc, char **argv)
{
	unsigned long addr = argc > 1 ? strtoul(argv[1], NULL, 0) : 0xfeffa000ul;
	volatile const uint8_t *p;
	uint8_t *map;
	int fd = open("/dev/mem", O_RDONLY);

	if (fd < 0) {
		perror("vmgenid_read: /dev/mem");
		return 1;
	}
	map = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)(addr & ~(PAGE - 1)));
	if (map == MAP_FAILED) {
		perror("vmgenid_read: mmap");
		return 1;
	}
	p = map + (addr & (PAGE - 1));
	for (int i = 0; i < ID_LEN; i++)
		printf("%02x", p[i]);
	printf("\n");
	return 0;
}
