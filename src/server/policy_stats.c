/* policy_stats.c - per-policy counters; see policy_stats.h. */
#include "policy_stats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The action label: a validating run counts under its policy's action (POLICY_DENY, _WARN,
 * _AUDIT), a mutating run under "mutate". */
#define ACT_MUTATE 3
#define N_ACTS 4
enum { RES_PASS, RES_FAIL, RES_ERROR, N_RES };

static const char *const act_names[N_ACTS] = {"deny", "warn", "audit", "mutate"};
static const char *const res_names[N_RES] = {"pass", "fail", "error"};

/* One policy's counters, shared by the tables of every set that holds a policy of its name. */
typedef struct entry {
    _Atomic long refs;
    char *name;
    _Atomic unsigned long long results[N_ACTS][N_RES];
    _Atomic unsigned long long eval_ns, evals;
} entry;

struct policy_stats {
    _Atomic long refs;
    size_t n;
    entry **e;        /* by the policy's index in its set */
    unsigned *series; /* by index: the series published at 0 (SERIES bits) */
};

static void entry_unref(entry *e)
{
    if (e != NULL && atomic_fetch_sub(&e->refs, 1) == 1) {
        free(e->name);
        free(e);
    }
}

static entry *entry_new(const char *name)
{
    entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->name = strdup(name);
    if (e->name == NULL) {
        free(e);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    return e;
}

/* The counters of 'name' in 'prev' (a new reference), or new ones. */
static entry *entry_for(const char *name, const policy_stats *prev)
{
    for (size_t i = 0; prev != NULL && i < prev->n; i++) {
        if (strcmp(prev->e[i]->name, name) == 0) {
            atomic_fetch_add(&prev->e[i]->refs, 1);
            return prev->e[i];
        }
    }
    return entry_new(name);
}

/* The bit of series (action 'a', result 'r') in a slot's mask. */
#define SERIES(a, r) (1u << ((a) * N_RES + (r)))

/* The series policy 'p' can count under, published (at 0) from the load on, since a rate
 * over a series that appears with its first count misses that count: pass, fail and error
 * under its action when it validates, fail under each action its validations set apart,
 * pass and error under "mutate" when it mutates. */
static unsigned series_of(const policy *p)
{
    unsigned m = 0;
    if (p->n_validations > 0)
        m |= SERIES(p->action, RES_PASS) | SERIES(p->action, RES_FAIL) |
             SERIES(p->action, RES_ERROR);
    for (size_t i = 0; i < p->n_validations; i++)
        m |= SERIES(p->validations[i].action, RES_FAIL);
    if (p->n_mutations > 0)
        m |= SERIES(ACT_MUTATE, RES_PASS) | SERIES(ACT_MUTATE, RES_ERROR);
    return m;
}

policy_stats *policy_stats_new(const policy_set *set, const policy_stats *prev)
{
    size_t n = 0;
    const policy *ps = set ? policy_set_items(set, &n) : NULL;
    policy_stats *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    atomic_init(&st->refs, 1);
    st->e = calloc(n + 1, sizeof *st->e);
    st->series = calloc(n + 1, sizeof *st->series);
    if (st->e == NULL || st->series == NULL) {
        policy_stats_unref(st);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        st->e[i] = entry_for(ps[i].name, prev);
        if (st->e[i] == NULL) {
            policy_stats_unref(st);
            return NULL;
        }
        st->n = i + 1;
        st->series[i] = series_of(&ps[i]);
    }
    return st;
}

policy_stats *policy_stats_ref(policy_stats *st)
{
    if (st != NULL)
        atomic_fetch_add(&st->refs, 1);
    return st;
}

void policy_stats_unref(policy_stats *st)
{
    if (st == NULL || atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    for (size_t i = 0; i < st->n; i++)
        entry_unref(st->e[i]);
    free(st->e);
    free(st->series);
    free(st);
}

/* A policy's time runs from its matched() call to its evaluated() call, read on
 * CLOCK_MONOTONIC (65 ns a read on the bench's VM, twenty reads a review with the shipped
 * policies). When the policy just before it in the set is the one that has just run, its
 * start is that one's end, read once for both: its own match test (the relevance and
 * match checks between the two calls) is then in its time, a few dozen ns. */
static void on_matched(void *ctx, const policy *p)
{
    policy_stats_probe *pr = ctx;
    if (pr->last != NULL && p == pr->last + 1)
        pr->began = pr->ended;
    else
        clock_gettime(CLOCK_MONOTONIC, &pr->began);
}

static void on_evaluated(void *ctx, const policy *p, enum engine_mode mode, enum rule_result result,
                         enum policy_action action)
{
    policy_stats_probe *pr = ctx;
    size_t i = (size_t)(p - pr->items);
    pr->last = NULL;
    if (p < pr->items || i >= pr->n) /* not of this set: cannot happen, count nothing */
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pr->ended = now;
    pr->last = p;
    long long ns = (long long)(now.tv_sec - pr->began.tv_sec) * 1000000000LL +
                   (now.tv_nsec - pr->began.tv_nsec);
    size_t act = mode == ENGINE_MUTATE ? ACT_MUTATE : (size_t)action;
    size_t res = result == RULE_ERROR ? RES_ERROR : result == RULE_FAIL ? RES_FAIL : RES_PASS;
    entry *e = pr->st->e[i];
    atomic_fetch_add_explicit(&e->results[act][res], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->eval_ns, ns > 0 ? (unsigned long long)ns : 0,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&e->evals, 1, memory_order_relaxed);
}

void policy_stats_observer(policy_stats *st, const policy_set *set, policy_stats_probe *pr,
                           policy_observer *ob)
{
    *pr = (policy_stats_probe){.st = st};
    pr->items = policy_set_items(set, &pr->n);
    if (pr->n > st->n) /* a table made for another set: record nothing out of bounds */
        pr->n = st->n;
    *ob = (policy_observer){.matched = on_matched, .evaluated = on_evaluated, .ctx = pr};
}

/* Appends the series of entry 'e' in one of the two families: its results (those in
 * 'series' shown at 0), or its evaluation time. The name is escaped (buf_put_label): a
 * policy's name is any string its file gives. */
static int render_entry(const entry *e, unsigned series, bool times, buf *out)
{
    int rc = 0;
    for (size_t a = 0; a < N_ACTS && !times; a++) {
        for (size_t r = 0; r < N_RES; r++) {
            unsigned long long v = atomic_load_explicit(&e->results[a][r], memory_order_relaxed);
            if (v == 0 && !(series & SERIES(a, r)))
                continue;
            rc |= buf_puts(out, "streamguard_policy_results_total{policy=\"");
            rc |= buf_put_label(out, e->name);
            rc |= buf_printf(out, "\",action=\"%s\",result=\"%s\"} %llu\n", act_names[a],
                             res_names[r], v);
        }
    }
    if (times) {
        double sum = (double)atomic_load_explicit(&e->eval_ns, memory_order_relaxed) / 1e9;
        rc |= buf_puts(out, "streamguard_policy_evaluation_seconds_sum{policy=\"");
        rc |= buf_put_label(out, e->name);
        rc |= buf_printf(out, "\"} %.9f\nstreamguard_policy_evaluation_seconds_count{policy=\"",
                         sum);
        rc |= buf_put_label(out, e->name);
        rc |= buf_printf(out, "\"} %llu\n", atomic_load_explicit(&e->evals, memory_order_relaxed));
    }
    return rc;
}

int policy_stats_render(const policy_stats *st, buf *out)
{
    if (st == NULL)
        return 0;
    int rc = buf_puts(out, "# HELP streamguard_policy_results_total Policy runs on admission "
                           "reviews, by policy, action (the rule's own: deny, warn, audit; "
                           "mutate for mutations) and result (pass, fail, error).\n"
                           "# TYPE streamguard_policy_results_total counter\n");
    for (size_t i = 0; i < st->n; i++)
        rc |= render_entry(st->e[i], st->series[i], false, out);
    rc |= buf_puts(out, "# HELP streamguard_policy_evaluation_seconds Time each policy took on "
                        "admission reviews (sum) and how many runs (count).\n"
                        "# TYPE streamguard_policy_evaluation_seconds summary\n");
    for (size_t i = 0; i < st->n; i++)
        rc |= render_entry(st->e[i], st->series[i], true, out);
    return rc;
}
