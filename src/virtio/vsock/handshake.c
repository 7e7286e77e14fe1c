/*
 * Hybrid vsock: the time a host client has to send its CONNECT line. A
 * client that connects and says nothing would hold one of the host's
 * slots for good; this closes it once its line is overdue. One timerfd
 * on the I/O loop serves every client: deadlines are taken in the order
 * clients come, so it is armed for the oldest one still due, and when it
 * fires every overdue client goes and it is armed for the next. Nothing
 * sleeps, and no client costs more than its slot.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "virtio/vsock/hybrid.h"

#define NS_PER_MS 1000000ull

uint64_t vu_now(const struct vsock_uds *vu)
{
	struct timespec ts;

	if (vu->clock.now_ns)
		return vu->clock.now_ns(vu->clock.opaque);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Fires ns from now; 0 disarms. */
static void handshake_arm(struct vsock_uds *vu, uint64_t ns)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	if (timerfd_settime(vu->hs_tfd, 0, &its, NULL) < 0) {
		/* Clients keep their slots until they close; the cap still holds. */
		log_ratelimited(&vu_rl, LOG_WARN, "%s: cannot arm the handshake timer: %s",
				vu->dev.name, strerror(errno));
		vu->hs_armed = false;
		return;
	}
	vu->hs_armed = ns != 0;
}

void vu_handshake_start(struct vsock_uds *vu, struct vu_conn *c)
{
	c->handshake_deadline = vu_now(vu) + vu->handshake_ns;
	/* Armed already: for an earlier deadline, and it re-arms for this one. */
	if (!vu->hs_armed)
		handshake_arm(vu, vu->handshake_ns);
}

void vu_handshake_expire(struct vsock_uds *vu)
{
	uint64_t now = vu_now(vu), next = 0;
	unsigned int i = 0;

	while (i < vu->nconns) {
		struct vu_conn *c = vu->conns[i];

		if (c->state != VU_HANDSHAKE) {
			i++;
		} else if ((int64_t)(now - c->handshake_deadline) >= 0) {
			log_ratelimited(&vu_rl, LOG_DEBUG, "%s: host client sent no CONNECT line "
					"in %llu ms; closed", vu->dev.name,
					(unsigned long long)(vu->handshake_ns / NS_PER_MS));
			vu->handshakes_timed_out++;
			/* The guest never heard of it: no RST. conns[i] is now another. */
			vu_conn_free(vu, c);
		} else {
			if (!next || c->handshake_deadline - now < next)
				next = c->handshake_deadline - now;
			i++;
		}
	}
	handshake_arm(vu, next);
}

static void handshake_on_timer(void *opaque, uint32_t events)
{
	struct vsock_uds *vu = opaque;
	uint64_t n;

	(void)events;
	pthread_mutex_lock(&vu->dev.lock);
	/* Nothing to read when it was re-armed since it fired: the scan finds nothing due. */
	(void)!read(vu->hs_tfd, &n, sizeof(n));
	vu_handshake_expire(vu);
	pthread_mutex_unlock(&vu->dev.lock);
}

int vu_handshake_init(struct vsock_uds *vu, const struct virtio_env *env)
{
	int ret;

	if (env->clock)
		vu->clock = *env->clock;
	vu->handshake_ns = VU_HANDSHAKE_MS * NS_PER_MS;
	vu->hs_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vu->hs_tfd < 0)
		return -errno;
	ret = eventloop_add(vu->loop, vu->hs_tfd, EPOLLIN, handshake_on_timer, vu);
	if (ret) {
		close(vu->hs_tfd);
		vu->hs_tfd = -1;
	}
	return ret;
}

void vu_handshake_release(struct vsock_uds *vu)
{
	if (vu->hs_tfd < 0)
		return;
	eventloop_remove(vu->loop, vu->hs_tfd);
	close(vu->hs_tfd);
	vu->hs_tfd = -1;
}
