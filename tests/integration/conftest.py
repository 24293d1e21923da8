"""Fixtures of the integration tests: the PromptAds and PromptCrm URLs, connections, and each rendered deploy run twice.

Nothing here connects at import time: a fixture runs only when a test asks for it, and a test without its
server's URL is skipped (with the reason) before any fixture is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generators import ads_client
from generators.deploy import load_manifest
from tests.integration.ads_support import ADS_SKIP_REASON, CATALOG, Deployment, ads_url_or_none, deploy_ads, run, scalar
from tests.integration.crm_support import (
    CRM_ENV_VAR,
    CRM_SKIP_REASON,
    DeploySecrets,
    catalog_sql,
    crm_url_or_none,
    deploy_crm,
    deploy_secrets,
    deployed_hmac_key_exists,
    stale_hmac_key_message,
)
from tests.integration.mssql_support import connection_factory

# --------------------------------------------------------------------------- PromptAds


@pytest.fixture(scope="session")
def ads_url() -> str:
    url = ads_url_or_none()
    if url is None:
        pytest.skip(ADS_SKIP_REASON)
    return url


@pytest.fixture(scope="session")
def ads_database() -> str:
    database: str = load_manifest()["stores"]["ads"]["database"]
    return database


@pytest.fixture(scope="session")
def ads_connect(ads_url: str, ads_database: str) -> Iterator[Callable[..., Any]]:
    """Factory of pytds connections to PromptAds (autocommit unless told otherwise); all closed at the end."""
    yield from connection_factory(ads_url, ads_database, ads_client.ENV_VAR)


@pytest.fixture(scope="session")
def ads_deployment(ads_connect: Callable[..., Any]) -> Iterator[Deployment]:
    """Deploy twice; between the runs a sentinel brand is written, which the second run must leave alone."""
    first = deploy_ads(ads_connect)
    conn = ads_connect()
    catalog_after_first = run(conn, CATALOG)[0]
    sentinel = f"it-sentinel-{uuid.uuid4().hex[:12]}"
    run(
        conn,
        "SET NOCOUNT ON; INSERT INTO ads.brands (brand_name, advertiser_name, industry, country_code)"
        " VALUES (%s, N'integration test', N'testing', 'US');",
        (sentinel,),
    )
    try:
        second = deploy_ads(ads_connect)
        catalog_after_second = run(conn, CATALOG)[0]
        survived = scalar(conn, "SELECT COUNT(*) FROM ads.brands WHERE brand_name = %s", (sentinel,)) == 1
    finally:
        run(conn, "DELETE FROM ads.brands WHERE brand_name = %s;", (sentinel,))
    yield Deployment(first, second, catalog_after_first, catalog_after_second, survived)


# --------------------------------------------------------------------------- PromptCrm


@pytest.fixture(scope="session")
def crm_url() -> str:
    url = crm_url_or_none()
    if url is None:
        pytest.skip(CRM_SKIP_REASON)
    return url


@pytest.fixture(scope="session")
def crm_database() -> str:
    database: str = load_manifest()["stores"]["crm"]["database"]
    return database


@pytest.fixture(scope="session")
def crm_connect(crm_url: str, crm_database: str) -> Iterator[Callable[..., Any]]:
    """Factory of pytds connections to PromptCrm (autocommit unless told otherwise); all closed at the end."""
    yield from connection_factory(crm_url, crm_database, CRM_ENV_VAR)


@pytest.fixture(scope="session")
def crm_session_factory(crm_url: str, crm_database: str) -> Callable[[], Any]:
    """One new autocommit connection per call, for generators.scenarios (which closes what it opens)."""
    return lambda: ads_client.connect(crm_url, database=crm_database, autocommit=True)


@pytest.fixture(scope="session")
def crm_secrets() -> DeploySecrets:
    """The secrets the crm files declare: the environment's, else random ones for this test deployment."""
    return deploy_secrets()


@pytest.fixture(scope="session")
def crm_deployment(crm_connect: Callable[..., Any], crm_secrets: DeploySecrets) -> Iterator[Deployment]:
    """Deploy twice; between the runs a sentinel log row is written, which the second run must leave alone."""
    if crm_secrets.generated and deployed_hmac_key_exists(crm_connect(database="master")):
        # The key is created once and checked on every later deploy: a new random secret cannot match it.
        pytest.fail(stale_hmac_key_message(), pytrace=False)
    first = deploy_crm(crm_connect, crm_secrets)
    conn = crm_connect()
    catalog = catalog_sql()
    catalog_after_first = run(conn, catalog)[0]
    sentinel = f"it-sentinel-{uuid.uuid4().hex[:12]}"
    run(
        conn,
        "SET NOCOUNT ON; EXEC ops.CRMSP_WriteLog @Severity = 'info', @Source = N'integration tests', @Message = %s;",
        (sentinel,),
    )
    try:
        second = deploy_crm(crm_connect, crm_secrets)
        catalog_after_second = run(conn, catalog)[0]
        survived = scalar(conn, "SELECT COUNT(*) FROM ops.log WHERE message = %s", (sentinel,)) == 1
    finally:
        run(conn, "DELETE FROM ops.log WHERE message = %s;", (sentinel,))
    yield Deployment(first, second, catalog_after_first, catalog_after_second, survived)
