/*
 * The PS/2 keyboard behind the i8042: the answers to the commands a
 * driver sends it (reset, identify, LEDs, typematic rate, scancode set,
 * enable) and a queue of bytes for the guest. Its only keys are the
 * Ctrl-Alt-Del chord the host sends. No locking: the i8042 holds its lock.
 */
#ifndef HEARTH_DEVICES_PS2KBD_H
#define HEARTH_DEVICES_PS2KBD_H

#include <stdbool.h>
#include <stdint.h>

#include "util/bytes.h"

#define PS2KBD_QUEUE 16

struct ps2kbd {
	uint8_t q[PS2KBD_QUEUE];
	unsigned int head, len;
	uint8_t param_for;        /* a command waiting for its parameter byte, or 0 */
	uint8_t set;              /* scancode set the driver asked for (1 to 3) */
};

void ps2kbd_init(struct ps2kbd *k);
/* A byte the driver wrote to the keyboard (port 0x60 with no controller command pending). */
void ps2kbd_command(struct ps2kbd *k, uint8_t v);
bool ps2kbd_pending(const struct ps2kbd *k);
uint8_t ps2kbd_pop(struct ps2kbd *k);
/* Queues the chord pressed and released; 0 or -ENOSPC (the queue keeps what it had). */
int ps2kbd_ctrl_alt_del(struct ps2kbd *k);

/*
 * The keyboard's part of the i8042's saved state: its queue oldest first,
 * a command waiting for its parameter, the scancode set. Restore checks
 * the values (-EINVAL) and leaves a short read for the caller's
 * bytes_in_finish; k is only written when all of it is good.
 */
void ps2kbd_save(const struct ps2kbd *k, struct bytes_out *o);
int ps2kbd_restore(struct ps2kbd *k, struct bytes_in *in);

#endif
