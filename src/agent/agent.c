/* The agent's state, made and taken apart (agent.h). */
#include "agent/agent.h"

#include <errno.h>
#include <stdlib.h>

#include "agent/http.h"
#include "agent/proc.h"
#include "agent/server.h"
#include "agent/vmgenid.h"
#include "agent/watch.h"

const char *agent_default_user(const struct agent *a)
{
	return a->default_user ? a->default_user : a->cfg.default_user;
}

int agent_create(struct agent **out, struct agent_loop *loop, const struct agent_cfg *cfg)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct http_cfg hc;
	int ret;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	a->loop = loop;
	hc = (struct http_cfg){ .max_body = cfg->max_body, .max_conns = cfg->max_conns,
				.idle_s = cfg->idle_s };
	ret = env_set(&a->env, "E2B_SANDBOX", "true", true);
	if (!ret)
		ret = proc_table_create(&a->procs);
	if (!ret)
		ret = watch_table_create(&a->watches);
	if (!ret)
		ret = http_create(&a->http, loop, &hc, &agent_http_ops, a);
	if (ret)
		goto err_destroy;
	*out = a;
	return 0;

err_destroy:
	agent_destroy(a);
	return ret;
}

void agent_destroy(struct agent *a)
{
	if (!a)
		return;
	vmgenid_stop(a, a->vmgenid);
	/* The streams first: ending them touches the connections. */
	proc_table_destroy(a->procs);
	watch_table_destroy(a, a->watches);
	http_destroy(a->http);
	env_free(&a->env);
	free(a->token);
	free(a->default_user);
	free(a->default_workdir);
	free(a);
}
