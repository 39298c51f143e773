#!/usr/bin/env python3
"""bench_summary.py - the summary of make bench's server rounds (tests/bench/bench.sh).

Reads the runs (one row per wrk run: round, server, connections, req/s, server CPU us per
request, wrk CPU us per request, wrk's p99, load average) and prints every round, then per
server and connection count the median and the range of each figure with the load averages of
its runs, the ratios to nginx, the before/after of a baseline, the paced run, the syscalls of
a keep-alive request and the budgets of DESIGN.md, each PASS or FAIL with its number.
  bench_summary.py RUNS.tsv [--idle-rss KIB ...]    the summary
  bench_summary.py --peak NAME RUNS.tsv              NAME's best median req/s (for the paced run)
"""
import argparse
import statistics
import sys

BUDGET_NO_POLICY_SHARE = 0.70   # of nginx's req/s, at 16 and 64 connections
BUDGET_POLICY_SHARE = 0.50      # of nginx's req/s, shipped policies
BUDGET_POLICY_CPU_US = 45.0     # server CPU per request, shipped policies
BUDGET_P99_MS = 2.0             # at half of the peak, pacing converged
BUDGET_IDLE_RSS_MIB = 16.0
BUDGET_PEAK_RSS_MIB = 48.0
CONVERGED = 0.03                # achieved within 3% of the target rate
ORDER = ["sg", "sg-none", "sg-warn", "base", "base-none", "nginx"]


def read_runs(path):
    runs = []
    with open(path) as f:
        next(f)
        for line in f:
            n, c, r, rps, cpu, wrk, p99, load = line.rstrip("\n").split("\t")
            runs.append({"server": n, "conns": int(c), "round": int(r), "rps": int(rps),
                         "cpu": float(cpu), "wrk": float(wrk), "p99": p99, "load": float(load)})
    return runs


def groups(runs):
    g = {}
    for r in runs:
        g.setdefault((r["server"], r["conns"]), []).append(r)
    return g


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def rng(rows, key, fmt):
    v = [r[key] for r in rows]
    return (fmt + "-" + fmt) % (min(v), max(v))


def peak(g, name):
    meds = [med(rows, "rps") for (n, _), rows in g.items() if n == name]
    return int(max(meds)) if meds else 0


def mib(kib):
    return kib / 1024.0


def verdict(ok):
    return "PASS" if ok else "FAIL"


