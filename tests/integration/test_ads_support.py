"""The PromptAds integration tests' yardstick, offline: after a deploy they expect all that model/ads.yaml declares."""

from __future__ import annotations

from generators.deploy import ROOT, store_files
from generators.model import load_model
from tests.integration.ads_support import expected_objects


def test_the_deploy_check_expects_every_object_the_ads_model_declares() -> None:
    # The integration tests read what to look for from the rendered files; a pattern that stopped matching
    # would make "nothing is missing" true by default, so compare with the model here, without a server.
    model = load_model(ROOT / "model" / "ads.yaml", root=ROOT)
    expected = expected_objects(store_files("ads"))
    assert sorted(expected.tables) == sorted(t.qualified for t in model.tables)
    assert sorted(expected.types) == sorted(t.qualified for t in model.table_types)
    assert sorted(expected.procedures) == sorted(r.qualified for r in model.routines if r.kind == "procedure")
    assert sorted(expected.indexes) == sorted((t.qualified, i.name) for t in model.tables for i in t.indexes)
    assert len(expected.foreign_keys) == sum(len(t.foreign_keys) for t in model.tables)
    assert sorted(expected.roles) == sorted(r.name for r in model.roles)
    assert {table: rows for table, (_, rows) in expected.reference_rows.items()} == {
        t.qualified: len(t.rows) for t in model.tables if t.rows
    }
