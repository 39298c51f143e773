/* decide.c - the decision point and the review round trip; see decide.h. */
#include "decide.h"

#include <stdlib.h>
#include <string.h>

#include "../k8s/jsonpatch.h"
#include "../util/utf8.h"


static const char *const decision_names[] = {"allowed", "denied", "invalid", "error"};

const char *admission_decision_name(enum admission_decision d)
{
    return decision_names[d];
}

int admission_parse_enforcement(const char *s, bool *warn_only)
{
    if (strcmp(s, "warn") != 0 && strcmp(s, "deny") != 0)
        return -1;
    *warn_only = strcmp(s, "warn") == 0;
    return 0;
}

static const char *const effect_names[ADMISSION_EFFECT_COUNT] = {
    [ADMISSION_EFFECT_DENIED] = "denied", [ADMISSION_EFFECT_WOULD_DENY] = "would_deny",
    [ADMISSION_EFFECT_WARNED] = "warned", [ADMISSION_EFFECT_AUDITED] = "audited",
    [ADMISSION_EFFECT_ALLOWED] = "allowed"};

const char *admission_effect_name(enum admission_effect e)
{
    return e < ADMISSION_EFFECT_COUNT ? effect_names[e] : "allowed";
}

/* Which effect finding 'f' has on the answer. */
static enum admission_effect finding_effect(const policy_finding *f)
{
    if (f->action == POLICY_DENY)
        return ADMISSION_EFFECT_DENIED;
    if (f->would_deny)
        return ADMISSION_EFFECT_WOULD_DENY;
    return f->action == POLICY_WARN ? ADMISSION_EFFECT_WARNED : ADMISSION_EFFECT_AUDITED;
}

/* The effect of the whole answer: the first in enum order that a finding has. */
static enum admission_effect answer_effect(const policy_outcome *o)
{
    enum admission_effect e = ADMISSION_EFFECT_ALLOWED;
    for (size_t i = 0; i < o->n_findings; i++) {
        enum admission_effect fe = finding_effect(&o->findings[i]);
        e = fe < e ? fe : e;
    }
    return e;
}

const char *admission_result_policies(const admission_result *res, enum admission_effect effect,
                                      arena *a)
{
    char *out = NULL;
    for (size_t i = 0; i < res->n_findings; i++) {
        const policy_finding *f = &res->findings[i];
        if (finding_effect(f) != effect)
            continue;
        bool seen = false; /* a policy with several rules that fired is named once */
        for (size_t k = 0; k < i && !seen; k++)
            seen = res->findings[k].policy == f->policy &&
                   finding_effect(&res->findings[k]) == effect;
        if (seen)
            continue;
        out = out ? arena_cat(a, out, ",", f->policy->name) : arena_strdup(a, f->policy->name);
        if (out == NULL)
            return NULL;
    }
    return out;
}

const char *admission_result_errors(const admission_result *res, arena *a)
{
    char *out = NULL;
    for (size_t i = 0; i < res->n_findings; i++) {
        const policy_finding *f = &res->findings[i];
        if (f->result != RULE_ERROR)
            continue;
        out = out ? arena_cat(a, out, "; ", f->message) : arena_strdup(a, f->message);
        if (out == NULL)
            return NULL;
    }
    return out;
}

void admission_to_policy_request(const admission_request *req, const admission_policy *pol,
                                 policy_request *out)
{
    *out = (policy_request){
        .group = req->kind.group, .version = req->kind.version, .kind = req->kind.kind,
        .sub_resource = req->sub_resource, .namespace_ = req->namespace_, .name = req->name,
        .op = (unsigned)req->operation, .username = req->username,
        .groups = req->user_info ? cJSON_GetObjectItemCaseSensitive(req->user_info, "groups") : NULL,
        .object = req->object, .old_object = req->old_object, .request = req->request,
        .lookup = pol->lookup, .observer = pol->observer};
}

/* The HTTP code of each reason a deny may ask for (policy.h), as ValidatingAdmissionPolicy
 * maps them: the one table. A deny that names no reason is Forbidden. */
static const int reason_codes[POLICY_REASON_COUNT] = {
    [POLICY_REASON_NONE] = 403,
    [POLICY_REASON_UNAUTHORIZED] = 401,
    [POLICY_REASON_FORBIDDEN] = 403,
    [POLICY_REASON_INVALID] = 422,
    [POLICY_REASON_REQUEST_ENTITY_TOO_LARGE] = 413,
};

int admission_reason_code(enum policy_reason r)
{
    return r < POLICY_REASON_COUNT ? reason_codes[r] : reason_codes[POLICY_REASON_FORBIDDEN];
}

