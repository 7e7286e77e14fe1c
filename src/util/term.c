#include "util/term.h"

#include <errno.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "util/log.h"

static struct termios saved;
static int saved_fd = -1;

void term_restore(void)
{
	if (saved_fd < 0)
		return;
	tcsetattr(saved_fd, TCSAFLUSH, &saved);
	saved_fd = -1;
	log_set_crlf(false);
}

bool term_is_raw(void)
{
	return saved_fd >= 0;
}

int term_raw_enter(int fd)
{
	static bool atexit_done;
	struct termios raw;

	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &saved) < 0)
		return -errno;
	raw = saved;
	/*
	 * Every key goes to the guest, Ctrl-C included; Ctrl-A x is the way
	 * out. The guest's output passes untouched, so our own log lines
	 * switch to CRLF while raw.
	 */
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSAFLUSH, &raw) < 0)
		return -errno;
	saved_fd = fd;
	log_set_crlf(true);
	if (!atexit_done) {
		atexit(term_restore);
		atexit_done = true;
	}
	return 0;
}
