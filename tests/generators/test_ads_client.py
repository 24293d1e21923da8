"""The PromptAds client offline: URL parsing and masking, TVPs as pytds sends them, and error mapping (no server)."""

from __future__ import annotations

import re
import struct
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytds
import pytest
from pytds import tds_base
from pytds.collate import raw_collation
from pytds.tds_types import SerializerFactory, TdsTypeInferrer
from pytds.tds_writer import _TdsWriter

from generators import ads_client
from generators.ads_client import (
    AD_LIST,
    CHANNEL_LIST,
    SCALAR_PARAMETERS,
    TABLE_TYPES,
    AdsClientError,
    AdsConnectionError,
    AdsUrlError,
    CampaignFailed,
    CampaignInputError,
    CampaignRejected,
    ChannelShare,
    NewAd,
    NewCampaign,
)
from generators.deploy import split_batches
from generators.model import load_model

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr@t:pw/x"
SECRET_ENCODED = "s3cr%40t%3Apw%2Fx"


def campaign(**changes: Any) -> NewCampaign:
    base = NewCampaign(
        brand_id=7,
        campaign_name="Spring launch",
        objective="awareness",
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 31),
        budget_usd=Decimal("25000.50"),
        channels=[ChannelShare("facebook", Decimal("0.6")), ChannelShare("instagram", Decimal("0.4"))],
        markets=["US-NY", "CR-SJ"],
        audiences=["young_urban"],
        ads=[
            NewAd(20, "instagram", "Café ☕ en primavera", "image", content_asset_id="65f1a2b3c4d5e6f708192a3b"),
            NewAd(10, "facebook", "Spring is here", "video", influencer_handle="@ana"),
        ],
    )
    return NewCampaign(**{**base.__dict__, **changes})


# --------------------------------------------------------------------------- URL


def test_url_parts_are_decoded_and_defaults_fill_the_rest() -> None:
    url = ads_client.parse_url(f"mssql://sa:{SECRET_ENCODED}@db.internal:14330/PromptAds_test?timeout=30")
    assert (url.host, url.port, url.database, url.user, url.password) == (
        "db.internal",
        14330,
        "PromptAds_test",
        "sa",
        SECRET,
    )
    assert (url.login_timeout, url.timeout, url.cafile) == (15.0, 30.0, None)

    bare = ads_client.parse_url("mssql+pytds://reader@10.0.0.5")
    assert (bare.port, bare.database, bare.user, bare.password) == (1433, "PromptAds", "reader", "")


def test_the_password_never_shows_in_repr_or_the_masked_url() -> None:
    url = ads_client.parse_url(f"mssql://sa:{SECRET_ENCODED}@db:1433/PromptAds?cafile=/etc/ca.pem&login_timeout=5")
    assert url.masked == "mssql://sa:***@db:1433/PromptAds"
    assert SECRET not in repr(url) and SECRET_ENCODED not in repr(url)
    assert (url.cafile, url.login_timeout) == ("/etc/ca.pem", 5.0)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mssql://sa:pw@host:1433/PromptAds", "mssql://sa:***@host:1433/PromptAds"),
        ("mssql://sa:p@ss@word@host/PromptAds", "mssql://sa:***@host/PromptAds"),  # unencoded "@" in the password
        ("mssql://sa@host/PromptAds", "mssql://sa@host/PromptAds"),
        ("mssql://host/PromptAds", "mssql://host/PromptAds"),
        ("sa:pw@host", "***"),
    ],
)
def test_mask_url_hides_the_password_even_in_urls_that_do_not_parse(url: str, masked: str) -> None:
    assert ads_client.mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        (f"postgresql://sa:{SECRET_ENCODED}@host/PromptAds", "the scheme must be mssql://"),
        (f"mssql://sa:{SECRET_ENCODED}@:1433/PromptAds", "no host"),
        (f"mssql://sa:{SECRET_ENCODED}@host:99999/PromptAds", "the port must be a number"),
        (f"mssql://sa:{SECRET_ENCODED}@host/PromptAds?encrypt=yes", "unknown option 'encrypt'"),
        (f"mssql://sa:{SECRET_ENCODED}@host/PromptAds?timeout=soon", "are seconds"),
        (f"mssql://sa:{SECRET_ENCODED}@host/Prompt/Ads", "just the database name"),
    ],
)
def test_a_bad_url_is_one_line_naming_the_problem_without_the_password(url: str, complaint: str) -> None:
    with pytest.raises(AdsUrlError) as caught:
        ads_client.parse_url(url)
    message = str(caught.value)
    assert complaint in message and "\n" not in message
    assert SECRET not in message and SECRET_ENCODED not in message
    assert ":***@" in message


