"""Fixtures of the integration tests: the PromptAds URL, connections to it, and the rendered deploy applied twice.

Nothing here connects at import time: a fixture runs only when a test asks for it, and a test module without its
server's URL skips itself (with the reason) before any fixture is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generators import ads_client
from generators.deploy import load_manifest
from tests.integration.ads_support import ADS_SKIP_REASON, CATALOG, Deployment, ads_url_or_none, deploy_ads, run, scalar


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
    opened: list[Any] = []

    def connect(*, autocommit: bool = True, database: str | None = None) -> Any:
        problem = None
        try:
            conn = ads_client.connect(ads_url, database=database or ads_database, autocommit=autocommit)
        except ads_client.AdsClientError as exc:
            problem = f"{exc}; check {ads_client.ENV_VAR}"
        if problem is not None:
            # Configured but unreachable is a failure, not a skip: the URL says a server should be there.
            pytest.fail(problem, pytrace=False)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


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
