/*
 * The memory file as an ELF core (written from a fake guest RAM, read back
 * by its own reader and checked byte by byte), the vm section's record,
 * and the config section's round trip. No KVM.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "fcjson/config_json_cpu.h"

#include "mem/guest_mem_hotplug.h"
#include "snapshot/config_rec.h"
#include "snapshot/memcore.h"
#include "snapshot/memfile_layout.h"
#include "vmm/vm_state.h"

#define R0_SIZE (64u * 4096u)
#define R1_SIZE (16u * 4096u)
#define R1_GPA 0x100000000ull

struct fx {
	char dir[64];
	char path[128];
	struct guest_mem gm;
	struct memcore_vcpu v[2];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-memcore-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.mem", f->dir);
	/* Two regions, as above 3 GiB, but small: the second at 4 GiB. */
	f->gm.nregions = 2;
	f->gm.regions[0] = (struct guest_region){ 0, R0_SIZE, calloc(1, R0_SIZE) };
	f->gm.regions[1] = (struct guest_region){ R1_GPA, R1_SIZE, calloc(1, R1_SIZE) };
	assert_non_null(f->gm.regions[0].hva);
	assert_non_null(f->gm.regions[1].hva);
	for (unsigned int i = 0; i < 2; i++) {
		f->v[i].regs.rip = 0xffffffff81000000ull + i;
		f->v[i].regs.rsp = 0x1000 + i;
		f->v[i].regs.rax = 42 + i;
		f->v[i].sregs.cs.selector = 0x10;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	free(f->gm.regions[0].hva);
	free(f->gm.regions[1].hva);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *b;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void test_full_round_trip(void **state)
{
	struct fx *f = *state;
	struct memfile_layout l;
	struct err err;
	struct stat st;
	uint8_t *b;
	size_t len;
	int fd;

	memset(f->gm.regions[0].hva + 5 * 4096, 0xab, 4096);
	memcpy(f->gm.regions[1].hva + 3 * 4096 + 7, "hello", 5);
	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, NULL, &err), 0);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	assert_int_equal(l.nregions, 2);
	assert_int_equal(l.r[1].gpa, R1_GPA);
	assert_int_equal(l.r[0].size, R0_SIZE);
	/* Data 2 MiB-aligned, the file ends with the last region. */
	assert_int_equal(l.r[0].offset % MEMCORE_ALIGN, 0);
	assert_int_equal(l.r[1].offset % MEMCORE_ALIGN, 0);
	assert_int_equal((uint64_t)st.st_size, l.r[1].offset + R1_SIZE);
	/* All-zero pages are holes: the first data after the header is page 5. */
	assert_int_equal(lseek(fd, (off_t)l.r[0].offset, SEEK_DATA), (off_t)(l.r[0].offset + 5 * 4096));
	close(fd);
	b = slurp(f->path, &len);
	assert_memory_equal(b + l.r[0].offset, f->gm.regions[0].hva, R0_SIZE);
	assert_memory_equal(b + l.r[1].offset, f->gm.regions[1].hva, R1_SIZE);
	free(b);
	/* Nothing else was left in the directory. */
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) = 1", f->dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* The ELF a debugger sees: ET_CORE, PT_NOTE first with NT_PRSTATUS per vCPU, PT_LOADs at GPAs. */
static void test_elf_core_shape(void **state)
{
	struct fx *f = *state;
	struct err err;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	const uint8_t *p;
	uint8_t *b;
	size_t len;

	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, NULL, &err), 0);
	b = slurp(f->path, &len);
	eh = (const Elf64_Ehdr *)b;
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh->e_type, ET_CORE);
	assert_int_equal(eh->e_machine, EM_X86_64);
	assert_int_equal(eh->e_phnum, 3);
	ph = (const Elf64_Phdr *)(b + eh->e_phoff);
	assert_int_equal(ph[0].p_type, PT_NOTE);
	assert_int_equal(ph[1].p_type, PT_LOAD);
	assert_int_equal(ph[2].p_type, PT_LOAD);
	assert_int_equal(ph[2].p_paddr, R1_GPA);
	assert_int_equal(ph[2].p_vaddr, R1_GPA);
	assert_int_equal(ph[2].p_filesz, R1_SIZE);
	assert_int_equal(ph[2].p_memsz, R1_SIZE);
	p = b + ph[0].p_offset;
	for (unsigned int i = 0; i < 2; i++) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)p;
		struct elf_prstatus pr;
		struct user_regs_struct u;

		assert_int_equal(nh->n_type, NT_PRSTATUS);
		assert_int_equal(nh->n_namesz, 5);
		assert_string_equal((const char *)(p + sizeof(*nh)), "CORE");
		assert_int_equal(nh->n_descsz, sizeof(pr));
		memcpy(&pr, p + sizeof(*nh) + 8, sizeof(pr));
		memcpy(&u, &pr.pr_reg, sizeof(u));
		assert_int_equal(u.rip, 0xffffffff81000000ull + i);
		assert_int_equal(u.rsp, 0x1000 + i);
		assert_int_equal(u.rax, 42 + i);
		assert_int_equal(u.cs, 0x10);
		p += sizeof(*nh) + 8 + ((nh->n_descsz + 3) & ~3u);
	}
	assert_true((size_t)(p - b) <= ph[0].p_offset + ph[0].p_filesz);
	free(b);
}

