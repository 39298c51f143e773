#!/usr/bin/env python3
"""alerts_test.py [PROMETHEUSRULE] - the shipped alerts, tested with promtool.

The rule file promtool reads is made from the spec.groups of the PrometheusRule
(deploy/monitoring/prometheusrule.yaml unless named), so the tests run on what is shipped,
never on a copy. Checked, in order:
  - promtool check rules accepts it, and the queries of grafana-dashboard.json, each of which
    finds data in the series of dashboard-data.yaml; every alert has a severity, a summary and
    a runbook_url into a section of docs/operations.md that exists;
  - promtool test rules passes every tests/alerts/*.test.yaml;
  - every alert has a test where it fires and one where it does not;
  - the tests can fail: with any one alert made never to fire, every scenario that expects it
    to fire fails, and made always to fire, every scenario that expects it quiet (past its
    'for') fails, so each scenario really asserts what it says;
  - each expression in regressions.yaml (an alert as it was shipped before a fix) fails them.
Prints "N passed, N failed" last; exits 1 on any failure.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "alerts")
RULES_NAME = "streamguard.rules.yaml"  # what the tests' rule_files name

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - " + name)
        for line in detail.strip().splitlines()[:40]:
            print("    " + line)


def doc_anchors(path):
    """The anchors GitHub makes for the headings of a Markdown file."""
    anchors = set()
    in_code = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            text = re.sub(r"[`*_]", "", m.group(1)).lower()
            anchors.add(re.sub(r"[^a-z0-9 -]", "", text).replace(" ", "-"))
    return anchors


def promtool(*args, cwd):
    p = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def seconds(d):
    """A Prometheus duration of one unit ("90s", "5m", "1h") in seconds."""
    m = re.match(r"^(\d+)(ms|s|m|h|d)$", str(d))
    if m is None:
        raise ValueError("duration %r" % d)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def write_rules(groups, path):
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)


def run_tests(tmp, tests):
    return promtool("test", "rules", *tests, cwd=tmp)


def with_expr(groups, alert, expr):
    """A copy of groups where 'alert' has the expression 'expr'."""
    out = yaml.safe_load(yaml.safe_dump(groups))
    for g in out:
        for r in g["rules"]:
            if r.get("alert") == alert:
                r["expr"] = expr
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "deploy", "monitoring", "prometheusrule.yaml")
    if shutil.which("promtool") is None:
        print("alerts_test: promtool is missing (Debian's prometheus package: make deps)",
              file=sys.stderr)
        return 1
    rule = yaml.safe_load(open(src, encoding="utf-8"))
    check("the PrometheusRule has spec.groups",
          rule.get("kind") == "PrometheusRule" and isinstance(rule.get("spec", {}).get("groups"), list))
    groups = rule["spec"]["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]

    tmp = tempfile.mkdtemp(prefix="alerts_test.")
    try:
        rules_path = os.path.join(tmp, RULES_NAME)
        write_rules(groups, rules_path)
        rc, out = promtool("check", "rules", RULES_NAME, cwd=tmp)
        check("promtool check rules accepts the rules of " + os.path.relpath(src, ROOT), rc == 0, out)

        # The dashboard's queries are PromQL too: promtool parses them as recording rules,
        # with Grafana's variables given values.
        board = json.load(open(os.path.join(ROOT, "deploy", "monitoring", "grafana-dashboard.json"),
                               encoding="utf-8"))
        recs = [{"record": "dashboard:panel_%s_%s" % (p["id"], t["refId"]),
                 "expr": t["expr"].replace("$namespace", "streamguard-system")
                                  .replace("$policy", ".*")
                                  .replace("$__rate_interval", "5m")}
                for p in board["panels"] for t in p.get("targets", [])]
        write_rules([{"name": "dashboard", "rules": recs}], os.path.join(tmp, "dashboard.yaml"))
        rc, out = promtool("check", "rules", "dashboard.yaml", cwd=tmp)
        check("promtool parses the %d queries of grafana-dashboard.json" % len(recs),
              rc == 0 and len(recs) > 0, out)

        # ... and each finds data in the series of dashboard-data.yaml: absent() of the query
        # stays quiet. absent() of a metric nobody publishes fires, so the check can fail.
        empty = [{"alert": "Empty_" + r["record"].split(":")[1], "expr": "absent(%s)" % r["expr"]}
                 for r in recs]
        canary = {"alert": "Empty_canary", "expr": "absent(streamguard_no_such_metric)"}
        write_rules([{"name": "dashboard-empty", "rules": empty + [canary]}],
                    os.path.join(tmp, "dashboard-empty.yaml"))
        data = yaml.safe_load(open(os.path.join(HERE, "dashboard-data.yaml"), encoding="utf-8"))
        cases = [{"eval_time": "10m", "alertname": e["alert"], "exp_alerts": []} for e in empty]
        cases.append({"eval_time": "10m", "alertname": "Empty_canary",
                      "exp_alerts": [{"exp_labels": {}}]})
        with open(os.path.join(tmp, "dashboard-data.test"), "w", encoding="utf-8") as f:
            yaml.safe_dump({"rule_files": ["dashboard-empty.yaml"], "evaluation_interval": "1m",
                            "tests": [{"interval": "1m", "input_series": data["input_series"],
                                       "alert_rule_test": cases}]}, f, sort_keys=False)
        rc, out = run_tests(tmp, ["dashboard-data.test"])
        check("each of the %d dashboard queries finds data in tests/alerts/dashboard-data.yaml"
              % len(recs), rc == 0, out)

        anchors = doc_anchors(os.path.join(ROOT, "docs", "operations.md"))
        for a in alerts:
            name = a["alert"]
            url = a.get("annotations", {}).get("runbook_url", "")
            m = re.match(r"^docs/operations\.md#(.+)$", url)
            check(name + ": severity, summary, runbook_url into a section of docs/operations.md",
                  a.get("labels", {}).get("severity") in ("critical", "warning")
                  and a.get("annotations", {}).get("summary")
                  and m is not None and m.group(1) in anchors,
                  "runbook_url %r; anchors: %s" % (url, " ".join(sorted(anchors))))

        # Each test group (an entry of a file's "tests") runs as a file of its own, so that a
        # mutant can be required to fail every group that asserts on its alert.
        groups_run = []  # (file name, group title, group)
        for t in sorted(glob.glob(os.path.join(HERE, "*.test.yaml"))):
            doc = yaml.safe_load(open(t, encoding="utf-8"))
            base = os.path.basename(t)[: -len(".test.yaml")]
            for i, case in enumerate(doc.get("tests", [])):
                one = dict(doc, tests=[case])
                fname = "%s.%d.test.yaml" % (base, i + 1)
                with open(os.path.join(tmp, fname), "w", encoding="utf-8") as f:
                    yaml.safe_dump(one, f, sort_keys=False)
                groups_run.append((fname, "%s scenario %d" % (base, i + 1), case))
        names = [g[0] for g in groups_run]
        rc, out = run_tests(tmp, names)
        check("promtool test rules: %d scenarios in tests/alerts/*.test.yaml" % len(names),
              rc == 0 and len(names) > 0, out)

        fires, quiet = set(), set()
        for _, _, case in groups_run:
            for at in case.get("alert_rule_test", []):
                (fires if at.get("exp_alerts") else quiet).add(at["alertname"])
        for a in alerts:
            name = a["alert"]
            check(name + ": tested firing and quiet", name in fires and name in quiet,
                  "firing cases: %s, quiet cases: %s" % (name in fires, name in quiet))

        # Mutants. Made never to fire, an alert must fail every scenario that expects it to
        # fire; made always to fire, every scenario that expects it quiet once its 'for' has
        # passed. Otherwise that scenario does not really look at the alert.
        for a in alerts:
            name = a["alert"]
            hold = seconds(a.get("for", "0s"))
            for how, expr, wants in (
                    ("never fire", "vector(1) == 0",
                     lambda at: bool(at.get("exp_alerts"))),
                    ("always fire", "vector(1)",
                     lambda at: not at.get("exp_alerts") and seconds(at["eval_time"]) >= hold)):
                write_rules(with_expr(groups, name, expr), rules_path)
                for fname, title, case in groups_run:
                    if not any(at["alertname"] == name and wants(at)
                               for at in case.get("alert_rule_test", [])):
                        continue
                    rc, out = run_tests(tmp, [fname])
                    check("%s made to %s: %s fails" % (name, how, title), rc != 0,
                          "promtool test rules passed anyway")

        reg = yaml.safe_load(open(os.path.join(HERE, "regressions.yaml"), encoding="utf-8"))
        for r in reg:
            write_rules(with_expr(groups, r["alert"], r["expr"]), rules_path)
            failing = [title for fname, title, _ in groups_run if run_tests(tmp, [fname])[0] != 0]
            check("%s as before (%s): fails %s" % (r["alert"], r["why"],
                                                    ", ".join(failing) or "nothing"),
                  len(failing) > 0 and set(r["fails"]) <= set(failing),
                  "expected to fail at least: " + ", ".join(r["fails"]))
    finally:
        shutil.rmtree(tmp)

    print("\nalerts: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
