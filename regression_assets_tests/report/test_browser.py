"""The report in a real browser: headless Chromium over the DevTools protocol, the page served over HTTP.

Asserts that every plot drew (a `.js-plotly-plot` with its `svg.main-svg` and traces), that the alert
sections are all there, and that the console stayed clean; saves a full-page screenshot under
`test-artifacts/`. Needs Debian's `chromium`: skipped without it, except in CI (`CI` set), where it fails.
"""

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from regression_assets.report.html import SeriesInputs, build_report, report_path, write_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _require_chromium():
    if CHROMIUM:
        return
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run must `apt-get install -y chromium`")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """An HTTP server on 127.0.0.1 (a free port) serving tmp_path/site; yields (directory, base URL)."""
    site = tmp_path / "site"
    site.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class DevTools:
    """A minimal Chrome DevTools Protocol client on one page target (websockets' sync client)."""

    def __init__(self, ws_url: str):
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(ws_url, max_size=None, open_timeout=30))
        self.next_id, self.events = 0, []

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"not true after {timeout}s: {expression}")

    def console_errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"uncaught: {d.get('exception', {}).get('description') or d.get('text')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description")))
                                                                  for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def close(self):
        self._stack.close()


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with remote debugging on a free port; yields a DevTools client on its page."""
    _require_chromium()
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1280,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = None
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as resp:
            pages = [t for t in json.load(resp) if t.get("type") == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            client.call(f"{domain}.enable")
        yield client
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


class _PlotCounter(HTMLParser):
    """Counts `.js-plotly-plot` elements that contain an `svg.main-svg`, and `section.alert` elements."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.drawn_plots, self.alert_sections = [], set(), 0

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "section" and "alert" in classes:
            self.alert_sections += 1
        if tag == "svg" and "main-svg" in classes:
            owner = next((i for i in reversed(range(len(self.stack))) if self.stack[i][1]), None)
            if owner is not None:
                self.drawn_plots.add(self.stack[owner][2])
        if tag not in self.VOID:
            self.stack.append((tag, "js-plotly-plot" in classes, self.getpos()))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def _render(devtools: DevTools, url: str, expected_plots: int, screenshot: Path) -> str:
    devtools.call("Page.navigate", url=url)
    devtools.wait_for("document.readyState === 'complete'")
    drawn = ("[...document.querySelectorAll('.js-plotly-plot')]"
             ".filter(d => d.querySelector('svg.main-svg') && d.querySelector('.plot .trace, .plot .violins, "
             ".plot .scatterlayer .trace')).length")
    devtools.wait_for(f"{drawn} === {expected_plots}", timeout=90)
    height = devtools.evaluate("Math.ceil(document.documentElement.scrollHeight)")
    devtools.call("Emulation.setDeviceMetricsOverride", width=1280, height=min(int(height), 16000),
                  deviceScaleFactor=1, mobile=False)
    # After the resize (plots are responsive): let a frame and a relayout pass, then count again.
    assert devtools.evaluate(f"new Promise(r => requestAnimationFrame(() => setTimeout(() => r({drawn}), 500)))") \
        == expected_plots
    shot = devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    return devtools.evaluate("document.documentElement.outerHTML")


def test_report_renders_in_chromium(report_inputs, http_root, browser):
    site, base = http_root
    series = {s["key"]: SeriesInputs(s["points"], s["days"], s["draws"], s["modes"]) for s in report_inputs["series"]}
    report = build_report("2026-03-12", report_inputs["alerts"], series, report_inputs["rates"],
                          report_inputs["stability_alerts"])
    path = write_report(report.html, report_path(site, "2026-03-12"))
    assert report.alerts == 2

    dom = _render(browser, f"{base}/{path.name}", report.plots, ARTIFACTS / "regression_report.png")

    counter = _PlotCounter()
    counter.feed(dom)
    assert len(counter.drawn_plots) == report.plots == 2 * 2 + 2  # 2 per alert; main + content crashes
    assert counter.alert_sections == report.alerts == 2
    titles = re.findall(r"<h3>\d+\. ([^<]+)</h3>", dom)
    assert titles[0].startswith("tp5o") and "regression" in titles[0]  # regressions first
    assert "improvement" in titles[1]
    assert browser.console_errors() == []
    # Self-contained: the page is the only request (plotly.js inline, no fonts, tiles or CDN).
    assert [u for u in browser.requested_urls() if not u.startswith("data:")] == [f"{base}/{path.name}"]
    png = (ARTIFACTS / "regression_report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


def test_page_without_alerts_or_crash_data_renders_cleanly(http_root, browser):
    site, base = http_root
    report = build_report("2026-03-12", pd.DataFrame(), {}, pd.DataFrame(), pd.DataFrame())
    path = write_report(report.html, report_path(site, "2026-03-12"))
    dom = _render(browser, f"{base}/{path.name}", 0, ARTIFACTS / "regression_report_empty.png")
    assert report.plots == 0 and "No crash rates for this day" in dom
    assert browser.console_errors() == []