/* A diff writes exactly the dirty pages, zero or not; the rest are holes. */
static void test_diff_pages(void **state)
{
	struct fx *f = *state;
	uint64_t bm0[1] = { (1ull << 2) | (1ull << 9) }, bm1[1] = { 0 };
	const uint64_t *dirty[GUEST_MEM_DIRTY_MAPS] = { bm0, bm1, NULL };
	struct memfile_layout l;
	struct err err;
	struct stat st;
	int fd;

	memset(f->gm.regions[0].hva + 9 * 4096, 0x5a, 4096);    /* dirty, data */
	memset(f->gm.regions[0].hva + 20 * 4096, 0x77, 4096);   /* clean: not written */
	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, dirty, &err), 0);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	/* Page 2 is zero but dirty: written as data, not a hole. */
	assert_int_equal(lseek(fd, (off_t)l.r[0].offset, SEEK_DATA), (off_t)(l.r[0].offset + 2 * 4096));
	assert_int_equal(lseek(fd, (off_t)(l.r[0].offset + 2 * 4096), SEEK_HOLE),
			 (off_t)(l.r[0].offset + 3 * 4096));
	assert_int_equal(lseek(fd, (off_t)(l.r[0].offset + 3 * 4096), SEEK_DATA),
			 (off_t)(l.r[0].offset + 9 * 4096));
	/* Page 20 (clean) and region 1 are holes up to the end. */
	assert_int_equal(lseek(fd, (off_t)(l.r[0].offset + 10 * 4096), SEEK_DATA), -1);
	assert_int_equal(errno, ENXIO);
	close(fd);
}

/*
 * A memory hotplug region is the last PT_LOAD, whole, at its GPA: its
 * plugged blocks' pages are data, its unplugged blocks holes (whatever
 * the process's mapping holds there); a diff holds its dirty pages.
 */
