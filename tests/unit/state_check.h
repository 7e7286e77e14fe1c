/*
 * Test-only: the checks every save/restore pair must pass, whatever the
 * device. The saved state is refused when it is cut short at any byte
 * (-ENODATA), carries another version (-EPROTO), another device's tag or
 * a byte too many (-EINVAL), and a refused restore changes nothing.
 */
#ifndef HEARTH_TESTS_STATE_CHECK_H
#define HEARTH_TESTS_STATE_CHECK_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/bytes.h"

typedef int (*state_save_fn)(void *dev, void *out, size_t *len);
typedef int (*state_restore_fn)(void *dev, const void *in, size_t len);

/* Saves dev into a fresh buffer of exactly the size it needs. */
static inline uint8_t *state_save(void *dev, state_save_fn save, size_t *len)
{
	uint8_t *buf;
	size_t need = 0, got;

	assert_int_equal(save(dev, NULL, &need), -ENOSPC);
	assert_true(need >= BYTES_HDR_SIZE);
	buf = malloc(need);
	assert_non_null(buf);
	if (need > BYTES_HDR_SIZE) {
		got = need - 1;
		assert_int_equal(save(dev, buf, &got), -ENOSPC);
		assert_int_equal(got, need);
	}
	got = need;
	assert_int_equal(save(dev, buf, &got), 0);
	assert_int_equal(got, need);
	*len = need;
	return buf;
}

/* Restores of state into dst that must all fail; dst's own state is the same afterwards. */
static inline void state_check_refusals(void *dst, state_save_fn save, state_restore_fn restore,
					const uint8_t *state, size_t len)
{
	size_t before_len, after_len;
	uint8_t *before = state_save(dst, save, &before_len), *after, *copy;

	for (size_t n = 0; n < len; n++) {
		/* An exact-size copy: a read past n is an ASan report. */
		copy = malloc(n ? n : 1);
		memcpy(copy, state, n);
		assert_int_equal(restore(dst, copy, n), -ENODATA);
		free(copy);
	}
	copy = malloc(len + 1);
	memcpy(copy, state, len);
	copy[len] = 0;
	assert_int_equal(restore(dst, copy, len + 1), -EINVAL);
	copy[BYTES_TAG_SIZE]++;
	assert_int_equal(restore(dst, copy, len), -EPROTO);
	copy[BYTES_TAG_SIZE]--;
	copy[0] ^= 0x20;
	assert_int_equal(restore(dst, copy, len), -EINVAL);
	free(copy);

	after = state_save(dst, save, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	free(before);
	free(after);
}

#endif
