/*
 * The server's threads, each named: "sbx-api<N>" (E2B's API, on
 * util/httpd.c: a request that makes or changes a VM blocks its thread,
 * so several take the listener's connections in turn), "sbx-proxy"
 * (envd's endpoint, every connection streamed on one epoll loop) and
 * "sbx-timer" (timeouts, VMs that ended, orphans reaped). Each stops once
 * the server's stop_fd is readable.
 */
#ifndef HEARTH_SANDBOXD_THREADS_H
#define HEARTH_SANDBOXD_THREADS_H

#include "sandboxd/priv.h"

void *sbx_api_thread(void *arg);     /* arg: the struct sbx */
void *sbx_proxy_thread(void *arg);   /* arg: the struct sbx */
void *sbx_timer_thread(void *arg);   /* arg: the struct sbx */

#endif
