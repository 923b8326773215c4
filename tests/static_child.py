"""Serves a folder over HTTP in a process of its own, for the face-DB release tests (a server
thread in the pytest process could freeze its deadlines, see app_child.py).

``STASH_SENSE_TEST_STATIC`` holds ``{"port": N, "root": PATH}``. A file ``NAME.truncate`` beside
``NAME`` holding a byte count makes the server announce NAME's full length but send only that
many bytes and then close the connection: a download that breaks off half-way.
"""

from __future__ import annotations

import json
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = Path(self.translate_path(self.path))
        marker = Path(f"{path}.truncate")
        if not (path.is_file() and marker.is_file()):
            super().do_GET()
            return
        data = path.read_bytes()
        keep = int(marker.read_text().strip())
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:keep])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


def main() -> None:
    spec = json.loads(os.environ["STASH_SENSE_TEST_STATIC"])
    server = ThreadingHTTPServer(("127.0.0.1", int(spec["port"])), partial(Handler, directory=spec["root"]))
    server.serve_forever()


if __name__ == "__main__":
    main()
