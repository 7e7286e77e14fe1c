/*
 * PCI hotplug's io_uring rings (src/vmm/vm_pci_rings.c, audit F1): no
 * thread may make a ring once its filter is on, so a PCI VM makes, with
 * itself, one for each disk and pmem device that can still be plugged in
 * (the model's limits and the PCI slots the boot left free), each family
 * all or none. A plugged disk runs its I/O on one and gives it back when
 * destroyed, for the next; with none left the plug is refused with a line
 * naming why, never a crash.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"
#include "virtio/blk/disk.h"
#include "virtio/spare_ring.h"
#include "vmm/vm_pci_hotplug.h"

struct fixture {
	struct vm vm;
	struct vm_config cfg;
	struct eventloop loop;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_set_level(LOG_ERR);
	registry_init(&f->vm.registry);
	f->vm.pci = true;
	vm_config_init(&f->cfg);
	f->cfg.pci = true;
	assert_int_equal(eventloop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_pci_rings_free(&f->vm);
	registry_destroy(&f->vm.registry);
	eventloop_destroy(&f->loop);
	free(f);
	return 0;
}

/* Takes every ring of type the VM has, as devices would; how many there were. */
static unsigned int take_all(struct fixture *f, const char *type, struct err *err)
{
	struct spare_ring *s;
	unsigned int n = 0;

	while ((s = vm_pci_ring(&f->vm, type, "x", err))) {
		s->in_use = true;
		n++;
		assert_true(n <= 31);
	}
	return n;
}

/*
 * As many as can be plugged in at once: the drives and pmem devices the
 * model still takes, no more than the PCI slots left (a device passed
 * through has one too).
 */
static void test_sized(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;

	f->cfg.ndrives = VM_MAX_DRIVES - 2;
	f->cfg.npmem = VM_MAX_PMEM - 1;
	assert_int_equal(vm_pci_rings_make(&f->vm, &f->cfg, &err), 0);
	assert_int_equal(take_all(f, "virtio-blk", &err), 2);
	assert_int_equal(take_all(f, "virtio-pmem", &err), 1);
	vm_pci_rings_free(&f->vm);
	assert_null(f->vm.pci_rings);

	/* No more than VM_PCI_SPARE_RINGS a family, two descriptors each: not the 31 slots. */
	f->cfg.ndrives = 1;
	f->cfg.npmem = 0;
	assert_int_equal(vm_pci_rings_make(&f->vm, &f->cfg, &err), 0);
	assert_int_equal(take_all(f, "virtio-blk", &err), VM_PCI_SPARE_RINGS);
	assert_int_equal(take_all(f, "virtio-pmem", &err), VM_PCI_SPARE_RINGS);
	assert_true(VM_PCI_SPARE_RINGS < VM_MAX_DRIVES - 1);
	vm_pci_rings_free(&f->vm);

	f->cfg.ndrives = f->cfg.npmem = 0;
	f->cfg.nvfio = VM_PCI_SLOTS_MAX - 1;
	assert_int_equal(vm_pci_rings_make(&f->vm, &f->cfg, &err), 0);
	assert_int_equal(take_all(f, "virtio-blk", &err), 1);
	assert_int_equal(take_all(f, "virtio-pmem", &err), 1);
}

struct done {
	void *tag[4];
	int res[4];
	unsigned int n;
};

static void on_ready(void *ctx)
{
	(void)ctx;
}

static bool on_complete(void *ctx, void *tag, int res)
{
	struct done *d = ctx;

	assert_true(d->n < 4);
	d->tag[d->n] = tag;
	d->res[d->n++] = res;
	return true;
}

/* One I/O on d, waited for: its result. */
static int disk_io(struct blk_disk *d, struct done *done, enum blk_disk_op op, char *buf,
		   size_t len)
{
	struct iovec iov = { buf, len };
	struct blk_disk_io io = { .op = op, .iov = &iov, .niov = 1, .tag = buf };
	unsigned int before = done->n;

	assert_int_equal(blk_disk_submit(d, &io), 0);
	blk_disk_kick(d);
	for (int i = 0; i < 5000 && done->n == before; i++) {
		blk_disk_reap(d);
		if (done->n == before)
			usleep(1000);
	}
	assert_int_equal(done->n, before + 1);
	return done->res[before];
}

