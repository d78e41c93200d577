"""Perf source over Treeherder's public Perfherder REST API (no credentials), standard library only.

Endpoints (as served by mozilla/treeherder `treeherder/webapp/api/performance_data.py` + `urls.py`):

* `GET /api/performance/framework/` → `[{"id": 1, "name": "talos"}, ...]`
* `GET /api/project/{repository}/performance/signatures/?framework=<id>...&subtests=0&start_date=...`
  → `{"<signature id>": {"id", "signature_hash", "framework_id", "option_collection_hash",
  "machine_platform", "suite", "should_alert", ["test"], ["lower_is_better": false],
  ["has_subtests": true], ["extra_options": [...]], ["parent_signature"], ...}}`. Optional keys are
  left out when empty/default (`lower_is_better` only appears when False). `start_date` filters on the
  signature's `last_updated >=`, so a signature with data on the day is always included.
* `GET /api/project/{repository}/performance/data/?signature_id=<id>...&framework=<id>...
  &start_date=YYYY-MM-DDTHH:MM:SS&end_date=...` → `{"<signature hash>": [{"id", "signature_id",
  "job_id", "push_id", "revision", "push_timestamp" (epoch seconds, UTC), "value"}, ...]}`. The server
  filters `push_timestamp > start_date` and `< end_date` (naive UTC) and does not paginate; this client
  sends signature ids in chunks of `signatures_per_request` to keep URLs short.

Treeherder rejects the default `Python-urllib/` user agent, so a project user agent is always sent.
`task_id` is the Treeherder job id (the data endpoint has no Taskcluster task id).
"""

import datetime as dt
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from pydantic import Field, PrivateAttr

from regression_assets.sources.base import PerfSource
from regression_assets.sources.schema import conform_raw_frame, empty_raw_frame

DEFAULT_BASE_URL = "https://treeherder.mozilla.org"
DEFAULT_USER_AGENT = "regression_assets/0.1 (+perfherder client; python urllib)"
_RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
_ERROR_BODY_CHARS = 300


