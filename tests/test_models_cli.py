"""``stash-sense models``: installs from a real folder and a real local HTTP server.

The model files come from ``STASH_SENSE_MODEL_SOURCE`` (default ``../shared/models``) and are
installed into a temporary models directory; the user's data directory is never touched.
Every failure (licence not accepted, wrong sha256, truncated download, missing file) must
leave nothing installed and say why.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stash_sense.cli import app
from stash_sense.config import shared_dir
from stash_sense.faces.catalog import INSTALLABLE

NAME = "edgeface-xxs"  # the smaller file: quicker to copy and hash
ENTRY = INSTALLABLE[NAME]


@pytest.fixture(scope="module")
def model_source() -> Path:
    env = os.environ.get("STASH_SENSE_MODEL_SOURCE")
    path = Path(env) if env else shared_dir() / "models"
    if not (path / ENTRY.file).is_file():
        pytest.skip(f"model files not found in {path} (set STASH_SENSE_MODEL_SOURCE to a folder holding {ENTRY.file})")
    return path


@pytest.fixture()
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "models"
    monkeypatch.setenv("STASH_SENSE_MODELS_DIR", str(target))
    monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STASH_SENSE_EMBEDDER", raising=False)
    return target


def run(*args: str, source: str | None = None) -> tuple[int, str, str]:
    env = {"COLUMNS": "300"}
    if source is not None:
        env["STASH_SENSE_MODEL_SOURCE"] = source
    result = CliRunner().invoke(app, ["models", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def installed_files(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir()) if models_dir.is_dir() else []


# -- a real HTTP server ---------------------------------------------------------------------


class _Server:
    """Serves one model file with HTTP Range support, optionally cut short or corrupted."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.mode = "ok"  # "ok", "truncate" (connection dropped half way), "corrupt" (one byte changed)
        self.requests: list[str | None] = []  # the Range header of each request
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests.append(self.headers.get("Range"))
                if self.path != "/" + ENTRY.file:
                    self.send_error(404)
                    return
                body = owner.data
                if owner.mode == "corrupt":
                    body = body[:1000] + bytes([body[1000] ^ 0xFF]) + body[1001:]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if owner.mode == "truncate":
                    payload = payload[: len(payload) // 2]
                self.wfile.write(payload)
                self.wfile.flush()
                if owner.mode == "truncate":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(model_source: Path) -> Iterator[_Server]:
    srv = _Server((model_source / ENTRY.file).read_bytes())
    yield srv
    srv.close()


# -- tests ----------------------------------------------------------------------------------


def test_list_shows_catalog_and_nothing_installed(models_dir: Path) -> None:
    code, out, _ = run("list", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["models_dir"] == str(models_dir)
    assert {m["name"] for m in data["models"]} == set(INSTALLABLE)
    assert not any(m["installed"] for m in data["models"])
    assert data["default_embedder"] == "dlib-resnet-v1"  # nothing installed: dlib stays the default


def test_licence_must_be_accepted(models_dir: Path, model_source: Path) -> None:
    code, out, err = run("install", NAME, source=str(model_source))
    assert code == 1
    assert "CC BY-NC-SA 4.0" in err and "--accept-licence" in err and "George" in err  # licence and credit
    assert "Nothing was installed" in err
    assert installed_files(models_dir) == []


def test_install_from_folder_verify_remove(models_dir: Path, model_source: Path) -> None:
    code, out, err = run("install", NAME, "--accept-licence", "--no-progress", "--json", source=str(model_source))
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    assert "CC BY-NC-SA 4.0" in err  # the licence and credit are shown on install
    assert installed_files(models_dir) == [ENTRY.file]
    assert hashlib.sha256((models_dir / ENTRY.file).read_bytes()).hexdigest() == ENTRY.sha256
    code, out, _ = run("verify", "--json")
    assert code == 0 and json.loads(out)["models"][0]["verified"] is True
    listed = {m["name"]: m for m in json.loads(run("list", "--json")[1])["models"]}
    assert listed[NAME]["installed"] and not listed["edgeface-xs"]["installed"]
    # A damaged file is reported and fails verification.
    with open(models_dir / ENTRY.file, "r+b") as fh:
        fh.seek(500)
        fh.write(b"\0\0\0\0")
    code, out, _ = run("verify", NAME, "--json")
    assert code == 1 and "sha256" in json.loads(out)["models"][0]["problem"]
    code, out, _ = run("remove", NAME, "--json")
    assert code == 0 and json.loads(out)["removed"] is True
    assert installed_files(models_dir) == []


def test_install_from_local_file(models_dir: Path, model_source: Path, tmp_path: Path) -> None:
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", "--from", str(model_source / ENTRY.file))
    assert code == 0, err
    assert installed_files(models_dir) == [ENTRY.file]


def test_truncated_file_in_folder_installs_nothing(models_dir: Path, model_source: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad-source"
    bad.mkdir()
    (bad / ENTRY.file).write_bytes((model_source / ENTRY.file).read_bytes()[:100_000])
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=str(bad))
    assert code == 1 and "truncated" in err and "nothing was installed" in err
    assert installed_files(models_dir) == []


def test_missing_file_in_folder(models_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=str(tmp_path))
    assert code == 1 and "does not exist" in err
    assert installed_files(models_dir) == []


def test_install_over_http(models_dir: Path, server: _Server) -> None:
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=server.url)
    assert code == 0, err
    assert installed_files(models_dir) == [ENTRY.file]
    assert server.requests == [None]


def test_http_wrong_sha256_installs_nothing(models_dir: Path, server: _Server) -> None:
    server.mode = "corrupt"
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=server.url)
    assert code == 1 and "sha256 mismatch" in err and "nothing was installed" in err
    assert installed_files(models_dir) == []  # the bad download is discarded too


def test_http_truncated_download_resumes(models_dir: Path, server: _Server) -> None:
    server.mode = "truncate"
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=server.url)
    assert code == 1 and "nothing was installed" in err and "resume" in err
    assert not (models_dir / ENTRY.file).exists()
    part = models_dir / f".{ENTRY.file}.part"
    assert 0 < part.stat().st_size < ENTRY.size
    have = part.stat().st_size
    server.mode = "ok"
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=server.url)
    assert code == 0, err
    assert server.requests[-1] == f"bytes={have}-"  # resumed, not restarted
    assert installed_files(models_dir) == [ENTRY.file]
    assert hashlib.sha256((models_dir / ENTRY.file).read_bytes()).hexdigest() == ENTRY.sha256


def test_http_not_found(models_dir: Path, server: _Server) -> None:
    code, _, err = run("install", NAME, "--accept-licence", "--no-progress", source=server.url + "nowhere/")
    assert code == 1 and "HTTP 404" in err
    assert installed_files(models_dir) == []


def test_unknown_model(models_dir: Path) -> None:
    code, _, err = run("install", "facenet-9000", "--accept-licence")
    assert code == 1 and "unknown model" in err and "edgeface-xs" in err
