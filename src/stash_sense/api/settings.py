"""Sidecar settings: documented defaults, then a settings file, then environment variables,
then command-line flags (each later source wins).

==============================  ===============================================  =========================================
Environment variable            Meaning                                          Default
==============================  ===============================================  =========================================
``STASH_URL``                   Stash server, e.g. ``http://localhost:9999``     unset: Stash features are unavailable
``STASH_API_KEY``               Stash API key (sent as ``ApiKey``)               unset
``STASH_RATE_LIMIT``            Requests per second to Stash                     5
``STASH_SENSE_DATA_DIR``        Where ``stash_sense.db`` (user state) lives      ``$XDG_DATA_HOME/stash-sense``
``STASH_SENSE_FACE_DB``         Face DB directory                                ``$STASH_SENSE_DATA_DIR/facedb``
``STASH_SENSE_FACE_DB_SOURCE``  Where face-DB releases are offered: a pack (or   unset: no updates offered
                                its ``.manifest.json``), path or http(s) URL
``STASH_SENSE_API_KEY``         Key clients must send (``X-API-Key`` or          unset: no authentication
                                ``Authorization: Bearer``)
``STASH_SENSE_HOST``            Interface to bind                                ``127.0.0.1``
``STASH_SENSE_PORT``            Port                                             6960
``STASH_SENSE_CORS_ORIGINS``    Extra browser origins allowed (comma-separated)  none (only Stash's own origin)
``STASH_SENSE_MAX_UPLOAD_MB``   Largest image accepted (upload, URL, base64)     20
``STASH_SENSE_MAX_IMAGE_PIXELS``  Largest decoded image (decompression bombs)    40000000
``STASH_SENSE_CONCURRENCY``     Identifications run at once                      2
``STASH_SENSE_MAX_QUEUE``       Identifications waiting before 503               64
``STASH_SENSE_QUEUE_TIMEOUT``   Seconds a request may wait for a worker          120
``STASH_SENSE_REQUEST_TIMEOUT``  Seconds before a request is answered 504        600
``STASH_SENSE_BODY_TIMEOUT``    Seconds allowed to receive a request body        60
``STASH_SENSE_FETCH_TIMEOUT``   Seconds for fetching ``image_url`` / Stash       30
``STASH_SENSE_MEDIA_ROOTS``     Folders whose videos ``/identify/scene`` may     none: local paths are refused
                                read by path (``:``-separated)
``STASH_SENSE_DB_WATCH_INTERVAL``  Seconds between checks of the face DB for a   10 (0: never)
                                new version (hot swap)
``STASH_SENSE_FINGERPRINT_FRAMES``  Frames per scene in the bulk job             30
``STASH_SENSE_ALLOW_PRIVATE_URLS``  Let ``image_url`` / scene URLs reach private,  false: only Stash and public hosts
                                loopback and link-local addresses
``STASH_SENSE_PREFERRED_PATHS``  Folders whose files are kept first when a       none
                                scene has duplicate files (``:``-separated)
``STASH_SENSE_BENCHMARK_DIR``   Where the dashboard lists benchmark reports      ``$STASH_SENSE_DATA_DIR/benchmarks``
                                (one ``benchmark --output-dir`` per folder)
``STASH_SENSE_SETTINGS``        A TOML or JSON settings file (keys: the field    unset
                                names below)
==============================  ===============================================  =========================================
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

SETTINGS_ENV = "STASH_SENSE_SETTINGS"
DEFAULT_PORT = 6960

# Setting name -> environment variable.
ENV_VARS: dict[str, str] = {
    "stash_url": "STASH_URL",
    "stash_api_key": "STASH_API_KEY",
    "stash_rate_limit": "STASH_RATE_LIMIT",
    "data_dir": "STASH_SENSE_DATA_DIR",
    "face_db": "STASH_SENSE_FACE_DB",
    "face_db_source": "STASH_SENSE_FACE_DB_SOURCE",
    "api_key": "STASH_SENSE_API_KEY",
    "host": "STASH_SENSE_HOST",
    "port": "STASH_SENSE_PORT",
    "cors_origins": "STASH_SENSE_CORS_ORIGINS",
    "max_upload_mb": "STASH_SENSE_MAX_UPLOAD_MB",
    "max_image_pixels": "STASH_SENSE_MAX_IMAGE_PIXELS",
    "concurrency": "STASH_SENSE_CONCURRENCY",
    "max_queue": "STASH_SENSE_MAX_QUEUE",
    "queue_timeout_s": "STASH_SENSE_QUEUE_TIMEOUT",
    "request_timeout_s": "STASH_SENSE_REQUEST_TIMEOUT",
    "body_timeout_s": "STASH_SENSE_BODY_TIMEOUT",
    "fetch_timeout_s": "STASH_SENSE_FETCH_TIMEOUT",
    "media_roots": "STASH_SENSE_MEDIA_ROOTS",
    "db_watch_interval_s": "STASH_SENSE_DB_WATCH_INTERVAL",
    "fingerprint_frames": "STASH_SENSE_FINGERPRINT_FRAMES",
    "benchmark_dir": "STASH_SENSE_BENCHMARK_DIR",
}


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range (the message names it and its source)."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".local" / "share") / "stash-sense"


def _split_list(value: Any, sep: str) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(sep) if part.strip()]
    return value


class Settings(BaseModel):
    """Everything the sidecar is configured with. Secrets are ``SecretStr``: they never print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stash_url: str | None = Field(None, description="Stash base URL; unset disables Stash features.")
    stash_api_key: SecretStr | None = None
    stash_rate_limit: float = Field(5.0, gt=0, le=1000, description="Requests per second to Stash.")
    data_dir: Path = Field(default_factory=default_data_dir)
    face_db: Path | None = Field(None, description="Face DB directory (default: DATA_DIR/facedb).")
    face_db_source: str | None = Field(
        None, max_length=4096,
        description="Face-DB release to offer as an update: a pack or its .manifest.json, as a path or an http(s) URL.",
    )
    api_key: SecretStr | None = Field(None, description="Key clients must send; unset = open API.")
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed besides Stash's.")
    max_upload_mb: float = Field(20.0, gt=0, le=1024)
    max_image_pixels: int = Field(40_000_000, ge=64, le=500_000_000)
    concurrency: int = Field(2, ge=1, le=64, description="Identifications run at once (threads).")
    max_queue: int = Field(64, ge=0, le=10_000)
    queue_timeout_s: float = Field(120.0, gt=0)
    request_timeout_s: float = Field(600.0, gt=0)
    body_timeout_s: float = Field(60.0, gt=0)
    fetch_timeout_s: float = Field(30.0, gt=0)
    media_roots: list[Path] = Field(default_factory=list)
    db_watch_interval_s: float = Field(10.0, ge=0)
    fingerprint_frames: int = Field(30, ge=1, le=600)
    allow_private_urls: bool = Field(
        False, description="Let URLs fetched for a caller reach private, loopback and link-local addresses."
    )
    preferred_paths: list[str] = Field(
        default_factory=list, description="Folders whose copy of a scene's duplicate files is kept first."
    )
    benchmark_dir: Path | None = Field(None, description="Benchmark reports shown by the dashboard (default: DATA_DIR/benchmarks).")

    @field_validator("stash_url")
    @classmethod
    def _check_stash_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://localhost:9999")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not carry credentials or a query string (use STASH_API_KEY)")
        return value.strip().rstrip("/")

    @field_validator("face_db_source")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme and len(parts.scheme) > 1 and parts.scheme not in ("http", "https"):
            raise ValueError("must be a path or an http(s) URL of a face-DB pack")
        return value

    @field_validator("stash_api_key", "api_key", mode="before")
    @classmethod
    def _blank_key(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            return value.strip()
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        return _split_list(value, ",")

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            parts = urlsplit(origin)
            if origin == "*" or parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(f"{origin!r} is not an origin like http://host:port (wildcards are not allowed)")
            out.append(f"{parts.scheme}://{parts.netloc}")
        return out

    @field_validator("media_roots", "preferred_paths", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        return _split_list(value, os.pathsep)

    # -- derived --------------------------------------------------------------------------------

    @property
    def face_db_dir(self) -> Path:
        return (self.face_db or self.data_dir / "facedb").expanduser()

    @property
    def benchmark_reports_dir(self) -> Path:
        return (self.benchmark_dir or self.data_dir / "benchmarks").expanduser()

    @property
    def user_db_path(self) -> Path:
        from stash_sense.userdb import USER_DB_FILE

        return self.data_dir.expanduser() / USER_DB_FILE

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        """Whole request body: an upload as base64 JSON is 4/3 its size, plus form fields."""
        return self.max_upload_bytes * 4 // 3 + 256 * 1024

    @property
    def allowed_origins(self) -> list[str]:
        """Browser origins allowed by CORS: Stash's own origin and the configured extras only."""
        origins = list(self.cors_origins)
        if self.stash_url:
            parts = urlsplit(self.stash_url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.insert(0, origin)
        return origins

    def describe(self) -> dict[str, Any]:
        """For logs and ``--show-settings``: secrets shown only as set / unset."""
        data = self.model_dump(mode="json")
        for key in ("stash_api_key", "api_key"):
            data[key] = "<set>" if getattr(self, key) is not None else None
        data["face_db"] = str(self.face_db_dir)
        data["benchmark_dir"] = str(self.benchmark_reports_dir)
        return data


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"settings file {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path} must hold a table/object of settings")
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"settings file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(Settings.model_fields)}")
    return data


def load_settings(
    *, env: Mapping[str, str] | None = None, settings_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Defaults < settings file (``settings_file`` or ``$STASH_SENSE_SETTINGS``) < environment < ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    file = settings_file or (Path(env[SETTINGS_ENV]).expanduser() if env.get(SETTINGS_ENV) else None)
    if file is not None:
        for key, value in _read_file(Path(file)).items():
            values[key], origin[key] = value, f"settings file {file}"
    for key, var in ENV_VARS.items():
        if var in env and env[var].strip() != "":
            values[key], origin[key] = env[var], f"environment variable {var}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key], origin[key] = value, f"option --{key.replace('_', '-')}"
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "?"
            # Never echo the offending value: it may be a key.
            problems.append(f"{key} (from {origin.get(key, 'defaults')}): {err['msg']}")
        raise SettingsError("bad settings: " + "; ".join(problems)) from None