def test_the_url_comes_from_promptsales_ads_url_or_the_error_says_to_set_it() -> None:
    assert (
        ads_client.url_from_env({"PROMPTSALES_ADS_URL": " mssql://sa:pw@h/PromptAds\n"}) == "mssql://sa:pw@h/PromptAds"
    )
    with pytest.raises(AdsUrlError, match=r"PROMPTSALES_ADS_URL is not set: set it to .*mssql://"):
        ads_client.url_from_env({})


def test_connect_passes_the_url_to_pytds_with_autocommit_and_the_database_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(pytds, "connect", lambda **kwargs: seen.update(kwargs) or "conn")
    url = f"mssql://sa:{SECRET_ENCODED}@db:14330/PromptAds?login_timeout=3"
    assert ads_client.connect(url, database="master") == "conn"
    assert {k: seen[k] for k in ("dsn", "port", "database", "user", "password", "login_timeout", "autocommit")} == {
        "dsn": "db",
        "port": 14330,
        "database": "master",
        "user": "sa",
        "password": SECRET,
        "login_timeout": 3.0,
        "autocommit": True,
    }


def test_an_unreachable_server_is_one_line_with_the_masked_url() -> None:
    # Port 1 on localhost refuses at once; pytds retries until login_timeout, then raises a bare TimeoutError.
    with pytest.raises(AdsConnectionError) as caught:
        ads_client.connect(f"mssql://sa:{SECRET_ENCODED}@127.0.0.1:1/PromptAds?login_timeout=0.5")
    message = str(caught.value)
    assert message.startswith("cannot connect to mssql://sa:***@127.0.0.1:1/PromptAds: ")
    assert "refused" in message.lower() and SECRET not in message and SECRET_ENCODED not in message


# --------------------------------------------------------------------------- parameters and TVPs


def test_scalars_are_typed_parameters_with_strings_sent_as_nvarchar_of_the_declared_length() -> None:
    params = ads_client.procedure_parameters(campaign())
    assert list(params) == [
        "@BrandId",
        "@CampaignName",
        "@Objective",
        "@StartsOn",
        "@EndsOn",
        "@BudgetUsd",
        "@Status",
        "@Channels",
        "@Markets",
        "@Audiences",
        "@Ads",
    ]
    scalars = {name: (p.type.get_declaration(), p.value) for name, p in params.items() if isinstance(p, tds_base.Param)}
    assert scalars == {
        "@BrandId": ("INT", 7),
        "@CampaignName": ("NVARCHAR(200)", "Spring launch"),
        "@Objective": ("NVARCHAR(20)", "awareness"),
        "@StartsOn": ("DATE", date(2026, 3, 1)),
        "@EndsOn": ("DATE", date(2026, 3, 31)),
        "@BudgetUsd": ("DECIMAL(14, 2)", Decimal("25000.50")),
        "@Status": ("NVARCHAR(12)", "draft"),
    }


