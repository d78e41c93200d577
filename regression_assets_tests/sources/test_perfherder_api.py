"""PerfherderApiSource against a real HTTP server on 127.0.0.1 serving recorded-format Treeherder JSON.

The server applies the filters the real views apply (treeherder/webapp/api/performance_data.py):
signatures by `framework` / `subtests=0`, data by `signature_id`, `framework` and
`start_date < push_timestamp < end_date` (naive UTC), and it refuses `interval` together with a date,
as Treeherder does. Failures are injected per endpoint.
"""

import datetime as dt
import json
import socket
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from regression_assets.sources.perfherder_api import PerfherderApiError, PerfherderApiSource, series_name
from regression_assets.sources.schema import RAW_PERF_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures" / "perfherder"
DAY = dt.date(2024, 3, 5)
FRAMEWORKS_PATH = "/api/performance/framework/"
SIGNATURES_PATH = "/api/project/autoland/performance/signatures/"
DATA_PATH = "/api/project/autoland/performance/data/"


def _load(name: str):
    return json.loads((FIXTURES / name).read_text())


def _naive_utc_epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


class FakeTreeherder:
    """State shared with the request handler: fixtures, injected failures, a request log."""

    def __init__(self):
        self.frameworks = _load("framework.json")
        self.signatures = _load("signatures.json")
        self.data = _load("data.json")
        self.fail: dict[str, list[int]] = defaultdict(list)  # path -> statuses to answer first
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        self.lock = threading.Lock()

    def count(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p == path)

    def queries(self, path: str) -> list[dict[str, list[str]]]:
        return [q for p, q, _ in self.requests if p == path]

    def respond(self, path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        with self.lock:
            if self.fail[path]:
                status = self.fail[path].pop(0)
                return status, {"detail": f"injected {status}"}
        if path == FRAMEWORKS_PATH:
            return 200, self.frameworks
        if path == SIGNATURES_PATH:
            return self._signatures(query)
        if path == DATA_PATH:
            return self._data(query)
        return 404, {"detail": "Not found."}

    def _signatures(self, query):
        if "interval" in query and ("start_date" in query or "end_date" in query):
            return 400, {"message": "Provide either interval only -or- start (and end) date"}
        frameworks = {int(f) for f in query.get("framework", [])}
        no_subtests = not int(query.get("subtests", ["1"])[0])
        out = {
            key: sig
            for key, sig in self.signatures.items()
            if (not frameworks or sig["framework_id"] in frameworks)
            and not (no_subtests and sig.get("parent_signature"))
        }
        return 200, out

    def _data(self, query):
        if "interval" in query and ("start_date" in query or "end_date" in query):
            return 400, {"message": "Provide either interval only -or- start (and end) date"}
        ids = {int(i) for i in query.get("signature_id", [])}
        if not ids:
            return 400, ["Need to specify either signature_id, signatures, push_id, or job_id"]
        frameworks = {int(f) for f in query.get("framework", [])}
        framework_of = {sig["id"]: sig["framework_id"] for sig in self.signatures.values()}
        start = _naive_utc_epoch(query["start_date"][0]) if query.get("start_date") else None
        end = _naive_utc_epoch(query["end_date"][0]) if query.get("end_date") else None
        out: dict[str, list] = {}
        for sig_hash, datums in self.data.items():
            kept = [
                d
                for d in datums
                if d["signature_id"] in ids
                and (not frameworks or framework_of[d["signature_id"]] in frameworks)
                and (start is None or d["push_timestamp"] > start)
                and (end is None or d["push_timestamp"] < end)
            ]
            if kept:
                out[sig_hash] = kept
        return 200, out


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def treeherder():
    state = FakeTreeherder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with state.lock:
                state.requests.append((parts.path, query, self.headers.get("User-Agent", "")))
            if self.headers.get("User-Agent", "").startswith("Python-urllib/"):
                status, payload = 403, {"detail": "disallowed user agent"}  # Treeherder blocks it
            else:
                status, payload = state.respond(parts.path, query)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _source(treeherder, **kw) -> PerfherderApiSource:
    kw.setdefault("backoff_s", 0.0)
    kw.setdefault("timeout_s", 5.0)
    return PerfherderApiSource(base_url=treeherder.base_url, **kw)


# -- happy path -----------------------------------------------------------------------------------------


def test_fetch_day_talos(treeherder):
    out = _source(treeherder).fetch_day(DAY)

    assert list(out.columns) == list(RAW_PERF_COLUMNS)
    assert {c: str(t) for c, t in out.dtypes.items()} == RAW_PERF_COLUMNS
    rows = out.assign(push_timestamp=out["push_timestamp"].astype(str)).to_dict("records")
    assert rows == [
        {
            "push_timestamp": "2024-03-05 00:00:00",  # exactly midnight is part of the day
            "repository": "autoland",
            "framework": "talos",
            "suite": "dromaeo_css e10s stylo",
            "platform": "linux1804-64-shippable-qr",
            "value": 5123.4,
            "lower_is_better": False,
            "revision": "f3a9c1e27b6d4e08a5c39f1d2b7e6a4c8d0f1e2a",
            "task_id": "450112302",
        },
        {
            "push_timestamp": "2024-03-05 00:00:00",
            "repository": "autoland",
            "framework": "talos",
            "suite": "tabswitch tabswitch-opt e10s stylo",  # a top-level test: suite + test
            "platform": "windows10-64-shippable-qr",
            "value": 11.62,
            "lower_is_better": True,
            "revision": "f3a9c1e27b6d4e08a5c39f1d2b7e6a4c8d0f1e2a",
            "task_id": "450112304",
        },
        {
            "push_timestamp": "2024-03-05 00:00:00",
            "repository": "autoland",
            "framework": "talos",
            "suite": "tp5n e10s stylo",  # a summary: suite only
            "platform": "windows10-64-shippable-qr",
            "value": 209.11,
            "lower_is_better": True,
            "revision": "f3a9c1e27b6d4e08a5c39f1d2b7e6a4c8d0f1e2a",
            "task_id": "450112301",
        },
        {
            "push_timestamp": "2024-03-05 00:00:00",
            "repository": "autoland",
            "framework": "talos",
            "suite": "ts_paint e10s stylo",  # test equal to the suite is not repeated
            "platform": "macosx1015-64-shippable-qr",
            "value": 301.0,
            "lower_is_better": True,
            "revision": "f3a9c1e27b6d4e08a5c39f1d2b7e6a4c8d0f1e2a",
            "task_id": "450112303",
        },
        {
            "push_timestamp": "2024-03-05 13:47:21",
            "repository": "autoland",
            "framework": "talos",
            "suite": "dromaeo_css e10s stylo",
            "platform": "linux1804-64-shippable-qr",
            "value": 5098.77,
            "lower_is_better": False,
            "revision": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
            "task_id": "450112400",
        },
        {
            "push_timestamp": "2024-03-05 13:47:21",
            "repository": "autoland",
            "framework": "talos",
            "suite": "tp5n e10s stylo",
            "platform": "windows10-64-shippable-qr",
            "value": 211.07,
            "lower_is_better": True,
            "revision": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
            "task_id": "450112399",
        },
        {
            "push_timestamp": "2024-03-05 23:59:59",
            "repository": "autoland",
            "framework": "talos",
            "suite": "ts_paint e10s stylo",
            "platform": "macosx1015-64-shippable-qr",
            "value": 298.25,
            "lower_is_better": True,
            "revision": "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
            "task_id": "450112499",
        },
    ]


def test_requests_use_the_real_endpoints_and_params(treeherder):
    _source(treeherder).fetch_day(DAY)

    [sig_query] = treeherder.queries(SIGNATURES_PATH)
    assert sig_query == {"framework": ["1"], "subtests": ["0"], "start_date": ["2024-03-05T00:00:00"]}
    [data_query] = treeherder.queries(DATA_PATH)
    assert data_query["framework"] == ["1"]
    assert data_query["start_date"] == ["2024-03-04T23:59:59"]  # server keeps push_timestamp > start
    assert data_query["end_date"] == ["2024-03-06T00:00:00"]  # ... and < end
    assert "interval" not in data_query
    assert sorted(data_query["signature_id"]) == ["4712301", "4712302", "4712303", "4712304"]
    assert treeherder.count(FRAMEWORKS_PATH) == 1
    user_agents = {ua for _, _, ua in treeherder.requests}
    assert user_agents and not any(
        ua.startswith(("Python-urllib/", "python-requests/")) for ua in user_agents
    )


def test_signatures_and_frameworks_are_cached_per_instance(treeherder):
    source = _source(treeherder)
    first = source.fetch_day(DAY)
    second = source.fetch_day(DAY)
    pd.testing.assert_frame_equal(first, second)
    assert treeherder.count(SIGNATURES_PATH) == 1
    assert treeherder.count(FRAMEWORKS_PATH) == 1
    assert treeherder.count(DATA_PATH) == 2


def test_signature_ids_are_sent_in_chunks(treeherder):
    whole = _source(treeherder).fetch_day(DAY)
    treeherder.requests.clear()

    chunked = _source(treeherder, signatures_per_request=3).fetch_day(DAY)

    pd.testing.assert_frame_equal(whole, chunked)
    sent = [q["signature_id"] for q in treeherder.queries(DATA_PATH)]
    assert [len(ids) for ids in sent] == [3, 1]
    assert sorted(sum(sent, [])) == ["4712301", "4712302", "4712303", "4712304"]


def test_several_frameworks_and_suite_filter(treeherder):
    out = _source(treeherder, framework_ids=[1, 10], signature_filter="SPEED").fetch_day(DAY)

    assert out["suite"].tolist() == ["speedometer fission webrender"]
    assert out["framework"].tolist() == ["raptor"]
    assert out["lower_is_better"].tolist() == [False]
    assert out["push_timestamp"].tolist() == [pd.Timestamp("2024-03-05 08:00:00")]
    [data_query] = treeherder.queries(DATA_PATH)
    assert data_query["signature_id"] == ["4712305"]
    assert data_query["framework"] == ["1", "10"]


def test_day_without_data_gives_typed_empty_frame(treeherder):
    out = _source(treeherder).fetch_day(dt.date(2024, 1, 1))
    assert out.empty
    assert {c: str(t) for c, t in out.dtypes.items()} == RAW_PERF_COLUMNS


def test_no_matching_signatures_skips_data_requests(treeherder):
    out = _source(treeherder, signature_filter="no-such-suite").fetch_day(DAY)
    assert out.empty
    assert treeherder.count(DATA_PATH) == 0


def test_series_name():
    assert series_name({"suite": "tp5n", "extra_options": ["e10s", "stylo"], "has_subtests": True}) == (
        "tp5n e10s stylo"
    )
    assert series_name({"suite": "tp5n", "test": "amazon.com", "extra_options": []}) == "tp5n amazon.com"
    assert series_name({"suite": "ts_paint", "test": "ts_paint"}) == "ts_paint"


# -- failures -------------------------------------------------------------------------------------------


def test_500_twice_then_200_is_retried(treeherder):
    treeherder.fail[DATA_PATH] = [500, 503]
    out = _source(treeherder, max_retries=2).fetch_day(DAY)
    assert len(out) == 7
    assert treeherder.count(DATA_PATH) == 3


def test_persistent_500_raises_naming_the_url(treeherder):
    treeherder.fail[SIGNATURES_PATH] = [500] * 10
    with pytest.raises(PerfherderApiError) as info:
        _source(treeherder, max_retries=2).fetch_day(DAY)
    err = info.value
    assert err.status == 500
    assert err.url.startswith(f"{treeherder.base_url}{SIGNATURES_PATH}?")
    assert err.url in str(err) and "500" in str(err) and "3 attempt" in str(err)
    assert treeherder.count(SIGNATURES_PATH) == 3


def test_404_is_not_retried(treeherder):
    treeherder.fail[SIGNATURES_PATH] = [404, 404, 404]
    with pytest.raises(PerfherderApiError, match="404") as info:
        _source(treeherder, max_retries=3).fetch_day(DAY)
    assert info.value.status == 404
    assert SIGNATURES_PATH in str(info.value)
    assert treeherder.count(SIGNATURES_PATH) == 1


def test_unknown_repository_is_a_clear_error(treeherder):
    with pytest.raises(PerfherderApiError, match="no-such-repo"):
        _source(treeherder, repository="no-such-repo").fetch_day(DAY)
    assert len(treeherder.requests) == 1


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = PerfherderApiSource(
        base_url=f"http://127.0.0.1:{port}", max_retries=2, backoff_s=0.0, timeout_s=2
    )
    with pytest.raises(PerfherderApiError, match=r"after 3 attempt\(s\).*connection error") as info:
        source.fetch_day(DAY)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert info.value.status is None


@pytest.mark.parametrize(
    "base_url", ["file:///etc/passwd", "ftp://treeherder.mozilla.org", "treeherder.mozilla.org", "http://"]
)
def test_non_http_urls_are_refused(base_url):
    with pytest.raises(ValueError, match="http"):
        PerfherderApiSource(base_url=base_url).fetch_day(DAY)