def read_paced(text, how, send_what, send_key, cpu_fmt, budgets):
    """The paced runs in 'text' (NAME TAB TARGET TAB LOAD TAB the 'paced:' line), printed; a run
    with no result is a failed budget when 'budgets' is given. Returns {NAME: figures}."""
    paced = {}
    for line in text.strip().splitlines():
        name, target, load, rest = (line.split("\t") + ["", "", ""])[:4]
        f = rest.split()
        if len(f) < 3:
            print("Paced run of %s at %s req/s (%s): no result (%r)" % (name, target, how, rest))
            if budgets is not None:
                budgets.append(("p99 <= 2 ms at half the peak (%s), pacing converged" % name,
                                "no result", False))
            continue
        d = {f[i]: float(f[i + 1]) for i in range(1, len(f) - 1, 2)}
        d["target"], d["load"] = float(target), load
        d["achieved"] = d["requests"] / d["seconds"] if d["seconds"] > 0 else 0
        d["converged"] = abs(d["achieved"] / d["target"] - 1) <= CONVERGED if d["target"] else False
        paced[name] = d
        print("Paced (%s; latency from when each request was due): %s at half its peak: target "
              "%d req/s, achieved %.0f (%s), p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms "
              "(p99 %s: %.3f ms)%s, non-200 %d, errors %d, load1 %s" % (
                  how, name, d["target"], d["achieved"],
                  "converged" if d["converged"] else "NOT converged", d["p50_ms"], d["p99_ms"],
                  d["p999_ms"], d["max_ms"], send_what, d[send_key],
                  ", " + cpu_fmt % (d.get("server_cpu_us_per_req", float("nan")),
                                    d["cpu_us_per_req"]) if cpu_fmt else "", d["non200"],
                  d["errors"], load))
    return paced


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--peak")
    ap.add_argument("--idle-rss", type=int)
    ap.add_argument("--peak-rss", type=int)
    ap.add_argument("--idle-rss-none", type=int)
    ap.add_argument("--peak-rss-none", type=int)
    ap.add_argument("--strace", default="")
    ap.add_argument("--paced", default="")
    ap.add_argument("--paced-conns", default="16")
    ap.add_argument("--paced-threads", default="2")
    ap.add_argument("--paced-wrk", default="")
    ap.add_argument("--load-end", default="?")
    a = ap.parse_args()
    runs = read_runs(a.runs)
    g = groups(runs)
    if a.peak:
        print(peak(g, a.peak))
        return 0

    print("Every run (in the order run; the servers' order rotates each round):")
    print("| round | server | conns | req/s | server CPU us/req | wrk CPU us/req | wrk p99 | load1 |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print("| %d | %s | %d | %d | %.1f | %.1f | %s | %.2f |" % (
            r["round"], r["server"], r["conns"], r["rps"], r["cpu"], r["wrk"], r["p99"],
            r["load"]))
    print()
    servers = sorted({n for n, _ in g}, key=lambda n: ORDER.index(n) if n in ORDER else 99)
    conns = sorted({c for _, c in g})
    print("Medians over %d rounds [min-max], with the load averages (1 min) of the runs:" %
          max(r["round"] for r in runs))
    print("| server | conns | req/s | server CPU us/req | wrk CPU us/req | of nginx req/s |"
          " server CPU / nginx's | load1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in conns:
        ng = g.get(("nginx", c))
        for n in servers:
            rows = g.get((n, c))
            if not rows:
                continue
            share = cpu_x = ""
            if ng and n != "nginx":
                share = "%.0f%%" % (100 * med(rows, "rps") / med(ng, "rps"))
                cpu_x = "%.2fx" % (med(rows, "cpu") / med(ng, "cpu"))
            print("| %s | %d | %d [%s] | %.1f [%s] | %.1f [%s] | %s | %s | %s |" % (
                n, c, med(rows, "rps"), rng(rows, "rps", "%d"), med(rows, "cpu"),
                rng(rows, "cpu", "%.1f"), med(rows, "wrk"), rng(rows, "wrk", "%.1f"), share,
                cpu_x, rng(rows, "load", "%.2f")))
    print()

    if any(n == "base" for n, _ in g):
        print("Before (base) and after (sg), same rounds:")
        for pair in (("sg", "base"), ("sg-none", "base-none")):
            for c in conns:
                now, old = g.get((pair[0], c)), g.get((pair[1], c))
                if now and old:
                    print("  %s vs %s at %d connections: req/s %d -> %d (%+.1f%%), server CPU "
                          "%.1f -> %.1f us/req (%+.1f%%)" % (
                              pair[0], pair[1], c, med(old, "rps"), med(now, "rps"),
                              100 * (med(now, "rps") / med(old, "rps") - 1), med(old, "cpu"),
                              med(now, "cpu"), 100 * (med(now, "cpu") / med(old, "cpu") - 1)))
        print()
    if any(n == "sg-warn" for n, _ in g):
        print("Logging: sg (info) vs sg-warn (warn), same policies:")
        for c in conns:
            i, w = g.get(("sg", c)), g.get(("sg-warn", c))
            if i and w:
                print("  %d connections: server CPU %.1f (info) vs %.1f (warn) us/req: logging at "
                      "info costs %.1f us/req; req/s %d vs %d" % (
                          c, med(i, "cpu"), med(w, "cpu"), med(i, "cpu") - med(w, "cpu"),
                          med(i, "rps"), med(w, "rps")))
        print()

    budgets = []
    paced = read_paced(a.paced, "pace, %s connections on %s threads" % (a.paced_conns,
                                                                        a.paced_threads),
                       "from the send", "send_p99_ms",
                       "the server's CPU %.1f us/request, pace's own %.1f",
                       budgets)
    read_paced(a.paced_wrk, "wrk with tests/bench/paced.lua, %s connections, one per wrk thread, "
               "for comparison with earlier rounds" % a.paced_conns, "wrk's own, from the send",
               "wrk_p99_ms", None, None)
    print()
    if a.strace:
        print("Syscalls of the server per keep-alive request (strace -f -c, 1 connection, 2 s):")
        names = ["sg"] + (["base"] if len(a.strace.splitlines()) > 1 else [])
        for name, line in zip(names, a.strace.splitlines()):
            reqs, sendmsg, recv, setsockopt, write, other = line.split()
            print("  %s: %s requests; sendmsg %s, recvfrom %s, setsockopt %s, write %s (the log "
                  "line), writev+sendto %s" % (name, reqs, sendmsg, recv, setsockopt, write, other))
            if name == "sg":
                budgets.append(("one sendmsg per keep-alive reply (one TLS record)",
                                "%s sendmsg/request" % sendmsg, float(sendmsg) <= 1.05))
        print()

    ng = {c: g[("nginx", c)] for c in conns if ("nginx", c) in g}
    for c in (16, 64):
        if ("sg-none", c) in g and c in ng:
            s = med(g[("sg-none", c)], "rps") / med(ng[c], "rps")
            budgets.append(("no policies: >= 70%% of nginx's req/s at %d connections" % c,
                            "%.0f%%" % (100 * s), s >= BUDGET_NO_POLICY_SHARE))
    for c in conns:
        if ("sg", c) in g and c in ng:
            cpu = med(g[("sg", c)], "cpu")
            s = med(g[("sg", c)], "rps") / med(ng[c], "rps")
            budgets.append(("shipped policies: server CPU <= 45 us/request at %d connections" % c,
                            "%.1f us" % cpu, cpu <= BUDGET_POLICY_CPU_US))
            budgets.append(("shipped policies: >= 50%% of nginx's req/s at %d connections" % c,
                            "%.0f%%" % (100 * s), s >= BUDGET_POLICY_SHARE))
    if "sg" in paced:
        d = paced["sg"]
        budgets.append(("p99 <= 2 ms at half the peak (shipped policies), pacing converged, "
                        "every answer a 200",
                        "%.3f ms at %.0f of %d req/s, %d non-200, %d errors" % (
                            d["p99_ms"], d["achieved"], d["target"], d["non200"], d["errors"]),
                        d["converged"] and d["p99_ms"] <= BUDGET_P99_MS and
                        d["non200"] == 0 and d["errors"] == 0))
    if a.idle_rss:
        budgets.append(("RSS idle <= 16 MiB (shipped policies)", "%.1f MiB" % mib(a.idle_rss),
                        mib(a.idle_rss) <= BUDGET_IDLE_RSS_MIB))
    if a.peak_rss:
        budgets.append(("RSS peak (VmHWM) <= 48 MiB at up to 64 connections (shipped policies)",
                        "%.1f MiB" % mib(a.peak_rss), mib(a.peak_rss) <= BUDGET_PEAK_RSS_MIB))
    if a.idle_rss_none:
        print("Memory, no policies: idle %.1f MiB, peak %.1f MiB" % (
            mib(a.idle_rss_none), mib(a.peak_rss_none or 0)))
    print("Budgets (DESIGN.md; load average at the end %s):" % a.load_end)
    for what, value, ok in budgets:
        print("  %s  %s: %s" % (verdict(ok), what, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
