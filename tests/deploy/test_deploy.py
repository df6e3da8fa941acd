"""deploy/: systemd units, Kubernetes manifests and the Dockerfile.

Everything is checked statically with PyYAML + jsonschema (so it runs on any CI machine), and
tied to the real code where it can be: the ConfigMaps' syncd.yaml is loaded with
syncd.config.parse, ports/uids/commands must agree across the unit files, manifests and image.
`systemd-analyze` and `kustomize`/`kubectl kustomize` are run too when installed (else skipped).
No Docker engine is assumed: the Dockerfile is parsed, not built.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from syncd import config as config_mod
from tests.support import ROOT

DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
K8S = DEPLOY / "kubernetes"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"

SYNCD_BIN = "/usr/local/bin/syncd"
CONFIG_PATH = "/etc/syncd/syncd.yaml"
UID = 10001  # the image's USER and every pod's runAsUser
# Every secret syncd's connectors read, by the names the docs use.
SECRET_NAMES = {"COGNY_API_KEY", "COGNY_WEBHOOK_SECRET", "SYNCD_ADMIN_TOKEN", "JIRA_EMAIL", "JIRA_API_TOKEN",
                "SLACK_BOT_TOKEN",
                "LINEAR_API_KEY", "ASANA_TOKEN", "PGPASSWORD"}
PLACEHOLDER = re.compile(r"REPLACE|example\.com")


# ============================================================================ systemd =============
def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}}.

    Keys may repeat (SystemCallFilter=, ExecStart=) so every value is kept; an empty value is
    kept too (systemd reads `Key=` as "reset", e.g. CapabilityBoundingSet= means none).
    Lines ending in a backslash continue on the next line.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} before any [Section]"
        assert "=" in line, f"{path.name}: not a Key=value line: {line!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    """The effective value of a single-valued key (the last assignment wins, like systemd)."""
    values = unit.get(section, {}).get(key)
    assert values is not None, f"[{section}] {key}= missing"
    return values[-1]


def is_true(value: str) -> bool:
    return value.lower() in ("1", "yes", "true", "on")


def seconds(value: str) -> float:
    """systemd time spans we use: 15, 10s, 5min, 1h."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|min|m|h)?", value)
    assert m, f"unsupported time span {value!r}"
    return float(m.group(1)) * {None: 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}[m.group(2)]


SERVICES = ["syncd.service", "syncd-once.service"]
HARDENING_BOOLS = ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                   "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
                   "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
                   "MemoryDenyWriteExecute"]


@pytest.fixture(scope="module")
def units() -> dict[str, dict[str, dict[str, list[str]]]]:
    return {p.name: parse_unit(p) for p in SYSTEMD.glob("syncd*.*") if p.suffix in (".service", ".timer")}


