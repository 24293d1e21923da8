"""The guard of the MCP servers' read-only SQL tools: an allow-list check of the query, then a capped, read-only run.

An agent may send its own analytical SELECT. Before anything reaches a database the query is parsed (PostgreSQL
with pglast, the real server's parser; T-SQL with sqlfluff's tsql grammar) and must be, in full:

- one statement, a SELECT (CTEs allowed, each itself a plain SELECT), with no INTO and no locking clause;
- reading only tables of the readable schemas, schema-qualified (a CTE's own name needs no schema), never a
  system catalog;
- calling only functions of an explicit list of pure built-ins, and casting only to plain data types.

Anything else is rejected with `QueryRejected`, one specific line the agent can act on. The guard is the first
line of defence, not the only one: `run_select` runs a guarded query in a read-only transaction that is always
rolled back, with a statement timeout, a row cap and (normally) `SET LOCAL ROLE` to a role that may only read.

    query = check_select(sql, allowed_schemas=("analytics", "etl"))
    rows, truncated = run_select(conn, query, max_rows=200, timeout_ms=5000, role="promptsales_mcp_reader")
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pglast
from pglast import ast
from pglast.enums import LockClauseStrength, SQLValueFunctionOp, TransactionStmtKind
from pglast.parser import ParseError

from mcp_servers.toolkit import ToolFailure

if TYPE_CHECKING:
    import psycopg
    from sqlfluff.core import Linter
    from sqlfluff.core.parser import BaseSegment

MAX_QUERY_CHARS = 20_000
"""Longer queries are rejected before parsing: an analytical question fits in far less."""
_MESSAGE_LIMIT = 240


class QueryRejected(ToolFailure):
    """The query is not a single, safe, read-only SELECT; the message says exactly why, in one line."""


@dataclass(frozen=True)
class GuardedQuery:
    """A query that passed the guard: its own text (no trailing `;`), the tables it reads and the functions it calls."""

    sql: str
    relations: list[str]
    functions: list[str]


def _one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _check_text(sql: str) -> str:
    if not isinstance(sql, str):
        raise QueryRejected("the query must be a string of SQL")
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryRejected(f"the query is {len(sql)} characters long; the limit is {MAX_QUERY_CHARS}")
    if "\x00" in sql:
        raise QueryRejected("the query contains a NUL character")
    if not sql.strip():
        raise QueryRejected("the query is empty")
    return sql


# =========================================================================== PostgreSQL

SAFE_FUNCTIONS = frozenset(
    {
        # aggregates
        "count", "sum", "avg", "min", "max", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop",
        "var_samp", "bool_and", "bool_or", "every", "array_agg", "string_agg", "percentile_cont",
        "percentile_disc", "mode", "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2",
        # window functions
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value",
        "last_value", "nth_value",
        # numbers
        "round", "abs", "ceil", "ceiling", "floor", "trunc", "sign", "sqrt", "power", "ln", "log", "exp", "mod",
        "div", "width_bucket",
        # dates and times (now() is stable within the transaction and reveals nothing)
        "date_trunc", "date_part", "extract", "date_bin", "age", "make_date", "make_interval", "to_char",
        "to_date", "to_timestamp", "to_number", "now", "timezone", "isfinite", "justify_days", "justify_hours",
        "justify_interval",
        # text
        "lower", "upper", "initcap", "length", "char_length", "character_length", "substring", "substr",
        "concat", "concat_ws", "btrim", "ltrim", "rtrim", "left", "right", "replace", "split_part", "position",
        "strpos", "lpad", "rpad", "starts_with", "format", "md5",
        # arrays and sets of rows
        "array_length", "cardinality", "unnest", "array_position", "array_to_string", "array_remove",
        "array_cat", "array_append", "array_prepend", "generate_series",
    }
)  # fmt: skip
"""Built-in pure functions an analytical query may call (pg_catalog only; COALESCE, NULLIF, GREATEST, LEAST and
CASE are expressions of their own and always allowed). Everything else, from pg_sleep to dblink, is refused."""

SAFE_TYPES = frozenset(
    {
        "numeric", "decimal", "int2", "int4", "int8", "int", "integer", "smallint", "bigint", "float4", "float8",
        "real", "text", "varchar", "bpchar", "date", "time", "timetz", "timestamp", "timestamptz", "interval",
        "bool", "boolean",
    }
)  # fmt: skip
"""Types a query may cast to; casts to regclass, regproc, oid and friends can read the catalogs and are refused."""

TABLESAMPLE_METHODS = frozenset({"system", "bernoulli"})
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})

_SAFE_SQL_VALUES = frozenset(
    {
        SQLValueFunctionOp.SVFOP_CURRENT_DATE,
        SQLValueFunctionOp.SVFOP_CURRENT_TIME,
        SQLValueFunctionOp.SVFOP_CURRENT_TIME_N,
        SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP,
        SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP_N,
        SQLValueFunctionOp.SVFOP_LOCALTIME,
        SQLValueFunctionOp.SVFOP_LOCALTIME_N,
        SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP,
        SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP_N,
    }
)

# Every node a plain analytical SELECT is made of. A node of any other type (XML and JSON constructors, column
# definitions, parameters, a statement nested somewhere) is refused: new parser features stay out until listed.
_ALLOWED_NODES: frozenset[type[ast.Node]] = frozenset(
    {
        ast.SelectStmt, ast.WithClause, ast.CommonTableExpr, ast.ResTarget, ast.ColumnRef, ast.A_Star,
        ast.A_Const, ast.Integer, ast.Float, ast.Boolean, ast.String, ast.BitString, ast.A_Expr, ast.BoolExpr,
        ast.NullTest, ast.BooleanTest, ast.SubLink, ast.CaseExpr, ast.CaseWhen, ast.CoalesceExpr,
        ast.MinMaxExpr, ast.FuncCall, ast.TypeCast, ast.TypeName, ast.RangeVar, ast.Alias, ast.JoinExpr,
        ast.RangeSubselect, ast.RangeFunction, ast.RangeTableSample, ast.SortBy, ast.WindowDef, ast.GroupingSet,
        ast.GroupingFunc, ast.A_ArrayExpr, ast.A_Indirection, ast.A_Indices, ast.RowExpr, ast.SQLValueFunction,
        ast.CollateClause,
    }
)  # fmt: skip

_LOCKING = {
    LockClauseStrength.LCS_FORKEYSHARE: "FOR KEY SHARE",
    LockClauseStrength.LCS_FORSHARE: "FOR SHARE",
    LockClauseStrength.LCS_FORNOKEYUPDATE: "FOR NO KEY UPDATE",
    LockClauseStrength.LCS_FORUPDATE: "FOR UPDATE",
}
_TRANSACTION_WORDS = {
    TransactionStmtKind.TRANS_STMT_BEGIN: "BEGIN",
    TransactionStmtKind.TRANS_STMT_START: "START TRANSACTION",
    TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
    TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
    TransactionStmtKind.TRANS_STMT_SAVEPOINT: "SAVEPOINT",
    TransactionStmtKind.TRANS_STMT_RELEASE: "RELEASE",
    TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO",
    TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
    TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
    TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}
_STATEMENT_WORDS = {
    "VariableSetStmt": "SET",
    "VariableShowStmt": "SHOW",
    "VacuumStmt": "VACUUM",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "CreateStmt": "CREATE TABLE",
    "IndexStmt": "CREATE INDEX",
    "ViewStmt": "CREATE VIEW",
    "CreateFunctionStmt": "CREATE FUNCTION",
    "DropStmt": "DROP",
    "RenameStmt": "ALTER ... RENAME",
    "DoStmt": "DO",
    "LockStmt": "LOCK",
    "GrantRoleStmt": "GRANT",
}


def _statement_kind(stmt: ast.Node) -> str:
    """The SQL words of a statement node, for messages (DeleteStmt -> DELETE, AlterTableStmt -> ALTER TABLE)."""
    name = type(stmt).__name__
    if isinstance(stmt, ast.TransactionStmt):
        return _TRANSACTION_WORDS.get(stmt.kind, "a transaction statement") if stmt.kind is not None else "BEGIN"
    if isinstance(stmt, ast.VariableSetStmt) and "RESET" in getattr(stmt.kind, "name", ""):
        return "RESET"
    if isinstance(stmt, ast.ExplainStmt):
        options = {getattr(o, "defname", "") for o in stmt.options or ()}
        return "EXPLAIN ANALYZE" if "analyze" in options else "EXPLAIN"
    if isinstance(stmt, ast.VacuumStmt) and not stmt.is_vacuumcmd:
        return "ANALYZE"
    if name in _STATEMENT_WORDS:
        return _STATEMENT_WORDS[name]
    words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Stmt"))
    return " ".join(words).upper() or name


def _dotted(names: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(getattr(n, "sval", "") for n in names or ())


def _readable(schemas: Collection[str]) -> str:
    return ", ".join(sorted(schemas)) or "none"


class _PgChecker:
    """One walk over the statement's tree; every node is checked against the allow-lists on the way down."""

    def __init__(self, allowed_schemas: Collection[str], allowed_tables: Collection[str]) -> None:
        self.allowed_schemas = frozenset(allowed_schemas)
        self.allowed_tables = frozenset(allowed_tables)
        self.relations: set[str] = set()
        self.functions: set[str] = set()

    def walk(self, node: Any, ctes: frozenset[str]) -> None:
        if isinstance(node, tuple | list):
            for item in node:
                self.walk(item, ctes)
            return
        if not isinstance(node, ast.Node):
            return  # scalars: names, flags, enums, locations
        if type(node) not in _ALLOWED_NODES:
            raise QueryRejected(self._unsupported(node))
        skip: set[str] = set()
        if isinstance(node, ast.SelectStmt):
            ctes = self._select(node, ctes)
            skip.add("withClause")
        elif isinstance(node, ast.RangeVar):
            self._relation(node, ctes)
        elif isinstance(node, ast.FuncCall):
            self._function(node)
            skip.add("funcname")
        elif isinstance(node, ast.TypeName):
            self._type(node)
            skip.add("names")
        elif isinstance(node, ast.A_Expr):
            self._operator(node)
            skip.add("name")
        elif isinstance(node, ast.SQLValueFunction) and node.op not in _SAFE_SQL_VALUES:
            word = getattr(node.op, "name", str(node.op)).removeprefix("SVFOP_").lower()
            raise QueryRejected(f"{word} is not allowed in a read-only query")
        elif isinstance(node, ast.RangeTableSample):
            method = ".".join(_dotted(node.method))
            if method not in TABLESAMPLE_METHODS:
                raise QueryRejected(f"TABLESAMPLE method {method} is not allowed (use SYSTEM or BERNOULLI)")
            skip.add("method")
        slots: Any = getattr(type(node), "__slots__", ())  # every pglast node declares its fields as slots
        for attr in slots:
            if attr not in skip:
                self.walk(getattr(node, attr), ctes)

    @staticmethod
    def _unsupported(node: ast.Node) -> str:
        name = type(node).__name__
        if name.endswith("Stmt"):
            return f"only SELECT is allowed inside the query: found a nested {_statement_kind(node)} statement"
        if name == "ParamRef":
            return "query parameters ($1, $2, ...) are not supported: write the values into the query"
        if name == "IntoClause":
            return "SELECT ... INTO creates a table: not allowed"
        return f"{name} expressions are not allowed in a read-only query"

    def _select(self, node: ast.SelectStmt, ctes: frozenset[str]) -> frozenset[str]:
        """Check one SELECT's own clauses and its CTEs; returns the CTE names visible in its body."""
        if node.intoClause is not None:
            raise QueryRejected("SELECT ... INTO creates a table: not allowed")
        if node.lockingClause:
            strength = getattr(node.lockingClause[0], "strength", None)
            word = _LOCKING.get(strength, "FOR UPDATE/SHARE") if strength is not None else "FOR UPDATE/SHARE"
            raise QueryRejected(f"locking clause {word} is not allowed in a read-only query")
        with_clause = node.withClause
        if with_clause is None:
            return ctes
        entries = [c for c in with_clause.ctes or () if isinstance(c, ast.CommonTableExpr)]
        names = [c.ctename or "" for c in entries]
        for position, cte in enumerate(entries):
            if not isinstance(cte.ctequery, ast.SelectStmt):
                kind = _statement_kind(cte.ctequery) if isinstance(cte.ctequery, ast.Node) else "statement"
                raise QueryRejected(
                    f"WITH {cte.ctename} AS ({kind} ...) modifies data: every CTE must be a plain SELECT"
                )
            # A non-recursive CTE sees the ones before it; a recursive WITH sees all of them, itself included.
            visible = names if with_clause.recursive else names[:position]
            self.walk(cte, ctes | frozenset(visible))
        return ctes | frozenset(names)

    def _relation(self, node: ast.RangeVar, ctes: frozenset[str]) -> None:
        relname = node.relname or ""
        if node.catalogname:
            raise QueryRejected(
                f"table {node.catalogname}.{node.schemaname}.{relname} names another database: not allowed"
            )
        if not node.schemaname:
            if relname in ctes:
                return
            if relname.startswith("pg_"):
                raise QueryRejected(f"system catalog {relname} is not readable")
            raise QueryRejected(
                f"table {relname} must be schema-qualified (readable schemas: {_readable(self.allowed_schemas)})"
            )
        qualified = f"{node.schemaname}.{relname}"
        if qualified in self.allowed_tables:
            self.relations.add(qualified)
            return
        if node.schemaname in SYSTEM_SCHEMAS or node.schemaname.startswith("pg_"):
            raise QueryRejected(f"system catalog {qualified} is not readable")
        if node.schemaname not in self.allowed_schemas:
            raise QueryRejected(f"table {qualified} is outside the readable schemas: {_readable(self.allowed_schemas)}")
        self.relations.add(qualified)

    def _function(self, node: ast.FuncCall) -> None:
        parts = _dotted(node.funcname)
        name = parts[-1] if parts else ""
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "pg_catalog"):
            raise QueryRejected(
                f"function {'.'.join(parts)} is not allowed: only built-in pg_catalog functions may be called"
            )
        if name not in SAFE_FUNCTIONS:
            raise QueryRejected(f"function {'.'.join(parts)} is not allowed in a read-only query")
        self.functions.add(name)

    @staticmethod
    def _type(node: ast.TypeName) -> None:
        parts = _dotted(node.names)
        name = parts[-1] if parts else ""
        if node.pct_type or node.setof or name not in SAFE_TYPES or (len(parts) > 1 and parts[0] != "pg_catalog"):
            raise QueryRejected(f"cast to {'.'.join(parts) or 'this type'} is not allowed (allowed: plain data types)")

    @staticmethod
    def _operator(node: ast.A_Expr) -> None:
        parts = _dotted(node.name)
        if len(parts) > 1 and parts[0] != "pg_catalog":
            raise QueryRejected(f"operator {'.'.join(parts)} is not allowed: only built-in operators may be used")


