#!/usr/bin/env python3
"""deploy_check.py DIR TLS_CRT LOOKUPS AUDIT_KINDS - checks the objects kubectl rendered from deploy/ (DIR
holds base.yaml, cert-manager.yaml, static-certs.yaml, monitoring.yaml). LOOKUPS is the output
of `streamguard lint --lookups policies/`, one "apiVersion kind" a line, or "apiVersion kind
namespace/name" for one object the policies look up by constants: the ClusterRole must grant
get, list and watch on exactly those kinds' resources, and on the objects' names only
(resourceNames; kube-apiserver authorises a LIST and a WATCH with fieldSelector=metadata.name
against them). A kind maps to its resource by
the table below (core kinds) or by the CRDs of the reference directory ($STREAMGUARD_CRDS,
else ../shared/reference/crds beside the clone); a kind neither maps is a failure. AUDIT_KINDS
is the output of `streamguard audit --list-kinds -p policies/`, one "GROUP KIND" a line (core
for the core group): the ClusterRole streamguard-audit must grant list and watch on exactly
those, and the writes of the PolicyReports. The webhooks must send every (kind, operation) the
policies of policies/ match, read from their match blocks (validating for validations, mutating
for mutations), and nothing no policy matches."""
import base64
import glob
import os
import sys

import yaml

from tally import check, finish

out, tls_crt, lookups_file, audit_file = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

# Built-in kinds a policy may look up: (apiVersion, kind) -> (API group, resource).
CORE_RESOURCES = {
    ("v1", "PersistentVolumeClaim"): ("", "persistentvolumeclaims"),
    ("v1", "PersistentVolume"): ("", "persistentvolumes"),
    ("v1", "Node"): ("", "nodes"),
    ("v1", "Namespace"): ("", "namespaces"),
    ("v1", "ConfigMap"): ("", "configmaps"),
    ("v1", "Secret"): ("", "secrets"),
    ("v1", "Service"): ("", "services"),
    ("v1", "ServiceAccount"): ("", "serviceaccounts"),
    ("v1", "Pod"): ("", "pods"),
    ("v1", "Endpoints"): ("", "endpoints"),
    ("v1", "ResourceQuota"): ("", "resourcequotas"),
    ("v1", "LimitRange"): ("", "limitranges"),
    ("storage.k8s.io/v1", "StorageClass"): ("storage.k8s.io", "storageclasses"),
    ("apps/v1", "Deployment"): ("apps", "deployments"),
    ("apps/v1", "StatefulSet"): ("apps", "statefulsets"),
    ("apps/v1", "DaemonSet"): ("apps", "daemonsets"),
    ("apps/v1", "ReplicaSet"): ("apps", "replicasets"),
    ("policy/v1beta1", "PodDisruptionBudget"): ("policy", "poddisruptionbudgets"),
    ("policy/v1", "PodDisruptionBudget"): ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking.k8s.io", "networkpolicies"),
}


