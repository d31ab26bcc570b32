#!/usr/bin/env python3
"""Offline check of the Kubernetes manifests in deploy/kubernetes/ (what `kubectl apply -k` takes).

    python3 scripts/check-kubernetes.py [--splitrail target/debug/splitrail] [DIR]

Run it with a Python that has `kubernetes-validate` (scripts/lib.sh `ensure_kubernetes_validate`
makes a venv with it): the package bundles the Kubernetes API's JSON schemas, so no cluster and
no network is needed. Checks:
  - kustomization.yaml: apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization, only
    the fields used here; every resource and generator file exists, and every YAML file of the
    folder is referenced;
  - every resource, and the ConfigMap the generator makes, validates *strictly* (unknown fields
    are errors) against the schema of its kind and apiVersion for Kubernetes KUBE_VERSION; a
    kind outside Deployment, Service, PodDisruptionBudget, ConfigMap is an error (the validator
    alone only warns about a kind it has no schema for);
  - the pieces fit: selectors match the pod labels, the mounted ConfigMap is the generated one
    (a directory mount, no subPath, so updates reach the pods), the container's --config lies in
    it, the probes ask /ready and /live on a declared port, terminationGracePeriodSeconds is
    above proxy.yaml's shutdown_timeout, the *_env variables proxy.yaml names are set, and
    resource requests and limits are given;
  - with --splitrail, `splitrail check` accepts proxy.yaml.
`--self-test` first checks that the check fails on broken copies of the folder (a wrong kind, an
unknown field, a field of the wrong type, a short grace period, a subPath mount, a wrong probe).
Prints `kubernetes check: N resources valid` and exits 0, or every problem and exits 1.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parent.parent
KUBE_VERSION = "1.30.0"
KINDS = {
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("policy/v1", "PodDisruptionBudget"),
    ("v1", "ConfigMap"),
}
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "labels", "resources", "configMapGenerator"}
GENERATOR_FIELDS = {"name", "files", "options"}

problems = []


def problem(text):
    problems.append(text)


def validate(doc, where):
    kind = (doc.get("apiVersion"), doc.get("kind"))
    if kind not in KINDS:
        problem(f"{where}: kind {kind[1]!r} of {kind[0]!r} is not one this deployment uses")
        return
    try:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        problem(f"{where}: {doc['kind']} {path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError:
        problem(f"{where}: no schema for {kind[1]} {kind[0]} in Kubernetes {KUBE_VERSION}")


def seconds(duration):
    """A proxy.yaml duration (`25s`, `500ms`, `1m`) in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration).strip())
    if not m:
        problem(f"proxy.yaml: unreadable duration {duration!r}")
        return 0.0
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    return float(m.group(1)) * scale


def env_keys(node):
    """The values of every `*_env` key in a parsed proxy.yaml."""
    if isinstance(node, dict):
        for k, v in node.items():
            if str(k).endswith("_env") and isinstance(v, str):
                yield v
            yield from env_keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from env_keys(v)


def matches(selector, labels, where):
    for k, v in (selector or {}).items():
        if labels.get(k) != v:
            problem(f"{where}: selector {k}={v} does not match the pod labels {labels}")


def check_fit(docs, configmaps, proxy):
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    if len(deployments) != 1:
        problem(f"expected one Deployment, found {len(deployments)}")
        return
    dep = deployments[0]
    spec = dep.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    matches(spec.get("selector", {}).get("matchLabels"), labels, "Deployment")
    if (spec.get("replicas") or 1) < 2:
        problem("Deployment: replicas below 2 is no fleet")
    for d in docs:
        if d["kind"] == "Service":
            matches(d.get("spec", {}).get("selector"), labels, f"Service {d['metadata']['name']}")
        if d["kind"] == "PodDisruptionBudget":
            matches(d.get("spec", {}).get("selector", {}).get("matchLabels"), labels, "PodDisruptionBudget")
    kinds = {d["kind"] for d in docs}
    for needed in ("Service", "PodDisruptionBudget"):
        if needed not in kinds:
            problem(f"no {needed}")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    timeout = seconds(proxy.get("shutdown_timeout", "25s"))
    if not grace > timeout:
        problem(f"terminationGracePeriodSeconds {grace} is not above shutdown_timeout {timeout:g}s")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    containers = pod.get("containers", [])
    if len(containers) != 1:
        problem(f"expected one container, found {len(containers)}")
        return
    c = containers[0]
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/live")):
        get = c.get(probe, {}).get("httpGet")
        if not get:
            problem(f"container: no {probe} with httpGet")
            continue
        if get.get("path") != path:
            problem(f"container: {probe} asks {get.get('path')!r}, not {path}")
        if get.get("port") not in ports and get.get("port") not in ports.values():
            problem(f"container: {probe} port {get.get('port')!r} is not a declared port")
    admin_port = int(str(proxy.get("admin", {}).get("listen", ":6034")).rsplit(":", 1)[1])
    listen_port = int(str(proxy.get("listen", ":6033")).rsplit(":", 1)[1])
    for name, want in (("admin", admin_port), ("mysql", listen_port)):
        if ports.get(name) != want:
            problem(f"container: port {name} is {ports.get(name)}, proxy.yaml says {want}")
    resources = c.get("resources", {})
    for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
        for key in keys:
            if key not in resources.get(part, {}):
                problem(f"container: no resources.{part}.{key}")
    args = c.get("args", [])
    config = args[args.index("--config") + 1] if "--config" in args[:-1] else None
    mounted = False
    for mount in c.get("volumeMounts", []):
        volume = volumes.get(mount.get("name"), {})
        cm = volume.get("configMap", {}).get("name")
        if cm is None:
            continue
        if cm not in configmaps:
            problem(f"volume {mount['name']}: ConfigMap {cm!r} is not generated here")
        if "subPath" in mount:
            problem(f"volume mount {mount['name']}: subPath mounts never see ConfigMap updates")
        if config and config.startswith(mount["mountPath"].rstrip("/") + "/"):
            key = config[len(mount["mountPath"].rstrip("/")) + 1 :]
            mounted = key in configmaps.get(cm, {})
    if not mounted:
        problem(f"container: --config {config!r} is not a file of a mounted generated ConfigMap")
    env = {e.get("name") for e in c.get("env", [])}
    for var in env_keys(proxy):
        if var not in env:
            problem(f"container: proxy.yaml reads ${var}, which the container does not set")