def check_select(sql: str, *, allowed_schemas: Collection[str], allowed_tables: Collection[str] = ()) -> GuardedQuery:
    """The query, if it is one safe read-only PostgreSQL SELECT over `allowed_schemas` (plus `allowed_tables`,
    given as schema.table); raises QueryRejected naming the first problem otherwise."""
    _check_text(sql)
    try:
        statements = pglast.parse_sql(sql)
    except ParseError as exc:
        raise QueryRejected(f"the query does not parse: {_one_line(str(exc))}") from None
    if not statements:
        raise QueryRejected("the query is empty (only comments)")
    if len(statements) != 1:
        raise QueryRejected(f"only one statement is allowed (found {len(statements)})")
    raw = statements[0]
    stmt = raw.stmt
    if not isinstance(stmt, ast.SelectStmt):
        kind = _statement_kind(stmt) if isinstance(stmt, ast.Node) else "unknown"
        raise QueryRejected(f"only a SELECT is allowed (found {kind})")
    checker = _PgChecker(allowed_schemas, allowed_tables)
    try:
        checker.walk(stmt, frozenset())
    except RecursionError:
        raise QueryRejected("the query is nested too deeply") from None
    start = raw.stmt_location or 0
    text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
    return GuardedQuery(sql=text.strip(), relations=sorted(checker.relations), functions=sorted(checker.functions))