def test_tvps_name_their_table_type_and_carry_the_rows_with_explicit_columns() -> None:
    params = ads_client.procedure_parameters(campaign())
    tvps = {name: p for name, p in params.items() if isinstance(p, pytds.TableValuedParam)}
    assert {name: f"{t.typ_schema}.{t.typ_name}" for name, t in tvps.items()} == {
        "@Channels": "ads.ChannelList",
        "@Markets": "ads.MarketList",
        "@Audiences": "ads.AudienceList",
        "@Ads": "ads.AdList",
    }
    assert list(tvps["@Channels"].rows) == [("facebook", Decimal("0.6")), ("instagram", Decimal("0.4"))]
    assert list(tvps["@Markets"].rows) == [("US-NY",), ("CR-SJ",)]
    assert list(tvps["@Audiences"].rows) == [("young_urban",)]
    # NULLs stay None (not "None"), in the caller's order; the procedure inserts by ad_key.
    assert list(tvps["@Ads"].rows) == [
        (20, "instagram", "Café ☕ en primavera", "image", "65f1a2b3c4d5e6f708192a3b", None),
        (10, "facebook", "Spring is here", "video", None, "@ana"),
    ]
    assert [c.type.get_declaration() for c in tvps["@Ads"].columns] == [
        "INT",
        "NVARCHAR(30)",
        "NVARCHAR(200)",
        "NVARCHAR(20)",
        "NVARCHAR(24)",
        "NVARCHAR(80)",
    ]
    assert [c.type.get_declaration() for c in tvps["@Channels"].columns] == ["NVARCHAR(30)", "DECIMAL(5, 4)"]
    assert all(c.flags == pytds.Column.fNullable for t in tvps.values() for c in t.columns)


def test_empty_lists_are_empty_tvps_not_null_and_keep_their_columns() -> None:
    params = ads_client.procedure_parameters(campaign(channels=[], audiences=[], ads=[]))
    for name, columns in (("@Channels", 2), ("@Audiences", 1), ("@Ads", 6)):
        tvp = params[name]
        assert not tvp.is_null() and list(tvp.rows) == [] and len(tvp.columns) == columns
    # Without explicit columns pytds must infer them from a first row, which an empty list does not have.
    inferrer = TdsTypeInferrer(type_factory=SerializerFactory(tds_base.TDS74), collation=raw_collation)
    with pytest.raises(pytds.DataError, match="no rows"):
        inferrer.from_value(pytds.TableValuedParam(type_name="ads.AudienceList", rows=[]))


def test_the_client_table_types_match_model_ads_yaml() -> None:
    model = load_model(ROOT / "model" / "ads.yaml", root=ROOT)
    in_model = {
        t.qualified: ([(c.name, c.type.replace(" ", ""), c.nullable) for c in t.columns], tuple(t.primary_key))
        for t in model.table_types
    }
    in_client = {
        t.name: ([(c.name, c.declaration.replace(" ", ""), c.nullable) for c in t.columns], t.primary_key)
        for t in TABLE_TYPES
    }
    assert in_client == in_model