static void test_hotplug_region(void **state)
{
	struct fx *f = *state;
	const uint64_t block = 2ull << 20, size = 128ull << 20;
	uint64_t bm0[1] = { 0 }, bm1[1] = { 0 }, *hpmap;
	const uint64_t *dirty[GUEST_MEM_DIRTY_MAPS] = { bm0, bm1, NULL };
	struct guest_hotplug *hp;
	struct memfile_layout l;
	struct err err;
	uint8_t b;
	int fd;

	f->gm.slots_fd = -1;
	assert_int_equal(guest_mem_hotplug_init(&f->gm, size, block, size), 0);
	hp = f->gm.hp;
	assert_int_equal(guest_mem_hotplug_set(&f->gm, block, block, true), 0);
	memset(hp->hva + block + 4096, 0x5a, 4096);
	memset(hp->hva + 3 * block, 0x77, 4096);      /* unplugged: never written */
	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, NULL, &err), 0);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	assert_int_equal(l.nregions, 3);
	assert_int_equal(l.r[2].gpa, hp->gpa);
	assert_int_equal(l.r[2].size, size);
	assert_int_equal(l.r[2].offset % MEMCORE_ALIGN, 0);
	assert_int_equal(l.file_size, l.r[2].offset + size);
	/* Its only data is the plugged block's written page. */
	assert_int_equal(lseek(fd, (off_t)l.r[2].offset, SEEK_DATA),
			 (off_t)(l.r[2].offset + block + 4096));
	assert_int_equal(lseek(fd, (off_t)(l.r[2].offset + block + 4096), SEEK_HOLE),
			 (off_t)(l.r[2].offset + block + 8192));
	assert_int_equal(pread(fd, &b, 1, (off_t)(l.r[2].offset + block + 4096)), 1);
	assert_int_equal(b, 0x5a);
	assert_int_equal(lseek(fd, (off_t)(l.r[2].offset + block + 8192), SEEK_DATA), -1);
	close(fd);
	/* A diff needs the region's bitmap too. */
	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, dirty, &err), -EINVAL);
	/*
	 * With it, exactly its dirty pages at their place: the plugged block's
	 * written page, and an unplugged block's page (zeros since the unplug,
	 * which marked it) as data, not a hole, so a merge clears the base's.
	 */
	hpmap = calloc(size / 4096 / 64, sizeof(*hpmap));
	assert_non_null(hpmap);
	hpmap[(block + 4096) / 4096 / 64] |= 1ull << ((block + 4096) / 4096 % 64);
	hpmap[5 * block / 4096 / 64] |= 1ull << (5 * block / 4096 % 64);
	dirty[GUEST_MEM_HP_MAP] = hpmap;
	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, dirty, &err), 0);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	assert_int_equal(lseek(fd, (off_t)l.r[0].offset, SEEK_DATA),
			 (off_t)(l.r[2].offset + block + 4096));
	assert_int_equal(pread(fd, &b, 1, (off_t)(l.r[2].offset + block + 4096)), 1);
	assert_int_equal(b, 0x5a);
	assert_int_equal(lseek(fd, (off_t)(l.r[2].offset + block + 4096), SEEK_HOLE),
			 (off_t)(l.r[2].offset + block + 8192));
	assert_int_equal(lseek(fd, (off_t)(l.r[2].offset + block + 8192), SEEK_DATA),
			 (off_t)(l.r[2].offset + 5 * block));
	assert_int_equal(pread(fd, &b, 1, (off_t)(l.r[2].offset + 5 * block)), 1);
	assert_int_equal(b, 0);
	assert_int_equal(lseek(fd, (off_t)(l.r[2].offset + 5 * block), SEEK_HOLE),
			 (off_t)(l.r[2].offset + 5 * block + 4096));
	close(fd);
	free(hpmap);
	guest_mem_hotplug_destroy(&f->gm);
}