# --------------------------------------------------------------------------- running it


def to_json_value(value: Any) -> Any:
    """A JSON-friendly value: numeric -> float (non-finite -> its name as text), date/time -> ISO 8601 text,
    interval -> text such as "1 day, 2:00:00", uuid -> text, bytes -> hex text, arrays and json recursively."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    return str(value)


def _column_names(names: Sequence[str]) -> list[str]:
    """Column names made unique (a, a_2, a_3) so no value of a row is lost to a duplicate key."""
    used: set[str] = set()
    out = []
    for name in names:
        unique, count = name, 1
        while unique in used:
            count += 1
            unique = f"{name}_{count}"
        used.add(unique)
        out.append(unique)
    return out


def _check_limits(max_rows: int, timeout_ms: int) -> None:
    if not isinstance(max_rows, int) or max_rows < 1:
        raise ToolFailure(f"max_rows must be a positive integer (got {max_rows!r})")
    if not isinstance(timeout_ms, int) or timeout_ms < 1:
        raise ToolFailure(f"timeout_ms must be a positive integer (got {timeout_ms!r})")


def run_select(
    conn: psycopg.Connection[Any], query: GuardedQuery, *, max_rows: int, timeout_ms: int, role: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """(up to max_rows rows, truncated): the guarded query run in a read-only transaction that is rolled back.

    The transaction sets READ ONLY, statement and lock timeouts, a search_path of pg_catalog only (unqualified
    names can resolve to nothing but built-ins) and, when `role` is given, SET LOCAL ROLE to it; the query runs as
    `SELECT * FROM (<query>) AS guarded LIMIT max_rows + 1`, the extra row only proving truncation. Values are
    made JSON-friendly by `to_json_value`. Database errors become one-line ToolFailures: a timeout, a privilege
    the role lacks, or PostgreSQL's primary message - never the SQL text, the host or the login.
    """
    import psycopg
    from psycopg import errors, sql
    from psycopg.rows import tuple_row

    _check_limits(max_rows, timeout_ms)
    setup: list[sql.Composed | sql.SQL] = [
        sql.SQL("SET TRANSACTION READ ONLY"),
        sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms)),
        sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(timeout_ms)),
        # The guard parsed the text with standard-conforming strings; the server must read it the same way.
        sql.SQL("SET LOCAL standard_conforming_strings = on"),
        sql.SQL("SET LOCAL search_path = pg_catalog"),
    ]
    if role:
        setup.append(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    statement = sql.SQL("SELECT * FROM (\n{}\n) AS guarded LIMIT {}").format(
        sql.SQL(query.sql),  # type: ignore[arg-type]  # checked by the guard, not a literal
        sql.Literal(max_rows + 1),
    )
    try:
        with conn.transaction(force_rollback=True), conn.cursor(row_factory=tuple_row) as cur:
            try:
                for command in setup:
                    cur.execute(command)
            except errors.InsufficientPrivilege:
                raise ToolFailure(f"this database login may not act as role {role}: grant it membership") from None
            cur.execute(statement)
            names = _column_names([c.name for c in cur.description or ()])
            fetched = cur.fetchall()
    except errors.QueryCanceled:
        raise ToolFailure(
            f"the query ran longer than {timeout_ms} ms and was cancelled: filter or aggregate more"
        ) from None
    except errors.LockNotAvailable:
        raise ToolFailure(f"the query waited longer than {timeout_ms} ms for a lock and was cancelled") from None
    except errors.InsufficientPrivilege as exc:
        what = (exc.diag.message_primary or "").removeprefix("permission denied for ").strip() or "this object"
        who = "the read-only role" if role else "this database login"
        raise ToolFailure(f"{who} may not read {_one_line(what, 120)}") from None
    except errors.ReadOnlySqlTransaction as exc:
        raise ToolFailure(f"the query tried to write: {_one_line(exc.diag.message_primary or 'refused')}") from None
    except psycopg.Error as exc:
        primary = exc.diag.message_primary if exc.diag is not None else None
        if exc.sqlstate is None or not primary:
            raise  # a lost connection or a driver problem: unexpected, logged under a reference id
        raise ToolFailure(f"the database rejected the query: {_one_line(primary)}") from None
    rows = [dict(zip(names, (to_json_value(v) for v in row), strict=True)) for row in fetched[:max_rows]]
    return rows, len(fetched) > max_rows


# =========================================================================== T-SQL (PromptAds, PromptCrm)

SAFE_TSQL_FUNCTIONS = frozenset(
    {
        "COUNT", "COUNT_BIG", "SUM", "AVG", "MIN", "MAX", "STDEV", "STDEVP", "VAR", "VARP", "STRING_AGG",
        "ROW_NUMBER", "RANK", "DENSE_RANK", "NTILE", "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE", "PERCENT_RANK",
        "CUME_DIST", "PERCENTILE_CONT", "PERCENTILE_DISC",
        "ROUND", "ABS", "CEILING", "FLOOR", "SIGN", "SQRT", "POWER", "LOG", "EXP",
        "ISNULL", "COALESCE", "NULLIF", "IIF", "CAST", "CONVERT", "TRY_CAST", "TRY_CONVERT",
        "DATEADD", "DATEDIFF", "DATEDIFF_BIG", "DATEPART", "DATENAME", "DATEFROMPARTS", "EOMONTH", "YEAR",
        "MONTH", "DAY", "GETDATE", "GETUTCDATE", "SYSUTCDATETIME", "SYSDATETIME", "FORMAT",
        "LEN", "UPPER", "LOWER", "LTRIM", "RTRIM", "TRIM", "SUBSTRING", "LEFT", "RIGHT", "REPLACE", "CONCAT",
        "CONCAT_WS", "CHARINDEX",
    }
)  # fmt: skip
"""Built-in pure T-SQL functions an analytical query may call; everything else (xp_*, sp_*, OPENQUERY...) is refused."""

SAFE_TSQL_TYPES = frozenset(
    {
        "INT", "BIGINT", "SMALLINT", "TINYINT", "DECIMAL", "NUMERIC", "FLOAT", "REAL", "MONEY", "BIT", "DATE",
        "TIME", "DATETIME", "DATETIME2", "DATETIMEOFFSET", "VARCHAR", "NVARCHAR", "CHAR", "NCHAR",
    }
)  # fmt: skip
SAFE_TSQL_HINTS = frozenset({"NOLOCK", "READUNCOMMITTED", "READCOMMITTED", "NOEXPAND"})
"""Table hints that take no locks beyond a plain read; UPDLOCK, XLOCK, HOLDLOCK, TABLOCKX and the rest are refused."""

_TSQL_SYSTEM_SCHEMAS = frozenset({"sys", "information_schema"})
_TSQL_SYSTEM_DATABASES = frozenset({"master", "msdb", "model", "tempdb"})
_TSQL_QUERY_TYPES = frozenset({"select_statement", "set_expression", "with_compound_statement"})
_TSQL_FORBIDDEN_KEYWORDS = {
    "INTO": "SELECT ... INTO creates a table: not allowed",
    "EXEC": "EXEC runs a procedure or dynamic SQL: not allowed",
    "EXECUTE": "EXECUTE runs a procedure or dynamic SQL: not allowed",
    "WAITFOR": "WAITFOR is not allowed in a read-only query",
    "OPENROWSET": "OPENROWSET reads outside this database: not allowed",
    "OPENQUERY": "OPENQUERY reads outside this database: not allowed",
    "OPENDATASOURCE": "OPENDATASOURCE reads outside this database: not allowed",
    "OPENXML": "OPENXML is not allowed in a read-only query",
}
_TSQL_FORBIDDEN_TYPES = {
    "into_table_clause": "SELECT ... INTO creates a table: not allowed",
    "openrowset_segment": "OPENROWSET reads outside this database: not allowed",
    "execute_script_statement": "EXEC runs a procedure or dynamic SQL: not allowed",
}


@functools.cache
def _tsql_linter() -> Linter:
    from sqlfluff.core import FluffConfig, Linter  # local import: slow to import, needed by the T-SQL servers only

    return Linter(config=FluffConfig(overrides={"dialect": "tsql", "templater": "raw"}))


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] + part[-1] in ("[]", '""'):
        return part[1:-1]
    return part


def _code_children(segment: BaseSegment) -> list[BaseSegment]:
    return [s for s in segment.segments if s.is_code]


def _name_parts(segment: BaseSegment) -> list[str]:
    return [_unquote(s.raw) for s in segment.segments if s.is_code and not s.is_type("dot")]


def _tsql_statement_kind(segment: BaseSegment) -> str:
    if segment.is_type("execute_script_statement"):
        return "EXEC"
    kind = segment.get_type().removesuffix("_statement").replace("_", " ").upper()
    return kind or "unknown"


def check_tsql_select(sql: str, *, allowed_schemas: Collection[str]) -> GuardedQuery:
    """The query, if it is one safe read-only T-SQL SELECT over `allowed_schemas` (compared case-insensitively, as
    SQL Server does); raises QueryRejected naming the first problem otherwise."""
    _check_text(sql)
    parsed = _tsql_linter().parse_string(sql)
    tree = parsed.parsed_variants[0].tree if parsed.parsed_variants else None
    if parsed.violations:
        desc = re.sub(r"^Line \d+, Position \d+: ", "", parsed.violations[0].desc())
        raise QueryRejected(f"the query does not parse as T-SQL: {_one_line(desc)}")
    if tree is None:
        raise QueryRejected("the query does not parse as T-SQL")
    for seg in tree.recursive_crawl("unparsable"):
        raise QueryRejected(f"the query does not parse as T-SQL near {_one_line(seg.raw, 60)!r}")
    statements = list(tree.recursive_crawl("statement", recurse_into=False))
    if not statements:
        raise QueryRejected("the query is empty (only comments)")
    if len(statements) != 1 or len(list(tree.recursive_crawl("batch", recurse_into=False))) != 1:
        raise QueryRejected(f"only one statement is allowed (found {max(len(statements), 2)})")
    body = _code_children(statements[0])
    if len(body) != 1 or body[0].get_type() not in _TSQL_QUERY_TYPES:
        kind = _tsql_statement_kind(body[0]) if body else "unknown"
        raise QueryRejected(f"only a SELECT is allowed (found {kind})")

    allowed = {s.lower() for s in allowed_schemas}
    ctes = {
        _unquote(_code_children(cte)[0].raw).lower()
        for cte in tree.recursive_crawl("common_table_expression")
        if _code_children(cte)
    }
    relations: set[str] = set()
    functions: set[str] = set()
    for seg in tree.recursive_crawl_all():
        kind = seg.get_type()
        if kind in _TSQL_FORBIDDEN_TYPES:
            raise QueryRejected(_TSQL_FORBIDDEN_TYPES[kind])
        if kind.endswith("_statement") and kind not in _TSQL_QUERY_TYPES:
            raise QueryRejected(f"only SELECT is allowed inside the query: found a {_tsql_statement_kind(seg)}")
        if kind == "keyword" and seg.raw.upper() in _TSQL_FORBIDDEN_KEYWORDS:
            raise QueryRejected(_TSQL_FORBIDDEN_KEYWORDS[seg.raw.upper()])
        if kind == "common_table_expression":
            inner = [s for s in seg.segments if s.is_type("bracketed")]  # the last one; a column list comes first
            query = (
                [s for s in _code_children(inner[-1]) if not s.is_type("start_bracket", "end_bracket")] if inner else []
            )
            if not query or query[0].get_type() not in ("select_statement", "set_expression"):
                raise QueryRejected("every CTE must be a plain SELECT")
        elif kind == "query_hint_segment":
            hint = seg.raw.split("(")[0].strip().upper()
            if hint not in SAFE_TSQL_HINTS:
                raise QueryRejected(f"hint {hint.split()[0] if hint else '?'} is not allowed in a read-only query")
        elif kind == "system_variable":
            raise QueryRejected(f"system variable {seg.raw} is not allowed in a read-only query")
        elif kind == "parameter":
            raise QueryRejected(f"variable {seg.raw} is not supported: write the values into the query")
        elif kind == "function_name":
            parts = _name_parts(seg)
            name = ".".join(parts)
            if len(parts) != 1:
                raise QueryRejected(f"function {name} is not allowed: only built-in functions may be called")
            if name.upper().startswith(("XP_", "SP_")) or name.upper() not in SAFE_TSQL_FUNCTIONS:
                raise QueryRejected(f"function {name} is not allowed in a read-only query")
            functions.add(name.upper())
        elif kind == "data_type":
            words = [s.raw for s in seg.segments if s.is_code and not s.is_type("bracketed_arguments", "bracketed")]
            type_name = _unquote(words[-1]).upper() if words else ""
            if type_name not in SAFE_TSQL_TYPES or len(words) != 1:
                raise QueryRejected(f"cast to {seg.raw.strip()} is not allowed (allowed: plain data types)")
        elif kind == "table_reference":
            relations.add(_tsql_relation(_name_parts(seg), ctes, allowed))
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return GuardedQuery(sql=text, relations=sorted(r for r in relations if r), functions=sorted(functions))


def _tsql_relation(parts: list[str], ctes: set[str], allowed: set[str]) -> str:
    """schema.table of a table reference, or "" for a CTE; raises QueryRejected when it may not be read."""
    name = ".".join(parts)
    lowered = [p.lower() for p in parts]
    if len(parts) == 1:
        if lowered[0] in ctes:
            return ""
        if lowered[0].startswith(("sys", "information_schema")):
            raise QueryRejected(f"system catalog {name} is not readable")
        raise QueryRejected(f"table {name} must be schema-qualified (readable schemas: {_readable(allowed)})")
    if len(parts) > 2:
        if lowered[0] in _TSQL_SYSTEM_DATABASES or any(p in _TSQL_SYSTEM_SCHEMAS for p in lowered):
            raise QueryRejected(f"system catalog {name} is not readable")
        raise QueryRejected(f"table {name} names another database or server: not allowed")
    if lowered[0] in _TSQL_SYSTEM_SCHEMAS:
        raise QueryRejected(f"system catalog {name} is not readable")
    if lowered[0] not in allowed:
        raise QueryRejected(f"table {name} is outside the readable schemas: {_readable(allowed)}")
    return f"{lowered[0]}.{lowered[1]}"


def _tsql_rows(cursor: Any, max_rows: int) -> Iterator[dict[str, Any]]:
    names = _column_names([str(c[0] or f"column{i + 1}") for i, c in enumerate(cursor.description or ())])
    for row in cursor.fetchmany(max_rows + 1):
        yield dict(zip(names, (to_json_value(v) for v in row), strict=True))


def run_tsql_select(
    conn: Any, query: GuardedQuery, *, max_rows: int, timeout_ms: int
) -> tuple[list[dict[str, Any]], bool]:
    """(up to max_rows rows, truncated): the guarded query run on a pytds connection, then rolled back.

    SQL Server has no read-only transaction mode: the login's role (ads_mcp_reader, crm_mcp_reader) is what
    refuses writes. The query runs under READ COMMITTED with SET LOCK_TIMEOUT = timeout_ms and SET ROWCOUNT
    max_rows + 1 (the server stops after that many rows). pytds has no per-statement timeout: the elapsed-time
    limit is the connection's own `timeout` (seconds), so open it with `pytds.connect(..., timeout=timeout_ms /
    1000)`; when it fires pytds cancels the request and this raises the timeout ToolFailure.
    """
    import pytds

    _check_limits(max_rows, timeout_ms)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                cur.execute(f"SET LOCK_TIMEOUT {int(timeout_ms)}")
                cur.execute(f"SET ROWCOUNT {int(max_rows) + 1}")
                cur.execute(query.sql)
                fetched = list(_tsql_rows(cur, max_rows))
            finally:
                with contextlib.suppress(Exception):  # after a cancelled request the reset may fail too
                    cur.execute("SET ROWCOUNT 0")
    except TimeoutError:
        raise ToolFailure(
            f"the query ran longer than {timeout_ms} ms and was cancelled: filter or aggregate more"
        ) from None
    except pytds.Error as exc:
        number = getattr(exc, "number", 0)
        text = _one_line(getattr(exc, "text", "") or "refused")
        if number == 1222:
            raise ToolFailure(f"the query waited longer than {timeout_ms} ms for a lock and was cancelled") from None
        if number in (229, 230, 262, 297, 300):
            raise ToolFailure(f"the read-only role may not do this: {text}") from None
        if not number:
            raise  # a lost connection or a driver problem: unexpected, logged under a reference id
        raise ToolFailure(f"the database rejected the query: {text}") from None
    finally:
        with contextlib.suppress(Exception):  # a dead connection has nothing to roll back
            conn.rollback()
    return fetched[:max_rows], len(fetched) > max_rows


__all__ = [
    "MAX_QUERY_CHARS",
    "SAFE_FUNCTIONS",
    "SAFE_TSQL_FUNCTIONS",
    "GuardedQuery",
    "QueryRejected",
    "check_select",
    "check_tsql_select",
    "run_select",
    "run_tsql_select",
    "to_json_value",
]
