"""The Carte client against a local HTTP stand-in of Carte (a labelled test double, not Carte itself).

No Pentaho can run here, so `CarteStandIn` implements the three endpoints the client calls — executeJob, jobStatus
and stopJob — with Carte's XML answers, HTTP Basic authentication, and outcomes scripted per test. The DAG tests
reuse it with an `on_start` hook that does the PostgreSQL half of the job for real.
"""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest

from generators.carte import (
    CarteAuthError,
    CarteClient,
    CarteJobFailed,
    CarteProtocolError,
    CarteSettings,
    CarteTimeout,
    CarteUnavailable,
    encode_log,
    job_name_of,
    redact_url,
)

STAND_IN_USER = "cluster"
STAND_IN_PASSWORD = "stand-in-carte-password"
JOB = "/etl/pentaho/promptsales_delta.kjb"


@dataclass
class Outcome:
    """What the stand-in does with the next job it is asked to start."""

    statuses: list[str] = field(default_factory=lambda: ["Running", "Finished"])
    """Successive jobStatus answers (the last one repeats); ignored when on_start is set."""
    error_desc: str = ""
    log_lines: list[str] = field(default_factory=lambda: ["Start of job execution", "Job execution finished"])
    start_error: str | None = None
    """executeJob answers ERROR (HTTP 500) with this message."""
    raw_body: bytes | None = None
    """Every endpoint answers HTTP 200 with exactly these bytes."""
    on_start: Callable[[dict[str, str]], list[str]] | None = None
    """Run in a thread when the job starts, with its parameters; returns log lines. Raising fails the job."""


@dataclass
class _Job:
    name: str
    params: dict[str, str]
    outcome: Outcome
    polls: int = 0
    stopped: bool = False
    log: list[str] = field(default_factory=list)
    error: str = ""
    thread: threading.Thread | None = None

    def status(self) -> str:
        if self.stopped:
            return "Stopped"
        if self.outcome.on_start is not None:
            assert self.thread is not None
            if self.thread.is_alive():
                return "Running"
            return "Finished (with errors)" if self.error else "Finished"
        statuses = self.outcome.statuses
        return statuses[min(self.polls, len(statuses) - 1)]


