"""The deploy DAG's task helpers: task ids, psycopg parameters, retry or fail at once, T-SQL and MongoDB routing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from generators.airflow_deploy import apply_file, is_transient, libpq_params, task_id_for
from generators.deploy import DeployError

pytestmark = pytest.mark.airflow


@pytest.mark.parametrize(
    ("rel", "task_id"),
    [
        ("sql/sales/010_schemas.sql", "apply_010_schemas"),
        ("sql/ads/020_tables.sql", "apply_020_tables"),
        ("sql/crm/045_full-text index.sql", "apply_045_full_text_index"),
    ],
)
def test_task_ids_come_from_file_names(rel: str, task_id: str) -> None:
    assert task_id_for(rel) == task_id


def test_psycopg_parameters_come_from_the_airflow_connection_uri() -> None:
    from airflow.sdk import Connection

    conn = Connection.from_uri(
        "postgresql://deployer:p%40ss%2Fword@db.internal:6432/promptsales?sslmode=require", conn_id="promptsales_pg"
    )
    assert libpq_params(conn) == {
        "host": "db.internal",
        "port": 6432,
        "user": "deployer",
        "password": "p@ss/word",
        "dbname": "promptsales",
        "sslmode": "require",
        "connect_timeout": 10,
        "application_name": "promptsales_deploy",
    }


def test_trust_auth_connection_sends_no_empty_password() -> None:
    from airflow.sdk import Connection

    params = libpq_params(Connection.from_uri("postgresql://postgres@127.0.0.1:5432/promptsales", conn_id="x"))
    assert "password" not in params


def deploy_error(cause: Exception) -> DeployError:
    try:
        raise DeployError(f"sales: sql/sales/020_tables.sql: {cause}") from cause
    except DeployError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "transient"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (errors.DeadlockDetected("deadlock detected"), True),
        (errors.LockNotAvailable("could not obtain lock"), True),
        (errors.InvalidSchemaName('schema "portal" does not exist'), False),
        (errors.SyntaxError("syntax error at or near"), False),
        (errors.UniqueViolation("duplicate key value"), False),
    ],
)
def test_only_operational_errors_are_retried(cause: Exception, transient: bool) -> None:
    """Airflow retries a lost connection or a deadlock; a file the database rejects fails at once."""
    assert is_transient(deploy_error(cause)) is transient


# --------------------------------------------------------------------------- T-SQL and MongoDB routing
# No SQL Server can run here: a labelled test double stands in for pymssql's DB-API connection, to check that a
# T-SQL store goes through MsSqlHook, is split on GO, committed or rolled back, and fails naming the file.


class FakeTsqlConnection:
    """Test double for a pymssql connection: records batches; raises on a batch containing `fail_on`."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[str] = []
        self.fail_on = fail_on
        self.committed = self.rolled_back = self.closed = False

    def cursor(self) -> FakeTsqlConnection:
        return self

    def execute(self, batch: str) -> None:
        if self.fail_on and self.fail_on in batch:
            raise ProgrammingError(f"Invalid object name '{self.fail_on}'.")
        self.batches.append(batch)

    def nextset(self) -> bool:
        return False  # one result per batch

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        self.rolled_back = True

    def close(self) -> None:
        self.closed = True


class ProgrammingError(Exception):
    """Named like the DB-API class pymssql raises for a rejected batch (not an OperationalError)."""


@pytest.fixture
def ads_file(tmp_path: Path) -> Path:
    path = tmp_path / "sql" / "ads" / "010_schemas.sql"
    path.parent.mkdir(parents=True)
    path.write_text("CREATE SCHEMA ads;\nGO\nCREATE TABLE ads.brands (brand_id int);\nGO\n", encoding="utf-8")
    return tmp_path


def test_tsql_store_is_applied_batch_by_batch_through_mssqlhook(
    ads_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

    fake = FakeTsqlConnection()
    monkeypatch.setattr(MsSqlHook, "get_conn", lambda self: fake)
    result = apply_file("ads", "tsql", "promptads_mssql", "sql/ads/010_schemas.sql", root=ads_file)
    assert fake.batches == ["CREATE SCHEMA ads;\n", "CREATE TABLE ads.brands (brand_id int);\n"]
    assert (fake.committed, fake.rolled_back, fake.closed) == (True, False, True)
    assert result["status"] == "applied"  # no T-SQL ledger yet: never claims "unchanged"


def test_rejected_tsql_batch_rolls_back_and_fails_naming_the_file(
    ads_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook
    from airflow.sdk.exceptions import AirflowFailException

    fake = FakeTsqlConnection(fail_on="ads.brands")
    monkeypatch.setattr(MsSqlHook, "get_conn", lambda self: fake)
    with pytest.raises(AirflowFailException, match=r"^ads: sql/ads/010_schemas.sql: Invalid object name 'ads.brands'"):
        apply_file("ads", "tsql", "promptads_mssql", "sql/ads/010_schemas.sql", root=ads_file)
    assert (fake.committed, fake.rolled_back, fake.closed) == (False, True, True)


def test_mongodb_store_is_applied_through_a_client_built_from_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The content store goes through pymongo with the connection's URI into the manifest's database, with a ledger.

    No MongoDB server runs here: the client is MongomockWithCollMod, a labelled test double (mongomock extended with
    validators and collMod); real MongoDB runs in tests/integration/test_content_mongodb.py when configured.
    """
    import pymongo

    from generators.deploy import load_manifest
    from tests.generators.test_mongo_deploy import MongomockWithCollMod

    monkeypatch.setenv("AIRFLOW_CONN_PROMPTCONTENT_MONGO", "mongodb://deployer:p%40ss@mongo.internal:27017/admin")
    double = MongomockWithCollMod()
    opened: list[tuple[str, str]] = []

    class Client:
        def __init__(self, uri: str, **options: object) -> None:
            self.uri = uri

        def __getitem__(self, database: str) -> MongomockWithCollMod:
            opened.append((self.uri, database))
            return double

        def close(self) -> None:
            opened.append(("closed", ""))

    monkeypatch.setattr(pymongo, "MongoClient", Client)
    rel = load_manifest()["stores"]["content"]["deploy"][0]
    first = apply_file("content", "mongodb", "promptcontent_mongo", rel)
    second = apply_file("content", "mongodb", "promptcontent_mongo", rel)
    assert (first["status"], second["status"]) == ("changed", "unchanged")
    assert opened[:2] == [("mongodb://deployer:p%40ss@mongo.internal:27017/admin", "promptcontent"), ("closed", "")]
    assert "images" in double.list_collection_names()


def test_mongo_uri_keeps_the_auth_database_and_passes_extras_as_options() -> None:
    from airflow.sdk import Connection

    from generators.airflow_deploy import mongo_uri

    conn = Connection.from_uri("mongodb://u%2Fx:p%40ss@db.internal:27017/admin?tls=true", conn_id="x")
    assert mongo_uri(conn) == "mongodb://u%2Fx:p%40ss@db.internal:27017/admin?tls=true"
    srv = Connection(conn_id="y", conn_type="mongo", host="cluster.example.net", extra='{"srv": true}')
    assert mongo_uri(srv) == "mongodb+srv://cluster.example.net/"
