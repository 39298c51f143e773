#!/usr/bin/env python3
"""ci_test.py BIN - streamguard check as CI runs it, read by what CI tools use:

- a GitOps tree (tests/fixtures/gitops: kustomization.yaml, Helm values and chart,
  flink-conf.yaml, manifests) exits 1 for its deny, with the non-objects skipped and counted,
  --exclude and --strict;
- JUnit parsed with xml.etree: one <testcase> per document and policy, at most one <failure>
  each, tests/failures/errors/skipped/time on every suite, counts that agree with the cases;
- SARIF property by property, those GitHub code scanning documents as required or shows
  (https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/
  sarif-support-for-code-scanning): a rule for every loaded policy with its description,
  help and helpUri; results with ruleId, message, level, a relative artifact URI that names
  the file, a region; invocations with the input errors; <stdin> as a valid URI.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET

import yaml

from tally import check, finish

BIN = os.path.realpath(sys.argv[1])
ROOT = os.getcwd()
GITOPS = "tests/fixtures/gitops"


def run(*args, stdin=None, cwd=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, input=stdin, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def shipped_policies():
    names = {}
    for f in sorted(os.listdir("policies")):
        if f.endswith(".yaml"):
            for doc in yaml.safe_load_all(open(os.path.join("policies", f))):
                if doc and doc.get("kind") == "Policy":
                    md = doc["metadata"]
                    names[md["name"]] = (md.get("annotations") or {}).get(
                        "streamguard.dev/description"), os.path.join("policies", f)
    return names


# ---- a GitOps tree ----
rc, out, err = run("check", "-o", "json", GITOPS)
j = json.loads(out)
s = j["summary"]
check("gitops: a deny exits 1 although a chart template is an input error", rc == 1, f"exit {rc}")
check("gitops: the skipped documents are counted (2 kustomizations, values, flink-conf, "
      "Chart.yaml, a list, a string)", s.get("skipped") == 7, json.dumps(s))
check("gitops: the one input error is the Go template", s["errors"] == 1 and
      j["errors"][0]["file"].endswith("templates/deployment.yaml"), json.dumps(j["errors"]))
check("gitops: three documents checked, one denied", s["documents"] == 3 and s["deniedDocuments"] == 1,
      json.dumps(s))
check("gitops: summary.exitCode is the exit code", s.get("exitCode") == rc)
skipped = {os.path.relpath(x["file"], GITOPS) for x in j["skipped"]}
check("gitops: each skipped file is named", skipped == {
    "kustomization.yaml", "apps/flink/kustomization.yaml", "values.yaml", "config/flink-conf.yaml",
    "charts/ignored/Chart.yaml", "apps/flink/scalars.yaml"}, str(sorted(skipped)))

rc, out, _ = run("check", GITOPS)
check("gitops text: the summary counts documents denied and denials, and the skipped",
      re.search(r"^3 documents checked, 2 matched by a policy: 1 denied \(1 denial\), .*1 error, 7 skipped$",
                out, re.M) is not None, out[-400:])
check("gitops text: says why the exit code is 1",
      re.search(r"^exit 1: 1 document denied \(the input errors", out, re.M) is not None)

rc, out, _ = run("check", "-o", "json", "--exclude", "charts", GITOPS)
s = json.loads(out)["summary"]
check("gitops --exclude charts: no input error, Chart.yaml not read", rc == 1 and s["errors"] == 0 and
      s["skipped"] == 6, json.dumps(s))
rc, out, _ = run("check", "-o", "json", "--exclude", "charts", "--exclude", "values*.yaml",
                 "--exclude", "config/*", GITOPS)
s = json.loads(out)["summary"]
check("gitops: --exclude is repeatable (names, globs, paths below the directory)",
      s["skipped"] == 4 and s["errors"] == 0, json.dumps(s))
rc, out, _ = run("check", "-o", "json", "--exclude", "apps", GITOPS)
s = json.loads(out)["summary"]
check("gitops: excluding the manifests leaves nothing denied: exit 2 for the template", rc == 2 and
      s["documents"] == 0, f"exit {rc} {json.dumps(s)}")
rc, out, _ = run("check", "-o", "json", "--exclude", "charts", "--exclude", "apps", GITOPS)
check("gitops: nothing but non-objects: exit 0", rc == 0, f"exit {rc}")
rc, out, _ = run("check", "-o", "json", "--strict", "--exclude", "charts", GITOPS)
s = json.loads(out)["summary"]
check("gitops --strict: non-objects are errors, kustomization files still skipped, the deny "
      "still exits 1", rc == 1 and s["errors"] == 4 and s["skipped"] == 2, f"exit {rc} {json.dumps(s)}")
rc, out, _ = run("check", "-o", "json", f"{GITOPS}/values.yaml")
check("a file named on the command line is read even if an --exclude would match it",
      json.loads(run("check", "-o", "json", "--exclude", "values.yaml",
                     f"{GITOPS}/values.yaml")[1])["summary"]["skipped"] == 1)


# ---- JUnit ----
def junit(*paths):
    rc, out, err = run("check", "-o", "junit", *paths)
    return rc, ET.fromstring(out)


rc, root = junit("examples/flink/sizing-bad.yaml", "examples/flink/reactive-good.yaml", GITOPS)
check("junit: parses, root is <testsuites>", root.tag == "testsuites")
suites = root.findall("testsuite")
totals = dict(tests=0, failures=0, errors=0, skipped=0)
every = True
for suite in suites:
    cases = suite.findall("testcase")
    got = dict(tests=len(cases),
               failures=sum(1 for c in cases if c.find("failure") is not None),
               errors=sum(1 for c in cases if c.find("error") is not None),
               skipped=sum(1 for c in cases if c.find("skipped") is not None))
    for k in ("tests", "failures", "errors", "skipped", "time"):
        if k not in suite.attrib:
            every = False
            check(f"junit: suite {suite.get('name')} has {k}", False)
    for k, v in got.items():
        totals[k] += v
        if int(suite.get(k, -1)) != v:
            every = False
            check(f"junit: suite {suite.get('name')} {k}={suite.get(k)} counts its cases ({v})", False)
    t = sum(float(c.get("time", "nan")) for c in cases)
    if abs(t - float(suite.get("time", "nan"))) > 1e-5:
        every = False
        check(f"junit: suite {suite.get('name')} time is the sum of its cases", False, f"{t}")
    for c in cases:
        if len(c.findall("failure")) > 1 or len(c.findall("error")) > 1:
            every = False
            check(f"junit: {c.get('name')} has at most one failure", False)
check("junit: every suite has tests/failures/errors/skipped/time that agree with its cases", every)
check("junit: the root's counts are the sums", all(int(root.get(k)) == v for k, v in totals.items()),
      f"{root.attrib} vs {totals}")
names = [c.get("name") for c in root.iter("testcase")]
keys = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
check("junit: one test case per document and policy", len(keys) == len(set(keys)) and
      "document 1: FlinkDeployment badly-sized [node-sizing-limits]" in names and
      "document 1: FlinkDeployment badly-sized [flink-ha-storagedir-required]" in names, str(names[:4]))
bad = [c for c in root.iter("testcase") if c.get("name") == "document 1: FlinkDeployment badly-sized [node-sizing-limits]"][0]
f = bad.find("failure")
check("junit: the two denials of one policy are one failure that lists both",
      f is not None and f.text.count("deny [node-sizing-limits]") == 2, f.text if f is not None else "none")
check("junit: one failure per denied document and policy (two files, each denied by one policy)",
      int(root.get("failures")) == 2, root.get("failures"))
check("junit: the input error is an <error> case", int(root.get("errors")) == 1)
check("junit: the skipped documents are <skipped> cases", int(root.get("skipped")) == 7)
rc, root = junit("examples/k8ssandra/stargate-heap-bad.yaml")
warn_cases = [c for c in root.iter("testcase") if c.find("system-out") is not None]
check("junit: a warning is system-out of a passing case", rc == 0 and warn_cases and
      all(c.find("failure") is None for c in warn_cases))

# File names are any bytes: '<', '&' and quotes are escaped wherever a name is written, and a
# byte that is not UTF-8 becomes U+FFFD, so that JUnit, JSON and SARIF stay readable.
tmp = tempfile.mkdtemp()
try:
    for name in (b"a\"b<c>&d'e.yaml", b"x\xff\xfey.yaml", b"y\xef\xbf\xbez.yaml"):
        shutil.copy("examples/flink/credentials-bad.yaml", os.path.join(tmp.encode(), name))
    outs = {}
    for fmt in ("junit", "json", "sarif"):
        p = subprocess.run([BIN, "check", "-p", "policies", "-o", fmt, tmp], capture_output=True)
        outs[fmt] = (p.returncode, p.stdout)
    try:
        root = ET.fromstring(outs["junit"][1])
        names = sorted(s.get("name") for s in root.iter("testsuite"))
        fails = [f.text for f in root.iter("failure")]
        ok = (outs["junit"][0] == 1 and int(root.get("failures")) == 3 and
              names[0].endswith("/a\"b<c>&d'e.yaml") and names[1].endswith("/x\ufffd\ufffdy.yaml")
              and names[2].endswith("/y\ufffdz.yaml") and
              any("a\"b<c>&d'e.yaml:" in t for t in fails))
        check("junit: hostile file names ('<', '&', quotes, bytes not UTF-8) stay well-formed XML",
              ok, f"{names} {fails[:1]}")
    except ET.ParseError as e:
        check("junit: hostile file names ('<', '&', quotes, bytes not UTF-8) stay well-formed XML",
              False, str(e))
    for fmt in ("json", "sarif"):
        try:
            json.loads(outs[fmt][1].decode("utf-8"))
            check(f"{fmt}: file names that are not UTF-8 are written as U+FFFD (valid UTF-8 JSON)",
                  outs[fmt][0] == 1)
        except (UnicodeDecodeError, ValueError) as e:
            check(f"{fmt}: file names that are not UTF-8 are written as U+FFFD (valid UTF-8 JSON)",
                  False, str(e))
finally:
    shutil.rmtree(tmp)

# ---- SARIF ----
policies = shipped_policies()


def sarif(*args, stdin=None, cwd=None):
    rc, out, err = run("check", "-o", "sarif", *args, stdin=stdin, cwd=cwd)
    return rc, json.loads(out)


URI_REF = re.compile(r"^[A-Za-z0-9\-._~/%!$&'()*+,;=:@]*$")


def is_relative_uri(u):
    p = urllib.parse.urlsplit(u)
    return URI_REF.match(u) is not None and p.scheme == "" and not u.startswith("/") and u != ""


SARIF_INPUTS = ("examples/flink/sizing-bad.yaml", "examples/flink/reactive-session-bad.yaml",
                f"{GITOPS}/charts")
rc, log = sarif(*SARIF_INPUTS)
findings = json.loads(run("check", "-o", "json", *SARIF_INPUTS)[1])["results"]
check("sarif: $schema and version 2.1.0", log.get("version") == "2.1.0" and
      log.get("$schema", "").startswith("https://") and "sarif" in log["$schema"])
check("sarif: one run", isinstance(log.get("runs"), list) and len(log["runs"]) == 1)
r = log["runs"][0]
drv = r["tool"]["driver"]
check("sarif: tool.driver.name and version", drv.get("name") == "streamguard" and drv.get("version"))
rules = drv.get("rules", [])
mut = [x for x in rules if x["id"] == "flink-prometheus-reporter"]
check("sarif: a policy that only mutates is said to mutate, not to deny",
      mut and "(mutates, policy flink-prometheus-reporter)" in mut[0]["fullDescription"]["text"] and
      "fills in defaults" in mut[0]["help"]["text"], json.dumps(mut))
ids = [x.get("id") for x in rules]
check("sarif: a rule for every loaded policy, fired or not", sorted(ids) == sorted(policies),
      f"{sorted(ids)} vs {sorted(policies)}")
for x in rules:
    name = x.get("id")
    desc, path = policies.get(name, (None, None))
    check(f"sarif rule {name}: shortDescription.text is the description annotation",
          x.get("shortDescription", {}).get("text") == (desc or name))
    check(f"sarif rule {name}: fullDescription.text says what the policy does",
          re.search(r"\((denies|warns|audits|mutates), policy ", x.get("fullDescription", {}).get("text", ""))
          is not None)
    check(f"sarif rule {name}: help.text with how to fix", "How to fix" in x.get("help", {}).get("text", ""))
    u = urllib.parse.urlsplit(x.get("helpUri", ""))
    check(f"sarif rule {name}: helpUri is an absolute URI naming its policy file",
          u.scheme in ("file", "https") and urllib.parse.unquote(u.path).endswith(path), x.get("helpUri"))
    check(f"sarif rule {name}: defaultConfiguration.level",
          x.get("defaultConfiguration", {}).get("level") in ("error", "warning", "note"))
    check(f"sarif rule {name}: properties.tags", isinstance(x.get("properties", {}).get("tags"), list))
results = r.get("results", [])
check("sarif: a result per finding, as many as -o json has", len(results) == len(findings) >= 3,
      f"{len(results)} vs {len(findings)}")
check("sarif: each result's line and column are the finding's",
      [(x["locations"][0]["physicalLocation"]["region"]["startLine"],
        x["locations"][0]["physicalLocation"]["region"].get("startColumn", 0)) for x in results] ==
      [(x["line"], x["column"]) for x in findings])
for i, res in enumerate(results):
    check(f"sarif result {i}: ruleId names a rule and ruleIndex points at it",
          res.get("ruleId") in ids and ids[res.get("ruleIndex", -1)] == res["ruleId"])
    check(f"sarif result {i}: message.text", bool(res.get("message", {}).get("text")))
    check(f"sarif result {i}: level", res.get("level") in ("error", "warning", "note"))
    loc = res["locations"][0]["physicalLocation"]
    uri = loc["artifactLocation"]["uri"]
    check(f"sarif result {i}: artifactLocation.uri is relative and names the file ({uri})",
          is_relative_uri(uri) and os.path.isfile(urllib.parse.unquote(uri)))
    check(f"sarif result {i}: region.startLine is a positive integer",
          isinstance(loc["region"].get("startLine"), int) and loc["region"]["startLine"] >= 1)
    check(f"sarif result {i}: partialFingerprints", bool(res.get("partialFingerprints")))
base = r.get("originalUriBaseIds", {}).get("%SRCROOT%", {}).get("uri", "")
check("sarif: %SRCROOT% is the working directory as a file URI ending in /",
      base == "file://" + urllib.parse.quote(ROOT) + "/", base)
inv = r.get("invocations", [])
notes = inv[0].get("toolExecutionNotifications", []) if inv else []
check("sarif: invocations say the run had an input error", len(inv) == 1 and
      inv[0].get("executionSuccessful") is False and len(notes) == 1 and
      notes[0]["level"] == "error" and "flow mapping" in notes[0]["message"]["text"] and
      notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
          "templates/deployment.yaml"), json.dumps(inv))
rc, log = sarif("examples/flink/reactive-good.yaml")
inv = log["runs"][0]["invocations"][0]
check("sarif: a clean run is executionSuccessful with no notifications, and has every rule",
      rc == 0 and inv["executionSuccessful"] is True and inv["toolExecutionNotifications"] == [] and
      len(log["runs"][0]["tool"]["driver"]["rules"]) == len(policies))
rc, log = sarif("-", stdin=open("examples/flink/reactive-session-bad.yaml").read())
uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
check("sarif: standard input is a valid URI, not '<stdin>'", URI_REF.match(uri) is not None and
      urllib.parse.unquote(uri) == "<stdin>", uri)
# --sarif-root: URIs relative to it, from another working directory, with absolute paths.
tmp = tempfile.mkdtemp()
try:
    shutil.copytree("policies", os.path.join(tmp, "repo", "policies"))
    shutil.copytree(GITOPS, os.path.join(tmp, "repo", "deploy"))
    repo = os.path.join(tmp, "repo")
    rc, log = sarif("-p", os.path.join(repo, "policies"), "--sarif-root", repo, "--exclude", "charts",
                    "--sarif-help-base", "https://github.example/o/r/blob/abc/",
                    os.path.join(repo, "deploy"), cwd=tmp)
    res = log["runs"][0]["results"]
    check("sarif --sarif-root: the URI is relative to the root, whatever the working directory",
          rc == 1 and res and res[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] ==
          "deploy/apps/flink/sizing-bad.yaml", json.dumps(res[:1]))
    rule = [x for x in log["runs"][0]["tool"]["driver"]["rules"] if x["id"] == "node-sizing-limits"][0]
    check("sarif --sarif-help-base: helpUri is the policy file under the base URL",
          rule["helpUri"] == "https://github.example/o/r/blob/abc/policies/node-sizing-limits.yaml",
          rule["helpUri"])
    os.makedirs(os.path.join(tmp, "elsewhere"))
    shutil.copy("examples/flink/sizing-bad.yaml", os.path.join(tmp, "elsewhere", "a b.yaml"))
    rc, log = sarif("-p", os.path.join(ROOT, "policies"), "--sarif-root", repo,
                    os.path.join(tmp, "elsewhere", "a b.yaml"), cwd=tmp)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    check("sarif: a file outside the root is an absolute file URI, spaces encoded",
          uri.startswith("file:///") and " " not in uri and
          urllib.parse.unquote(urllib.parse.urlsplit(uri).path) == os.path.realpath(
              os.path.join(tmp, "elsewhere", "a b.yaml")), uri)
finally:
    shutil.rmtree(tmp)

finish("ci")
