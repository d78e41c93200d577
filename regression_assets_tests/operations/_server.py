"""A real HTTP server on 127.0.0.1 that records POSTs and fails the first N of them."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def webhook_server(fail_first: int = 0, fail_status: int = 503):
    received: list[dict] = []
    state = {"calls": 0, "fail_first": fail_first}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state["calls"] += 1
            if state["calls"] <= state["fail_first"]:
                self.send_response(fail_status)
                self.end_headers()
                return
            payload = json.loads(body)
            payload["_path"] = self.path
            payload["_idempotency_key"] = self.headers.get("Idempotency-Key")
            received.append(payload)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received, state
    finally:
        server.shutdown()
        server.server_close()