/* What this writer produces is what the shared reader (snap-dev's) accepts, and no more. */
static void test_reader_agrees(void **state)
{
	struct fx *f = *state;
	struct memfile_layout l;
	struct err err;
	int fd;

	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, NULL, &err), 0);
	fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	assert_int_equal(l.nregions, 2);
	/* The last region cut short: refused. */
	assert_int_equal(ftruncate(fd, (off_t)(l.file_size - 4096)), 0);
	assert_true(memfile_layout_read(fd, &l, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated"));
	close(fd);
}

/* A write that cannot finish leaves no file under the name, and no temporary one. */
static void test_write_failure_leaves_nothing(void **state)
{
	struct fx *f = *state;
	char path[200], cmd[256];
	struct err err;

	snprintf(path, sizeof(path), "%s/nodir/vm.mem", f->dir);
	assert_true(memcore_write(path, &f->gm, f->v, 2, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "memory file"));
	assert_non_null(strstr(err.msg, "directory"));
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) = 0", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void test_vm_state_record(void **state)
{
	struct vm_kvm_state s, back;
	uint8_t buf[4096];
	struct bytes_out o = bytes_out_init(NULL, 0);
	size_t len = sizeof(buf), need = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s.ioapic.chip.ioapic.redirtbl[3].bits = 0x1234;
	s.pit.channels[0].count = 0xffff;
	s.clock.clock = 123456789;
	s.clock.flags = KVM_CLOCK_TSC_STABLE;
	assert_int_equal(vm_state_save(&s, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &need), -ENOSPC);
	o = bytes_out_init(buf, sizeof(buf));
	assert_int_equal(vm_state_save(&s, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	assert_int_equal(len, need);
	assert_int_equal(vm_state_restore(&back, buf, len), 0);
	assert_memory_equal(&back, &s, sizeof(s));
	/* Truncated, another version, a chip record in the wrong slot, bytes left over. */
	assert_int_equal(vm_state_restore(&back, buf, len - 1), -ENODATA);
	buf[4] = 2;
	assert_int_equal(vm_state_restore(&back, buf, len), -EPROTO);
	buf[4] = 1;
	s.pic_slave.chip_id = KVM_IRQCHIP_IOAPIC;
	o = bytes_out_init(buf, sizeof(buf));
	assert_int_equal(vm_state_save(&s, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	assert_int_equal(vm_state_restore(&back, buf, len), -EINVAL);
	s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	o = bytes_out_init(buf, sizeof(buf));
	assert_int_equal(vm_state_save(&s, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	buf[len] = 0;
	assert_int_equal(vm_state_restore(&back, buf, len + 1), -EINVAL);
}

static void test_config_record(void **state)
{
	struct vm_config c, back;
	struct vm_net n;
	char *json = NULL;
	struct err err;
	size_t len = 0;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", "/i", "console=ttyS0", &err), 0);
	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "eth0");
	n.dev.backend = NET_USER;
	n.dev.nfwd = 1;
	n.dev.fwd[0] = (struct net_hostfwd){ false, 5555, 7777 };
	n.dev.host_loopback = true;
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), 0);
	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "eth1");
	n.dev.backend = NET_TAP;
	snprintf(n.dev.ifname, sizeof(n.dev.ifname), "tap7");
	n.dev.mtu = 9000;
	n.dev.mac_set = true;
	memcpy(n.dev.mac, "\x01\x00\x5e\x00\x00\xfb", 6);
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), 0);
	c.machine.vcpu_count = 2;
	c.machine.mem_size_mib = 384;
	/* As `hearth run --disk path=d.img,cache=none` makes it: no serial, O_DIRECT. */
	{
		struct vm_drive d;

		memset(&d, 0, sizeof(d));
		snprintf(d.id, sizeof(d.id), "disk0");
		d.path_on_host = "d.img";
		d.cache_type = BLK_CACHE_NONE;
		assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
		/* As the API makes one: Unsafe, Async, a root with a partuuid. */
		snprintf(d.id, sizeof(d.id), "rootfs");
		d.path_on_host = "r.img";
		d.cache_type = BLK_CACHE_UNSAFE;
		d.io_engine = VM_IO_ENGINE_ASYNC;
		d.is_root_device = true;
		d.is_read_only = true;
		snprintf(d.partuuid, sizeof(d.partuuid), "0eaa91a0-01");
		assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	}
	/* Hearth's port devices (the audit's leftover: a restore lost them). */
	{
		struct vm_debug_exit de = { .iobase = 0xf4, .iosize = 2 };
		struct vm_debugcon dc = { .port = 0x402, .out_path = "/host/out.txt" };

		assert_int_equal(vm_config_set_debug_exit(&c, &de, &err), 0);
		assert_int_equal(vm_config_set_debugcon(&c, &dc, &err), 0);
	}
	/* No memory hotplug: no section (the record stays what saves have always written). */
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	assert_null(strstr(json, "memory-hotplug"));
	free(json);
	/* With it, its geometry: the restore lays the region out again where it was. */
	c.hotplug = (struct vm_hotplug){ true, 1024, 4, 256 };
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	/* The output file is the restoring process's, not the record's. */
	assert_null(strstr(json, "out.txt"));
	vm_config_init(&back);
	assert_int_equal(snap_config_restore(&back, json, len, &err), 0);
	assert_true(back.hotplug.present);
	assert_int_equal(back.hotplug.total_size_mib, 1024);
	assert_int_equal(back.hotplug.block_size_mib, 4);
	assert_int_equal(back.hotplug.slot_size_mib, 256);
	assert_true(back.debug_exit.present);
	assert_int_equal(back.debug_exit.iobase, 0xf4);
	assert_int_equal(back.debug_exit.iosize, 2);
	assert_true(back.debugcon.present);
	assert_int_equal(back.debugcon.port, 0x402);
	assert_null(back.debugcon.out_path);
	assert_int_equal(back.machine.vcpu_count, 2);
	assert_int_equal(back.machine.mem_size_mib, 384);
	assert_string_equal(back.boot.kernel_image_path, "/k");
	assert_int_equal(back.nnets, 2);
	assert_int_equal(back.nets[0].dev.backend, NET_USER);
	assert_true(back.nets[0].dev.host_loopback);
	assert_int_equal(back.nets[0].dev.nfwd, 1);
	assert_int_equal(back.nets[0].dev.fwd[0].host_port, 5555);
	assert_int_equal(back.ndrives, 2);
	assert_string_equal(back.drives[1].path_on_host, "d.img");
	assert_int_equal(back.drives[1].cache_type, BLK_CACHE_NONE);
	assert_string_equal(back.drives[1].serial, "");
	/* What GET /vm/config reports after the restore, and how the disk behaves. */
	assert_string_equal(back.drives[0].id, "rootfs");
	assert_int_equal(back.drives[0].cache_type, BLK_CACHE_UNSAFE);
	assert_int_equal(back.drives[0].io_engine, VM_IO_ENGINE_ASYNC);
	assert_string_equal(back.drives[0].partuuid, "0eaa91a0-01");
	assert_true(back.drives[0].is_root_device && back.drives[0].is_read_only);
	assert_int_equal(back.nets[1].dev.backend, NET_TAP);
	assert_string_equal(back.nets[1].dev.ifname, "tap7");
	assert_int_equal(back.nets[1].dev.mtu, 9000);
	assert_memory_equal(back.nets[1].dev.mac, "\x01\x00\x5e\x00\x00\xfb", 6);
	assert_int_equal(back.nets[0].dev.mtu, 0);
	vm_config_release(&back);
	/* Crafted port records: refused with a message. */
	{
		static const char *const bad_ports[] = {
			"\"debug_exit\":{\"iobase\":65535,\"iosize\":4}",
			"\"debug_exit\":{\"iobase\":-1,\"iosize\":1}",
			"\"debug_exit\":{\"iobase\":244,\"iosize\":3}",
			"\"debug_exit\":{\"iobase\":244,\"iosize\":1,\"out\":\"/x\"}",
			"\"debugcon\":{\"port\":70000}",
			"\"debugcon\":{\"port\":1026,\"out\":\"/etc/passwd\"}",
			"\"debugcon\":\"0x402\"",
		};
		json_t *root = json_loadb(json, len, 0, NULL);
		char *base;
		size_t blen;

		/* The save without them, so each crafted key is the only one of its name. */
		assert_non_null(root);
		json_object_del(json_object_get(root, "hearth"), "debug_exit");
		json_object_del(json_object_get(root, "hearth"), "debugcon");
		base = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		assert_non_null(base);
		blen = strlen(base);
		vm_config_init(&back);
		assert_int_equal(snap_config_restore(&back, base, blen, &err), 0);
		assert_false(back.debug_exit.present || back.debugcon.present);
		vm_config_release(&back);
		for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
			char *at = strstr(base, "\"hearth\":{"), *crafted;

			assert_non_null(at);
			assert_true(asprintf(&crafted, "%.*s%s,%s", (int)(at - base + 10), base,
					     bad_ports[i], at + 10) > 0);
			vm_config_init(&back);
			if (snap_config_restore(&back, crafted, strlen(crafted), &err) != -EINVAL)
				fail_msg("crafted '%s' was taken", bad_ports[i]);
			if (!strstr(err.msg, "debug"))
				fail_msg("crafted '%s': '%s' names no debug device", bad_ports[i],
					 err.msg);
			vm_config_release(&back);
			free(crafted);
		}
		free(base);
	}
	/* Cut short: refused with a message. */
	vm_config_init(&back);
	assert_int_equal(snap_config_restore(&back, json, len / 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config section"));
	vm_config_release(&back);
	free(json);
	vm_config_release(&c);
}

/*
 * The record keeps the CPU template and smt: a static one by name, a
 * custom one whole; a cpu-config naming a file is refused (no save
 * writes one), and an unknown template name is refused by name.
 */
static void test_config_record_cpu(void **state)
{
	static const char custom[] =
		"{\"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0x0\", \"flags\": 1,"
		" \"modifiers\": [{\"register\": \"ebx\", \"bitmap\": \"0b0xx1\"}]}],"
		" \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\"}],"
		" \"kvm_capabilities\": [\"!5\"]}";
	struct vm_config c, back;
	struct cpu_template_custom *t;
	char *json = NULL, *p;
	struct err err;
	size_t len = 0;
	json_t *o;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	c.machine.vcpu_count = 4;
	c.machine.smt = true;
	c.machine.cpu_template = CPU_TEMPLATE_T2S;
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_init(&back);
	assert_int_equal(snap_config_restore(&back, json, len, &err), 0);
	assert_int_equal(back.machine.cpu_template, CPU_TEMPLATE_T2S);
	assert_true(back.machine.smt);
	assert_int_equal(back.machine.vcpu_count, 4);
	assert_null(back.cpu_config);
	vm_config_release(&back);

	/* A template name no Hearth knows: refused, naming it. */
	p = strstr(json, "\"T2S\"");
	assert_non_null(p);
	memcpy(p, "\"T9S\"", 5);
	vm_config_init(&back);
	assert_int_equal(snap_config_restore(&back, json, len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown variant `T9S`, expected one of `C3`, `T2`, "
				   "`T2S`, `None`, `T2CL`, `T2A`"));
	vm_config_release(&back);
	free(json);

	/* A custom template travels whole. */
	o = json_loads(custom, 0, NULL);
	assert_int_equal(config_json_cpu_parse(o, &t, &err), 0);
	json_decref(o);
	vm_config_set_cpu_config(&c, t);
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_init(&back);
	assert_int_equal(snap_config_restore(&back, json, len, &err), 0);
	assert_non_null(back.cpu_config);
	assert_int_equal(back.machine.cpu_template, CPU_TEMPLATE_NONE);
	assert_memory_equal(back.cpu_config->cpuid, t->cpuid, sizeof(t->cpuid));
	assert_memory_equal(back.cpu_config->msrs, t->msrs, sizeof(t->msrs));
	assert_memory_equal(back.cpu_config->caps, t->caps, sizeof(t->caps));
	assert_int_equal(back.cpu_config->t.ncpuid, 1);
	vm_config_release(&back);
	free(json);

	/* A cpu-config that names a file: the config file's form, never a save's. */
	json = strdup("{\"vm\": {\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64},"
		      " \"boot-source\": {\"kernel_image_path\": \"/k\"},"
		      " \"cpu-config\": \"/etc/passwd\"},"
		      " \"hearth\": {\"nets\": [], \"drives\": []}}");
	vm_config_init(&back);
	assert_int_equal(snap_config_restore(&back, json, strlen(json), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "names a cpu-config file, which no save writes"));
	vm_config_release(&back);
	free(json);
	vm_config_release(&c);
}

/*
 * The point of the ELF layout: gdb opens the memory file as a core with
 * no executable, shows each vCPU's registers from its NT_PRSTATUS note
 * and reads guest memory at its physical address (scripts/deps.sh
 * installs gdb).
 */
static void test_gdb_opens_core(void **state)
{
	struct fx *f = *state;
	char cmd[512], out[160];
	struct err err;
	uint8_t *b;
	size_t len;

	memcpy(f->gm.regions[1].hva + 3 * 4096 + 7, "hello", 6);
	assert_int_equal(memcore_write(f->path, &f->gm, f->v, 2, NULL, &err), 0);
	snprintf(out, sizeof(out), "%s/gdb.out", f->dir);
	snprintf(cmd, sizeof(cmd),
		 "gdb -batch -nx -ex 'info registers rip rax' -ex 'thread 2' "
		 "-ex 'info registers rip' -ex 'x/s 0x%llx' -c %s >%s 2>&1",
		 (unsigned long long)(R1_GPA + 3 * 4096 + 7), f->path, out);
	assert_int_equal(system(cmd), 0);
	b = slurp(out, &len);
	assert_true(len > 0);
	b[len - 1] = 0;
	if (!strstr((char *)b, "0xffffffff81000000") || !strstr((char *)b, "0xffffffff81000001") ||
	    !strstr((char *)b, "\"hello\"") || !strstr((char *)b, "0x2a"))
		fail_msg("gdb did not read the core as expected:\n%s", (char *)b);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf_core_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hotplug_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gdb_opens_core, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_leaves_nothing, setup, teardown),
		cmocka_unit_test(test_vm_state_record),
		cmocka_unit_test(test_config_record),
		cmocka_unit_test(test_config_record_cpu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
