/*
 * Test-only: a control surface on a fake VM (fake_vm.h), one per cmocka
 * test: setup and teardown for cmocka_unit_test_setup_teardown. The
 * instance id is "test-1".
 */
#ifndef HEARTH_TESTS_CTL_FIXTURE_H
#define HEARTH_TESTS_CTL_FIXTURE_H

#include <stdlib.h>

#include "control/control.h"
#include "fake_vm.h"

struct fixture {
	struct ctl ctl;
	struct fake_vm vm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(ctl_init(&f->ctl, "test-1", NULL, &fake_vm_ops, &f->vm), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ctl_destroy(&f->ctl);
	free(f);
	return 0;
}

#endif
