"""Render helm/promptsales with the real helm binary and check the deployment properties the platform relies on."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "promptsales"
RELEASE = "promptsales"
NAMESPACE = "promptsales"
# The chart's kubeVersion floor and a current release: every manifest must be valid for both.
KUBERNETES_VERSIONS = ("1.27.0", "1.35.0")

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
STORES = ("postgresql", "airflow-db", "mssql-ads", "mssql-crm", "mongodb", "redis")
DATABASES = ("postgresql", "airflow-db", "mssql-ads", "mssql-crm", "mongodb")
MCP_SERVERS = ("content", "ads", "crm", "sales")
PROCESSES = ("carte", *(f"mcp-{name}" for name in MCP_SERVERS))
# Who may connect to what (the deployment issue): the named clients plus each database's own backup job.
EXPECTED_CLIENTS = {
    "postgresql": {"airflow", "carte", "mcp-sales", "mcp-content", "backup-postgresql"},
    "airflow-db": {"airflow", "backup-airflow-db"},
    "mssql-ads": {"airflow", "carte", "mcp-ads", "mssql-crm", "backup-mssql-ads"},
    "mssql-crm": {"airflow", "carte", "mcp-crm", "backup-mssql-crm"},
    "mongodb": {"airflow", "carte", "mcp-content", "backup-mongodb"},
    "redis": {"airflow", "mcp-content", "mcp-ads", "mcp-crm", "mcp-sales"},
    "carte": {"airflow"},
    **{f"mcp-{name}": {"ingress", "mcp-sales"} for name in ("content", "ads", "crm")},
    "mcp-sales": {"ingress"},
}
AIRFLOW_POD_LABELS = {"tier": "airflow", "release": "airflow"}
SECRET_LIKE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|(^|_)KEY($|_)|API_?KEY|CREDENTIAL", re.IGNORECASE)
Manifest = dict[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------


def helm_binary() -> str | None:
    """The helm binary: $HELM, then the one .ci/helm.sh installs, then PATH."""
    for candidate in (os.environ.get("HELM"), str(ROOT / ".tools" / "bin" / "helm"), shutil.which("helm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = helm_binary()
pytestmark = pytest.mark.skipif(
    HELM is None, reason="helm binary not installed: run `bash .ci/helm.sh` (make test does)"
)


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120, check=False)


def render(*extra: str) -> list[Manifest]:
    """`helm template` the chart from the working tree; fail with helm's own message."""
    result = run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra)
    assert result.returncode == 0, f"helm template failed: {result.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render()


# --------------------------------------------------------------------------------------------------------------
# Property checks: each returns the list of problems found, so a bad manifest can be shown to fail them.
# --------------------------------------------------------------------------------------------------------------


