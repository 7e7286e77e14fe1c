#include "devices/ps2kbd.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define KBD_ACK 0xfa
#define KBD_BAT_OK 0xaa
#define KBD_ECHO 0xee
#define KBD_RESEND 0xfe

#define CMD_SET_LEDS 0xed
#define CMD_ECHO 0xee
#define CMD_SCANCODE_SET 0xf0
#define CMD_GET_ID 0xf2
#define CMD_TYPEMATIC 0xf3
#define CMD_RESET 0xff

/*
 * The chord in scancode set 1, which is what the driver reads with the
 * controller's translation on (our default command byte, as firmware
 * leaves it): Ctrl, Alt, Del (extended) pressed, then released in
 * reverse order, so no key stays down for the guest to auto-repeat.
 */
static const uint8_t cad_chord[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };

void ps2kbd_init(struct ps2kbd *k)
{
	memset(k, 0, sizeof(*k));
	k->set = 2;
}

/* Answers that do not fit are dropped: a driver that never reads gets no more. */
static void kbd_put(struct ps2kbd *k, uint8_t v)
{
	if (k->len == PS2KBD_QUEUE)
		return;
	k->q[(k->head + k->len++) % PS2KBD_QUEUE] = v;
}

void ps2kbd_command(struct ps2kbd *k, uint8_t v)
{
	uint8_t cmd = k->param_for;

	k->param_for = 0;
	if (cmd == CMD_SCANCODE_SET) {
		kbd_put(k, KBD_ACK);
		if (v == 0)
			kbd_put(k, k->set);   /* "which set?" */
		else if (v <= 3)
			k->set = v;
		return;
	}
	if (cmd) {                        /* LEDs or typematic rate: taken and ignored */
		kbd_put(k, KBD_ACK);
		return;
	}
	switch (v) {
	case CMD_RESET:
		/* A reset also throws away whatever the host had queued. */
		k->len = 0;
		k->set = 2;
		kbd_put(k, KBD_ACK);
		kbd_put(k, KBD_BAT_OK);
		break;
	case CMD_GET_ID:
		kbd_put(k, KBD_ACK);
		kbd_put(k, 0xab);             /* an MF2 keyboard */
		kbd_put(k, 0x83);
		break;
	case CMD_ECHO:
		kbd_put(k, KBD_ECHO);
		break;
	case CMD_SET_LEDS:
	case CMD_TYPEMATIC:
	case CMD_SCANCODE_SET:
		k->param_for = v;
		kbd_put(k, KBD_ACK);
		break;
	default:
		/* Enable, disable, defaults, the set-3 key modes: all just ACKed. */
		kbd_put(k, v >= 0xf4 ? KBD_ACK : KBD_RESEND);
		break;
	}
}

bool ps2kbd_pending(const struct ps2kbd *k)
{
	return k->len > 0;
}

uint8_t ps2kbd_pop(struct ps2kbd *k)
{
	uint8_t v;

	if (!k->len)
		return 0;
	v = k->q[k->head];
	k->head = (k->head + 1) % PS2KBD_QUEUE;
	k->len--;
	return v;
}

int ps2kbd_ctrl_alt_del(struct ps2kbd *k)
{
	if (PS2KBD_QUEUE - k->len < sizeof(cad_chord))
		return -ENOSPC;
	for (unsigned int i = 0; i < sizeof(cad_chord); i++)
		kbd_put(k, cad_chord[i]);
	return 0;
}

void ps2kbd_save(const struct ps2kbd *k, struct bytes_out *o)
{
	bytes_put_u8(o, (uint8_t)k->len);
	for (unsigned int i = 0; i < k->len; i++)
		bytes_put_u8(o, k->q[(k->head + i) % PS2KBD_QUEUE]);
	bytes_put_u8(o, k->param_for);
	bytes_put_u8(o, k->set);
}

/* Only the commands ps2kbd_command leaves waiting for a parameter. */
static bool kbd_param_valid(uint8_t cmd)
{
	return cmd == 0 || cmd == CMD_SET_LEDS || cmd == CMD_TYPEMATIC || cmd == CMD_SCANCODE_SET;
}

int ps2kbd_restore(struct ps2kbd *k, struct bytes_in *in)
{
	struct ps2kbd v = { 0 };

	v.len = bytes_get_u8(in);
	if (v.len > PS2KBD_QUEUE)
		return in->short_read ? 0 : -EINVAL;
	bytes_get(in, v.q, v.len);
	v.param_for = bytes_get_u8(in);
	v.set = bytes_get_u8(in);
	if (in->short_read)
		return 0;
	if (!kbd_param_valid(v.param_for) || v.set < 1 || v.set > 3)
		return -EINVAL;
	*k = v;
	return 0;
}