class CarteStandIn:
    """A local stand-in of Carte on 127.0.0.1 (ThreadingHTTPServer): executeJob, jobStatus, stopJob."""

    def __init__(self, username: str = STAND_IN_USER, password: str = STAND_IN_PASSWORD) -> None:
        self.username, self.password = username, password
        self.outcome = Outcome()
        self.jobs: dict[str, _Job] = {}
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self.stop_calls: list[tuple[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read the client's logs
                pass

            def do_GET(self) -> None:
                stand_in.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url_with_credentials(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{self.username}:{self.password}@{host!s}:{port}"

    def settings(self, **overrides: Any) -> CarteSettings:
        values = {"url": self.url, "username": self.username, "password": self.password, **overrides}
        return CarteSettings(**values)

    def __enter__(self) -> CarteStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        for job in self.jobs.values():
            if job.thread is not None:
                job.thread.join(timeout=30)

    # ------------------------------------------------------------------ one request

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = request.headers.get("Authorization")
        self.requests.append((parts.path, params, auth))
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if auth != expected:
            self.reply(request, 401, b"<html><body><h2>HTTP ERROR 401</h2>Unauthorized</body></html>", "text/html")
            return
        if self.outcome.raw_body is not None:
            self.reply(request, 200, self.outcome.raw_body)
            return
        route = {
            "/kettle/executeJob/": self.execute_job,
            "/kettle/jobStatus/": self.job_status,
            "/kettle/stopJob/": self.stop_job,
        }.get(parts.path)
        if route is None:
            self.reply(request, 404, b"<html><body>Not found</body></html>", "text/html")
            return
        code, body = route(params)
        self.reply(request, code, body.encode("utf-8"))

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str = "text/xml") -> None:
        request.send_response(code)
        request.send_header("Content-Type", f"{ctype}; charset=UTF-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def webresult(result: str, message: str, job_id: str = "") -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<webresult><result>'
            f"{result}</result><message>{escape(message)}</message><id>{job_id}</id></webresult>"
        )

    def execute_job(self, params: dict[str, str]) -> tuple[int, str]:
        outcome = self.outcome
        if outcome.start_error is not None:
            return 500, self.webresult("ERROR", outcome.start_error)
        job_id = str(uuid.uuid4())
        job = _Job(job_name_of(params.get("job", "")), params, outcome, log=list(outcome.log_lines))
        if outcome.on_start is not None:
            hook = outcome.on_start

            def work() -> None:
                try:
                    job.log.extend(hook(params))
                except Exception as exc:  # the stand-in reports it the way Carte reports a failed entry
                    job.error = f"{type(exc).__name__}: {exc}"
                    job.log.append(f"ERROR: {job.error}")

            job.thread = threading.Thread(target=work, daemon=True)
            job.thread.start()
        self.jobs[job_id] = job
        return 200, self.webresult("OK", "Job started", job_id)

    def job_status(self, params: dict[str, str]) -> tuple[int, str]:
        job = self.jobs.get(params.get("id", ""))
        if job is None or job.name != params.get("name"):
            return 200, self.webresult("ERROR", f"The specified job [{params.get('name')}] could not be found")
        status = job.status()
        job.polls += 1
        ended = status not in ("Running", "Waiting")
        error = (job.error or job.outcome.error_desc) if ended else ""
        first = int(params.get("from", "0") or 0)
        lines = job.log[first:]
        nr_errors = 1 if ended and (error or status != "Finished") else 0
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<jobstatus>'
            f"<jobname>{escape(job.name)}</jobname><id>{params['id']}</id>"
            f"<status_desc>{escape(status)}</status_desc><error_desc>{escape(error)}</error_desc>"
            f"<logging_string><![CDATA[{encode_log(chr(10).join(lines))}]]></logging_string>"
            f"<first_log_line_nr>{first}</first_log_line_nr><last_log_line_nr>{len(job.log)}</last_log_line_nr>"
            f"<result><lines_read>0</lines_read><nr_errors>{nr_errors}</nr_errors>"
            f"<result>{'Y' if nr_errors == 0 else 'N'}</result></result></jobstatus>"
        )
        return 200, body

    def stop_job(self, params: dict[str, str]) -> tuple[int, str]:
        self.stop_calls.append((params.get("name", ""), params.get("id", "")))
        job = self.jobs.get(params.get("id", ""))
        if job is None:
            return 200, self.webresult("ERROR", "job not found")
        job.stopped = True
        return 200, self.webresult("OK", f"Job [{job.name}] stop requested.")


@pytest.fixture
def carte() -> Iterator[CarteStandIn]:
    with CarteStandIn() as stand_in:
        yield stand_in


def client_for(stand_in: CarteStandIn, **overrides: Any) -> CarteClient:
    # No real sleeping: the tests script the polls, and a fake clock drives the timeout.
    return CarteClient(stand_in.settings(**overrides), sleep=lambda seconds: None)


# --------------------------------------------------------------------------- the happy path


def test_run_job_starts_polls_and_returns_the_finished_status(carte: CarteStandIn) -> None:
    carte.outcome = Outcome(statuses=["Running", "Running", "Finished"], log_lines=[f"line {i}" for i in range(30)])
    params = {"BATCH_ID": "b0123456789abcdef", "AIRFLOW_RUN_ID": "scheduled__2026-01-05T10:00:00+00:00"}
    with client_for(carte) as client:
        status = client.run_job(JOB, params, poll_seconds=0.01)
    assert (status.status_desc, status.finished, status.error, status.succeeded) == ("Finished", True, None, True)
    assert status.job_name == "promptsales_delta"
    assert status.log_excerpt.splitlines() == [f"line {i}" for i in range(10, 30)]  # the last 20 lines
    paths = [path for path, _, _ in carte.requests]
    assert paths == ["/kettle/executeJob/", *["/kettle/jobStatus/"] * 3]
    _, started, _ = carte.requests[0]
    assert started == {"job": JOB, "level": "Basic", **params}
    job_id = status.job_id
    assert all(
        p == {"name": "promptsales_delta", "id": job_id, "xml": "Y", "from": p["from"]}
        for _, p, _ in carte.requests[1:]
    )
    # The log is read incrementally: the second poll asks from the line the first one ended at.
    assert [p["from"] for _, p, _ in carte.requests[1:]] == ["0", "30", "30"]


def test_every_request_sends_http_basic_auth(carte: CarteStandIn) -> None:
    with client_for(carte) as client:
        client.run_job(JOB, {}, poll_seconds=0.01)
    expected = "Basic " + base64.b64encode(f"{STAND_IN_USER}:{STAND_IN_PASSWORD}".encode()).decode()
    assert {auth for _, _, auth in carte.requests} == {expected}


def test_settings_from_a_url_take_the_credentials_out_of_it() -> None:
    settings = CarteSettings.from_url("http://cluster:p%40ss@carte.etl.svc:8081/")
    assert (settings.url, settings.username, settings.password) == ("http://carte.etl.svc:8081", "cluster", "p@ss")
    assert "p@ss" not in repr(settings)
    assert redact_url("http://cluster:p%40ss@carte:8081/kettle/executeJob/?PG_PASSWORD=x") == (
        "http://cluster:***@carte:8081/kettle/executeJob/?..."
    )


# --------------------------------------------------------------------------- failures, each one line


def test_a_job_that_finished_with_errors_raises_with_the_error_and_the_last_log_lines(carte: CarteStandIn) -> None:
    carte.outcome = Outcome(
        statuses=["Running", "Finished (with errors)"],
        error_desc="Error executing SQL: relation etl.stage_crm_sales_campaign does not exist",
        log_lines=["Starting entry [stage_crm_sales]", "ERROR (version 10.2): apply_crm_sales failed", "Job aborted"],
    )
    with client_for(carte) as client, pytest.raises(CarteJobFailed) as err:
        client.run_job(JOB, {}, poll_seconds=0.01)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("promptsales_delta ")
    assert (
        "Finished (with errors): Error executing SQL: relation etl.stage_crm_sales_campaign does not exist" in message
    )
    assert "last log lines: Starting entry [stage_crm_sales] | ERROR (version 10.2): apply_crm_sales failed" in message
    assert err.value.status is not None and err.value.status.finished and not err.value.status.succeeded
    assert carte.stop_calls == []  # it ended on its own: nothing to stop


def test_a_stopped_job_is_a_failure(carte: CarteStandIn) -> None:
    carte.outcome = Outcome(statuses=["Stopped"], log_lines=["Job was stopped"])
    with client_for(carte) as client, pytest.raises(CarteJobFailed, match=r": Stopped: .*Job was stopped"):
        client.run_job(JOB, {}, poll_seconds=0.01)


def test_a_job_carte_refuses_to_start_is_one_line(carte: CarteStandIn) -> None:
    carte.outcome = Outcome(start_error="Unable to find job [/etl/pentaho/missing.kjb]")
    with client_for(carte) as client, pytest.raises(CarteJobFailed) as err:
        client.start_job("/etl/pentaho/missing.kjb", {})
    assert str(err.value) == (
        f"Carte at {carte.url} refused to start /etl/pentaho/missing.kjb: Unable to find job [/etl/pentaho/missing.kjb]"
    )


def test_a_timeout_stops_the_job_and_says_so(carte: CarteStandIn) -> None:
    carte.outcome = Outcome(statuses=["Running"])
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = CarteClient(carte.settings(), sleep=sleep, clock=lambda: now[0])
    with client, pytest.raises(CarteTimeout) as err:
        client.run_job(JOB, {}, poll_seconds=5, max_poll_seconds=30, timeout_seconds=120)
    job_id = next(iter(carte.jobs))
    assert carte.stop_calls == [("promptsales_delta", job_id)]
    assert str(err.value) == (
        f"promptsales_delta {job_id} still Running after 120 s on Carte at {carte.url}; asked Carte to stop it"
    )
    # Polls back off (5, 10, 20, 30, 30, ...) and never sleep past the deadline.
    assert slept[:4] == [5, 10, 20, 30] and sum(slept) == 120


def test_an_unreachable_carte_is_one_line() -> None:
    with CarteStandIn() as stand_in:
        settings = stand_in.settings()
    # The stand-in is shut down: nothing listens on its port any more.
    with CarteClient(settings) as client, pytest.raises(CarteUnavailable) as err:
        client.start_job(JOB, {})
    message = str(err.value)
    assert message.startswith(f"Carte at {settings.url} is not reachable (ConnectError")
    assert message.endswith("check the pentaho_carte connection or PROMPTSALES_CARTE_URL")
    assert "\n" not in message


def test_wrong_credentials_are_a_401_naming_the_user_not_the_password(carte: CarteStandIn) -> None:
    with client_for(carte, password="wrong-password") as client, pytest.raises(CarteAuthError) as err:
        client.start_job(JOB, {"PG_PASSWORD": "pg-secret"})
    assert str(err.value) == (
        f"Carte at {carte.url} refused user 'cluster' on /kettle/executeJob/ (HTTP 401);"
        " set the Carte login and password in the pentaho_carte connection"
    )
    assert "wrong-password" not in str(err.value) and "pg-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<webresult><result>OK</result><message>Job started", r"with malformed XML \("),
        (b"<html><body>It works!</body></html>", r"with <html>, not a Carte webresult or jobstatus"),
        (b"Service Unavailable", r"with HTTP 200 and no XML \('Service Unavailable'\); is this URL a Carte server\?"),
    ],
)
def test_an_answer_that_is_not_carte_xml_is_one_line(carte: CarteStandIn, body: bytes, expected: str) -> None:
    carte.outcome = Outcome(raw_body=body)
    with client_for(carte) as client, pytest.raises(CarteProtocolError, match=expected) as err:
        client.start_job(JOB, {})
    assert "\n" not in str(err.value)


