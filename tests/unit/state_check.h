/*
 * Test-only: the checks every component's save and restore must pass,
 * whatever the component (core/component.h). A saved record is refused
 * by the check step when it is cut short at any byte (-ENODATA), carries
 * another version (-EPROTO), another component's tag or a byte too many
 * (-EINVAL), and a refused record changes nothing.
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

#include "core/component.h"
#include "util/bytes.h"
#include "virtio/device.h"

/*
 * Saves c once into a fresh buffer of exactly the size it needs (so a
 * read past it is an ASan report); free() it.
 */
static inline uint8_t *state_save(const struct component *c, size_t *len)
{
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;
	uint8_t *exact;

	assert_non_null(c->ops->save);
	assert_int_equal(c->ops->save(c->obj, &o, &err), 0);
	assert_int_equal(bytes_out_finish(&o, len), 0);
	assert_true(*len >= BYTES_HDR_SIZE);
	exact = malloc(*len);
	assert_non_null(exact);
	memcpy(exact, o.buf, *len);
	free(o.buf);
	return exact;
}

/* What a save of c returns (-EBUSY, say), its bytes dropped. */
static inline int state_try_save(const struct component *c)
{
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;
	int ret = c->ops->save(c->obj, &o, &err);

	free(o.buf);
	return ret;
}

/*
 * A virtio device's own record (virtio_dev_ops' save and restore, without
 * its transport's) as a component: { &virtio_rec_ops, dev }. The restore
 * reads the queues from the device itself (dev->vq).
 */
static inline int virtio_rec_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct virtio_dev *dev = obj;

	(void)err;
	return dev->ops->save(dev, o);
}

static inline int virtio_rec_restore(void *obj, const void *in, size_t len, bool apply,
				     struct err *err)
{
	struct virtio_dev *dev = obj;

	(void)err;
	return dev->ops->restore(dev, dev->vq, in, len, apply);
}

static const struct component_ops virtio_rec_ops = { .save = virtio_rec_save,
						     .restore = virtio_rec_restore };

/* The check step alone: 0 or its refusal. */
static inline int state_check(const struct component *c, const void *in, size_t len)
{
	struct err err = ERR_INIT;

	assert_non_null(c->ops->restore);
	return c->ops->restore(c->obj, in, len, false, &err);
}

/* A restore as a snapshot load runs it: the check, then (if it passed) the apply. */
static inline int state_restore(const struct component *c, const void *in, size_t len)
{
	struct err err = ERR_INIT;
	int ret = state_check(c, in, len);

	return ret ? ret : c->ops->restore(c->obj, in, len, true, &err);
}

/* Records that the check of dst must refuse; dst saves the same bytes afterwards. */
static inline void state_check_refusals(const struct component *dst, const uint8_t *state,
					size_t len)
{
	size_t before_len, after_len;
	uint8_t *before = state_save(dst, &before_len), *after, *copy;

	for (size_t n = 0; n < len; n++) {
		/* An exact-size copy: a read past n is an ASan report. */
		copy = malloc(n ? n : 1);
		memcpy(copy, state, n);
		assert_int_equal(state_check(dst, copy, n), -ENODATA);
		free(copy);
	}
	copy = malloc(len + 1);
	memcpy(copy, state, len);
	copy[len] = 0;
	assert_int_equal(state_check(dst, copy, len + 1), -EINVAL);
	copy[BYTES_TAG_SIZE]++;
	assert_int_equal(state_check(dst, copy, len), -EPROTO);
	copy[BYTES_TAG_SIZE]--;
	copy[0] ^= 0x20;
	assert_int_equal(state_check(dst, copy, len), -EINVAL);
	free(copy);

	after = state_save(dst, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	free(before);
	free(after);
}

#endif
