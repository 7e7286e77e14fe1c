/* reboot: the i8042 reset command; Hearth exits 0 and says reboot. */
#include "guest.h"

void guest_main(uint64_t zp)
{
	(void)zp;
	serial_puts("GUEST rebooting\n");
	guest_reboot();
}