@pytest.mark.parametrize("name", SERVICES)
def test_services_run_as_syncd_with_hardening(units: dict, name: str) -> None:
    unit = units[name]
    s = unit["Service"]
    dynamic = is_true(s.get("DynamicUser", ["no"])[-1])
    assert dynamic or (one(unit, "Service", "User") == "syncd" and one(unit, "Service", "Group") == "syncd")
    assert one(unit, "Service", "EnvironmentFile") == "/etc/syncd/syncd.env"
    # State: SQLite lives in /var/lib/syncd, the only writable place under ProtectSystem=strict.
    assert one(unit, "Service", "StateDirectory") == "syncd"
    assert one(unit, "Service", "WorkingDirectory") == "/var/lib/syncd"
    assert "/var/lib/syncd" in " ".join(s["ReadWritePaths"]).split()
    for key in HARDENING_BOOLS:
        assert is_true(one(unit, "Service", key)), f"{name}: {key}= must be yes"
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert set(one(unit, "Service", "RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert one(unit, "Service", "SystemCallArchitectures") == "native"
    # Allow-list first, then only deny-lists (~...) may follow: nothing widens @system-service.
    filters = s["SystemCallFilter"]
    assert filters[0] == "@system-service" and all(f.startswith("~") for f in filters[1:])
    # An empty assignment = no capabilities at all (the port is unprivileged).
    assert one(unit, "Service", "CapabilityBoundingSet") == ""
    assert one(unit, "Service", "AmbientCapabilities") == ""
    assert one(unit, "Service", "KillSignal") == "SIGTERM"


def test_daemon_unit_runs_syncd_run_and_reloads_on_hup(units: dict) -> None:
    unit = units["syncd.service"]
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv[:2] == [SYNCD_BIN, "run"] and argv[argv.index("-c") + 1] == CONFIG_PATH
    assert one(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert seconds(one(unit, "Service", "RestartSec")) > 0
    # syncd exits within 10 s of SIGTERM; systemd must not SIGKILL it before that.
    assert 10 < seconds(one(unit, "Service", "TimeoutStopSec")) <= 30
    assert "network-online.target" in one(unit, "Unit", "After").split()
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_once_service_and_timer(units: dict) -> None:
    once, timer, daemon = units["syncd-once.service"], units["syncd-once.timer"], units["syncd.service"]
    assert one(once, "Service", "Type") == "oneshot"
    argv = shlex.split(one(once, "Service", "ExecStart"))
    assert argv[:2] == [SYNCD_BIN, "run-once"] and argv[argv.index("-c") + 1] == CONFIG_PATH
    # Same identity, secrets and state as the daemon, so switching between them just works.
    for key in ("User", "Group", "EnvironmentFile", "StateDirectory", "WorkingDirectory"):
        assert one(once, "Service", key) == one(daemon, "Service", key), key
    # The guard that keeps the timer from racing a running daemon on one SQLite file.
    assert "syncd.service" in one(once, "Service", "ExecCondition")
    assert "Install" not in once  # started by the timer only
    assert one(timer, "Timer", "Unit") == "syncd-once.service"
    assert one(timer, "Timer", "OnCalendar")
    assert is_true(one(timer, "Timer", "Persistent"))
    assert seconds(one(timer, "Timer", "RandomizedDelaySec")) > 0
    assert one(timer, "Install", "WantedBy") == "timers.target"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them; we use no quotes or `export`."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(\S*)", line)
        assert m, f"{path.name}: not a plain KEY=value line: {line!r}"
        env[m.group(1)] = m.group(2)
    return env


def test_env_example_names_every_secret_with_placeholders() -> None:
    env = read_env_file(SYSTEMD / "syncd.env.example")
    # ${VAR}s (without a default) in config.example.yaml's values, not in its comments.
    values = json.dumps(yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8")))
    example_vars = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", values))
    assert SECRET_NAMES | example_vars <= set(env)
    fake = {k: v for k, v in env.items() if k != "JIRA_EMAIL"}
    assert all(PLACEHOLDER.search(v) for v in fake.values()), "example values must be obvious placeholders"


def _systemd_analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze not installed")
    return exe


def _units_for_analyze(tmp_path: Path) -> list[Path]:
    """Copies of the units with ExecStart's syncd pointed at an existing executable.

    `verify` fails when an Exec*= binary is missing; syncd is not installed at /usr/local/bin here.
    """
    out = []
    for name in [*SERVICES, "syncd-once.timer"]:
        text = (SYSTEMD / name).read_text().replace(SYNCD_BIN, sys.executable)
        for binary in re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", text, re.M):
            if not Path(binary).exists():
                pytest.skip(f"{binary} (used by {name}) does not exist on this machine")
        (tmp_path / name).write_text(text)
        out.append(tmp_path / name)
    return out


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = _systemd_analyze()
    files = _units_for_analyze(tmp_path)
    proc = subprocess.run([exe, "verify", "--man=no", *map(str, files)], capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    if re.search(r"Failed to (initialize|create|set up) manager", output):
        pytest.skip(f"systemd-analyze cannot run in this environment: {output.strip()[:200]}")
    # verify only warns on unknown keys/sections: treat any such line as a failure.
    assert proc.returncode == 0 and not re.search(r"Unknown|ignoring|not executable", output), output


def test_systemd_analyze_security_exposure(tmp_path: Path) -> None:
    exe = _systemd_analyze()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split()
    if len(version) < 2 or not version[1].isdigit() or int(version[1]) < 250:
        pytest.skip("systemd-analyze security --offline needs systemd >= 250")
    for unit in _units_for_analyze(tmp_path)[:2]:
        proc = subprocess.run([exe, "security", "--offline=yes", "--threshold=20", str(unit)],
                              capture_output=True, text=True, timeout=30, cwd=tmp_path)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
        assert proc.returncode == 0 and m and float(m.group(1)) <= 2.0, proc.stdout[-2000:] + proc.stderr


# ========================================================================== Kubernetes ============
def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


STR = {"type": "string", "minLength": 1}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
STRLIST = {"type": "array", "items": STR}
DNS_LABEL = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
METADATA = {"type": "object", "required": ["name"],
            "properties": {"name": DNS_LABEL, "namespace": DNS_LABEL, "labels": STRMAP,
                           "annotations": STRMAP}}
PORT_REF = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 65535},
                      {"type": "string", "maxLength": 15}]}
PROBE = {"type": "object", "required": ["httpGet"], "properties": {
    "httpGet": {"type": "object", "required": ["path", "port"], "additionalProperties": False,
                "properties": {"path": {"type": "string", "pattern": "^/"}, "port": PORT_REF}},
    **{k: {"type": "integer", "minimum": 1} for k in ("periodSeconds", "timeoutSeconds", "failureThreshold",
                                                      "successThreshold", "initialDelaySeconds")}},
    "additionalProperties": False}
QUANTITY = {"type": "string", "pattern": r"^\d+(\.\d+)?(m|Mi|Gi|Ki)?$"}
CONTAINER = {
    "type": "object", "additionalProperties": False,  # catches misspelt keys (readinesProbe: ...)
    "required": ["name", "image", "resources", "securityContext"],
    "properties": {
        "name": DNS_LABEL, "image": STR, "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        "command": STRLIST, "args": STRLIST,
        "env": {"type": "array", "items": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": STR, "value": {"type": "string"}, "valueFrom": {"type": "object"}}}},
        "envFrom": {"type": "array", "items": {"type": "object", "minProperties": 1}},
        "ports": {"type": "array", "items": {
            "type": "object", "required": ["containerPort"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "maxLength": 15}, "protocol": {"enum": ["TCP", "UDP"]},
                           "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535}}}},
        "startupProbe": PROBE, "livenessProbe": PROBE, "readinessProbe": PROBE,
        "resources": {"type": "object", "required": ["requests", "limits"], "properties": {
            "requests": {"type": "object", "required": ["cpu", "memory"], "additionalProperties": QUANTITY},
            "limits": {"type": "object", "required": ["memory"], "additionalProperties": QUANTITY}}},
        "securityContext": {
            "type": "object",
            "required": ["allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities"],
            "properties": {"allowPrivilegeEscalation": {"const": False},
                           "readOnlyRootFilesystem": {"const": True},
                           "runAsNonRoot": {"const": True}, "privileged": {"const": False},
                           "capabilities": {"type": "object", "required": ["drop"],
                                            "additionalProperties": False,
                                            "properties": {"drop": {"const": ["ALL"]}}}}},
        "volumeMounts": {"type": "array", "items": {"type": "object", "required": ["name", "mountPath"]}},
    },
}
POD_SPEC = {
    "type": "object", "additionalProperties": False,
    "required": ["containers", "securityContext", "serviceAccountName", "automountServiceAccountToken"],
    "properties": {
        "containers": {"type": "array", "minItems": 1, "items": CONTAINER},
        "securityContext": {
            "type": "object", "required": ["runAsNonRoot", "runAsUser", "seccompProfile"],
            "properties": {"runAsNonRoot": {"const": True}, "runAsUser": {"const": UID},
                           "runAsGroup": {"type": "integer", "minimum": 1}, "fsGroup": {"type": "integer"},
                           "seccompProfile": {"type": "object", "required": ["type"],
                                              "properties": {"type": {"const": "RuntimeDefault"}}}}},
        "serviceAccountName": DNS_LABEL, "automountServiceAccountToken": {"const": False},
        "restartPolicy": {"enum": ["Always", "Never", "OnFailure"]},
        "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1},
        "topologySpreadConstraints": {"type": "array"},
        # No hostPath: only the ConfigMap, emptyDirs and the like.
        "volumes": {"type": "array", "items": {"type": "object", "required": ["name"],
                                               "not": {"required": ["hostPath"]}}},
    },
}
POD_TEMPLATE = {"type": "object", "required": ["metadata", "spec"], "properties": {
    "metadata": {"type": "object", "required": ["labels"],
                 "properties": {"labels": STRMAP, "annotations": STRMAP}},
    "spec": POD_SPEC}}
JOB_SPEC = {"type": "object", "required": ["template", "backoffLimit"], "properties": {
    "backoffLimit": {"type": "integer", "minimum": 0},
    "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
    "template": {**POD_TEMPLATE, "properties": {**POD_TEMPLATE["properties"], "spec": {
        "allOf": [POD_SPEC, {"required": ["restartPolicy"],
                             "properties": {"restartPolicy": {"enum": ["Never", "OnFailure"]}}}]}}}}}
SELECTOR = {"type": "object", "required": ["matchLabels"],
            "properties": {"matchLabels": {**STRMAP, "minProperties": 1}}}


def kind(api: str, name: str, spec: dict | None = None, **extra: Any) -> dict:
    schema = {"type": "object", "required": ["apiVersion", "kind", "metadata"],
              "properties": {"apiVersion": {"const": api}, "kind": {"const": name}, "metadata": METADATA,
                             **extra}}
    if spec is not None:
        schema["required"].append("spec")
        schema["properties"]["spec"] = spec
    return schema


SCHEMAS = {
    "Deployment": kind("apps/v1", "Deployment", {
        "type": "object", "required": ["replicas", "selector", "template"],
        "properties": {"replicas": {"type": "integer", "minimum": 1}, "selector": SELECTOR,
                       "template": POD_TEMPLATE}}),
    "Service": kind("v1", "Service", {
        "type": "object", "required": ["selector", "ports"],
        "properties": {"type": {"const": "ClusterIP"}, "selector": {**STRMAP, "minProperties": 1},
                       "ports": {"type": "array", "minItems": 1, "items": {
                           "type": "object", "required": ["port", "targetPort"],
                           "properties": {"port": PORT_REF, "targetPort": PORT_REF}}}}}),
    "PodDisruptionBudget": kind("policy/v1", "PodDisruptionBudget", {
        "type": "object", "required": ["selector", "minAvailable"],
        "properties": {"selector": SELECTOR, "minAvailable": {"type": "integer", "minimum": 1}}}),
    "Job": kind("batch/v1", "Job", JOB_SPEC),
    "CronJob": kind("batch/v1", "CronJob", {
        "type": "object", "required": ["schedule", "concurrencyPolicy", "jobTemplate"],
        "properties": {"schedule": {"type": "string", "pattern": r"^\S+( \S+){4}$"},
                       "concurrencyPolicy": {"const": "Forbid"}, "suspend": {"type": "boolean"},
                       "jobTemplate": {"type": "object", "required": ["spec"],
                                       "properties": {"spec": JOB_SPEC}}}}),
    "ConfigMap": kind("v1", "ConfigMap", data={**STRMAP, "required": ["syncd.yaml"]}),
    "Secret": kind("v1", "Secret", type={"const": "Opaque"}, stringData=STRMAP),
    "ServiceAccount": kind("v1", "ServiceAccount", automountServiceAccountToken={"const": False}),
    "Namespace": kind("v1", "Namespace"),
}
SCHEMAS["ServiceAccount"]["required"].append("automountServiceAccountToken")
SCHEMAS["ConfigMap"]["required"].append("data")


def check_schema(doc: dict[str, Any]) -> None:
    assert doc.get("kind") in SCHEMAS, f"no schema for kind {doc.get('kind')!r}: add one"
    jsonschema.validate(doc, SCHEMAS[doc["kind"]])


def kustomization(directory: Path) -> dict[str, Any]:
    return load_docs(directory / "kustomization.yaml")[0]


@pytest.fixture(scope="module")
def base() -> dict[str, dict[str, Any]]:
    """Base resources listed in kustomization.yaml, by kind (one of each kind here)."""
    docs: dict[str, dict[str, Any]] = {}
    for entry in kustomization(BASE)["resources"]:
        assert (BASE / entry).is_file(), f"base resource {entry} does not exist"
        for doc in load_docs(BASE / entry):
            assert doc["kind"] not in docs, f"second {doc['kind']}: extend the fixture"
            docs[doc["kind"]] = doc
    return docs


@pytest.fixture(scope="module")
def secret() -> dict[str, Any]:
    return load_docs(BASE / "secret.example.yaml")[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return doc["spec"]["template"]["metadata"]["labels"]


def container(doc: dict[str, Any]) -> dict[str, Any]:
    (c,) = pod_spec(doc)["containers"]
    return c


def load_syncd_yaml(path: Path, secret: dict[str, Any]) -> config_mod.Config:
    """Validate a manifest's syncd.yaml with the real loader, env = the example Secret only."""
    return config_mod.parse(path.read_text(encoding="utf-8"), env=dict(secret["stringData"]),
                            source=str(path))


def test_every_yaml_file_parses() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        assert load_docs(path), f"{path} is empty"


def test_base_resources_match_schemas(base: dict, secret: dict) -> None:
    assert {"Deployment", "Service", "PodDisruptionBudget", "CronJob", "Job", "ServiceAccount"} <= set(base)
    for doc in [*base.values(), secret, *load_docs(OVERLAY / "namespace.yaml")]:
        check_schema(doc)


@pytest.mark.parametrize("path, value", [
    (["spec", "template", "spec", "containers", 0, "securityContext", "allowPrivilegeEscalation"], True),
    (["spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"], False),
    (["spec", "template", "spec", "containers", 0, "securityContext", "capabilities"],
     {"add": ["NET_ADMIN"]}),
    (["spec", "template", "spec", "securityContext", "runAsUser"], 0),
    (["spec", "template", "spec", "automountServiceAccountToken"], True),
    (["spec", "template", "spec", "containers", 0, "readinesProbe"], {}),  # typo
    (["spec", "template", "spec", "volumes", 0], {"name": "root", "hostPath": {"path": "/"}}),
])
def test_schemas_reject_insecure_or_misspelt_deployments(base: dict, path: list, value: Any) -> None:
    """The hand-written schemas actually bite."""
    doc = copy.deepcopy(base["Deployment"])
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        check_schema(doc)


def test_deployment_probes_ports_and_scrape_annotations(base: dict, secret: dict) -> None:
    dep = base["Deployment"]
    c = container(dep)
    port, admin = c["ports"]
    assert port["name"] == "http" and port["containerPort"] == 8080
    assert admin["name"] == "admin" and admin["containerPort"] == 8081
    # The probes stay on the webhook listener; the console and /metrics moved to the admin listener.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                        ("startupProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path and get["port"] in (port["name"], port["containerPort"])
    # The container ports are the ones syncd listens on, per the mounted config.
    cfg = load_syncd_yaml(BASE / "syncd.yaml", secret)
    assert cfg.webhook.port == port["containerPort"] and cfg.webhook.host == "0.0.0.0"
    assert cfg.admin.port == admin["containerPort"] and cfg.admin.host == "0.0.0.0"
    # Reachable by Prometheus from other pods, so behind a token from the Secret; read-only.
    assert cfg.admin.auth is not None and cfg.admin.auth.token_env == "SYNCD_ADMIN_TOKEN"
    assert cfg.admin.actions is False
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann == {"prometheus.io/scrape": "true", "prometheus.io/port": str(admin["containerPort"]),
                   "prometheus.io/path": "/metrics"}
    # syncd exits within 10 s of SIGTERM; no preStop hook is needed.
    assert pod_spec(dep)["terminationGracePeriodSeconds"] == 15 and "lifecycle" not in c
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


def test_replicas_need_the_postgresql_store(base: dict, secret: dict) -> None:
    dep, pdb = base["Deployment"], base["PodDisruptionBudget"]
    assert dep["spec"]["replicas"] == 2
    assert load_syncd_yaml(BASE / "syncd.yaml", secret).store.url.startswith("postgresql+psycopg://")
    assert pdb["spec"]["selector"] == dep["spec"]["selector"]
    assert pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]  # else it blocks every drain


def test_service_routes_webhooks_to_the_daemon_only(base: dict) -> None:
    svc, dep = base["Service"], base["Deployment"]
    selector = svc["spec"]["selector"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels(dep).items()
    assert selector.items() <= pod_labels(dep).items()
    for other in ("Job", "CronJob"):  # those pods do not listen
        assert not selector.items() <= pod_labels(base[other]).items(), other
    (port,) = svc["spec"]["ports"]  # webhooks only: the admin port (console, /metrics) is never exposed
    assert port["port"] == 80 and port["targetPort"] == "http"
    assert "http" in {p["name"] for p in container(dep)["ports"]}


@pytest.mark.parametrize("kind_, argv", [("Deployment", ["syncd", "run"]), ("CronJob", ["syncd", "run-once"]),
                                         ("Job", ["syncd", "db", "upgrade"])])
def test_workloads_share_config_secret_and_identity(base: dict, secret: dict, kind_: str, argv: list) -> None:
    doc = base[kind_]
    c, spec = container(doc), pod_spec(doc)
    assert c["command"] + c.get("args", []) == argv
    assert {"name": "SYNCD_CONFIG", "value": CONFIG_PATH} in c["env"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in c["envFrom"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    config_volume = volumes[mounts["/etc/syncd"]["name"]]
    generated = {g["name"] for g in kustomization(BASE)["configMapGenerator"]}
    assert config_volume["configMap"]["name"] in generated and mounts["/etc/syncd"]["readOnly"] is True
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # the only writable path (read-only root)
    assert spec["serviceAccountName"] == base["ServiceAccount"]["metadata"]["name"]
    assert c["image"] == "syncd"  # the name overlays' `images:` rewrite
    if kind_ == "CronJob":
        assert doc["spec"]["concurrencyPolicy"] == "Forbid"
        assert doc["spec"]["suspend"] is True  # an alternative to the Deployment, off by default


def test_secret_example_is_not_deployed_and_feeds_the_config(secret: dict) -> None:
    # Applying the example would overwrite the real Secret on every `kubectl apply -k`.
    assert "secret.example.yaml" not in kustomization(BASE)["resources"]
    values = secret["stringData"]
    assert set(values) == set(read_env_file(SYSTEMD / "syncd.env.example")) == SECRET_NAMES
    assert all(PLACEHOLDER.search(v) for k, v in values.items() if k != "JIRA_EMAIL")
    for path in (BASE / "syncd.yaml", OVERLAY / "syncd.yaml"):
        load_syncd_yaml(path, secret)  # raises ConfigError naming any ${VAR} the Secret lacks


def test_overlay_is_consistent_with_base(base: dict, secret: dict) -> None:
    kz = kustomization(OVERLAY)
    for entry in kz["resources"]:
        target = (OVERLAY / entry).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), entry
    (ns,) = load_docs(OVERLAY / "namespace.yaml")
    assert ns["metadata"]["name"] == kz["namespace"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (image,) = kz["images"]
    assert image["name"] == "syncd" and image["newTag"] not in ("", "latest")
    (gen,) = kz["configMapGenerator"]
    assert gen["name"] in {g["name"] for g in kustomization(BASE)["configMapGenerator"]}
    assert gen["behavior"] in ("replace", "merge")
    cfg = load_syncd_yaml(OVERLAY / gen["files"][0], secret)
    replicas = base["Deployment"]["spec"]["replicas"]
    for patch in kz.get("patches", []):
        (doc,) = load_docs(OVERLAY / patch["path"])
        target = base[doc["kind"]]  # patches must hit something that exists
        assert doc["metadata"]["name"] == target["metadata"]["name"]
        if doc["kind"] == "Deployment":
            replicas = doc["spec"].get("replicas", replicas)
    assert replicas < 2 or cfg.store.url.startswith("postgresql")


def _kustomize() -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.skip("neither kustomize nor kubectl installed")


@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "overlay"])
def test_kustomize_build(directory: Path, secret: dict) -> None:
    proc = subprocess.run([*_kustomize(), str(directory)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for doc in docs:
        check_schema(doc)
    kinds = [d["kind"] for d in docs]
    assert "Secret" not in kinds
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    # The generated (hash-suffixed) name is what every workload mounts.
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            names = {v["configMap"]["name"] for v in pod_spec(doc)["volumes"] if "configMap" in v}
            assert names == {cm["metadata"]["name"]}, doc["kind"]
    cfg = config_mod.parse(cm["data"]["syncd.yaml"], env=dict(secret["stringData"]))
    if directory == OVERLAY:
        kz = kustomization(OVERLAY)
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {kz["namespace"]}
        images = {container(d)["image"] for d in docs if d["kind"] in ("Deployment", "Job", "CronJob")}
        (image,) = kz["images"]
        assert images == {f"{image['newName']}:{image['newTag']}"}
        (dep,) = [d for d in docs if d["kind"] == "Deployment"]
        assert dep["spec"]["replicas"] > 1 and cfg.store.url.startswith("postgresql")


# ========================================================================== Dockerfile ============
def dockerfile_stages(path: Path) -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """(ARG defaults before the first FROM, [[(INSTRUCTION, arguments), ...] per stage])."""
    lines, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#"):
            continue  # comments (and parser directives) may sit inside continuations too
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr, rest = instr.upper(), " ".join(rest.split())
        if instr == "FROM":
            stages.append([])
        if not stages:
            assert instr == "ARG", f"{instr} before FROM"
            name, _, default = rest.partition("=")
            args[name] = default
            continue
        stages[-1].append((instr, rest))
    return args, stages


def _in(stage: list[tuple[str, str]], instr: str) -> list[str]:
    return [rest for i, rest in stage if i == instr]


def test_dockerfile_is_multi_stage_and_runs_unprivileged() -> None:
    args, stages = dockerfile_stages(DEPLOY / "Dockerfile")
    assert len(stages) >= 2
    images = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stage[0][1].split()[0]) for stage in stages]
    # Same interpreter in both: the copied venv's python symlinks must resolve.
    assert images[0] == images[-1] == "python:3.11-slim"
    builder_name = stages[0][0][1].split()[-1]
    assert stages[0][0][1].lower().split()[-2] == "as"
    assert any("pip install --no-cache-dir ." in r for r in _in(stages[0], "RUN"))
    final = stages[-1]
    user = _in(final, "USER")[-1].split(":")[0]
    assert user not in ("root", "0") and int(user) == UID  # == runAsUser in the manifests
    assert json.loads(_in(final, "ENTRYPOINT")[-1]) == ["syncd"]
    assert json.loads(_in(final, "CMD")[-1]) == ["run"]
    assert {"8080", "8081"} <= set(" ".join(_in(final, "EXPOSE")).split())  # webhook and admin listeners
    env = dict(kv.split("=", 1) for e in _in(final, "ENV") for kv in shlex.split(e))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    # Nothing is built or installed in the final stage: it only receives the venv.
    for run in _in(final, "RUN"):
        assert not re.search(r"apt-get|apt |gcc|build-essential|pip install|-dev\b", run), run
    copies = _in(final, "COPY") + _in(final, "ADD")
    assert copies == [f"--from={builder_name} /opt/venv /opt/venv"]
    health = " ".join(_in(final, "HEALTHCHECK"))
    assert not health or "/healthz" in health


def test_dockerfile_build_context_matches_the_repo() -> None:
    """What the builder copies exists, and the allow-list .dockerignore lets it through."""
    _, stages = dockerfile_stages(DEPLOY / "Dockerfile")
    sources = [src for rest in _in(stages[0], "COPY") if not rest.startswith("--from")
               for src in rest.split()[:-1]]
    assert "pyproject.toml" in sources and "README.md" in sources  # pyproject's readme= needs it
    ignore = [ln.strip() for ln in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*"
    for src in sources:
        assert (ROOT / src).exists(), src
        assert f"!{src}" in ignore or f"!{src}/" in ignore, f"{src} is excluded from the build context"
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {p.rstrip("*") for p in include["include"]} <= set(sources)  # every package gets in


# ============================================================================ README =============
def test_readme_paths_exist() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for rel in set(re.findall(r"(?<![\w/])deploy/[\w./-]+\w", text)):  # not tests/deploy/...
        assert (ROOT / rel).exists(), f"deploy/README.md mentions {rel}, which does not exist"
    # The build context is the repository root, not deploy/.
    assert re.search(r"^docker build -f deploy/Dockerfile .* \.$", text, re.M)