/* The one reason of the whole answer, chosen over every denying finding: the reason they all
 * give (a rule without one gives Forbidden), or Forbidden when they differ. So the code never
 * depends on which policy fired first, and 422 Invalid, whose message kubectl 1.20 does not
 * print, is answered only when every denial asked for it and comes with its causes. */
static enum policy_reason deny_reason(const policy_outcome *o)
{
    enum policy_reason reason = POLICY_REASON_NONE;
    for (size_t i = 0; i < o->n_findings; i++) {
        const policy_finding *f = &o->findings[i];
        if (f->action != POLICY_DENY)
            continue;
        enum policy_reason r =
            f->reason == POLICY_REASON_NONE ? POLICY_REASON_FORBIDDEN : f->reason;
        if (reason != POLICY_REASON_NONE && reason != r)
            return POLICY_REASON_FORBIDDEN;
        reason = r;
    }
    return reason == POLICY_REASON_NONE ? POLICY_REASON_FORBIDDEN : reason;
}

/* status.details.causes of a 422: one per denying finding, its field and its message without
 * the field (kubectl prints "FIELD: MESSAGE"); the policy name stays in the message. */
static int fill_causes(const policy_outcome *o, const admission_request *req, arena *a,
                       admission_response *resp)
{
    admission_cause *c = arena_calloc(a, o->n_findings + 1, sizeof *c);
    if (c == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < o->n_findings; i++) {
        const policy_finding *f = &o->findings[i];
        if (f->action != POLICY_DENY)
            continue;
        const char *msg = f->message;
        /* The engine wrote "[policy] field: message"; the cause carries the field apart. */
        const char *pre =
            f->field ? arena_cat(a, "[", f->policy->name, "] ", f->field, ": ") : NULL;
        if (pre != NULL && strncmp(msg, pre, strlen(pre)) == 0)
            msg = arena_cat(a, "[", f->policy->name, "] ", msg + strlen(pre));
        if (msg == NULL)
            return -1;
        c[n++] = (admission_cause){.field = f->field, .message = msg};
    }
    resp->causes = c;
    resp->n_causes = n;
    resp->details_group = req->kind.group;
    resp->details_kind = req->kind.kind;
    resp->details_name = req->name;
    if (req->name[0] == '\0' && req->object != NULL) { /* a CREATE with generateName */
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(req->object, "metadata");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(md, "name");
        if (cJSON_IsString(nm))
            resp->details_name = nm->valuestring;
    }
    return 0;
}

/* Joins the messages of the findings with 'effect' ("; "), or NULL when there are none. */
static const char *join(const policy_outcome *o, enum admission_effect effect, arena *a)
{
    char *out = NULL;
    for (size_t i = 0; i < o->n_findings; i++) {
        if (finding_effect(&o->findings[i]) != effect)
            continue;
        out = out ? arena_cat(a, out, "; ", o->findings[i].message)
                  : arena_strdup(a, o->findings[i].message);
        if (out == NULL)
            return NULL;
    }
    return out;
}

/* One auditAnnotations value holds at most this many bytes: the limit kube-apiserver puts on
 * a ValidatingAdmissionPolicy's audit annotation value, so one policy cannot bloat an audit
 * event without bound. */
#define AUDIT_VALUE_MAX 10240
#define AUDIT_MORE " ..."

/* Adds 'msg' to the value 'cur' (NULL: none yet) of one policy's audit annotation, after
 * "; ". A value that would pass AUDIT_VALUE_MAX is cut at a character boundary and ends in
 * AUDIT_MORE; '*full' then says to add nothing more. Returns an arena string, NULL on OOM. */
static const char *audit_append(const char *cur, const char *msg, bool *full, arena *a)
{
    const char *sep = cur ? "; " : "";
    size_t have = cur ? strlen(cur) : 0, add = strlen(sep) + strlen(msg);
    if (have + add <= AUDIT_VALUE_MAX)
        return arena_cat(a, cur ? cur : "", sep, msg);
    const char *all = arena_cat(a, cur ? cur : "", sep, msg);
    if (all == NULL)
        return NULL;
    size_t keep = utf8_cut(all, have + add, AUDIT_VALUE_MAX - strlen(AUDIT_MORE));
    char *out = arena_alloc(a, keep + sizeof AUDIT_MORE);
    if (out == NULL)
        return NULL;
    memcpy(out, all, keep);
    memcpy(out + keep, AUDIT_MORE, sizeof AUDIT_MORE);
    *full = true;
    return out;
}