# (file, text to replace, replacement): each must make the check fail.
BREAKAGES = [
    ("service.yaml", "kind: Service", "kind: Servic"),
    ("deployment.yaml", "terminationGracePeriodSeconds: 35", "terminationGracePeriodSeconds: 35\n      hostNetwrk: true"),
    ("deployment.yaml", "containerPort: 6033", 'containerPort: "6033"'),
    ("deployment.yaml", "terminationGracePeriodSeconds: 35", "terminationGracePeriodSeconds: 20"),
    ("deployment.yaml", "readOnly: true", "readOnly: true\n              subPath: proxy.yaml"),
    ("deployment.yaml", "path: /ready", "path: /status"),
    ("pdb.yaml", "apiVersion: policy/v1", "apiVersion: policy/v1beta1"),
    ("kustomization.yaml", "  - pdb.yaml\n", ""),
]


def self_test(folder):
    import shutil
    import tempfile

    failed = []
    for file, old, new in BREAKAGES:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "k"
            shutil.copytree(folder, copy)
            text = (copy / file).read_text()
            if old not in text:
                failed.append(f"self-test: {old!r} is not in {file}")
                continue
            (copy / file).write_text(text.replace(old, new, 1))
            problems.clear()
            check_folder(copy, None)
            if not problems:
                failed.append(f"self-test: {file} with {new!r} passed")
    problems.clear()
    problems.extend(failed)


def main(argv):
    splitrail = None
    test_first = "--self-test" in argv
    argv = [a for a in argv if a != "--self-test"]
    if "--splitrail" in argv:
        i = argv.index("--splitrail")
        splitrail = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    folder = Path(argv[0]) if argv else REPO / "deploy" / "kubernetes"
    if test_first:
        self_test(folder)
        if not problems:
            print(f"kubernetes check: self-test, {len(BREAKAGES)} broken copies refused")
    if not problems:
        docs, configmaps = check_folder(folder, splitrail)
    if problems:
        for p in problems:
            print(f"kubernetes check: {p}", file=sys.stderr)
        return 1
    print(f"kubernetes check: {len(docs) + len(configmaps)} resources valid (Kubernetes {KUBE_VERSION})")
    return 0


def check_folder(folder, splitrail):
    """Checks `folder` (problems go to `problems`); returns the resources and ConfigMaps."""
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    if kust.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or kust.get("kind") != "Kustomization":
        problem("kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization")
    for key in set(kust) - KUSTOMIZATION_FIELDS:
        problem(f"kustomization.yaml: field {key!r} is not one this check knows")
    referenced = {"kustomization.yaml"}
    docs = []
    for name in kust.get("resources", []):
        referenced.add(name)
        path = folder / name
        if not path.is_file():
            problem(f"kustomization.yaml: resource {name} does not exist")
            continue
        for n, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is None:
                continue
            validate(doc, f"{name}#{n}")
            if isinstance(doc, dict) and "kind" in doc:
                docs.append(doc)
    configmaps = {}
    for gen in kust.get("configMapGenerator", []):
        for key in set(gen) - GENERATOR_FIELDS:
            problem(f"configMapGenerator {gen.get('name')}: field {key!r} is not one this check knows")
        data = {}
        for name in gen.get("files", []):
            referenced.add(name)
            path = folder / name
            if path.is_file():
                data[path.name] = path.read_text()
            else:
                problem(f"configMapGenerator {gen.get('name')}: file {name} does not exist")
        if not gen.get("options", {}).get("disableNameSuffixHash"):
            problem(f"configMapGenerator {gen.get('name')}: a name suffix makes every change a restart, not a reload")
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen.get("name")}, "data": data}
        validate(configmap, f"configMapGenerator {gen.get('name')}")
        configmaps[gen.get("name")] = data
    for path in sorted(folder.glob("*.yaml")):
        if path.name not in referenced:
            problem(f"{path.name} is in the folder but not in kustomization.yaml")
    proxy_text = next((d["proxy.yaml"] for d in configmaps.values() if "proxy.yaml" in d), None)
    if proxy_text is None:
        problem("no generated ConfigMap holds proxy.yaml")
    else:
        check_fit(docs, configmaps, yaml.safe_load(proxy_text))
        if splitrail:
            env = dict(os.environ)
            proxy = yaml.safe_load(proxy_text)
            for var in env_keys(proxy):
                env.setdefault(var, "placeholder-for-the-check")
            done = subprocess.run(
                [splitrail, "check", "--config", str(folder / "proxy.yaml")],
                env=env, capture_output=True, text=True,
            )
            if done.returncode != 0:
                problem(f"splitrail check proxy.yaml: {done.stderr.strip() or done.stdout.strip()}")
    return docs, configmaps


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