def test_the_parameters_match_the_rendered_procedure_signature() -> None:
    text = (ROOT / "sql" / "ads" / "050_functions.sql").read_text(encoding="utf-8")
    batch = next(b for b in split_batches(text) if "CREATE OR ALTER PROCEDURE ads.ADSSP_CreateCampaign" in b)
    header = batch.split("CREATE OR ALTER PROCEDURE ads.ADSSP_CreateCampaign", 1)[1].split("\nAS\n", 1)[0]
    declared = dict(re.findall(r"^\s*(@\w+) ([^\n]+?),?$", header, re.MULTILINE))
    normalize = {name: decl.split(" = ")[0].replace(" ", "").lower() for name, decl in declared.items()}
    for name, declaration in SCALAR_PARAMETERS.items():
        assert normalize[name] == declaration.replace(" ", ""), name
    sent_tvps = {
        name: f"{p.typ_schema}.{p.typ_name}"
        for name, p in ads_client.procedure_parameters(campaign()).items()
        if isinstance(p, pytds.TableValuedParam)
    }
    for name in ("@Channels", "@Markets", "@Audiences", "@Ads"):
        assert declared[name] == f"{sent_tvps[name]} READONLY", name
    # The client does not send @CampaignId (it reads the result set), so the procedure must give it a default.
    assert declared["@CampaignId"] == "INT = NULL OUTPUT"
    assert set(declared) == set(SCALAR_PARAMETERS) | {"@Channels", "@Markets", "@Audiences", "@Ads", "@CampaignId"}


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"campaign_name": "x" * 201}, "@CampaignName: 201 characters do not fit nvarchar(200)"),
        # 101 characters outside the BMP are 202 UTF-16 code units, which is what nvarchar(200) counts.
        ({"campaign_name": "𝄞" * 101}, "@CampaignName: 202 characters do not fit nvarchar(200)"),
        ({"budget_usd": Decimal("10.005")}, "@BudgetUsd: 10.005 has more than 2 decimal places (decimal(14,2))"),
        ({"budget_usd": Decimal("1000000000000")}, "@BudgetUsd: 1000000000000 does not fit decimal(14,2)"),
        ({"starts_on": None}, "@StartsOn: NULL is not allowed (date NOT NULL)"),
        (
            {"channels": [ChannelShare("facebook", Decimal("0.33333"))]},
            "@Channels row 0 budget_share: 0.33333 has more than 4 decimal places (decimal(5,4))",
        ),
        (
            {"channels": [ChannelShare("facebook", Decimal("0.5")), ChannelShare("Facebook ", Decimal("0.5"))]},
            "@Channels rows 0 and 1: duplicate key channel_code='Facebook ' (ads.ChannelList)",
        ),
        ({"markets": ["US-NY", "US-NY"]}, "@Markets rows 0 and 1: duplicate key market_code='US-NY'"),
        (
            {"ads": [NewAd(1, "facebook", None, "image")]},  # type: ignore[arg-type]
            "@Ads row 0 headline: NULL is not allowed (nvarchar(200) NOT NULL)",
        ),
        (
            {"ads": [NewAd(1, "facebook", "a", "image"), NewAd(1, "facebook", "b", "image")]},
            "@Ads rows 0 and 1: duplicate key ad_key=1 (ads.AdList)",
        ),
        ({"ads": [NewAd(1, "facebook", "a", "image", content_asset_id="x" * 25)]}, "content_asset_id: 25 characters"),
    ],
)
def test_values_the_wire_cannot_carry_are_refused_naming_the_field(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(CampaignInputError) as caught:
        ads_client.procedure_parameters(campaign(**changes))
    assert complaint in str(caught.value)


def test_a_float_share_is_taken_by_its_decimal_text_not_its_binary_value() -> None:
    shares = [ChannelShare("facebook", 0.1), ChannelShare("x", 0.9)]  # type: ignore[arg-type]
    params = ads_client.procedure_parameters(campaign(channels=shares))
    assert list(params["@Channels"].rows) == [("facebook", Decimal("0.1")), ("x", Decimal("0.9"))]


# --------------------------------------------------------------------------- the TVPs on the wire


def _serialize(value: Any) -> bytes:
    """TYPE_INFO and value of one RPC parameter, written by pytds's own serializers as its submit_rpc does."""
    factory = SerializerFactory(tds_base.TDS74)
    inferrer = TdsTypeInferrer(type_factory=factory, collation=raw_collation)
    sql_type = value.type if isinstance(value, tds_base.Param) else inferrer.from_value(value)
    serializer = factory.serializer_by_type(sql_type=sql_type, collation=raw_collation)
    sent = bytearray()
    transport = SimpleNamespace(sendall=lambda data, flags=0: sent.extend(data))
    # The varchar serializers read this one login option through the writer's session (pytds 1.17 internals).
    session = SimpleNamespace(_tds=SimpleNamespace(_login=SimpleNamespace(bytes_to_unicode=True)))
    writer = _TdsWriter(transport, 4096, session)
    writer.begin_packet(tds_base.PacketType.RPC)
    writer.put_byte(serializer.type)
    serializer.write_info(writer)
    serializer.write(writer, value.value if isinstance(value, tds_base.Param) else value)
    writer.flush()
    return bytes(sent[8:])  # without the packet header


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.take(struct.calcsize(fmt)))
        return value

    def b_varchar(self) -> str:
        return self.take(self.unpack("B") * 2).decode("utf-16-le")


