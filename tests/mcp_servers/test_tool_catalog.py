"""The tools every PromptSales MCP server offers, as an MCP client lists them, pinned in a snapshot.

A changed tool name, argument, default, annotation or output shape is a change to what AI clients rely on: this
test fails until tests/fixtures/mcp_tools.json is regenerated on purpose with

    PROMPTSALES_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/mcp_servers/test_tool_catalog.py

and the diff reviewed. No store is needed: listing tools never connects to one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_servers import ads, content, crm, sales
from mcp_servers.toolkit import ToolRuntime

SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "mcp_tools.json"


def servers() -> dict[str, Any]:
    return {
        "promptsales-ads": ads.build_server(runtime=ToolRuntime("ads"), environ={}),
        "promptsales-content": content.build_server(runtime=ToolRuntime("content"), environ={}),
        "promptsales-crm": crm.build_server(runtime=ToolRuntime("crm"), environ={}),
        "promptsales-sales": sales.build_server(dsn="", runtime=ToolRuntime("sales")),
    }


def catalog() -> dict[str, list[dict[str, Any]]]:
    async def listed(server: Any) -> list[dict[str, Any]]:
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
        return [
            {
                "name": t.name,
                "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None,
                "input_schema": t.input_schema,
                "output_schema": t.output_schema,
                "description": (t.description or "").strip().splitlines()[0] if t.description else "",
            }
            for t in sorted(tools, key=lambda t: t.name)
        ]

    return {name: anyio.run(listed, server) for name, server in servers().items()}


def test_the_tool_catalog_matches_its_snapshot() -> None:
    found = catalog()
    if os.environ.get("PROMPTSALES_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip(f"snapshot written to {SNAPSHOT}; review the diff and commit it")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(found) == sorted(expected)
    for server, tools in expected.items():  # per server and tool first, so a failure names what moved
        assert [t["name"] for t in found[server]] == [t["name"] for t in tools], server
        for got, want in zip(found[server], tools, strict=True):
            assert got == want, f"{server}.{want['name']} changed"


def test_every_tool_but_the_message_writer_is_read_only_and_structured() -> None:
    for server, tools in catalog().items():
        for tool in tools:
            assert tool["output_schema"], f"{server}.{tool['name']} has no structured output"
            read_only = tool["annotations"]["readOnlyHint"]
            assert read_only is (tool["name"] != "createCampaignMessages"), f"{server}.{tool['name']}"
            if read_only:
                assert tool["annotations"]["destructiveHint"] is False
