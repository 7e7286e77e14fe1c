#include "util/thread_name.h"

#include <pthread.h>
#include <stdio.h>

static bool firecracker;

void thread_name_use_firecracker(bool on)
{
	firecracker = on;
}

void thread_name_set(enum thread_role role, unsigned int index)
{
	char name[16];

	switch (role) {
	case THREAD_ROLE_IO:
		/* Firecracker's VMM thread is its main one, named as the binary is. */
		snprintf(name, sizeof(name), "%s", firecracker ? "firecracker" : "io");
		break;
	case THREAD_ROLE_API:
		snprintf(name, sizeof(name), "%s", firecracker ? "fc_api" : "api");
		break;
	default:
		snprintf(name, sizeof(name), firecracker ? "fc_vcpu %u" : "vcpu%u", index);
		break;
	}
	pthread_setname_np(pthread_self(), name);
}
