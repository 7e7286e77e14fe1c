#include "vcpu/vcpu.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/thread_hook.h"
#include "util/thread_name.h"
#include "vcpu/cpuid.h"
#include "vcpu/msr.h"
#include "vcpu/regs.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN with EINTR */
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

struct vcpu *vcpu_create(const struct vcpu_env *env, unsigned int index)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return NULL;
	v->env = env;
	v->index = index;
	runstate_init(&v->rs);
	v->fd = ioctl(env->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0) {
		ret = -errno;
		log_err("KVM_CREATE_VCPU %u: %s", index, strerror(errno));
		goto err_free;
	}
	v->run_size = env->run_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		log_err("mmap of vcpu%u's kvm_run: %s", index, strerror(errno));
		goto err_close;
	}
	ret = cpuid_setup_vcpu(v->fd, env->cpuid, index, env->ncpus, env->smt);
	if (ret) {
		log_err("vcpu%u: KVM_SET_CPUID2: %s", index, strerror(-ret));
		goto err_unmap;
	}
	ret = msr_setup_boot(v->fd);
	if (ret) {
		log_err("vcpu%u: setting boot MSRs: %s", index, strerror(-ret));
		goto err_unmap;
	}
	ret = regs_setup_fpu(v->fd);
	if (!ret && env->irqchip)
		ret = regs_setup_lapic(v->fd);
	/* Secondary vCPUs wait in KVM for INIT/SIPI, as on hardware. */
	if (!ret && index == 0)
		ret = regs_setup_boot(v->fd, env->entry);
	if (ret) {
		log_err("vcpu%u: initial register state: %s", index, strerror(-ret));
		goto err_unmap;
	}
	return v;

err_unmap:
	munmap(v->run, v->run_size);
err_close:
	close(v->fd);
err_free:
	runstate_destroy(&v->rs);
	free(v);
	errno = -ret;
	return NULL;
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	munmap(v->run, v->run_size);
	close(v->fd);
	runstate_destroy(&v->rs);
	free(v);
}

static const char *const exit_names[VCPU_EXIT_KINDS] = {
	[VCPU_EXIT_IO_IN] = "exit_io_in",
	[VCPU_EXIT_IO_OUT] = "exit_io_out",
	[VCPU_EXIT_MMIO_READ] = "exit_mmio_read",
	[VCPU_EXIT_MMIO_WRITE] = "exit_mmio_write",
	[VCPU_EXIT_HLT] = "exit_hlt",
	[VCPU_EXIT_INTR] = "exit_intr",
	[VCPU_EXIT_SYSTEM_EVENT] = "exit_system_event",
	[VCPU_EXIT_SHUTDOWN] = "exit_shutdown",
	[VCPU_EXIT_FAIL_ENTRY] = "exit_fail_entry",
	[VCPU_EXIT_INTERNAL_ERROR] = "exit_internal_error",
	[VCPU_EXIT_OTHER] = "exit_other",
	[VCPU_EXIT_RUN_FAILED] = "kvm_run_failures",
};

const char *vcpu_exit_name(enum vcpu_exit_kind k)
{
	return (unsigned int)k < VCPU_EXIT_KINDS ? exit_names[k] : "?";
}

uint64_t vcpu_exit_count(const struct vcpu *v, enum vcpu_exit_kind k)
{
	return (unsigned int)k < VCPU_EXIT_KINDS ? __atomic_load_n(&v->exits[k], __ATOMIC_RELAXED)
						 : 0;
}

/* Only the vCPU's thread writes its counters, so a relaxed add is all a reader needs. */
static void vcpu_count_exit(struct vcpu *v, enum vcpu_exit_kind k)
{
	__atomic_fetch_add(&v->exits[k], 1, __ATOMIC_RELAXED);
}

static struct ratelimit exit_rl = RATELIMIT_INIT(10);
static struct ratelimit recent_rl = RATELIMIT_INIT(4 * VCPU_RECENT);

/* Notes the exit in v's ring (vcpu.h). */
static void vcpu_note_exit(struct vcpu *v)
{
	const struct kvm_run *r = v->run;
	uint64_t n = v->nrecent, w0 = (uint64_t)r->exit_reason << 32, w1 = 0;

	if (r->exit_reason == KVM_EXIT_IO) {
		w0 |= (uint64_t)r->io.direction << 16 | (uint64_t)r->io.size << 8 |
		      (r->io.count > 255 ? 255 : r->io.count);
		w1 = r->io.port;
		if (r->io.direction == KVM_EXIT_IO_OUT && r->io.size <= 4 &&
		    r->io.data_offset + (uint64_t)r->io.size <= v->run_size) {
			uint32_t d = 0;

			memcpy(&d, (const uint8_t *)r + r->io.data_offset, r->io.size);
			w1 |= (uint64_t)d << 32;
		}
	} else if (r->exit_reason == KVM_EXIT_MMIO) {
		w0 |= (uint64_t)r->mmio.is_write << 16 | (uint64_t)(r->mmio.len & 0xff) << 8;
		w1 = r->mmio.phys_addr;
	}
	__atomic_store_n(&v->recent[n % VCPU_RECENT][0], w0, __ATOMIC_RELAXED);
	__atomic_store_n(&v->recent[n % VCPU_RECENT][1], w1, __ATOMIC_RELAXED);
	__atomic_store_n(&v->nrecent, n + 1, __ATOMIC_RELEASE);
}