def _decode_tvp(data: bytes) -> tuple[str, list[str], list[tuple[Any, ...]]]:
    """Read back a TVP as MS-TDS lays it out (TVP_TYPE_INFO, TVP_COLMETADATA, TVP_ROW tokens): name, types, rows."""
    r = _Reader(data)
    assert r.unpack("B") == 0xF3  # TVPTYPE
    assert r.b_varchar() == ""  # database: must be empty
    name = r.b_varchar() + "." + r.b_varchar()
    columns: list[tuple[int, tuple[int, ...]]] = []
    for _ in range(r.unpack("H")):
        r.take(4 + 2)  # user type, flags
        type_id = r.unpack("B")
        if type_id == 0x26:  # INTN
            info: tuple[int, ...] = (r.unpack("B"),)
        elif type_id == 0xE7:  # NVARCHAR: max bytes, 5-byte collation
            info = (r.unpack("H"),)
            r.take(5)
        elif type_id == 0x6A:  # DECIMALN: size, precision, scale
            info = (r.unpack("B"), r.unpack("B"), r.unpack("B"))
        else:
            raise AssertionError(f"unexpected TDS type 0x{type_id:02x}")
        assert r.b_varchar() == ""  # column names must be empty in a TVP
        columns.append((type_id, info))
    assert r.unpack("B") == 0x00  # TVP_END_TOKEN: no optional metadata
    rows = []
    while (token := r.unpack("B")) == 0x01:  # TVP_ROW_TOKEN
        row: list[Any] = []
        for type_id, info in columns:
            if type_id == 0x26:
                size = r.unpack("B")
                row.append(None if size == 0 else int.from_bytes(r.take(size), "little", signed=True))
            elif type_id == 0xE7:
                size = r.unpack("H")
                row.append(None if size == 0xFFFF else r.take(size).decode("utf-16-le"))
            else:
                size = r.unpack("B")
                if size == 0:
                    row.append(None)
                    continue
                sign = r.unpack("B")
                magnitude = int.from_bytes(r.take(size - 1), "little")
                row.append((1 if sign else -1) * Decimal(magnitude).scaleb(-info[2]))
        rows.append(tuple(row))
    assert token == 0x00 and r.pos == len(data)  # TVP_END_TOKEN, nothing after it
    kinds = {0x26: "int", 0xE7: "nvarchar({})", 0x6A: "decimal({1},{2})"}
    types = [kinds[t].format(info[0] // 2, *info) if t == 0xE7 else kinds[t].format(*info) for t, info in columns]
    return name, types, rows


def test_pytds_puts_every_tvp_on_the_wire_with_its_rows_and_nulls() -> None:
    params = ads_client.procedure_parameters(campaign())
    assert _decode_tvp(_serialize(params["@Channels"])) == (
        "ads.ChannelList",
        ["nvarchar(30)", "decimal(5,4)"],
        [("facebook", Decimal("0.6000")), ("instagram", Decimal("0.4000"))],
    )
    assert _decode_tvp(_serialize(params["@Markets"])) == (
        "ads.MarketList",
        ["nvarchar(10)"],
        [("US-NY",), ("CR-SJ",)],
    )
    name, types, rows = _decode_tvp(_serialize(params["@Ads"]))
    assert (name, types) == (
        AD_LIST.name,
        ["int", "nvarchar(30)", "nvarchar(200)", "nvarchar(20)", "nvarchar(24)", "nvarchar(80)"],
    )
    assert rows == [
        (20, "instagram", "Café ☕ en primavera", "image", "65f1a2b3c4d5e6f708192a3b", None),
        (10, "facebook", "Spring is here", "video", None, "@ana"),
    ]


def test_an_empty_tvp_goes_on_the_wire_as_zero_rows() -> None:
    params = ads_client.procedure_parameters(campaign(channels=[], audiences=[], ads=[]))
    assert _decode_tvp(_serialize(params["@Audiences"])) == ("ads.AudienceList", ["nvarchar(40)"], [])
    assert _decode_tvp(_serialize(params["@Channels"]))[2] == []
    assert CHANNEL_LIST.name == "ads.ChannelList"


def test_the_budget_goes_as_decimal_14_2_without_losing_cents() -> None:
    wire = _serialize(ads_client.procedure_parameters(campaign())["@BudgetUsd"])
    type_id, size, precision, scale, value_size, sign = struct.unpack_from("<6B", wire)
    assert (type_id, precision, scale, sign) == (0x6A, 14, 2, 1)
    assert int.from_bytes(wire[6 : 6 + value_size - 1], "little") == 2500050  # 25000.50 in cents
    assert size == 9


# --------------------------------------------------------------------------- calling the procedure


class _FakeCursor:
    """Stands in for a pytds cursor: records callproc, then plays back result sets or raises a server error."""

    def __init__(self, sets: list[list[tuple[Any, ...]] | None], error: Exception | None = None) -> None:
        self.sets, self.error, self.index = sets, error, 0
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> _FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def callproc(self, name: str, params: dict[str, Any]) -> list[Any]:
        self.calls.append((name, params))
        if self.error is not None:
            raise self.error
        return list(params)

    @property
    def description(self) -> Any:
        current = self.sets[self.index] if self.index < len(self.sets) else None
        return None if current is None else [("campaign_id",)]

    def fetchone(self) -> tuple[Any, ...] | None:
        current = self.sets[self.index]
        return current.pop(0) if current else None

    def nextset(self) -> bool | None:
        self.index += 1
        return True if self.index < len(self.sets) else None


def _server_error(number: int, text: str) -> pytds.OperationalError:
    error = pytds.OperationalError(text)
    error.number, error.msg_no, error.text, error.severity = number, number, text, 16
    return error


def test_create_campaign_calls_the_procedure_and_returns_the_id_from_its_result_set() -> None:
    cursor = _FakeCursor([None, [(4711,)]])  # a rowcount-only set first, as with NOCOUNT off
    conn = SimpleNamespace(cursor=lambda: cursor)
    assert ads_client.create_campaign(conn, campaign()) == 4711
    ((name, params),) = cursor.calls
    assert name == "ads.ADSSP_CreateCampaign" and "@CampaignId" not in params
    assert list(params["@Markets"].rows) == [("US-NY",), ("CR-SJ",)]


@pytest.mark.parametrize("number", [51001, 51004, 51006, 51010, 51011])
def test_a_validation_error_becomes_campaign_rejected_with_number_and_message(number: int) -> None:
    text = "A campaign needs at least one channel and the channels' budget shares must add up to 1."
    conn = SimpleNamespace(cursor=lambda: _FakeCursor([], _server_error(number, text)))
    with pytest.raises(CampaignRejected) as caught:
        ads_client.create_campaign(conn, campaign())
    assert (caught.value.number, caught.value.message) == (number, text)
    assert str(caught.value).startswith(f"campaign rejected ({number}, {ads_client.VALIDATION_ERRORS[number]}): ")


def test_the_wrapped_engine_error_becomes_campaign_failed() -> None:
    text = "ADSSP_CreateCampaign failed: The INSERT statement conflicted with the CHECK constraint (error 547)"
    conn = SimpleNamespace(cursor=lambda: _FakeCursor([], _server_error(51000, text)))
    with pytest.raises(CampaignFailed) as caught:
        ads_client.create_campaign(conn, campaign())
    assert (caught.value.number, caught.value.message) == (51000, text)
    assert not isinstance(caught.value, CampaignRejected)


def test_other_server_errors_pass_through_unchanged() -> None:
    denied = _server_error(229, "The EXECUTE permission was denied on the object 'ChannelList'.")
    conn = SimpleNamespace(cursor=lambda: _FakeCursor([], denied))
    with pytest.raises(pytds.OperationalError) as caught:
        ads_client.create_campaign(conn, campaign())
    assert caught.value is denied


def test_no_result_set_is_an_error_not_a_zero_id() -> None:
    conn = SimpleNamespace(cursor=lambda: _FakeCursor([]))
    with pytest.raises(AdsClientError, match="returned no campaign_id for 'Spring launch'"):
        ads_client.create_campaign(conn, campaign())