/* The audit annotations of 'o' in 'resp': one key per policy, "streamguard.dev/NAME", with the
 * messages of all its Audit findings joined by "; ". A JSON object must not repeat a key:
 * kube-apiserver would keep only one of the two, and the other finding would be lost. */
static int fill_audit(const policy_outcome *o, size_t na, arena *a, admission_response *resp)
{
    admission_kv *audit = arena_calloc(a, na + 1, sizeof *audit);
    const char **owner = arena_calloc(a, na + 1, sizeof *owner); /* policy names, by key */
    bool *full = arena_calloc(a, na + 1, sizeof *full);
    if (audit == NULL || owner == NULL || full == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < o->n_findings; i++) {
        const policy_finding *f = &o->findings[i];
        if (f->action != POLICY_AUDIT)
            continue;
        size_t k = 0;
        while (k < n && strcmp(owner[k], f->policy->name) != 0)
            k++;
        if (k == n) {
            owner[n] = f->policy->name;
            audit[n].key = arena_cat(a, "streamguard.dev/", f->policy->name);
            if (audit[n++].key == NULL)
                return -1;
        }
        if (full[k])
            continue;
        audit[k].value = audit_append(audit[k].value, f->message, &full[k], a);
        if (audit[k].value == NULL)
            return -1;
    }
    resp->audit = audit;
    resp->n_audit = n;
    return 0;
}

static int fill_response(const policy_outcome *o, const admission_request *req, arena *a,
                         admission_response *resp)
{
    size_t nw = 0, na = 0;
    for (size_t i = 0; i < o->n_findings; i++) {
        nw += o->findings[i].action == POLICY_WARN;
        na += o->findings[i].action == POLICY_AUDIT;
        resp->n_denials += o->findings[i].action == POLICY_DENY;
    }
    const char **warnings = arena_calloc(a, nw + 1, sizeof *warnings);
    if (warnings == NULL || fill_audit(o, na, a, resp) != 0)
        return -1;
    for (size_t i = 0; i < o->n_findings; i++) {
        if (o->findings[i].action == POLICY_WARN)
            warnings[resp->n_warnings++] = o->findings[i].message;
    }
    resp->warnings = warnings;
    resp->allowed = !o->denied;
    if (o->denied) {
        enum policy_reason reason = deny_reason(o);
        resp->status_reason = policy_reason_names[reason];
        resp->status_code = admission_reason_code(reason);
        resp->status_message = join(o, ADMISSION_EFFECT_DENIED, a);
        if (resp->status_message == NULL)
            return -1;
        /* Only a 422 carries causes: kubectl prints them instead of the message. */
        if (reason == POLICY_REASON_INVALID && fill_causes(o, req, a, resp) != 0)
            return -1;
    }
    return 0;
}

static void free_text(void *p)
{
    free(p);
}

static void delete_tree(void *p)
{
    cJSON_Delete(p);
}

/* The engine in 'mode' on 'req'. Returns 0, or -1 when the arena ran out. */
static int run_engine(enum admission_mode mode, const admission_request *req,
                      const admission_policy *pol, arena *a, policy_outcome *o, diag_list *dl)
{
    policy_request pr;
    admission_to_policy_request(req, pol, &pr);
    if (policy_engine_run(pol->set, mode == ADMISSION_VALIDATE ? ENGINE_VALIDATE : ENGINE_MUTATE,
                          &pr, pol->warn_only, a, o) == 0)
        return 0;
    diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "the request arena ran out");
    return -1;
}

/* The answer to 'req' from the findings of 'o', with the patch from req->object to
 * o->mutated (the diff is cJSON's memory, handed to 'a'). */
static int answer(const policy_outcome *o, const admission_request *req, arena *a,
                  admission_response *resp, diag_list *dl)
{
    int rc = fill_response(o, req, a, resp);
    if (rc == 0 && o->mutated != NULL) {
        bool oom;
        char *patch = jsonpatch_diff_at(req->object, o->mutated, o->mutated_paths,
                                        o->n_mutated_paths, &oom);
        if (patch != NULL && arena_defer(a, free_text, patch) == 0) {
            resp->patch = patch;
            resp->patch_len = strlen(patch);
        } else if (patch != NULL || oom) {
            rc = -1; /* arena_defer freed it */
        }
    }
    if (rc != 0)
        diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "out of memory");
    return rc;
}

