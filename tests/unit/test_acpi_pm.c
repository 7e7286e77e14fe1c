#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/layout.h"
#include "core/bus.h"
#include "devices/platform.h"
#include "devices/serial.h"
#include "pci/root.h"
#include "dev_rig.h"

#define SLP_EN 0x20

struct fixture {
	struct bus bus;
	struct dev_env env;
	struct component pm;
	unsigned int events[2];
};

static void record(void *ctx, enum power_event ev)
{
	struct fixture *f = ctx;

	assert_true(ev == POWER_OFF || ev == POWER_RESET);
	f->events[ev]++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->bus);
	f->env = (struct dev_env){ .bus = &f->bus, .power = { record, f }, .console_fd = -1 };
	dev_rig_make(acpi_pm_create, &f->env, PORT_ACPI_SLEEP_CTL, ACPI_PM_PORTS, -1, &f->pm);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dev_rig_free(&f->pm);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, &v, 1, true), 0);
}

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0x5a;

	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, &v, 1, false), 0);
	return v;
}

static void test_s5_powers_off(void **state)
{
	struct fixture *f = *state;

	outb(f, PORT_ACPI_SLEEP_CTL, (ACPI_S5_SLP_TYP << 2) | SLP_EN);
	assert_int_equal(f->events[POWER_OFF], 1);
	assert_int_equal(f->events[POWER_RESET], 0);
}

static void test_other_sleep_types_ignored(void **state)
{
	struct fixture *f = *state;

	for (unsigned int typ = 0; typ < 8; typ++) {
		if (typ != ACPI_S5_SLP_TYP)
			outb(f, PORT_ACPI_SLEEP_CTL, (uint8_t)((typ << 2) | SLP_EN));
	}
	/* S5 without SLP_EN only sets the type. */
	outb(f, PORT_ACPI_SLEEP_CTL, ACPI_S5_SLP_TYP << 2);
	assert_int_equal(f->events[POWER_OFF], 0);
	assert_int_equal(f->events[POWER_RESET], 0);
}

static void test_reset_register(void **state)
{
	struct fixture *f = *state;

	outb(f, PORT_ACPI_RESET, 0x06);
	outb(f, PORT_ACPI_RESET, 0x00);
	assert_int_equal(f->events[POWER_RESET], 0);
	outb(f, PORT_ACPI_RESET, ACPI_RESET_VALUE);
	assert_int_equal(f->events[POWER_RESET], 1);
	assert_int_equal(f->events[POWER_OFF], 0);
}

static void test_reads_and_status(void **state)
{
	struct fixture *f = *state;
	uint8_t wide[4];

	assert_int_equal(inb(f, PORT_ACPI_SLEEP_CTL), 0);
	assert_int_equal(inb(f, PORT_ACPI_SLEEP_STS), 0);
	assert_int_equal(inb(f, PORT_ACPI_RESET), 0);
	outb(f, PORT_ACPI_SLEEP_STS, 0xff); /* write-1-to-clear: harmless */
	assert_int_equal(inb(f, PORT_ACPI_SLEEP_STS), 0);
	/* A straddling access is not the device's. */
	assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_ACPI_RESET, wide, 2, false), -ENOENT);
	/* A 16-bit write covers sleep control and status, bytewise. */
	uint8_t pair[2] = { (ACPI_S5_SLP_TYP << 2) | SLP_EN, 0 };
	assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_ACPI_SLEEP_CTL, pair, 2, true), 0);
	assert_int_equal(f->events[POWER_OFF], 1);
	assert_int_equal(f->events[POWER_RESET], 0);
}

