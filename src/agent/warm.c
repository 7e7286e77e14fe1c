/* The template's warm-up (warm.h). */
#include "agent/warm.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/proc.h"
#include "agent/user.h"

static int64_t warm_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drops the shell's output until it ends or the deadline: whether it ended. */
static bool warm_wait(struct proc_spawned *sp, int64_t deadline)
{
	char buf[4096];

	for (;;) {
		struct pollfd p[3] = { { sp->pidfd, POLLIN, 0 }, { sp->out_fd, POLLIN, 0 },
				       { sp->err_fd, POLLIN, 0 } };
		int64_t left = deadline - warm_ms();

		if (left <= 0)
			return false;
		if (poll(p, 3, (int)left) < 0 && errno != EINTR)
			return false;
		if (p[0].revents)
			return true;
		for (int i = 1; i < 3; i++)
			if (p[i].revents && read(p[i].fd, buf, sizeof(buf)) <= 0) {
				/* At its end: no more polls of it (a negative fd is skipped). */
				close(p[i].fd);
				*(i == 1 ? &sp->out_fd : &sp->err_fd) = -1;
			}
	}
}

void warm_run(const struct agent *a)
{
	const char *shell = a->cfg.warm_shell, *path = getenv("PATH");
	char *argv[] = { (char *)shell, "-l", "-c", "true", NULL };
	char env[4][PATH_MAX + 16], *envp[5];
	struct proc_spawned sp;
	struct agent_user u;
	char why[PATH_MAX + 128];
	int64_t t0 = warm_ms();
	int status = 0;

	if (!shell)
		return;
	if (user_lookup(agent_default_user(a), &u)) {
		agent_log("warm-up skipped: no user '%s'", agent_default_user(a));
		return;
	}
	snprintf(env[0], sizeof(env[0]), "PATH=%s", path ? path : PROC_DEFAULT_PATH);
	snprintf(env[1], sizeof(env[1]), "HOME=%s", u.home);
	snprintf(env[2], sizeof(env[2]), "USER=%s", u.name);
	snprintf(env[3], sizeof(env[3]), "LOGNAME=%s", u.name);
	for (int i = 0; i < 4; i++)
		envp[i] = env[i];
	envp[4] = NULL;
	if (proc_spawn(&(struct proc_spawn_args){ .cmd = shell, .argv = argv, .envp = envp,
						  .cwd = u.home, .user = &u }, &sp, why,
		       sizeof(why))) {
		agent_log("warm-up skipped: %s", why);
		return;
	}
	if (!warm_wait(&sp, t0 + WARM_TIMEOUT_MS)) {
		kill(-(pid_t)sp.pid, SIGKILL);
		agent_log("warm-up: %s -l -c true still ran after %d ms: killed", shell,
			  WARM_TIMEOUT_MS);
	}
	waitpid(sp.pid, &status, 0);
	agent_log("warm-up: %s -l -c true as %s: %s %d in %lld ms", shell, u.name,
		  WIFEXITED(status) ? "exit status" : "signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		  (long long)(warm_ms() - t0));
	close(sp.pidfd);
	if (sp.out_fd >= 0)
		close(sp.out_fd);
	if (sp.err_fd >= 0)
		close(sp.err_fd);
}