/* Empties 'resp' and 'o' and says whether there is anything to decide. */
static bool begin(const admission_policy *pol, admission_response *resp, policy_outcome *o)
{
    memset(resp, 0, sizeof *resp);
    memset(o, 0, sizeof *o);
    resp->allowed = true;
    return pol != NULL && pol->set != NULL;
}

int admission_decide(enum admission_mode mode, const admission_request *req,
                     const admission_policy *pol, arena *a, admission_response *resp,
                     policy_outcome *outcome, diag_list *dl)
{
    policy_outcome local;
    policy_outcome *o = outcome ? outcome : &local;
    if (!begin(pol, resp, o))
        return 0;
    if (run_engine(mode, req, pol, a, o, dl) != 0)
        return -1;
    return answer(o, req, a, resp, dl);
}

/* 'req' as kube-apiserver sends it to the validating webhooks after the mutating ones
 * patched the object to 'object': in the struct and in request.object, which policies read
 * as request.object. The new request tree refers to the old one's members. */
static int with_object(const admission_request *req, const cJSON *object, arena *a,
                       admission_request *out)
{
    cJSON *r = cJSON_CreateObject();
    if (r == NULL || arena_defer(a, delete_tree, r) != 0)
        return -1;
    for (const cJSON *c = req->request->child; c != NULL; c = c->next) {
        const cJSON *v = strcmp(c->string, "object") == 0 ? object : c;
        if (!cJSON_AddItemReferenceToObject(r, c->string, (cJSON *)v))
            return -1;
    }
    *out = *req;
    out->object = object;
    out->request = r;
    return 0;
}

/* The findings of 'm' then those of 'v' in 'out', as one outcome. */
static int merge(const policy_outcome *m, const policy_outcome *v, arena *a,
                 policy_outcome *out)
{
    size_t n = m->n_findings + v->n_findings;
    policy_finding *f = arena_alloc(a, (n ? n : 1) * sizeof *f);
    if (f == NULL)
        return -1;
    if (m->n_findings > 0)
        memcpy(f, m->findings, m->n_findings * sizeof *f);
    if (v->n_findings > 0)
        memcpy(f + m->n_findings, v->findings, v->n_findings * sizeof *f);
    *out = (policy_outcome){.findings = f, .n_findings = n, .denied = m->denied || v->denied,
                            .n_matched = m->n_matched + v->n_matched, .mutated = m->mutated,
                            .mutated_paths = m->mutated_paths,
                            .n_mutated_paths = m->n_mutated_paths};
    return 0;
}

int admission_decide_chain(const admission_request *req, const admission_policy *pol, arena *a,
                           admission_response *resp, policy_outcome *outcome, diag_list *dl)
{
    policy_outcome local, m, v;
    policy_outcome *o = outcome ? outcome : &local;
    admission_request validated = *req;
    if (!begin(pol, resp, o))
        return 0;
    if (run_engine(ADMISSION_MUTATE, req, pol, a, &m, dl) != 0)
        return -1;
    if (m.mutated != NULL && with_object(req, m.mutated, a, &validated) != 0) {
        diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "out of memory");
        return -1;
    }
    if (run_engine(ADMISSION_VALIDATE, &validated, pol, a, &v, dl) != 0)
        return -1;
    if (merge(&m, &v, a, o) != 0) {
        diag_add(dl, DIAG_ERROR, "engine.limit", NULL, "out of memory");
        return -1;
    }
    return answer(o, req, a, resp, dl);
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

static void process_decoded(enum admission_mode mode, const admission_request *req,
                            const admission_policy *pol, arena *a, admission_result *out,
                            diag_list *dl)
{
    admission_response resp;
    policy_outcome o;
    out->uid = or_dash(a, req->uid);
    out->operation = admission_op_name(req->operation);
    out->kind = or_dash(a, req->kind.kind);
    out->namespace_ = or_dash(a, req->namespace_);
    out->name = or_dash(a, req->name);
    out->dry_run = req->dry_run;
    if (admission_decide(mode, req, pol, a, &resp, &o, dl) != 0) {
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
    out->findings = o.findings;
    out->n_findings = o.n_findings;
    out->effect = answer_effect(&o);
    out->denied_by = resp.allowed ? NULL : resp.status_message;
    if (out->effect == ADMISSION_EFFECT_WOULD_DENY)
        out->denied_by = join(&o, ADMISSION_EFFECT_WOULD_DENY, a);
}

void admission_process(enum admission_mode mode, const char *body, size_t len,
                       const admission_policy *pol, arena *a, admission_result *out)
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
        process_decoded(mode, req, pol, a, out, &dl);
    }
    admission_request_free(req);
    diag_list_clear(&dl);
}