static void make_image(char *path, size_t len, char fill)
{
	char buf[4096];
	int fd;

	snprintf(path, len, "/tmp/hearth-pcirings-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(buf, fill, sizeof(buf));
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
}

/*
 * A disk plugged in runs on a ring made at start: its I/O goes through
 * it, the next plug finds none left and is refused with a line naming
 * why; once the disk is gone the ring serves the next disk, its slots
 * holding that disk's image and no longer the first one's.
 */
static void test_disk_runs_on_spare(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	struct done done = { 0 };
	struct blk_disk_user user = { on_ready, on_complete, &done };
	char path[2][64], buf[512];
	struct spare_ring *s, *again;
	struct blk_disk d;

	make_image(path[0], sizeof(path[0]), 'a');
	make_image(path[1], sizeof(path[1]), 'b');
	f->cfg.ndrives = VM_MAX_DRIVES - 1;
	assert_int_equal(vm_pci_rings_make(&f->vm, &f->cfg, &err), 0);
	for (int round = 0; round < 2; round++) {
		struct blk_config bc = { .path = path[round], .cache = BLK_CACHE_WRITEBACK };

		s = vm_pci_ring(&f->vm, "virtio-blk", "hp", &err);
		assert_non_null(s);
		if (round)
			assert_ptr_equal(s, again);
		again = s;
		bc.ring = s;
		assert_int_equal(blk_disk_init(&d, &bc, &f->loop, NULL, &user, &err), 0);
		assert_true(s->in_use);
		assert_ptr_equal(d.ring, &s->ring);
		/* Its own image through the spare's slots, never the one before it. */
		memset(buf, 0, sizeof(buf));
		assert_int_equal(disk_io(&d, &done, BLK_DISK_READ, buf, sizeof(buf)), 512);
		assert_int_equal(buf[0], round ? 'b' : 'a');
		assert_int_equal(buf[511], round ? 'b' : 'a');
		memset(buf, 'w', sizeof(buf));
		assert_int_equal(disk_io(&d, &done, BLK_DISK_WRITE, buf, sizeof(buf)), 512);
		done.n = 0;

		err = (struct err)ERR_INIT;
		assert_null(vm_pci_ring(&f->vm, "virtio-blk", "hp2", &err));
		print_message("%s\n", err.msg);
		assert_true(err.usage);
		assert_non_null(strstr(err.msg, "drive 'hp2': no io_uring ring is left for it"));
		assert_non_null(strstr(err.msg, "a ring made when the microVM started"));
		assert_non_null(strstr(err.msg, "the 1 made are all taken by disks plugged in since"));
		assert_non_null(strstr(err.msg, "unplug one first"));

		blk_disk_release(&d);
		assert_false(s->in_use);
		assert_true(s->efd >= 0);
	}
	{
		char first[512];
		int fd = open(path[0], O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(read(fd, first, sizeof(first)), (ssize_t)sizeof(first));
		assert_int_equal(first[0], 'w');
		close(fd);
	}
	unlink(path[0]);
	unlink(path[1]);
}

static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/*
 * Rings that cannot all be made (here: too few descriptors left) are not
 * made at all, so the rest of the VM's life is not left short of
 * descriptors; the VM still starts, and a plug is refused naming why.
 */
static void test_none_made(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct err err = ERR_INIT;
		unsigned int before = open_fds();
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = before + 8;
		if (setrlimit(RLIMIT_NOFILE, &rl) || vm_pci_rings_make(&f->vm, &f->cfg, &err))
			_exit(1);
		if (open_fds() != before)
			_exit(2);
		if (vm_pci_ring(&f->vm, "virtio-blk", "hp", &err) || err.usage ||
		    !strstr(err.msg, "drive 'hp': no io_uring ring for it") ||
		    !strstr(err.msg, "none could be made then (Too many open files)"))
			_exit(3);
		fprintf(stderr, "%s\n", err.msg);
		if (vm_pci_ring(&f->vm, "virtio-pmem", "p0", &err) ||
		    !strstr(err.msg, "pmem 'p0': no io_uring ring for it"))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_runs_on_spare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none_made, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