def test_an_unknown_job_id_is_one_line(carte: CarteStandIn) -> None:
    with client_for(carte) as client, pytest.raises(CarteJobFailed, match=r"has no job 'promptsales_delta' with id x"):
        client.job_status("promptsales_delta", "x")


# --------------------------------------------------------------------------- secrets


def test_passwords_never_reach_the_logs_or_the_errors(
    carte: CarteStandIn, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {"PG_PASSWORD": "pg-secret-value", "ADS_MSSQL_PASSWORD": "ads-secret-value"}
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    for name in ("httpx", "httpcore", "generators.carte"):
        # Airflow's logging setup (when tests/dags ran first in this process) may stop these from propagating.
        caplog.set_level(logging.DEBUG, logger=name)
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    carte.outcome = Outcome(statuses=["Running", "Finished (with errors)"], error_desc="boom")
    with client_for(carte) as client, pytest.raises(CarteJobFailed) as err:
        client.run_job(JOB, {"BATCH_ID": "b1", **secrets}, poll_seconds=0.01)
    # The parameters did reach the stand-in ...
    assert {k: carte.requests[0][1][k] for k in secrets} == secrets
    # ... and httpx did log its requests, but with the query redacted.
    request_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/kettle/executeJob/?..." in line for line in request_lines), request_lines
    text = "\n".join(r.getMessage() for r in caplog.records) + str(err.value)
    for value in [*secrets.values(), STAND_IN_PASSWORD]:
        assert value not in text
