"""Stash Sense plugin backend: what Stash runs for the plugin's operations and tasks.

Stash starts this script with a JSON object on stdin (``server_connection`` and ``args``) and
reads one JSON object ``{"output": ..., "error": ...}`` from stdout; stderr lines prefixed
with ``\\x01<level>\\x02`` are Stash log lines (``p`` = progress, 0 to 1). The script proxies
to the Stash Sense sidecar, so the browser never talks to the sidecar directly and no sidecar
origin has to be added to Stash's content security policy.

Only the Python standard library is used: Stash runs it with whatever Python it finds.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

PLUGIN_ID = "stash-sense"
DEFAULT_SIDECAR_URL = "http://127.0.0.1:6960"
# Identification reads and analyses a whole scene; everything else answers at once.
SCENE_TIMEOUT_S = 600.0
SHORT_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 2.0
TERMINAL_JOB_STATES = {"idle", "stopped", "completed", "failed"}

SETTINGS_QUERY = "query StashSensePluginSettings($include: [ID!]) { configuration { plugins(include: $include) } }"


class PluginError(Exception):
    """A failure explained in one sentence for the Stash user; never a traceback."""


# -- Stash's plugin log format -------------------------------------------------------------


def log(level: str, message: str) -> None:
    """``level``: t(race), d(ebug), i(nfo), w(arning), e(rror)."""
    for line in str(message).splitlines() or [""]:
        sys.stderr.write(f"\x01{level}\x02{line}\n")
    sys.stderr.flush()


def progress(fraction: float) -> None:
    sys.stderr.write(f"\x01p\x02{max(0.0, min(1.0, fraction)):.4f}\n")
    sys.stderr.flush()


# -- Stash -------------------------------------------------------------------------------------


def stash_base_url(connection: dict[str, Any]) -> str:
    scheme = connection.get("Scheme") or "http"
    host = connection.get("Host") or "localhost"
    # Stash hands over the address it listens on; a wildcard address is reached on loopback.
    if host in ("0.0.0.0", "::", "[::]"):
        host = "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = connection.get("Port")
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _session_cookie(connection: dict[str, Any]) -> str | None:
    cookie = connection.get("SessionCookie")
    if isinstance(cookie, dict) and cookie.get("Value"):
        return f"{cookie.get('Name') or 'session'}={cookie['Value']}"
    return None


def plugin_settings(connection: dict[str, Any]) -> dict[str, Any]:
    """This plugin's settings from Stash (``configuration { plugins }``), with the session
    cookie Stash gave this process."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    cookie = _session_cookie(connection)
    if cookie:
        headers["Cookie"] = cookie
    body = json.dumps({"query": SETTINGS_QUERY, "variables": {"include": [PLUGIN_ID]}}).encode()
    url = stash_base_url(connection) + "/graphql"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=SHORT_TIMEOUT_S) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise PluginError(f"Stash refused the settings query ({exc.code}) at {url}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PluginError(f"could not read the plugin settings from Stash at {url}: {_reason(exc)}") from None
    if payload.get("errors"):
        raise PluginError(f"Stash answered the settings query with an error: {payload['errors'][0].get('message')}")
    plugins = ((payload.get("data") or {}).get("configuration") or {}).get("plugins") or {}
    settings = plugins.get(PLUGIN_ID) or {}
    return settings if isinstance(settings, dict) else {}


# -- the sidecar ---------------------------------------------------------------------------


class Sidecar:
    def __init__(self, url: str, api_key: str | None):
        url = (url or "").strip().rstrip("/")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PluginError(
                f"the sidecar URL {url!r} is not an http(s) URL; set it in Settings > Plugins > Stash Sense "
                f"(for example {DEFAULT_SIDECAR_URL})"
            )
        self.url = url
        self.api_key = api_key or None

    def call(self, method: str, path: str, body: Any = None, timeout: float = SHORT_TIMEOUT_S) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise PluginError(self._http_error(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PluginError(
                f"cannot reach the Stash Sense sidecar at {self.url} ({_reason(exc)}); is `stash-sense serve` "
                "running, and is the sidecar URL in Settings > Plugins > Stash Sense right?"
            ) from None
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise PluginError(f"{self.url} answered {path} with something that is not JSON; is it a Stash Sense sidecar?") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> str:
        try:
            body = json.loads(exc.read().decode("utf-8"))
        except (ValueError, OSError, UnicodeDecodeError):
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        if exc.code == 401:
            return ("the sidecar refused the request (401): set Sidecar API key in Settings > Plugins > Stash Sense "
                    "to its STASH_SENSE_API_KEY")
        if exc.code == 404 and detail is None:
            return f"{self.url} has no Stash Sense API at this path; is the sidecar URL right?"
        return f"the sidecar answered {exc.code}: {detail or exc.reason}"


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason) or exc.__class__.__name__


def _number(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PluginError(f"{what} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise PluginError(f"{what} must be between 0 and 1, got {number}")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# -- operations ------------------------------------------------------------------------------


def identify_scene(sidecar: Sidecar, args: dict[str, Any], settings: dict[str, Any]) -> Any:
    scene_id = str(args.get("scene_id") or "").strip()
    if not scene_id.isdigit():
        raise PluginError(f"scene_id must be a Stash scene id (digits), got {args.get('scene_id')!r}")
    params: dict[str, Any] = {}
    min_confidence = _number(args.get("min_confidence", settings.get("minConfidence")), "minimum confidence")
    if min_confidence is not None:
        params["min_confidence"] = min_confidence
    if args.get("num_frames") not in (None, ""):
        # Frames sampled from the scene (the sidecar's default when absent).
        try:
            params["num_frames"] = int(args["num_frames"])
        except (TypeError, ValueError):
            raise PluginError(f"num_frames must be a whole number, got {args['num_frames']!r}") from None
    body = {"scene_id": scene_id, "params": params, "thumbnail_format": "data_url"}
    log("i", f"identifying scene {scene_id}")
    started = time.monotonic()
    answer = sidecar.call("POST", "/identify/scene", body, timeout=SCENE_TIMEOUT_S)
    result = answer.get("result") or {}
    log("i", f"scene {scene_id}: {len(result.get('performers') or [])} performer(s) in {time.monotonic() - started:.1f} s")
    # Who each candidate is in Stash comes resolved from the sidecar: the page only shows it.
    return {
        "scene_id": scene_id, "show_rejected": _flag(settings.get("showRejected")), "result": result,
        "resolutions": answer.get("resolutions") or {},
    }


def generate_fingerprints(sidecar: Sidecar, args: dict[str, Any], settings: dict[str, Any]) -> Any:
    """The long task: start the sidecar's bulk job and follow it, reporting progress to Stash."""
    refresh = _flag(args.get("refresh_outdated", settings.get("refreshOutdated")))
    job = sidecar.call("POST", "/recommendations/fingerprints/generate", {"refresh_outdated": refresh})
    log("i", f"fingerprint job {job.get('job_id')} started ({job.get('total', 0)} scenes)")
    while job.get("status") not in TERMINAL_JOB_STATES:
        progress(float(job.get("percent") or 0.0) / 100.0)
        time.sleep(POLL_INTERVAL_S)
        job = sidecar.call("GET", "/recommendations/fingerprints/progress")
    progress(1.0)
    summary = f"fingerprint job {job.get('status')}: {job.get('done', 0)} done, {job.get('failed', 0)} failed"
    log("e" if job.get("status") == "failed" else "i", summary + (f" ({job['error']})" if job.get("error") else ""))
    if job.get("status") == "failed":
        raise PluginError(f"the fingerprint job failed: {job.get('error') or 'see the sidecar log'}")
    return job


def start_fingerprints(sidecar: Sidecar, args: dict[str, Any], settings: dict[str, Any]) -> Any:
    refresh = _flag(args.get("refresh_outdated", settings.get("refreshOutdated")))
    return sidecar.call("POST", "/recommendations/fingerprints/generate", {"refresh_outdated": refresh})


# -- recommendations: the review on the plugin page goes through these --------------------------

REC_TYPES = ("duplicate_performers", "duplicate_files", "duplicate_scenes")
REC_STATUSES = ("open", "dismissed", "resolved", "obsolete")
ANALYSIS_TYPES = ("performers", "files", "scenes")
DISMISS_KINDS = ("soft", "permanent", "not_duplicate")


def _rec_id(args: dict[str, Any]) -> str:
    value = str(args.get("id") or "").strip()
    if not value.isdigit() or int(value) < 1:
        raise PluginError(f"id must be a recommendation id (a positive whole number), got {args.get('id')!r}")
    return value


def _choice(args: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = args.get(name)
    if value in (None, ""):
        return default
    if value not in allowed:
        raise PluginError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def recommendations_list(sidecar: Sidecar, args: dict[str, Any], _settings: dict[str, Any]) -> Any:
    params: dict[str, Any] = {"status": _choice(args, "status", REC_STATUSES, "open")}
    rec_type = _choice(args, "type", REC_TYPES)
    if rec_type:
        params["type"] = rec_type
    min_confidence = _number(args.get("min_confidence"), "minimum confidence")
    if min_confidence is not None:
        params["min_confidence"] = min_confidence
    for name, default, most in (("page", 1, 100_000), ("per_page", 20, 200)):
        raw = args.get(name, default)
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise PluginError(f"{name} must be a whole number, got {raw!r}") from None
        if not 1 <= number <= most:
            raise PluginError(f"{name} must be between 1 and {most}, got {number}")
        params[name] = number
    return sidecar.call("GET", "/recommendations?" + urllib.parse.urlencode(params))


def recommendation_dismiss(sidecar: Sidecar, args: dict[str, Any], _settings: dict[str, Any]) -> Any:
    kind = _choice(args, "kind", DISMISS_KINDS, "soft")
    return sidecar.call("POST", f"/recommendations/{_rec_id(args)}/dismiss", {"kind": kind})


def recommendation_resolve(sidecar: Sidecar, args: dict[str, Any], _settings: dict[str, Any]) -> Any:
    """Fix in Stash (merge / delete files): the page asks the user first and sends confirm."""
    action = _choice(args, "action", ("fix", "mark_resolved"), "fix")
    body: dict[str, Any] = {"action": action, "confirm": _flag(args.get("confirm"))}
    if args.get("keeper") not in (None, ""):
        body["keeper"] = str(args["keeper"])
    if args.get("file_ids") not in (None, ""):
        if not isinstance(args["file_ids"], list):
            raise PluginError("file_ids must be a list of Stash file ids")
        body["file_ids"] = [str(f) for f in args["file_ids"]]
    rec_id = _rec_id(args)
    log("i", f"recommendation {rec_id}: {action}" + (f", keeping {body['keeper']}" if "keeper" in body else ""))
    return sidecar.call("POST", f"/recommendations/{rec_id}/resolve", body, timeout=SCENE_TIMEOUT_S)


def analysis_start(sidecar: Sidecar, args: dict[str, Any], _settings: dict[str, Any]) -> Any:
    analysis = _choice(args, "type", ANALYSIS_TYPES)
    if analysis is None:
        raise PluginError(f"type must be one of {', '.join(ANALYSIS_TYPES)}")
    return sidecar.call("POST", "/recommendations/analysis", {"type": analysis, "full": _flag(args.get("full"))})


OPERATIONS = {
    "health": lambda sidecar, _args, _settings: sidecar.call("GET", "/health"),
    "database_info": lambda sidecar, _args, _settings: sidecar.call("GET", "/database/info"),
    "identify_scene": identify_scene,
    "fingerprints_status": lambda sidecar, _args, _settings: sidecar.call("GET", "/recommendations/fingerprints/status"),
    "fingerprints_start": start_fingerprints,
    "fingerprints_stop": lambda sidecar, _args, _settings: sidecar.call("POST", "/recommendations/fingerprints/stop"),
    "generate_fingerprints": generate_fingerprints,
    "recommendations_counts": lambda sidecar, _args, _settings: sidecar.call("GET", "/recommendations/counts"),
    "recommendations_list": recommendations_list,
    "recommendation_detail": lambda sidecar, args, _settings: sidecar.call("GET", f"/recommendations/{_rec_id(args)}"),
    "recommendation_dismiss": recommendation_dismiss,
    "recommendation_undismiss": lambda sidecar, args, _settings: sidecar.call("POST", f"/recommendations/{_rec_id(args)}/undismiss"),
    "recommendation_resolve": recommendation_resolve,
    "analysis_start": analysis_start,
    "analysis_status": lambda sidecar, _args, _settings: sidecar.call("GET", "/recommendations/analysis"),
    "analysis_stop": lambda sidecar, _args, _settings: sidecar.call("POST", "/recommendations/analysis/stop"),
}


def run(plugin_input: dict[str, Any]) -> Any:
    args = plugin_input.get("args") or {}
    if not isinstance(args, dict):
        raise PluginError("args must be a JSON object")
    mode = args.get("mode")
    if mode not in OPERATIONS:
        raise PluginError(f"unknown mode {mode!r}; expected one of {', '.join(sorted(OPERATIONS))}")
    connection = plugin_input.get("server_connection") or {}
    # Explicit arguments win over the plugin settings.
    settings = plugin_settings(connection) if connection else {}
    url = args.get("sidecar_url") or settings.get("sidecarUrl") or DEFAULT_SIDECAR_URL
    api_key = args.get("sidecar_api_key") or settings.get("sidecarApiKey")
    return OPERATIONS[mode](Sidecar(str(url), api_key), args, settings)


def main() -> int:
    output: Any = None
    error: str | None = None
    try:
        raw = sys.stdin.read()
        try:
            plugin_input = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise PluginError(f"stdin is not the JSON object Stash sends: {exc}") from None
        if not isinstance(plugin_input, dict):
            raise PluginError("stdin must be a JSON object with server_connection and args")
        output = run(plugin_input)
    except PluginError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as exc:  # noqa: BLE001 - Stash shows `error` to the user; a traceback helps nobody there
        error = f"unexpected {exc.__class__.__name__}: {exc}"
    if error:
        log("e", error)
    sys.stdout.write(json.dumps({"output": output, "error": error}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
