"""Check helm/airflow-values.yaml against the official Airflow chart's schema and the project's own pins."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm" / "airflow-values.yaml"
SCHEMA = ROOT / "helm" / "reference" / "airflow-values.schema.json"
DOCKERFILE = ROOT / "helm" / "Dockerfile"
CONNECTION_IDS = (
    "promptsales_pg",
    "promptads_mssql",
    "promptcrm_mssql",
    "promptcontent_mongo",
    "promptsales_redis",
    "pentaho_carte",
)
COMPONENTS = ("scheduler", "apiServer", "dagProcessor", "triggerer", "workers")
Values = dict[str, Any]


def schema_errors(values: Values) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values))


def pinned_airflow_version() -> str:
    match = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert match, "constraints.txt pins no apache-airflow version"
    return match.group(1)


@pytest.fixture(scope="module")
def values() -> Values:
    return yaml.safe_load(VALUES.read_text())


def test_schema_copy_names_its_source() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert "1.20.0-dev" in schema["$comment"] and "apache/airflow" in schema["$comment"]
    assert schema["properties"]["executor"]["type"] == "string"


def test_values_validate_against_the_chart_schema(values: Values) -> None:
    assert schema_errors(values) == []


def test_schema_rejects_broken_values(values: Values) -> None:
    typo = copy.deepcopy(values)
    typo["scheduler"]["resourcess"] = typo["scheduler"].pop("resources")
    assert any(error.startswith("scheduler:") and "resourcess" in error for error in schema_errors(typo))
    bad_executor = {**values, "executor": "local"}
    assert any(error.startswith("executor:") for error in schema_errors(bad_executor))
    bad_secret = copy.deepcopy(values)
    bad_secret["secret"][0]["secretNmae"] = bad_secret["secret"][0].pop("secretName")
    assert any("secretNmae" in error for error in schema_errors(bad_secret))


def test_executor_is_local_and_explained(values: Values) -> None:
    assert values["executor"] == "LocalExecutor"
    text = VALUES.read_text()
    comment = text[: text.index("executor: LocalExecutor")].rsplit("\n\n", 1)[-1]
    for reason in ("11 minutes", "KubernetesExecutor", "CeleryExecutor", "seed"):
        assert reason in comment
    # No Celery broker and no pod launching with LocalExecutor.
    assert values["redis"]["enabled"] is False
    assert values["allowPodLaunching"] is False


def test_connections_come_from_a_secret(values: Values) -> None:
    entries = {e["envName"]: e for e in values["secret"]}
    assert set(entries) == {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in CONNECTION_IDS}
    for conn_id in CONNECTION_IDS:
        entry = entries[f"AIRFLOW_CONN_{conn_id.upper()}"]
        assert entry == {
            "envName": entry["envName"],
            "secretName": "promptsales-airflow-connections",
            "secretKey": conn_id,
        }
    # Nothing secret in plain values.
    assert not values.get("extraSecrets")
    assert all(not re.search(r"PASSWORD|SECRET|KEY|TOKEN|CONN", e["name"]) for e in values.get("env", []))
    for key in ("fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"):
        assert not values.get(key), f"{key} must come from a Secret"
    assert values["fernetKeySecretName"] == values["apiSecretKeySecretName"] == values["jwtSecretName"]


def test_metadata_database_is_external_to_the_chart(values: Values) -> None:
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"] == "airflow-metadata"
    assert "metadataConnection" not in values["data"]


def test_image_matches_the_pinned_airflow(values: Values) -> None:
    version = pinned_airflow_version()
    assert values["airflowVersion"] == version
    image = values["images"]["airflow"]
    assert image["repository"] and image["tag"]
    dockerfile = DOCKERFILE.read_text()
    assert f"ARG AIRFLOW_VERSION={version}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in dockerfile
    assert re.search(r"pip install .*-c constraints\.txt", dockerfile)
    copied = set(re.findall(r"^COPY --chown=airflow:0 (\w+)/ ", dockerfile, re.MULTILINE))
    assert copied == {"dags", "generators", "mcp_servers", "model", "templates", "sql", "pentaho"}


def test_dags_are_baked_into_the_image(values: Values) -> None:
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["dags"]["persistence"]["enabled"] is False
    assert values["config"]["core"]["dags_folder"] == values["dags"]["mountPath"] == "/opt/promptsales/dags"
    assert "COPY --chown=airflow:0 dags/ dags/" in DOCKERFILE.read_text()
    assert "WORKDIR /opt/promptsales\n" in DOCKERFILE.read_text()


@pytest.mark.parametrize("name", COMPONENTS)
def test_every_airflow_component_has_requests_and_limits(values: Values, name: str) -> None:
    resources = values[name]["resources"]
    for section in ("requests", "limits"):
        assert resources[section]["cpu"] and resources[section]["memory"], f"{name}.resources.{section}"