def crd_resources():
    """(apiVersion, kind) -> (group, plural) for every served version of the reference CRDs."""
    root = os.environ.get("STREAMGUARD_CRDS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "reference", "crds")
    got = {}
    for path in glob.glob(os.path.join(root, "**", "*.y*ml"), recursive=True):
        try:
            docs = list(yaml.safe_load_all(open(path)))
        except yaml.YAMLError:
            continue
        for d in docs:
            if not isinstance(d, dict) or d.get("kind") != "CustomResourceDefinition":
                continue
            spec = d["spec"]
            versions = [v["name"] for v in spec.get("versions", [])] or [spec.get("version")]
            for v in versions:
                got[(f"{spec['group']}/{v}", spec["names"]["kind"])] = (spec["group"],
                                                                        spec["names"]["plural"])
    return got


def rbac_wanted():
    """The (group, resource, verb, name) the ClusterRole must grant (name None: every object
    of the resource), or what is unmapped."""
    lines = [line.split() for line in open(lookups_file) if line.strip()]
    kinds = [tuple(f[:2]) for f in lines]
    table = dict(CORE_RESOURCES)
    table.update(crd_resources())
    unmapped = [" ".join(f) for f in lines if len(f) not in (2, 3) or tuple(f[:2]) not in table]
    # "namespace/name" or "name": a ClusterRole's resourceNames hold names only (any namespace)
    want = {(table[tuple(f[:2])][0], table[tuple(f[:2])][1], verb,
             f[2].split("/")[-1] if len(f) == 3 else None)
            for f in lines if len(f) in (2, 3) and tuple(f[:2]) in table
            for verb in ("get", "list", "watch")}
    return [" ".join(f) for f in lines], want, unmapped


LOOKUP_KINDS, RBAC_WANT, RBAC_UNMAPPED = rbac_wanted()


def audit_wanted():
    """The (group, resource, verb) the audit's ClusterRole must grant, or what is unmapped."""
    kinds = [tuple(line.split()) for line in open(audit_file) if line.strip()]
    table = {(av.split("/")[0] if "/" in av else "core", k): gr
             for (av, k), gr in list(CORE_RESOURCES.items()) + list(crd_resources().items())}
    unmapped = [k for k in kinds if len(k) != 2 or k not in table]
    want = {(table[k][0], table[k][1], verb, None) for k in kinds if k in table
            for verb in ("list", "watch")}
    # The reports: get/update/delete on the name streamguard only (not another engine's),
    # create (RBAC cannot limit it by name) and list (of the PolicyReports: the stale ones).
    for res in ("policyreports", "clusterpolicyreports"):
        want |= {("wgpolicyk8s.io", res, v, ("streamguard",)) for v in ("get", "update", "delete")}
        want.add(("wgpolicyk8s.io", res, "create", None))
    want.add(("wgpolicyk8s.io", "policyreports", "list", None))
    return kinds, want, unmapped


AUDIT_KINDS, AUDIT_WANT, AUDIT_UNMAPPED = audit_wanted()
check("the audited kinds all map to a resource (core table or reference CRDs)",
      AUDIT_KINDS and not AUDIT_UNMAPPED, f"unmapped: {AUDIT_UNMAPPED}")
check("the policies' looked-up kinds all map to a resource (core table or reference CRDs)",
      not RBAC_UNMAPPED, f"unmapped: {RBAC_UNMAPPED}")


def load(name):
    return [d for d in yaml.safe_load_all(open(os.path.join(out, name + ".yaml"))) if d]


def find(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs, kind, name=None):
    got = find(docs, kind, name)
    return got[0] if len(got) == 1 else None


# What the webhooks must send, read from the policies' match blocks (every policy of
# policies/, which the ConfigMap holds: checked below): per webhook (validating for policies
# with validations, mutating for those with mutations), the (group, resource, subresource,
# operation) each matched kind needs, as docs/policy-authoring.md defines the match block:
# apiGroups omitted or "*" is any group that has the kind, kinds "*" any kind of the groups,
# operations omitted is CREATE and UPDATE ("*" all four), subresources omitted is the main
# resource only ("" the main resource, "*" any). A kind maps to its resource and served
# versions by the reference CRDs and the core table.
ALL_OPS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


def kind_table():
    """(group, kind) -> (plural, set of served versions), from the CRDs and the core table."""
    table = {}
    for (av, kind), (group, plural) in list(CORE_RESOURCES.items()) + list(crd_resources().items()):
        version = av.split("/")[-1]
        table.setdefault((group, kind), (plural, set()))[1].add(version)
    return table


KINDS = kind_table()


def policy_needs():
    """{"validating"|"mutating": {(group, resource, subresource, op): [policy names]}}, and the
    (policy, group, kind) no CRD or core kind maps."""
    needs = {"validating": {}, "mutating": {}}
    unmapped = []
    for path in sorted(glob.glob("policies/*.yaml")):
        for doc in yaml.safe_load_all(open(path)):
            if not isinstance(doc, dict) or doc.get("kind") != "Policy":
                continue
            name, spec = doc["metadata"]["name"], doc.get("spec") or {}
            hooks = [h for h, key in (("validating", "validations"), ("mutating", "mutations"))
                     if spec.get(key)]
            for res in (spec.get("match") or {}).get("resources") or []:
                groups = res.get("apiGroups") or ["*"]
                kinds = res.get("kinds") or []
                ops = res.get("operations") or ["CREATE", "UPDATE"]
                ops = ALL_OPS if "*" in ops else ops
                subs = res.get("subresources", [""])
                found = [(g, k) for (g, k) in KINDS
                         if ("*" in groups or g in groups) and ("*" in kinds or k in kinds)]
                missing = [(name, g, k) for g in groups for k in kinds
                           if "*" not in (g, k) and (g, k) not in KINDS]
                if not found and not missing:
                    missing = [(name, ",".join(groups), ",".join(kinds))]
                unmapped += missing
                for g, k in found:
                    for sub in subs:
                        for op in ops:
                            for h in hooks:
                                needs[h].setdefault((g, KINDS[(g, k)][0], sub, op), []).append(name)
    return needs, unmapped


POLICY_NEEDS, POLICY_UNMAPPED = policy_needs()
check("the policies' matched kinds all map to a resource (core table or reference CRDs)",
      not POLICY_UNMAPPED and POLICY_NEEDS["validating"], f"unmapped: {POLICY_UNMAPPED}")


def sends(rule, group, resource, sub, op):
    """Whether one webhook rule sends (group, resource/sub, op) in some served version, as
    kube-apiserver matches it (matchPolicy Equivalent: any served version of the resource)."""
    served = KINDS.get(next((k for k in KINDS if k[0] == group and KINDS[k][0] == resource),
                            None), (None, set()))[1]
    names = {resource if sub == "" else f"{resource}/{sub}"}
    if sub == "":
        names.add("*")
    else:
        names |= {f"{resource}/*", f"*/{sub}", "*/*"}
    return ((group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
            and ("*" in rule.get("apiVersions", []) or served & set(rule.get("apiVersions", [])))
            and names & set(rule.get("resources", []))
            and (op in rule.get("operations", []) or "*" in rule.get("operations", [])))


def webhook_sent(webhook):
    """The (group, resource, subresource, op) the webhook's rules name, wildcards left out."""
    return {(g, r.split("/")[0], r.split("/")[1] if "/" in r else "", op)
            for rule in webhook["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for op in rule["operations"] if "*" not in (g, r, op)}


for overlay in ["base", "cert-manager", "static-certs"]:
    docs = load(overlay)
    kinds = sorted({d["kind"] for d in docs})
    want = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "Deployment", "CustomResourceDefinition",
            "PodDisruptionBudget", "Service", "ConfigMap", "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration"}
    check(f"{overlay}: every kind is there", want <= set(kinds), f"have {kinds}")
    for d in docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                             "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            if d["metadata"].get("namespace") != "streamguard-system":
                check(f"{overlay}: {d['kind']}/{d['metadata']['name']} in streamguard-system", False)

    dep = one(docs, "Deployment", "streamguard")
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    sc = c["securityContext"]
    check(f"{overlay}: 2 replicas, never below 2 during a rollout",
          dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0)
    check(f"{overlay}: pod anti-affinity on the hostname",
          spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
          ["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname")
    check(f"{overlay}: non-root, read-only root, no escalation, no capabilities, seccomp RuntimeDefault",
          spec["securityContext"]["runAsNonRoot"] is True and sc["runAsNonRoot"] is True
          and sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
          and sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
          and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault")
    check(f"{overlay}: HTTPS probes on /readyz and /healthz",
          c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
          and c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"})
    res = c["resources"]
    check(f"{overlay}: requests and limits set",
          {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]))
    args = c["args"]
    check(f"{overlay}: serves the mounted certificate and policies",
          args[0] == "serve" and "--tls-cert=/etc/streamguard/tls/tls.crt" in args
          and "--policies=/etc/streamguard/policies" in args
          and {"/etc/streamguard/tls", "/etc/streamguard/policies"} <= {m["mountPath"] for m in c["volumeMounts"]})
    vols = {v["name"]: v for v in spec["volumes"]}
    check(f"{overlay}: the volumes are the Secret streamguard-tls and the ConfigMap streamguard-policies",
          vols["tls"]["secret"]["secretName"] == "streamguard-tls"
          and vols["policies"]["configMap"]["name"] == "streamguard-policies")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    pdb = one(docs, "PodDisruptionBudget", "streamguard")
    svc = one(docs, "Service", "streamguard")
    check(f"{overlay}: the PodDisruptionBudget and the Service select the pods",
          pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
          and svc["spec"]["selector"].items() <= labels.items())
    check(f"{overlay}: Service 443 -> the https port (8443)",
          svc["spec"]["ports"][0]["port"] == 443 and svc["spec"]["ports"][0]["targetPort"] == "https"
          and c["ports"][0]["containerPort"] == 8443)

    role = one(docs, "ClusterRole", "streamguard-lookup")
    granted = {(g, r2, v, name) for r in role["rules"] for g in r.get("apiGroups", [])
               for r2 in r.get("resources", []) for v in r.get("verbs", [])
               for name in (r.get("resourceNames") or [None])}
    check(f"{overlay}: RBAC grants get, list, watch on exactly the kinds and objects the policies "
          f"look up ({', '.join(LOOKUP_KINDS)})",
          granted == RBAC_WANT and not any("nonResourceURLs" in r for r in role["rules"]),
          f"granted but not looked up: {sorted(granted - RBAC_WANT)}; "
          f"looked up but not granted: {sorted(RBAC_WANT - granted)}")
    others = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
              if d["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
              and d["metadata"]["name"] not in ("streamguard-lookup", "streamguard-leader-election",
                                                "streamguard-audit")]
    # The background audit: on, list/watch on exactly the audited kinds, the reports' writes.
    audit_role = one(docs, "ClusterRole", "streamguard-audit")
    audit_granted = {(g, r2, v, tuple(sorted(r.get("resourceNames", []))) or None)
                     for r in (audit_role or {}).get("rules", [])
                     for g in r.get("apiGroups", []) for r2 in r.get("resources", [])
                     for v in r.get("verbs", [])}
    check(f"{overlay}: --audit is on", "--audit" in args)
    check(f"{overlay}: the audit's ClusterRole grants list/watch on exactly the audited kinds "
          f"({', '.join(' '.join(k) for k in AUDIT_KINDS)}), get/update/delete on the reports "
          f"named streamguard, create (+ list on PolicyReports), nothing more",
          audit_role is not None and audit_granted == AUDIT_WANT
          and not any("nonResourceURLs" in r for r in audit_role["rules"]),
          f"granted but not wanted: {sorted(audit_granted - AUDIT_WANT, key=str)}; "
          f"wanted but not granted: {sorted(AUDIT_WANT - audit_granted, key=str)}")
    audit_binding = one(docs, "ClusterRoleBinding", "streamguard-audit")
    check(f"{overlay}: the audit's ClusterRole is bound to the ServiceAccount only",
          audit_binding is not None and audit_binding["roleRef"]["name"] == "streamguard-audit"
          and audit_binding["subjects"] == [{"kind": "ServiceAccount", "name": "streamguard",
                                             "namespace": "streamguard-system"}])
    crds = {d["metadata"]["name"]: d for d in find(docs, "CustomResourceDefinition")}
    for name, kind, scope in [("policyreports.wgpolicyk8s.io", "PolicyReport", "Namespaced"),
                              ("clusterpolicyreports.wgpolicyk8s.io", "ClusterPolicyReport", "Cluster")]:
        crd = crds.get(name)
        ver = (crd or {}).get("spec", {}).get("versions", [{}])[0]
        res = (ver.get("schema", {}).get("openAPIV3Schema", {}).get("properties", {})
               .get("results", {}).get("items", {}).get("properties", {}))
        check(f"{overlay}: the {kind} CRD (wgpolicyk8s.io/v1alpha2, {scope}) in the published schema",
              crd is not None and crd["spec"]["group"] == "wgpolicyk8s.io"
              and crd["spec"]["names"]["kind"] == kind and crd["spec"]["scope"] == scope
              and ver.get("name") == "v1alpha2" and ver.get("served") and ver.get("storage")
              and res.get("result", {}).get("enum") == ["pass", "fail", "warn", "error", "skip"]
              and {"policy", "rule", "result", "message", "severity", "resources", "timestamp",
                   "source", "scored", "category", "properties"} <= set(res))
    # Leader election: exactly get and update on the Lease it names, create on leases (RBAC
    # cannot restrict create by name), in its own namespace, bound to the ServiceAccount only.
    lease_name = next((a.split("=", 1)[1] for a in args if a.startswith("--leader-elect-name=")),
                      "streamguard")
    le_role = one(docs, "Role", "streamguard-leader-election")
    le_granted = set()
    for r in (le_role or {}).get("rules", []):
        names = tuple(sorted(r.get("resourceNames", []))) or None
        le_granted |= {(g, r2, v, names) for g in r.get("apiGroups", [])
                       for r2 in r.get("resources", []) for v in r.get("verbs", [])}
    le_want = {("coordination.k8s.io", "leases", "get", (lease_name,)),
               ("coordination.k8s.io", "leases", "update", (lease_name,)),
               ("coordination.k8s.io", "leases", "create", None)}
    check(f"{overlay}: --leader-elect is on, with the pod's name as POD_NAME",
          "--leader-elect" in args
          and {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
          in c.get("env", []))
    check(f"{overlay}: the leader-election Role grants get/update on lease {lease_name} and create "
          f"on leases, nothing more, in streamguard-system",
          le_role is not None and le_granted == le_want
          and le_role["metadata"]["namespace"] == "streamguard-system",
          f"granted {sorted(le_granted, key=str)}")
    le_binding = one(docs, "RoleBinding", "streamguard-leader-election")
    check(f"{overlay}: the leader-election Role is bound to the ServiceAccount only",
          le_binding is not None and le_binding["roleRef"] == {
              "apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
              "name": "streamguard-leader-election"}
          and le_binding["subjects"] == [{"kind": "ServiceAccount", "name": "streamguard",
                                          "namespace": "streamguard-system"}])
    binding = one(docs, "ClusterRoleBinding", "streamguard-lookup")
    check(f"{overlay}: no other role or binding; the lookup role is bound to the ServiceAccount only",
          not others and binding["roleRef"]["name"] == "streamguard-lookup"
          and binding["subjects"] == [{"kind": "ServiceAccount", "name": "streamguard",
                                       "namespace": "streamguard-system"}], f"{others}")

    cm = one(docs, "ConfigMap", "streamguard-policies")
    shipped = {os.path.basename(p): open(p).read() for p in glob.glob("policies/*.yaml")}
    check(f"{overlay}: the policies ConfigMap holds exactly policies/ (make deploy-sync)",
          cm is not None and cm["data"] == shipped,
          "" if cm is None else f"{sorted(set(cm['data']) ^ set(shipped))} differ or content differs")

    for kind, path, fail in [("ValidatingWebhookConfiguration", "/validate", "Fail"),
                             ("MutatingWebhookConfiguration", "/mutate", "Ignore")]:
        w = one(docs, kind, "streamguard")["webhooks"][0]
        short = kind.replace("WebhookConfiguration", "")
        need = POLICY_NEEDS["validating" if kind.startswith("Validating") else "mutating"]
        missing = sorted(f"{'/'.join(x for x in k[:3] if x)} {k[3]} ({', '.join(sorted(set(p)))})"
                         for k, p in need.items() if not any(sends(r, *k) for r in w["rules"]))
        check(f"{overlay}: {short}: sends every kind and operation the policies' "
              f"{'validations' if kind.startswith('Validating') else 'mutations'} match",
              not missing, f"not sent: {missing}")
        extra = sorted(webhook_sent(w) - set(need))
        check(f"{overlay}: {short}: sends nothing that no policy matches (a kind sent for "
              f"nothing costs a call, and under failurePolicy Fail an outage)", not extra,
              f"sent but matched by no policy: {extra}")
        check(f"{overlay}: {short}: sideEffects None, v1 and v1beta1, Equivalent, 5 s, failurePolicy {fail}",
              w["sideEffects"] == "None" and w["admissionReviewVersions"] == ["v1", "v1beta1"]
              and w["matchPolicy"] == "Equivalent" and w["timeoutSeconds"] == 5 and w["failurePolicy"] == fail)
        check(f"{overlay}: {short}: calls the Service on {path}",
              w["clientConfig"]["service"] == {"name": "streamguard", "namespace": "streamguard-system",
                                               "path": path, "port": 443})
        sel = w["namespaceSelector"]["matchExpressions"][0]
        check(f"{overlay}: {short}: leaves out streamguard-system and kube-system",
              sel["key"] == "kubernetes.io/metadata.name" and sel["operator"] == "NotIn"
              and set(sel["values"]) == {"streamguard-system", "kube-system"})
        if kind.startswith("Mutating"):
            check(f"{overlay}: Mutating: reinvocationPolicy IfNeeded", w["reinvocationPolicy"] == "IfNeeded")
        ann = one(docs, kind, "streamguard")["metadata"].get("annotations", {})
        if overlay == "cert-manager":
            check(f"cert-manager: {short}: annotated cert-manager.io/inject-ca-from",
                  ann.get("cert-manager.io/inject-ca-from") == "streamguard-system/streamguard-tls")
        else:
            check(f"{overlay}: {short}: no inject-ca-from annotation", "cert-manager.io/inject-ca-from" not in ann)

docs = load("cert-manager")
certs = {d["metadata"]["name"]: d for d in find(docs, "Certificate")}
issuers = {d["metadata"]["name"]: d for d in find(docs, "Issuer")}
check("cert-manager: self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate",
      "selfSigned" in issuers["streamguard-selfsigned"]["spec"]
      and certs["streamguard-ca"]["spec"]["isCA"] is True
      and certs["streamguard-ca"]["spec"]["issuerRef"]["name"] == "streamguard-selfsigned"
      and issuers["streamguard-ca"]["spec"]["ca"]["secretName"] == certs["streamguard-ca"]["spec"]["secretName"]
      and certs["streamguard-tls"]["spec"]["issuerRef"]["name"] == "streamguard-ca")
check("cert-manager: the serving certificate names the Service and lands in streamguard-tls",
      set(certs["streamguard-tls"]["spec"]["dnsNames"]) == {"streamguard.streamguard-system.svc",
                                                              "streamguard.streamguard-system.svc.cluster.local"}
      and certs["streamguard-tls"]["spec"]["secretName"] == "streamguard-tls")

docs = load("static-certs")
sec = one(docs, "Secret", "streamguard-tls")
check("static-certs: the generated certificate becomes the kubernetes.io/tls Secret streamguard-tls",
      sec is not None and sec["type"] == "kubernetes.io/tls"
      and base64.b64decode(sec["data"]["tls.crt"]).decode() == open(tls_crt).read()
      and "tls.key" in sec["data"] and sec["metadata"]["namespace"] == "streamguard-system")

# self-managed: `serve --manage-webhook-certs`, nothing mounted but the policies, and exactly
# the rights it needs (the Secret by name, create in its namespace; get/patch on the two
# webhook configurations by name).
docs = load("self-managed")
dep = one(docs, "Deployment", "streamguard")
c = dep["spec"]["template"]["spec"]["containers"][0]
args = c["args"]
check("self-managed: serve --manage-webhook-certs with --leader-elect, no --tls-cert/--tls-key",
      "--manage-webhook-certs" in args and "--leader-elect" in args
      and not any(a.startswith(("--tls-cert", "--tls-key")) for a in args)
      and "--webhook-secret=streamguard-tls" in args)
check("self-managed: only the policies are mounted",
      [v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]] == ["policies"]
      and [m["mountPath"] for m in c["volumeMounts"]] == ["/etc/streamguard/policies"])
check("self-managed: no Certificate, no Issuer, no Secret in the manifests, no inject-ca-from",
      not find(docs, "Certificate") and not find(docs, "Issuer") and not find(docs, "Secret")
      and all("cert-manager.io/inject-ca-from" not in d["metadata"].get("annotations", {})
              for d in docs if d["kind"].endswith("WebhookConfiguration")))


def grants(role):
    return {(g, r2, v, tuple(sorted(r.get("resourceNames", []))) or None)
            for r in role["rules"] for g in r["apiGroups"] for r2 in r["resources"] for v in r["verbs"]}


role = one(docs, "Role", "streamguard-webhook-certs")
check("self-managed: the Secret Role grants get/update on streamguard-tls and create, nothing more",
      role is not None and role["metadata"]["namespace"] == "streamguard-system"
      and grants(role) == {("", "secrets", "get", ("streamguard-tls",)),
                           ("", "secrets", "update", ("streamguard-tls",)),
                           ("", "secrets", "create", None)}, f"{role and grants(role)}")
crole = one(docs, "ClusterRole", "streamguard-webhook-certs")
check("self-managed: the ClusterRole grants get/patch on the two configurations named streamguard only",
      crole is not None and grants(crole) == {
          ("admissionregistration.k8s.io", r, v, ("streamguard",))
          for r in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
          for v in ("get", "patch")}, f"{crole and grants(crole)}")
sa = [{"kind": "ServiceAccount", "name": "streamguard", "namespace": "streamguard-system"}]
check("self-managed: both bound to the ServiceAccount only",
      one(docs, "RoleBinding", "streamguard-webhook-certs")["subjects"] == sa
      and one(docs, "ClusterRoleBinding", "streamguard-webhook-certs")["subjects"] == sa)

docs = load("monitoring")
check("monitoring: a PodMonitor, a PrometheusRule and the dashboard ConfigMap",
      {d["kind"] for d in docs} == {"PodMonitor", "PrometheusRule", "ConfigMap"})
rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
alerts = {r["alert"]: r["expr"] for r in rules}
check("monitoring: alerts on errors, p99 latency, certificate expiry, reload failures, no ready replica, "
      "kube-apiserver's failed calls (their behaviour: make test-alerts)",
      "streamguard_http_requests_total" in alerts["StreamguardWebhookErrors"]
      and "streamguard_review_duration_seconds_bucket" in alerts["StreamguardSlowReviews"]
      and "streamguard_tls_certificate_not_after_seconds" in alerts["StreamguardCertificateExpiresSoon"]
      and "7 * 86400" in alerts["StreamguardCertificateExpiresSoon"]
      and "streamguard_last_reload_success{" in alerts["StreamguardReloadFailures"]
      and 'absent(streamguard_ready{job="streamguard"}' in alerts["StreamguardNotReady"]
      and "apiserver_admission_webhook_rejection_count{" in alerts["StreamguardApiserverCannotCallWebhook"])
check("monitoring: alerts on the leader's audit rounds and certificate manager failing "
      "(their behaviour: make test-alerts)",
      'streamguard_audit_rounds_total{job="streamguard",outcome="failed"}' in alerts["StreamguardAuditFailing"]
      and 'outcome="ok"' in alerts["StreamguardAuditFailing"]
      and "streamguard_leader{" in alerts["StreamguardAuditFailing"]
      and "streamguard_webhook_certs_errors_total{" in alerts["StreamguardWebhookCertsErrors"]
      and "streamguard_leader{" in alerts["StreamguardWebhookCertsErrors"])
check("monitoring: every alert has a runbook_url into docs/operations.md",
      all(r.get("annotations", {}).get("runbook_url", "").startswith("docs/operations.md#")
          for r in rules if "alert" in r))
pmon = one(docs, "PodMonitor")["spec"]
pm = pmon["podMetricsEndpoints"][0]
check("monitoring: the PodMonitor scrapes /metrics over HTTPS on the https port",
      pm["scheme"] == "https" and pm["path"] == "/metrics" and pm["port"] == "https")
check("monitoring: the PodMonitor's job is the pods' app.kubernetes.io/name, streamguard (the alerts select it)",
      pmon.get("jobLabel") == "app.kubernetes.io/name"
      and pmon["selector"]["matchLabels"].get("app.kubernetes.io/name") == "streamguard")
dash = one(docs, "ConfigMap")
import json
board = json.loads(dash["data"]["grafana-dashboard.json"])
exprs = " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
check("monitoring: the dashboard is labelled for Grafana's sidecar and charts the metrics",
      dash["metadata"]["labels"].get("grafana_dashboard") == "1"
      and all(m in exprs for m in ["streamguard_http_requests_total", "streamguard_review_duration_seconds_bucket",
                                   "streamguard_tls_certificate_not_after_seconds", "streamguard_reloads_total",
                                   "streamguard_ready", "streamguard_policies", "streamguard_last_reload_success",
                                   "apiserver_admission_webhook_rejection_count",
                                   "apiserver_admission_webhook_admission_duration_seconds_bucket"]))

finish("deploy")
