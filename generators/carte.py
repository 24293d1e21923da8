"""A small client for Carte, the Pentaho (PDI) server that runs the delta job: start it, poll it, stop it.

Carte's REST API (https://help.hitachivantara.com, "Carte APIs"; the servlets in pentaho-kettle
`engine/src/main/java/org/pentaho/di/www/`):

    GET /kettle/executeJob/?job=<path on the Carte host>&level=Basic&<PARAM>=<value>...
        -> <webresult><result>OK</result><message>Job started</message><id>UUID</id></webresult>
    GET /kettle/jobStatus/?name=<job name>&id=<id>&xml=Y&from=<first log line>
        -> <jobstatus><status_desc>Running|Finished|Finished (with errors)|Stopped|...</status_desc>
           <error_desc/><logging_string><![CDATA[base64 of gzip]]></logging_string><last_log_line_nr/>
           <result><nr_errors/>...</result></jobstatus>
    GET /kettle/stopJob/?name=<job name>&id=<id>&xml=Y -> <webresult>...</webresult>

Authentication is HTTP Basic. The job's parameters travel as query arguments (that is how Carte takes them), so the
database passwords the job needs are in request URLs: this module never logs a URL with its query (it installs a
redacting filter on the `httpx` logger, which logs every request URL at INFO) and its errors name only the
endpoint. Every failure a user can hit is one `CarteError` line: Carte unreachable, credentials refused (401),
an answer that is not Carte's XML, a job that failed (with the error and the last lines of its log), a timeout
(after the job was asked to stop).

    client = CarteClient(CarteSettings.from_url("http://cluster:secret@carte:8081"))
    status = client.run_job("/etl/pentaho/promptsales_delta.kjb", {"BATCH_ID": "b1"}, timeout_seconds=600)
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import gzip
import logging
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

URL_VARIABLE = "PROMPTSALES_CARTE_URL"
"""Where the CLI and tests find Carte outside Airflow: `http://user:password@host:8081`."""

LOG_EXCERPT_LINES = 20
FINISHED_OK = "Finished"
FAILED_STATUSES = frozenset({"Finished (with errors)", "Stopped", "Stopped (with errors)"})
ENDED_STATUSES = FAILED_STATUSES | {FINISHED_OK}
_ERROR_LIMIT = 300


class CarteError(Exception):
    """A Carte call failed; the message is one line that names the server (never its credentials) and the fix."""


class CarteUnavailable(CarteError):
    """Carte cannot be reached (refused, DNS, timeout)."""


class CarteAuthError(CarteError):
    """Carte refused the credentials (HTTP 401/403)."""


class CarteProtocolError(CarteError):
    """Carte answered with something that is not its XML webresult / jobstatus."""


class CarteJobFailed(CarteError):
    """The job ran and failed (Finished (with errors), Stopped) or Carte refused to start it."""

    def __init__(self, message: str, status: JobStatus | None = None) -> None:
        super().__init__(message)
        self.status = status


class CarteTimeout(CarteJobFailed):
    """The job did not finish in time; it was asked to stop."""


@dataclasses.dataclass(frozen=True)
class CarteSettings:
    """Where Carte listens and how to authenticate; `repr` never shows the password."""

    url: str
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    timeout_seconds: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> CarteSettings:
        """`http://user:password@host:port[/prefix]` -> settings with the credentials taken out of the URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CarteError(f"invalid Carte URL {redact_url(url)!r}: expected http(s)://user:password@host:port")
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            netloc += f":{parts.port}"
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(base, username, password)

    @classmethod
    def from_env(cls) -> CarteSettings:
        url = os.environ.get(URL_VARIABLE)
        if not url:
            raise CarteError(f"Carte is not configured: set {URL_VARIABLE}=http://user:password@host:8081")
        return cls.from_url(url)


def redact_url(url: str) -> str:
    """The URL without its password and without its query (parameters may carry secrets)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}" if parts.password else f"{parts.username}@{netloc}"
    query = "..." if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class _RedactRequestURLs(logging.Filter):
    """httpx logs `HTTP Request: GET <url> ...` at INFO; the URL's query holds the job's parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_REDACTOR = _RedactRequestURLs()


def _install_redactor() -> None:
    httpx_log = logging.getLogger("httpx")
    if _REDACTOR not in httpx_log.filters:
        httpx_log.addFilter(_REDACTOR)


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """One jobStatus answer: where the job is, whether it ended, its error, and the last lines of its log."""

    status_desc: str
    finished: bool
    error: str | None
    log_excerpt: str
    job_name: str = ""
    job_id: str = ""
    nr_errors: int = 0
    last_log_line_nr: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status_desc == FINISHED_OK and not self.error and self.nr_errors == 0


