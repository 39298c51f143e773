/* decide.c - the decision point and the review round trip; see decide.h. */
#include "decide.h"

#include <string.h>


static const char *const decision_names[] = {"allowed", "denied", "invalid", "error"};

const char *admission_decision_name(enum admission_decision d)
{
    return decision_names[d];
}

int admission_decide(enum admission_mode mode, const admission_request *req, arena *a,
                     admission_response *resp, diag_list *dl)
{
    (void)mode;
    (void)req;
    (void)a;
    (void)dl;
    memset(resp, 0, sizeof *resp);
    /* No policy engine yet: every well-formed review is allowed, with no patch. */
    resp->allowed = true;
    return 0;
}

static const char *or_dash(arena *a, const char *s)
{
    const char *c = (s && *s) ? arena_strdup(a, s) : NULL;
    return c ? c : "-";
}

/* Fills 'out' with a Status reply for an error. */
static void fail(admission_result *out, int code, const char *reason, const char *msg)
{
    out->http_status = code;
    out->decision = code == 400 ? ADMISSION_INVALID : ADMISSION_FAILED;
    out->reason = msg;
    out->body = admission_status_encode(code, reason, msg, &out->body_len);
}

static void process_decoded(enum admission_mode mode, const admission_request *req, arena *a,
                            admission_result *out, diag_list *dl)
{
    admission_response resp;
    out->uid = or_dash(a, req->uid);
    out->operation = admission_op_name(req->operation);
    out->kind = or_dash(a, req->kind.kind);
    out->namespace_ = or_dash(a, req->namespace_);
    out->name = or_dash(a, req->name);
    out->dry_run = req->dry_run;
    if (admission_decide(mode, req, a, &resp, dl) != 0) {
        fail(out, 500, "InternalError", "the request could not be decided");
        return;
    }
    out->body = admission_response_encode(req, &resp, &out->body_len);
    if (out->body == NULL) {
        fail(out, 500, "InternalError", "out of memory while encoding the response");
        return;
    }
    out->http_status = 200;
    out->decision = resp.allowed ? ADMISSION_ALLOWED : ADMISSION_DENIED;
    out->patched = resp.patch != NULL;
    out->n_warnings = resp.n_warnings;
}

void admission_process(enum admission_mode mode, const char *body, size_t len, arena *a,
                       admission_result *out)
{
    diag_list dl;
    diag_list_init(&dl);
    memset(out, 0, sizeof *out);
    out->uid = out->operation = out->kind = out->namespace_ = out->name = "-";
    admission_request *req = admission_request_decode(a, body, len, &dl);
    if (req == NULL) {
        const char *msg = "invalid AdmissionReview";
        if (dl.count > 0) {
            const diag *d = &dl.items[0];
            const char *m = arena_sprintf(a, "invalid AdmissionReview: %s", d->msg);
            msg = m ? m : msg;
        }
        fail(out, 400, "BadRequest", msg);
    } else {
        process_decoded(mode, req, a, out, &dl);
    }
    admission_request_free(req);
    diag_list_clear(&dl);
}