void vcpu_log_recent(const struct vcpu *v)
{
	uint64_t n = __atomic_load_n(&v->nrecent, __ATOMIC_ACQUIRE);
	uint64_t first = n > VCPU_RECENT ? n - VCPU_RECENT : 0;

	log_ratelimited(&recent_rl, LOG_ERR, "vcpu%u: its last %llu of %llu exits, oldest first:",
			v->index, (unsigned long long)(n - first), (unsigned long long)n);
	for (uint64_t i = first; i < n; i++) {
		uint64_t w0 = __atomic_load_n(&v->recent[i % VCPU_RECENT][0], __ATOMIC_RELAXED);
		uint64_t w1 = __atomic_load_n(&v->recent[i % VCPU_RECENT][1], __ATOMIC_RELAXED);
		unsigned int reason = (unsigned int)(w0 >> 32);

		if (reason == KVM_EXIT_IO)
			log_ratelimited(&recent_rl, LOG_ERR, "vcpu%u:   #%llu io %s port 0x%x size %u "
					"count %u%s0x%x", v->index, (unsigned long long)i,
					(w0 >> 16 & 0xff) == KVM_EXIT_IO_OUT ? "out" : "in",
					(unsigned int)(w1 & 0xffff), (unsigned int)(w0 >> 8 & 0xff),
					(unsigned int)(w0 & 0xff),
					(w0 >> 16 & 0xff) == KVM_EXIT_IO_OUT ? " data " : " ",
					(unsigned int)(w1 >> 32));
		else if (reason == KVM_EXIT_MMIO)
			log_ratelimited(&recent_rl, LOG_ERR, "vcpu%u:   #%llu mmio %s 0x%llx len %u",
					v->index, (unsigned long long)i,
					(w0 >> 16 & 0xff) ? "write" : "read", (unsigned long long)w1,
					(unsigned int)(w0 >> 8 & 0xff));
		else
			log_ratelimited(&recent_rl, LOG_ERR, "vcpu%u:   #%llu exit reason %u",
					v->index, (unsigned long long)i, reason);
	}
}

static void vcpu_fail(struct vcpu *v, const char *what)
{
	log_err("vcpu%u: %s", v->index, what);
	regs_dump(v->fd, v->index, v->env->mem);
	v->env->on_event(v->env->ctx, VCPU_EVENT_FAILURE, what);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	bool out = r->io.direction == KVM_EXIT_IO_OUT;

	/* KVM's data area lies inside the run page; trust but verify. */
	if (r->io.data_offset + (uint64_t)r->io.size * r->io.count > v->run_size)
		return;
	for (uint32_t i = 0; i < r->io.count; i++)
		bus_access(v->env->bus, BUS_PIO, r->io.port, data + i * r->io.size, r->io.size, out);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		v->env->on_event(v->env->ctx, VCPU_EVENT_POWEROFF, "system event");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		v->env->on_event(v->env->ctx, VCPU_EVENT_REBOOT, "system event");
		break;
	default:
		vcpu_fail(v, "guest crash reported by KVM");
		break;
	}
}

/*
 * hlt without an in-kernel irqchip: Hearth injects no interrupt, there is
 * no timer and no other vCPU, so nothing can ever wake this one. With
 * IF=0 that is the guest's own "stop here"; with IF=1 it waits for an
 * interrupt that cannot come, which is said (docs/running.md).
 */
static void handle_final_hlt(struct vcpu *v)
{
	struct kvm_regs r;
	bool if_set = ioctl(v->fd, KVM_GET_REGS, &r) == 0 && (r.rflags & (1u << 9));

	v->env->on_event(v->env->ctx, VCPU_EVENT_HALTED, if_set
			 ? "with interrupts enabled, but nothing can interrupt a --flat VM" : "");
}