def _one_line(text: str, limit: int = _ERROR_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def decode_log(text: str | None) -> str:
    """Carte's `logging_string`: base64 of gzip (in a CDATA section), as text; '' when absent or undecodable."""
    if not text or not text.strip():
        return ""
    try:
        return gzip.decompress(base64.b64decode(text.strip(), validate=False)).decode("utf-8", "replace")
    except (binascii.Error, OSError, EOFError, ValueError):
        return ""


def encode_log(text: str) -> str:
    """The inverse of decode_log (what Carte sends); used by the local stand-in of Carte in the tests."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


class CarteClient:
    """Start, poll and stop Carte jobs over HTTP Basic; every failure is one CarteError line."""

    def __init__(
        self,
        settings: CarteSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _install_redactor()
        self.settings = settings
        auth = httpx.BasicAuth(settings.username, settings.password or "") if settings.username else None
        self._http = httpx.Client(
            base_url=settings.url, auth=auth, timeout=settings.timeout_seconds, transport=transport
        )
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CarteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"Carte at {self.settings.url}"

    # ------------------------------------------------------------------ HTTP

    def _get(self, endpoint: str, params: Mapping[str, str]) -> ET.Element:
        try:
            response = self._http.get(endpoint, params=dict(params))
        except httpx.TimeoutException:
            raise CarteUnavailable(
                f"{self.where} did not answer {endpoint} within {self.settings.timeout_seconds:g} s;"
                " is the Carte pod up?"
            ) from None
        except httpx.TransportError as exc:
            raise CarteUnavailable(
                f"{self.where} is not reachable ({type(exc).__name__}: {_one_line(str(exc), 120)});"
                " check the pentaho_carte connection or PROMPTSALES_CARTE_URL"
            ) from None
        if response.status_code in (401, 403):
            who = f"user {self.settings.username!r}" if self.settings.username else "no credentials"
            raise CarteAuthError(
                f"{self.where} refused {who} on {endpoint} (HTTP {response.status_code});"
                " set the Carte login and password in the pentaho_carte connection"
            )
        root = self._parse(endpoint, response)
        if root is None:
            raise CarteProtocolError(
                f"{self.where} answered {endpoint} with HTTP {response.status_code} and no XML"
                f" ({_one_line(response.text, 80)!r}); is this URL a Carte server?"
            )
        return root

    def _parse(self, endpoint: str, response: httpx.Response) -> ET.Element | None:
        body = response.content.strip()
        if not body.startswith(b"<"):
            return None
        try:
            root = ET.fromstring(body)  # noqa: S314 - our own Carte, over authenticated HTTP
        except ET.ParseError as exc:
            raise CarteProtocolError(
                f"{self.where} answered {endpoint} with malformed XML ({exc}); is this URL a Carte server?"
            ) from None
        if root.tag not in ("webresult", "jobstatus"):
            raise CarteProtocolError(
                f"{self.where} answered {endpoint} with <{root.tag}>, not a Carte webresult or jobstatus"
            )
        return root

    @staticmethod
    def _text(root: ET.Element, tag: str) -> str:
        found = root.find(tag)
        return (found.text or "").strip() if found is not None else ""

    def _webresult(self, endpoint: str, root: ET.Element) -> tuple[str, str, str]:
        if root.tag != "webresult":
            raise CarteProtocolError(f"{self.where} answered {endpoint} with <{root.tag}>, not a webresult")
        result = self._text(root, "result")
        if result not in ("OK", "ERROR"):
            raise CarteProtocolError(f"{self.where} answered {endpoint} with result {result!r}, not OK or ERROR")
        return result, self._text(root, "message"), self._text(root, "id")

    # ------------------------------------------------------------------ the API

    def start_job(self, job_path: str, params: Mapping[str, str] | None = None, *, level: str = "Basic") -> str:
        """Start the job file `job_path` (a path on the Carte host) with named parameters; return Carte's job id."""
        query = {"job": job_path, "level": level, **{k: str(v) for k, v in (params or {}).items()}}
        result, message, job_id = self._webresult("/kettle/executeJob/", self._get("/kettle/executeJob/", query))
        if result != "OK":
            raise CarteJobFailed(f"{self.where} refused to start {job_path}: {_one_line(message) or 'no message'}")
        if not job_id:
            raise CarteProtocolError(f"{self.where} started {job_path} but returned no job id")
        log.info("carte: started %s as %s (%d parameters)", job_path, job_id, len(params or {}))
        return job_id

    def job_status(self, job_name: str, job_id: str, *, from_line: int = 0) -> JobStatus:
        """The job's status; its log from line `from_line` on (Carte's `from`), cut to the last lines."""
        endpoint = "/kettle/jobStatus/"
        root = self._get(endpoint, {"name": job_name, "id": job_id, "xml": "Y", "from": str(from_line)})
        if root.tag == "webresult":
            _, message, _ = self._webresult(endpoint, root)
            raise CarteJobFailed(
                f"{self.where} has no job {job_name!r} with id {job_id}: {_one_line(message) or 'no message'}"
            )
        status_desc = self._text(root, "status_desc")
        if not status_desc:
            raise CarteProtocolError(f"{self.where} answered {endpoint} without a status_desc")
        result = root.find("result")
        nr_errors = int(self._text(result, "nr_errors") or 0) if result is not None else 0
        lines = decode_log(self._text(root, "logging_string")).splitlines()
        return JobStatus(
            status_desc=status_desc,
            finished=status_desc in ENDED_STATUSES,
            error=self._text(root, "error_desc") or None,
            log_excerpt="\n".join(lines[-LOG_EXCERPT_LINES:]),
            job_name=job_name,
            job_id=job_id,
            nr_errors=nr_errors,
            last_log_line_nr=int(self._text(root, "last_log_line_nr") or 0),
        )

    def stop_job(self, job_name: str, job_id: str) -> str:
        """Ask Carte to stop the job; return its message."""
        endpoint = "/kettle/stopJob/"
        result, message, _ = self._webresult(
            endpoint, self._get(endpoint, {"name": job_name, "id": job_id, "xml": "Y"})
        )
        if result != "OK":
            raise CarteJobFailed(f"{self.where} could not stop {job_name} {job_id}: {_one_line(message)}")
        log.warning("carte: asked to stop %s %s: %s", job_name, job_id, _one_line(message, 120))
        return message

    def run_job(
        self,
        job_path: str,
        params: Mapping[str, str] | None = None,
        *,
        poll_seconds: float = 5.0,
        max_poll_seconds: float = 30.0,
        timeout_seconds: float = 600.0,
        level: str = "Basic",
    ) -> JobStatus:
        """Start the job and poll it (backing off from poll_seconds to max_poll_seconds) until it ends.

        Returns the final status when the job finished cleanly. Raises CarteJobFailed with the error and the last
        lines of the job's log when it finished with errors or was stopped, and CarteTimeout (after asking Carte to
        stop the job) when it is still running after timeout_seconds.
        """
        job_name = job_name_of(job_path)
        job_id = self.start_job(job_path, params, level=level)
        deadline = self._clock() + timeout_seconds
        delay = poll_seconds
        tail: collections.deque[str] = collections.deque(maxlen=LOG_EXCERPT_LINES)
        from_line = 0
        while True:
            status = self.job_status(job_name, job_id, from_line=from_line)
            if status.log_excerpt:
                tail.extend(status.log_excerpt.splitlines())
            from_line = max(from_line, status.last_log_line_nr)
            if status.finished:
                break
            if self._clock() >= deadline:
                try:
                    self.stop_job(job_name, job_id)
                    stopped = "asked Carte to stop it"
                except CarteError as exc:
                    stopped = f"stopping it failed too ({exc})"
                raise CarteTimeout(
                    f"{job_name} {job_id} still {status.status_desc} after {timeout_seconds:g} s on {self.where};"
                    f" {stopped}",
                    status,
                )
            self._sleep(min(delay, max(deadline - self._clock(), 0.0)))
            delay = min(delay * 2, max_poll_seconds)
        final = dataclasses.replace(status, log_excerpt="\n".join(tail))
        if not final.succeeded:
            error = final.error or (f"{final.nr_errors} errors" if final.nr_errors else "no error message")
            last = " | ".join(line.strip() for line in list(tail)[-5:] if line.strip())
            raise CarteJobFailed(
                f"{job_name} {job_id} on {self.where}: {final.status_desc}: {_one_line(error, 200)}"
                + (f"; last log lines: {_one_line(last, 400)}" if last else ""),
                final,
            )
        log.info("carte: %s %s %s", job_name, job_id, final.status_desc)
        return final


def job_name_of(job_path: str) -> str:
    """Carte registers a job under the `<name>` in its .kjb; ours is always the file's stem."""
    return PurePosixPath(job_path).stem


def status_dict(status: JobStatus) -> dict[str, Any]:
    """A JobStatus as plain JSON (an Airflow XCom)."""
    return {**dataclasses.asdict(status), "succeeded": status.succeeded}
