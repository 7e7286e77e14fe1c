/*
 * Thread names, as `ps -L` and /proc/PID/task/TID/comm show them. Under
 * the name `firecracker` they are Firecracker's own (its main thread
 * keeps the binary's name, the API thread is "fc_api", a vCPU's
 * "fc_vcpu N"), so orchestrators and Firecracker's own tests that look
 * for them find them; under `hearth`, Hearth's shorter ones.
 */
#ifndef HEARTH_UTIL_THREAD_NAME_H
#define HEARTH_UTIL_THREAD_NAME_H

#include <stdbool.h>

enum thread_role {
	THREAD_ROLE_IO,      /* the event loop: the main thread */
	THREAD_ROLE_API,
	THREAD_ROLE_VCPU,    /* with its index */
};

/* Firecracker's names from now on (cli_firecracker_main, before any thread). */
void thread_name_use_firecracker(bool on);
/* Names the calling thread for role (index: a vCPU's). */
void thread_name_set(enum thread_role role, unsigned int index);

#endif
