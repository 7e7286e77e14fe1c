/*
 * Test-only: one API request through api_route, served in-process, and
 * the check of a 400's fault_message. Shared by the API unit tests; each
 * keeps its own control surface on a fake VM (fake_vm.h).
 */
#ifndef HEARTH_TESTS_API_REQ_H
#define HEARTH_TESTS_API_REQ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/routes.h"

/* The last reply's body, or "", and whether it said "Deprecation: true". */
static char body_out[8192];
static bool deprecated_out;

/* One request; returns the status and leaves the body in body_out. */
static inline unsigned int api_req(struct ctl *ctl, const char *method, const char *path,
				   const char *body)
{
	struct api_reply r;

	api_route(ctl, method, path, body, body ? strlen(body) : 0, &r);
	snprintf(body_out, sizeof(body_out), "%s", r.body ? r.body : "");
	deprecated_out = r.deprecated;
	free(r.body);
	return r.status;
}

/* The last reply is {"fault_message": "... needle ..."}. */
static inline void expect_fault(const char *needle)
{
	json_t *o = json_loads(body_out, 0, NULL);
	const char *m = json_string_value(json_object_get(o, "fault_message"));

	if (!m)
		fail_msg("no fault_message in '%s'", body_out);
	if (!strstr(m, needle))
		fail_msg("fault '%s' does not mention '%s'", m, needle);
	json_decref(o);
}

/* Firecracker's wrapping of a body its serde_json refused (parsed_request.rs, SerdeJson). */
#define SERDE "An error occurred when deserializing the json body of a request: "

/* The last reply is {"fault_message": msg}, word for word. */
static inline void expect_fault_is(const char *msg)
{
	json_t *o = json_loads(body_out, 0, NULL);
	const char *m = json_string_value(json_object_get(o, "fault_message"));

	if (!m)
		fail_msg("no fault_message in '%s'", body_out);
	if (strcmp(m, msg) != 0)
		fail_msg("fault '%s' is not '%s'", m, msg);
	json_decref(o);
}

#define req(f, method, path, body) api_req(&(f)->ctl, method, path, body)

#endif