/* Returns false when the loop must end. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	char what[96];

	vcpu_note_exit(v);
	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_count_exit(v, r->io.direction == KVM_EXIT_IO_OUT ? VCPU_EXIT_IO_OUT
								    : VCPU_EXIT_IO_IN);
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_count_exit(v, r->mmio.is_write ? VCPU_EXIT_MMIO_WRITE : VCPU_EXIT_MMIO_READ);
		bus_access(v->env->bus, BUS_MMIO, r->mmio.phys_addr, r->mmio.data,
			   r->mmio.len > 8 ? 8 : r->mmio.len, r->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		vcpu_count_exit(v, VCPU_EXIT_INTR);
		return true;
	case KVM_EXIT_HLT:
		vcpu_count_exit(v, VCPU_EXIT_HLT);
		if (!v->env->irqchip) {
			handle_final_hlt(v);
			return false;
		}
		/* With an in-kernel LAPIC KVM waits in the kernel; should one come, idle. */
		usleep(1000);
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_count_exit(v, VCPU_EXIT_SYSTEM_EVENT);
		handle_system_event(v);
		return false;
	case KVM_EXIT_SHUTDOWN:
		vcpu_count_exit(v, VCPU_EXIT_SHUTDOWN);
		vcpu_fail(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_count_exit(v, VCPU_EXIT_FAIL_ENTRY);
		snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
			 (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(v, what);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_count_exit(v, VCPU_EXIT_INTERNAL_ERROR);
		snprintf(what, sizeof(what), "KVM internal error, suberror %u%s", r->internal.suberror,
			 r->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				 ? " (instruction emulation failed)" : "");
		vcpu_fail(v, what);
		return false;
	default:
		vcpu_count_exit(v, VCPU_EXIT_OTHER);
		log_ratelimited(&exit_rl, LOG_WARN, "vcpu%u: unexpected exit reason %u", v->index,
				r->exit_reason);
		snprintf(what, sizeof(what), "unhandled KVM exit reason %u", r->exit_reason);
		vcpu_fail(v, what);
		return false;
	}
}

/* Whether an exit is complete only once KVM_RUN is entered again (KVM's api.rst, "kvm_run"). */
static bool vcpu_exit_pending(const struct kvm_run *r)
{
	return r->exit_reason == KVM_EXIT_IO || r->exit_reason == KVM_EXIT_MMIO;
}

/*
 * A pause after an I/O or MMIO exit: KVM finishes the instruction (an
 * IN's data into its register, RIP past an OUT) only in the next
 * KVM_RUN, and keeps that in no state userspace can read. A snapshot, a
 * fork or a migration taken now would save the instruction unfinished,
 * and the VM restored from it would run it again (an OUT's byte said
 * twice, seen in the lab). One entry with immediate_exit set finishes it
 * and runs no guest instruction; a string instruction may need further
 * exits to finish, each handled, within a budget.
 */
#define VCPU_FINISH_BUDGET 1024
static void vcpu_finish_exit(struct vcpu *v)
{
	int n = 0;

	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	while (ioctl(v->fd, KVM_RUN, 0) == 0 && n++ < VCPU_FINISH_BUDGET)
		if (!vcpu_exit_pending(v->run) || !vcpu_handle_exit(v))
			break;
	if (n > VCPU_FINISH_BUDGET)
		log_ratelimited(&exit_rl, LOG_WARN, "vcpu%u: an instruction still unfinished "
				"after %d exits at a pause", v->index, VCPU_FINISH_BUDGET);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELEASE);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	bool pending = false;
	sigset_t set;

	thread_name_set(THREAD_ROLE_VCPU, v->index);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* The sandbox's filter, if any: from here on only the run loop's syscalls. */
	if (thread_hook_enter(THREAD_VCPU)) {
		log_err("vcpu%u: cannot install its seccomp filter", v->index);
		v->env->on_event(v->env->ctx, VCPU_EVENT_FAILURE, "seccomp filter");
		runstate_exit(&v->rs);
		return NULL;
	}

	for (;;) {
		enum vcpu_next next = runstate_next(&v->rs, pending);

		if (next == VCPU_NEXT_STOP)
			break;
		pending = false;
		if (next == VCPU_NEXT_FINISH) {
			vcpu_finish_exit(v);
			continue;
		}
		if (!v->first_run_ns) {
			struct timespec ts;

			clock_gettime(CLOCK_BOOTTIME, &ts);
			__atomic_store_n(&v->first_run_ns,
					 (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
					 __ATOMIC_RELAXED);
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu_count_exit(v, VCPU_EXIT_INTR);
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELEASE);
				continue;
			}
			vcpu_count_exit(v, VCPU_EXIT_RUN_FAILED);
			log_err("vcpu%u: KVM_RUN failed: %s", v->index, strerror(errno));
			v->env->on_event(v->env->ctx, VCPU_EVENT_FAILURE, "KVM_RUN failed");
			break;
		}
		pending = vcpu_exit_pending(v->run);
		if (!vcpu_handle_exit(v))
			break;
	}
	runstate_exit(&v->rs);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return -ret;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (v->started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

enum vcpu_state vcpu_pause(struct vcpu *v, int timeout_ms)
{
	runstate_request(&v->rs, VCPU_PAUSED);
	if (!v->started)
		return runstate_get(&v->rs);
	vcpu_kick(v);
	return runstate_wait(&v->rs, VCPU_PAUSED, timeout_ms);
}

void vcpu_resume(struct vcpu *v)
{
	runstate_request(&v->rs, VCPU_RUNNING);
}

void vcpu_stop(struct vcpu *v)
{
	runstate_request(&v->rs, VCPU_STOPPED);
	vcpu_kick(v);
}

enum vcpu_state vcpu_state(struct vcpu *v)
{
	return runstate_get(&v->rs);
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}