/* Every platform device on one bus: no overlaps, and the probes answer right. */
static void test_whole_platform(void **state)
{
	struct fixture *f = *state;
	struct component com1, kbc, rtc, legacy, pci, again;
	struct dev_resources pci_res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
					 .mmio_base = LAYOUT_PCI_ECAM,
					 .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct dev_resources none = { .gsi = -1 };
	struct err err = ERR_INIT;
	uint8_t d4[4];

	dev_rig_make(serial_create, &f->env, PORT_COM1, SERIAL_PORTS, IRQ_COM1, &com1);
	dev_rig_make(i8042_create, &f->env, PORT_I8042_DATA, I8042_PORTS, IRQ_KBD, &kbc);
	dev_rig_make(rtc_create, &f->env, PORT_RTC, RTC_PORTS, IRQ_RTC, &rtc);
	dev_rig_make(legacy_create, &f->env, 0, 0, -1, &legacy);
	assert_int_equal(pci_root_create(&f->env, &pci_res, &pci, &err), 0);

	/* Absent UARTs fail Linux's IER test; IDE and LPT float high. */
	for (unsigned int base = 0x2e8; base <= 0x3e8; base += 0x100) {
		outb(f, (uint16_t)(base + 1), 0);
		assert_int_not_equal(inb(f, (uint16_t)(base + 1)) & 0x0f, 0);
	}
	outb(f, 0x2f9, 0);
	assert_int_not_equal(inb(f, 0x2f9) & 0x0f, 0);
	assert_int_equal(inb(f, 0x1f7), 0xff);
	assert_int_equal(inb(f, 0x3f6), 0xff);
	assert_int_equal(inb(f, 0x378), 0xff);
	assert_int_equal(inb(f, 0x92) & 0x02, 0x02);
	outb(f, 0x80, 0x12);
	/* A Super I/O chip's enter key and ID read (Winbond's): no chip answers, no log line. */
	for (uint16_t port = 0x2e; port <= 0x4e; port += 0x20) {
		outb(f, port, 0x87);
		outb(f, port, 0x87);
		outb(f, port, 0x20);
		assert_int_equal(inb(f, (uint16_t)(port + 1)), 0xff);
	}
	assert_int_equal(bus_unclaimed_count(&f->bus, BUS_PIO), 0);

	/*
	 * Linux's conf1 probe: CONFIG_ADDRESS reads back, the host bridge
	 * answers at 00:00.0; a dword write there covers 0xcf9 and is no reset
	 * (0x80000400 has bit 2 set in that byte).
	 */
	uint8_t addr[4] = { 0x00, 0x04, 0x00, 0x80 }; /* 0x80000400 */
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0xcf8, addr, 4, true), 0);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0xcf8, d4, 4, false), 0);
	assert_int_equal(bus_data_get(d4, 4), 0x80000400u);
	assert_int_equal(f->events[POWER_RESET], 0);
	bus_data_put(addr, 4, 0x80000008u);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0xcf8, addr, 4, true), 0);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0xcfc, d4, 4, false), 0);
	assert_int_equal(bus_data_get(d4, 4) >> 8, PCI_CLASS_HOST_BRIDGE);

	/* Linux's reboot=pci: read, write |2, then |6. */
	uint8_t cf9 = inb(f, 0xcf9) & ~6;
	outb(f, 0xcf9, cf9 | 2);
	assert_int_equal(f->events[POWER_RESET], 0);
	outb(f, 0xcf9, cf9 | 6);
	assert_int_equal(f->events[POWER_RESET], 1);

	/* Port 0x92: setting A20 (bit 1) is not a reset; the fast-reset bit 0 is. */
	outb(f, 0x92, (uint8_t)((inb(f, 0x92) | 0x02) & ~0x01));
	assert_int_equal(f->events[POWER_RESET], 1);
	outb(f, 0x92, inb(f, 0x92) | 0x01);
	assert_int_equal(f->events[POWER_RESET], 2);

	/* KVM's in-kernel ports stay free. */
	static const uint16_t kvm_ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x40, 0x43, 0x61 };
	for (size_t i = 0; i < sizeof(kvm_ports) / sizeof(kvm_ports[0]); i++) {
		uint8_t v;
		assert_int_equal(bus_access(&f->bus, BUS_PIO, kvm_ports[i], &v, 1, false),
				 -ENOENT);
	}
	/* A second legacy_create collides. */
	assert_int_equal(legacy_create(&f->env, &none, &again, &err), -EEXIST);

	dev_rig_free(&pci);
	dev_rig_free(&legacy);
	dev_rig_free(&rtc);
	dev_rig_free(&kbc);
	dev_rig_free(&com1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_s5_powers_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sleep_types_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_platform, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