def component(doc: Manifest) -> str:
    return str(doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def pod_spec(doc: Manifest) -> Manifest:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def workloads(docs: list[Manifest]) -> list[Manifest]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def by_kind(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {component(d): d for d in docs if d["kind"] == kind}


def _resource_problems(where: str, container: Manifest) -> list[str]:
    resources = container.get("resources") or {}
    problems = []
    for section in ("requests", "limits"):
        for quantity in ("cpu", "memory"):
            if not (resources.get(section) or {}).get(quantity):
                problems.append(f"{where}: no resources.{section}.{quantity}")
    return problems


def probe_and_resource_problems(docs: list[Manifest]) -> list[str]:
    """Every long-running container has readiness and liveness probes; every container has requests and limits."""
    problems = []
    for doc in workloads(docs):
        spec = pod_spec(doc)
        batch = doc["kind"] in {"Job", "CronJob"}
        for container in spec.get("initContainers", []):
            problems += _resource_problems(
                f"{doc['kind']}/{doc['metadata']['name']} init {container['name']}", container
            )
        for container in spec["containers"]:
            where = f"{doc['kind']}/{doc['metadata']['name']} {container['name']}"
            problems += _resource_problems(where, container)
            if not batch:
                problems += [
                    f"{where}: no {probe}" for probe in ("readinessProbe", "livenessProbe") if probe not in container
                ]
    return problems


def literal_secret_problems(docs: list[Manifest]) -> list[str]:
    """No Secret carries data and no secret-looking env var has a literal value."""
    problems = []
    for doc in docs:
        if doc["kind"] == "Secret" and (doc.get("data") or doc.get("stringData")):
            problems.append(f"Secret/{doc['metadata']['name']} has literal data")
    for doc in workloads(docs):
        spec = pod_spec(doc)
        for container in spec.get("initContainers", []) + spec["containers"]:
            for env in container.get("env", []):
                if SECRET_LIKE.search(env["name"]) and "value" in env:
                    problems.append(f"{doc['metadata']['name']} {container['name']}: {env['name']} has a literal value")
    return problems


def pod_isolation_problems(docs: list[Manifest]) -> list[str]:
    """Each store and process is exactly one workload whose pod runs one container."""
    problems = []
    for name in (*STORES, *PROCESSES):
        found = [d for d in workloads(docs) if component(d) == name and d["kind"] != "CronJob"]
        if len(found) != 1:
            problems.append(f"{name}: {len(found)} workloads, expected 1")
    for doc in workloads(docs):
        containers = pod_spec(doc)["containers"]
        if len(containers) != 1:
            names = [c["name"] for c in containers]
            problems.append(f"{doc['metadata']['name']}: {len(containers)} containers share a pod: {names}")
    return problems


def _peer_names(peer: Manifest) -> str:
    labels = (peer.get("podSelector") or {}).get("matchLabels") or {}
    if labels == AIRFLOW_POD_LABELS and "namespaceSelector" not in peer:
        return "airflow"
    if labels.get("app.kubernetes.io/instance") == RELEASE and "app.kubernetes.io/component" in labels:
        return str(labels["app.kubernetes.io/component"])
    if "namespaceSelector" in peer and "podSelector" not in peer:
        return "ingress"
    return f"unrecognised peer {peer}"


def network_policy_problems(docs: list[Manifest], expected: dict[str, set[str]]) -> list[str]:
    """A release-wide default deny plus, per component, ingress only from its named clients."""
    problems = []
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    deny = [
        p
        for p in policies
        if p["spec"].get("policyTypes") == ["Ingress"]
        and not p["spec"].get("ingress")
        and p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/instance") == RELEASE
        and "app.kubernetes.io/component" not in p["spec"]["podSelector"].get("matchLabels", {})
    ]
    if not deny:
        problems.append("no default-deny ingress policy over the release's pods")
    targets = {p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component"): p for p in policies}
    for name, clients in expected.items():
        policy = targets.get(name)
        if policy is None:
            problems.append(f"{name}: no NetworkPolicy")
            continue
        rules = policy["spec"].get("ingress") or []
        allowed = set()
        for rule in rules:
            if not rule.get("from"):
                problems.append(f"{name}: a rule without `from` admits every source")
            allowed |= {_peer_names(peer) for peer in rule.get("from") or []}
            if not rule.get("ports"):
                problems.append(f"{name}: a rule without ports admits every port")
        if allowed != clients:
            problems.append(f"{name}: ingress from {sorted(allowed)}, expected {sorted(clients)}")
    return problems


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def pdb_problems(docs: list[Manifest]) -> list[str]:
    problems = []
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for doc in workloads(docs):
        if doc["kind"] == "CronJob":
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if not any(_selects(p["spec"]["selector"], labels) for p in pdbs):
            problems.append(f"{doc['metadata']['name']}: no PodDisruptionBudget")
    return problems


def hpa_problems(docs: list[Manifest]) -> list[str]:
    problems = []
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    deployments = by_kind(docs, "Deployment")
    for name in MCP_SERVERS:
        hpa = hpas.get(f"mcp-{name}")
        if hpa is None:
            problems.append(f"mcp-{name}: no HorizontalPodAutoscaler")
            continue
        target = hpa["spec"]["scaleTargetRef"]
        if target["kind"] != "Deployment" or target["name"] != deployments[f"mcp-{name}"]["metadata"]["name"]:
            problems.append(f"mcp-{name}: HPA scales {target}")
        metrics = {m["resource"]["name"] for m in hpa["spec"].get("metrics", []) if m["type"] == "Resource"}
        if metrics != {"cpu", "memory"}:
            problems.append(f"mcp-{name}: HPA metrics {sorted(metrics)}, expected cpu and memory")
        if hpa["spec"].get("minReplicas", 1) < 2:
            problems.append(f"mcp-{name}: minReplicas below 2")
    return problems


def _daily(schedule: str) -> bool:
    fields = schedule.split()
    return len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit() and fields[2:] == ["*", "*", "*"]


def backup_problems(docs: list[Manifest], retention_days: int = 30) -> list[str]:
    """One daily CronJob per database, writing its dump to the backup PVC and deleting files older than 30 days."""
    problems = []
    tools = {"postgresql": "pg_dump", "airflow-db": "pg_dump", "mongodb": "mongodump", "mssql-ads": "BACKUP DATABASE"}
    tools["mssql-crm"] = "BACKUP DATABASE"
    cronjobs = by_kind(docs, "CronJob")
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    for name in DATABASES:
        job = cronjobs.get(f"backup-{name}")
        if job is None:
            problems.append(f"{name}: no backup CronJob")
            continue
        if not _daily(job["spec"]["schedule"]):
            problems.append(f"{name}: schedule {job['spec']['schedule']!r} is not daily")
        spec = pod_spec(job)
        script = " ".join(" ".join(c.get("command", []) + c.get("args", [])) for c in spec["containers"])
        if tools[name] not in script:
            problems.append(f"{name}: backup script does not run {tools[name]}")
        if f"-mtime +{retention_days} -delete" not in script:
            problems.append(f"{name}: no {retention_days}-day retention (find -mtime +{retention_days} -delete)")
        pvcs = {
            v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", []) if "persistentVolumeClaim" in v
        }
        if not pvcs & claims:
            problems.append(f"{name}: backup does not write to the chart's backup PVC")
    return problems


def kubernetes_schema_problems(docs: list[Manifest], version: str) -> list[str]:
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")
    return problems


# --------------------------------------------------------------------------------------------------------------
# The default render
# --------------------------------------------------------------------------------------------------------------


def test_helm_lint_passes() -> None:
    result = run_helm("lint", str(CHART), "--strict")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_container_has_probes_and_resources(manifests: list[Manifest]) -> None:
    assert len(workloads(manifests)) == 16
    assert probe_and_resource_problems(manifests) == []


def test_no_secret_values_in_the_default_render(manifests: list[Manifest]) -> None:
    assert [d for d in manifests if d["kind"] == "Secret"] == []
    assert literal_secret_problems(manifests) == []
    refs = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for doc in workloads(manifests)
        for c in pod_spec(doc).get("initContainers", []) + pod_spec(doc)["containers"]
        for env in c.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert refs == {"promptsales-secrets"}


def test_each_store_and_process_in_its_own_pod(manifests: list[Manifest]) -> None:
    assert pod_isolation_problems(manifests) == []
    statefulsets = by_kind(manifests, "StatefulSet")
    assert set(statefulsets) == set(STORES)
    services = [d for d in manifests if d["kind"] == "Service"]
    for name, sts in statefulsets.items():
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"], name
        headless = [s for s in services if s["metadata"]["name"] == sts["spec"]["serviceName"]]
        assert headless and headless[0]["spec"]["clusterIP"] == "None", name
        cluster_ip = [s for s in services if component(s) == name and s["spec"].get("type") == "ClusterIP"]
        assert len(cluster_ip) == 1, name


def test_pods_run_as_non_root(manifests: list[Manifest]) -> None:
    for doc in workloads(manifests):
        context = pod_spec(doc)["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, doc["metadata"]["name"]
        for container in pod_spec(doc).get("initContainers", []) + pod_spec(doc)["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, doc["metadata"]["name"]


def test_network_policies_admit_only_the_named_clients(manifests: list[Manifest]) -> None:
    assert network_policy_problems(manifests, EXPECTED_CLIENTS) == []


def test_every_workload_has_a_disruption_budget(manifests: list[Manifest]) -> None:
    assert pdb_problems(manifests) == []


def test_mcp_servers_autoscale_on_cpu_and_memory(manifests: list[Manifest]) -> None:
    assert hpa_problems(manifests) == []
    for name in MCP_SERVERS:
        deployment = by_kind(manifests, "Deployment")[f"mcp-{name}"]
        assert "replicas" not in deployment["spec"], "the HPA, not the manifest, owns the replica count"
        command = pod_spec(deployment)["containers"][0]["command"]
        assert command == [
            "python",
            "-m",
            f"mcp_servers.{name}",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",  # noqa: S104 - the pod listens on all its interfaces
            "--port",
            "8000",
        ]


def test_daily_backups_kept_30_days(manifests: list[Manifest]) -> None:
    assert backup_problems(manifests) == []
    crm = pod_spec(by_kind(manifests, "CronJob")["backup-mssql-crm"])["containers"][0]["args"][0]
    assert "SERVER CERTIFICATE = [PromptCrmBackupCert]" in crm
    # BACKUP DATABASE writes on the server: the SQL Server pods mount the same backup PVC.
    for name in ("mssql-ads", "mssql-crm"):
        volumes = pod_spec(by_kind(manifests, "StatefulSet")[name])["volumes"]
        assert {"name": "backups", "persistentVolumeClaim": {"claimName": "promptsales-backups"}} in volumes


def test_store_settings_follow_the_model(manifests: list[Manifest]) -> None:
    cache_model = yaml.safe_load((ROOT / "model" / "cache.yaml").read_text())
    redis = pod_spec(by_kind(manifests, "StatefulSet")["redis"])["containers"][0]["args"]
    assert redis[redis.index("--maxmemory-policy") + 1] == cache_model["eviction"]["maxmemory_policy"] == "volatile-lru"
    mssql = pod_spec(by_kind(manifests, "StatefulSet")["mssql-ads"])["containers"][0]
    assert mssql["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    env = {e["name"]: e for e in mssql["env"]}
    assert env["ACCEPT_EULA"]["value"] == "Y"
    assert env["MSSQL_SA_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "mssql-ads-sa-password"


def test_carte_gets_the_rendered_pentaho_files(manifests: list[Manifest]) -> None:
    carte = pod_spec(by_kind(manifests, "Deployment")["carte"])
    init_script = carte["initContainers"][0]["command"][-1]
    assert (ROOT / "pentaho" / "carte-config.xml").is_file()
    placeholders = set(re.findall(r"\$\{(CARTE_[A-Z]+)\}", (ROOT / "pentaho" / "carte-config.xml").read_text()))
    assert placeholders and all(name in init_script for name in placeholders)
    main = carte["containers"][0]
    assert main["ports"][0]["containerPort"] == 8081
    assert main["args"] == ["/etc/carte/carte-config.xml"]
    # The DAG's default job path is where the pod mounts the files.
    from generators.airflow_etl import DEFAULT_JOB_PATH

    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert str(Path(DEFAULT_JOB_PATH).parent) in mounts


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(manifests: list[Manifest], version: str) -> None:
    assert len(manifests) == 61
    assert kubernetes_schema_problems(manifests, version) == []


# --------------------------------------------------------------------------------------------------------------
# Broken inputs: the checks above must catch them
# --------------------------------------------------------------------------------------------------------------


def test_checks_catch_a_container_without_resources_or_probes(manifests: list[Manifest]) -> None:
    broken = copy.deepcopy(manifests)
    redis = by_kind(broken, "StatefulSet")["redis"]
    container = pod_spec(redis)["containers"][0]
    del container["resources"]["limits"]
    del container["livenessProbe"]
    init = pod_spec(by_kind(broken, "Deployment")["carte"])["initContainers"][0]
    init["resources"] = {}
    problems = probe_and_resource_problems(broken)
    assert "StatefulSet/promptsales-redis redis: no resources.limits.cpu" in problems
    assert "StatefulSet/promptsales-redis redis: no livenessProbe" in problems
    assert "Deployment/promptsales-carte init pentaho-files: no resources.requests.memory" in problems


def test_checks_catch_literal_secrets_and_shared_pods(manifests: list[Manifest]) -> None:
    broken = copy.deepcopy(manifests)
    postgres = pod_spec(by_kind(broken, "StatefulSet")["postgresql"])
    postgres["containers"][0]["env"].append({"name": "POSTGRES_PASSWORD", "value": "hunter2"})
    postgres["containers"].append(copy.deepcopy(pod_spec(by_kind(broken, "StatefulSet")["redis"])["containers"][0]))
    assert literal_secret_problems(broken) == [
        "promptsales-postgresql postgresql: POSTGRES_PASSWORD has a literal value"
    ]
    assert "promptsales-postgresql: 2 containers share a pod: ['postgresql', 'redis']" in pod_isolation_problems(broken)


def test_checks_catch_broken_network_backup_pdb_and_hpa(manifests: list[Manifest]) -> None:
    broken = copy.deepcopy(manifests)
    by_kind(broken, "CronJob")["backup-mongodb"]["spec"]["schedule"] = "0 * * * *"
    hpa = by_kind(broken, "HorizontalPodAutoscaler")["mcp-ads"]
    hpa["spec"]["metrics"] = [m for m in hpa["spec"]["metrics"] if m["resource"]["name"] == "cpu"]
    policy = next(p for p in broken if p["kind"] == "NetworkPolicy" and component(p) == "carte")
    del policy["spec"]["ingress"][0]["from"]
    broken = [d for d in broken if not (d["kind"] == "PodDisruptionBudget" and component(d) == "mongodb")]
    assert backup_problems(broken) == ["mongodb: schedule '0 * * * *' is not daily"]
    assert hpa_problems(broken) == ["mcp-ads: HPA metrics ['cpu'], expected cpu and memory"]
    assert pdb_problems(broken) == ["promptsales-mongodb: no PodDisruptionBudget"]
    assert network_policy_problems(broken, EXPECTED_CLIENTS) == [
        "carte: a rule without `from` admits every source",
        "carte: ingress from [], expected ['airflow']",
    ]


def test_values_override_widening_a_policy_is_caught() -> None:
    widened = render(
        "--set-json",
        'networkPolicy.ingressClients.mongodb=["airflow","carte","mcp-content","backup-mongodb","mcp-ads"]',
    )
    assert network_policy_problems(widened, EXPECTED_CLIENTS) == [
        "mongodb: ingress from ['airflow', 'backup-mongodb', 'carte', 'mcp-ads', 'mcp-content'],"
        " expected ['airflow', 'backup-mongodb', 'carte', 'mcp-content']"
    ]
    assert network_policy_problems(render("--set", "networkPolicy.enabled=false"), EXPECTED_CLIENTS)[0] == (
        "no default-deny ingress policy over the release's pods"
    )


def test_values_override_without_limits_is_refused() -> None:
    result = run_helm("template", RELEASE, str(CHART), "--set", "mcp.servers.ads.resources.limits=null")
    assert result.returncode != 0
    assert "/mcp/servers/ads/resources" in result.stderr and "limits" in result.stderr


def test_backup_retention_override_is_caught() -> None:
    assert backup_problems(render("--set", "backup.retentionDays=7")) == [
        f"{name}: no 30-day retention (find -mtime +30 -delete)" for name in DATABASES
    ]


def test_created_secret_needs_install_time_values() -> None:
    result = run_helm("template", RELEASE, str(CHART), "--set", "createSecret.enabled=true")
    assert result.returncode != 0 and 'key "postgres-password" is missing' in result.stderr
    keys = [
        "postgres-password",
        "airflow-db-password",
        "mssql-ads-sa-password",
        "mssql-crm-sa-password",
        "mongo-root-password",
        "redis-password",
        "carte-password",
        "promptsales-pg-url",
        "promptads-url",
        "promptcrm-url",
        "promptcontent-url",
        "redis-url",
    ]
    args = ["--set", "createSecret.enabled=true"]
    for key in keys:
        args += ["--set-string", f"createSecret.data.{key}=from-the-command-line"]
    rendered = render(*args)
    secrets = [d for d in rendered if d["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == ["promptsales-secrets"]
    assert sorted(secrets[0]["stringData"]) == sorted(keys)
    # The literal-secret check flags it: this Secret is only ever made from install-time values.
    assert literal_secret_problems(rendered) == ["Secret/promptsales-secrets has literal data"]


def test_existing_secret_is_required() -> None:
    result = run_helm("template", RELEASE, str(CHART), "--set", "existingSecret=")
    assert result.returncode != 0 and "existingSecret" in result.stderr