class PerfherderApiError(RuntimeError):
    """A request to the Perfherder API failed (after retries, where retrying made sense)."""

    def __init__(self, message: str, url: str, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


def _shape_error(url: str, expected: str, got: Any, err: Exception | None = None) -> "PerfherderApiError":
    """A 200 answer that isn't what the endpoint serves: name the URL, what was expected and what came."""
    shown = json.dumps(got, default=str)[:_ERROR_BODY_CHARS] if not isinstance(got, str) else got[:_ERROR_BODY_CHARS]
    why = f" ({type(err).__name__}: {err})" if err is not None else ""
    return PerfherderApiError(f"GET {url} returned an unexpected payload: expected {expected}, got {shown}{why}",
                              url, 200)


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) URLs (urllib would also follow ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"refusing redirect to {newurl!r}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_http_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"Perfherder URL must be an absolute http(s) URL, got {url!r}")
    return url


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _day_bounds(day: dt.date) -> tuple[str, str]:
    """`start_date`/`end_date` for one UTC day.

    The server keeps `push_timestamp > start_date` and `< end_date`, so the start is one second before
    midnight (push times have whole seconds) to keep a push at exactly 00:00:00.
    """
    start = dt.datetime.combine(day, dt.time()) - dt.timedelta(seconds=1)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    fmt = "%Y-%m-%dT%H:%M:%S"
    return start.strftime(fmt), end.strftime(fmt)


def series_name(signature: dict[str, Any]) -> str:
    """Suite name for a signature: suite, then test (unless a summary / same as suite), then options."""
    parts = [str(signature.get("suite") or "").strip()]
    test = str(signature.get("test") or "").strip()
    if test and test != parts[0]:
        parts.append(test)
    options = signature.get("extra_options") or []
    if isinstance(options, str):
        options = options.split()
    parts.extend(str(o).strip() for o in options if str(o).strip())
    return " ".join(p for p in parts if p)


class PerfherderApiSource(PerfSource):
    """One repository's Perfherder data for one UTC day, straight from the Treeherder REST API."""

    base_url: str = Field(default=DEFAULT_BASE_URL, description="Treeherder root URL (http/https only).")
    repository: str = Field(default="autoland", description="Treeherder repository (project) name.")
    framework_ids: list[int] = Field(default=[1], description="Perfherder framework ids (1 = talos).")
    timeout_s: float = Field(default=60.0, description="Per-request socket timeout in seconds.")
    max_retries: int = Field(
        default=3, description="Retries after the first attempt on 5xx/429 responses and connection errors."
    )
    backoff_s: float = Field(default=1.0, description="First retry delay; doubles on each further retry.")
    signature_filter: str | None = Field(
        default=None, description="Keep only signatures whose suite contains this (case-insensitive)."
    )
    include_subtests: bool = Field(
        default=False, description="Also read subtest signatures (default: summaries / top-level tests)."
    )
    signatures_per_request: int = Field(default=100, description="Signature ids per data request.")
    user_agent: str = Field(default=DEFAULT_USER_AGENT, description="User-Agent header sent.")

    _signature_cache: dict[tuple, dict[int, dict[str, Any]]] = PrivateAttr(default_factory=dict)
    _framework_names: dict[int, str] | None = PrivateAttr(default=None)

    # -- HTTP -----------------------------------------------------------------------------------------

    def _url(self, path: str, params: list[tuple[str, Any]] | None = None) -> str:
        base = _check_http_url(self.base_url.strip()).rstrip("/")
        url = f"{base}/{path.lstrip('/')}"
        if params:
            url = f"{url}?{urllib.parse.urlencode([(k, str(v)) for k, v in params])}"
        return url

    def _get_json(self, url: str) -> Any:
        """GET `url` and decode JSON; retry 5xx/429/connection errors with exponential backoff."""
        _check_http_url(url)
        opener = urllib.request.build_opener(_HttpOnlyRedirects)
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": self.user_agent}
        )
        attempts = max(0, int(self.max_retries)) + 1
        last_problem = ""
        last_status: int | None = None
        for attempt in range(1, attempts + 1):
            try:
                with opener.open(request, timeout=self.timeout_s) as response:
                    body = response.read()
            except urllib.error.HTTPError as err:
                detail = err.read(_ERROR_BODY_CHARS).decode("utf-8", "replace") if err.fp else ""
                last_status, last_problem = err.code, f"HTTP {err.code} {err.reason}: {detail.strip()}"
                if err.code not in _RETRY_STATUSES:
                    raise PerfherderApiError(
                        f"GET {url} failed with {last_problem} (not retried)", url, err.code
                    ) from err
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
                last_status, last_problem = None, f"connection error: {err}"
            else:
                try:
                    return json.loads(body)
                except ValueError as err:
                    raise PerfherderApiError(f"GET {url} returned invalid JSON: {err}", url, 200) from err
            if attempt < attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise PerfherderApiError(
            f"GET {url} failed after {attempts} attempt(s); last: {last_problem}", url, last_status
        )

    # -- reference data -------------------------------------------------------------------------------

    def framework_names(self) -> dict[int, str]:
        """Framework id → name from `/api/performance/framework/` (fetched once per instance)."""
        if self._framework_names is None:
            url = self._url("api/performance/framework/")
            rows = self._get_json(url)
            try:
                self._framework_names = {int(r["id"]): str(r["name"]) for r in rows}
            except (KeyError, TypeError, ValueError) as err:
                raise _shape_error(url, "a list of {id, name} objects", rows, err) from err
        return self._framework_names

    def signatures(self, since: dt.date) -> dict[int, dict[str, Any]]:
        """Signature id → signature for `framework_ids`, updated on/after `since` (cached per instance)."""
        key = (self.repository, tuple(self.framework_ids), self.include_subtests, since)
        if key not in self._signature_cache:
            params: list[tuple[str, Any]] = [("framework", f) for f in self.framework_ids]
            if not self.include_subtests:
                params.append(("subtests", 0))
            params.append(("start_date", dt.datetime.combine(since, dt.time()).strftime("%Y-%m-%dT%H:%M:%S")))
            path = f"api/project/{urllib.parse.quote(self.repository, safe='')}/performance/signatures/"
            url = self._url(path, params)
            raw = self._get_json(url)
            try:
                sigs = {int(sig.get("id", sig_id)): sig for sig_id, sig in raw.items()}
            except (AttributeError, TypeError, ValueError) as err:
                raise _shape_error(url, "an object of signature id -> signature", raw, err) from err
            if self.signature_filter:
                needle = self.signature_filter.lower()
                sigs = {i: s for i, s in sigs.items() if needle in str(s.get("suite", "")).lower()}
            self._signature_cache[key] = sigs
        return self._signature_cache[key]

    # -- data -----------------------------------------------------------------------------------------

    def fetch_day(self, day: dt.date) -> pd.DataFrame:
        if isinstance(day, dt.datetime):
            day = day.date()
        sigs = self.signatures(day)
        if not sigs:
            return empty_raw_frame()
        names = self.framework_names()
        start_date, end_date = _day_bounds(day)
        path = f"api/project/{urllib.parse.quote(self.repository, safe='')}/performance/data/"
        records: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(sigs), max(1, int(self.signatures_per_request))):
            params: list[tuple[str, Any]] = [("signature_id", i) for i in chunk]
            params += [("framework", f) for f in self.framework_ids]
            params += [("start_date", start_date), ("end_date", end_date)]
            url = self._url(path, params)
            payload = self._get_json(url)
            if not isinstance(payload, dict):
                raise _shape_error(url, "an object of signature hash -> list of data points", payload)
            for datums in payload.values():
                if not isinstance(datums, list):
                    raise _shape_error(url, "a list of data points per signature", datums)
                for d in datums:
                    try:
                        sig = sigs.get(int(d["signature_id"]))
                        push_time = pd.to_datetime(float(d["push_timestamp"]), unit="s") if sig is not None else None
                    except (KeyError, TypeError, ValueError, OverflowError) as err:
                        raise _shape_error(url, "data points with signature_id and push_timestamp (epoch s)",
                                           d, err) from err
                    if sig is None:  # a signature we filtered out (or another framework's)
                        continue
                    framework_id = int(sig.get("framework_id", -1))
                    records.append(
                        {
                            "push_timestamp": push_time,
                            "repository": self.repository,
                            "framework": names.get(framework_id, str(framework_id)),
                            "suite": series_name(sig),
                            "platform": sig.get("machine_platform"),
                            "value": d.get("value"),
                            # absent means True: the API leaves the default out
                            "lower_is_better": bool(sig.get("lower_is_better", True)),
                            "revision": d.get("revision"),
                            "task_id": None if d.get("job_id") is None else str(d["job_id"]),
                        }
                    )
        if not records:
            return empty_raw_frame()
        out = conform_raw_frame(pd.DataFrame.from_records(records), "PerfherderApiSource")
        on_day = out["push_timestamp"].dt.date == day
        return out[on_day].sort_values(["push_timestamp", "suite", "platform"]).reset_index(drop=True)
