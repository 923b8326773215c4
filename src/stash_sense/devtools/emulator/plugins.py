"""Stash plugins in the emulator: loading plugin YAML files and running raw plugin backends
the way Stash does.

``runPluginOperation`` runs the backend at once and answers its ``output`` (its ``error``
becomes a GraphQL error); ``runPluginTask`` queues a job whose progress comes from the
backend's ``\\x01p\\x02<fraction>`` stderr lines, visible through ``findJob``/``jobQueue`` and
stopped with ``stopJob``. The backend gets Stash's stdin JSON: ``server_connection`` (scheme,
host and port of this emulator, a ``session`` cookie it accepts, the config and plugin
directories) and ``args`` (with a task's ``defaultArgs`` filled in).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import yaml
from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.state import now_rfc3339

log = logging.getLogger("stash_sense.devtools.emulator")

_PYTHON_COMMANDS = {"python", "python3", "python.exe", "python3.exe"}
_LOG_LEVELS = {"t": logging.DEBUG, "d": logging.DEBUG, "i": logging.INFO, "w": logging.WARNING, "e": logging.ERROR}


class PluginConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PluginTaskConfig:
    name: str
    description: str | None
    default_args: Mapping[str, str]
    exec_args: Sequence[str]


@dataclass(frozen=True)
class PluginConfig:
    """One plugin YAML file; the plugin id is the file name without ``.yml``, as in Stash."""

    id: str
    path: Path
    name: str
    description: str | None
    version: str | None
    url: str | None
    exec: Sequence[str]
    interface: str
    tasks: Sequence[PluginTaskConfig]
    settings: Mapping[str, Mapping[str, Any]]
    javascript: Sequence[str]  # the manifest's ui.javascript: files in the plugin folder, or URLs
    css: Sequence[str]
    requires: Sequence[str] = ()  # ui.requires: plugin ids whose UI loads first
    assets: Mapping[str, str] = field(default_factory=dict)  # ui.assets: URL prefix -> folder

    def files(self, kind: str) -> list[Path]:
        """The plugin's own ``javascript`` or ``css`` files, in manifest order (URLs left out)."""
        return [self.directory / name for name in getattr(self, kind) if not _is_url(name)]

    def urls(self, kind: str) -> list[str]:
        """The external ``javascript`` or ``css`` URLs of the manifest."""
        return [name for name in getattr(self, kind) if _is_url(name)]

    @property
    def directory(self) -> Path:
        return self.path.parent

    def task(self, name: str) -> PluginTaskConfig | None:
        return next((t for t in self.tasks if t.name == name), None)

    def command(self, task: PluginTaskConfig | None) -> list[str]:
        """Stash's ``getExecCommand``: exec plus the task's execArgs, ``{pluginDir}`` replaced in
        the arguments; a Python command runs with the configured Python (here: this one)."""
        command = [*self.exec, *(task.exec_args if task else ())]
        if not command:
            raise PluginConfigError(f"plugin {self.id} has no exec command")
        if command[0] in _PYTHON_COMMANDS:
            command[0] = sys.executable
        elif shutil.which(command[0]) is None:
            command[0] = str(self.directory / command[0])
        return [command[0], *(arg.replace("{pluginDir}", str(self.directory)) for arg in command[1:])]


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def load_plugin(path: Path) -> PluginConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PluginConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not data.get("name"):
        raise PluginConfigError(f"{path}: a plugin needs at least a name")
    interface = data.get("interface") or "raw"
    if interface != "raw":
        raise PluginConfigError(f"{path}: the emulator runs raw plugins only, not {interface!r}")
    ui = data.get("ui") or {}
    tasks = [
        PluginTaskConfig(
            name=str(t["name"]),
            description=t.get("description"),
            default_args={str(k): str(v) for k, v in (t.get("defaultArgs") or {}).items()},
            exec_args=[str(a) for a in t.get("execArgs") or ()],
        )
        for t in data.get("tasks") or ()
    ]
    return PluginConfig(
        id=path.stem,
        path=path.resolve(),
        name=str(data["name"]),
        description=data.get("description"),
        version=None if data.get("version") is None else str(data["version"]),
        url=data.get("url"),
        exec=[str(part) for part in data.get("exec") or ()],
        interface=interface,
        tasks=tasks,
        settings=dict(data.get("settings") or {}),
        javascript=[str(v) for v in ui.get("javascript") or ()],
        css=[str(v) for v in ui.get("css") or ()],
        requires=[str(v) for v in ui.get("requires") or ()],
        assets={str(k): str(v) for k, v in (ui.get("assets") or {}).items()},
    )


def _yaml_files(root: Path) -> list[Path]:
    """Every ``*.yml`` under ``root``, symbolic links followed (Stash's ``fsutil.SymWalk``)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = Path(folder).resolve()
        if real in seen:  # a link loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found += [Path(folder) / name for name in sorted(files) if name.endswith(".yml")]
    return found


def load_plugins(plugins_dir: Path) -> dict[str, PluginConfig]:
    """Every ``*.yml`` under ``plugins_dir``, at any depth, as Stash's ``ReloadPlugins`` reads
    them: a file that is not a valid plugin, or repeats an id (case-insensitively), is logged
    and left out, never fatal."""
    root = Path(plugins_dir)
    if not root.is_dir():
        raise PluginConfigError(f"plugins folder {root} does not exist")
    found: dict[str, PluginConfig] = {}
    for path in _yaml_files(root):
        try:
            plugin = load_plugin(path)
        except PluginConfigError as exc:
            log.error("Error loading plugin %s: %s", path, exc)
            continue
        if plugin.id.lower() in {key.lower() for key in found}:
            log.error("Error loading plugin %s: plugin ID %s already exists", path, plugin.id)
            continue
        found[plugin.id] = plugin
    return found


@dataclass
class PluginRun:
    """What one backend run produced (kept for inspection; Stash only logs it)."""

    output: Any = None
    error: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)


@dataclass
class PluginJob:
    id: int
    description: str
    status: str = "READY"
    progress: float | None = None
    add_time: str = field(default_factory=now_rfc3339)
    start_time: str | None = None
    end_time: str | None = None
    error: str | None = None
    run: PluginRun = field(default_factory=PluginRun)
    process: subprocess.Popen[bytes] | None = None
    task: asyncio.Task[None] | None = None

    def as_graphql(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "status": self.status, "subTasks": [], "description": self.description,
            "progress": self.progress, "startTime": self.start_time, "endTime": self.end_time,
            "addTime": self.add_time, "error": self.error,
        }


class PluginHost:
    """The emulator's plugin cache and job queue."""

    def __init__(
        self, plugins_dir: Path, *, config_dir: Path, session_cookie: str, run_timeout: float = 3600.0,
        disabled: Sequence[str] = (),
    ):
        self.plugins_dir = Path(plugins_dir)
        self.plugins = load_plugins(plugins_dir)
        self.disabled: set[str] = set(disabled)  # Stash's config disabledPlugins
        self.run_timeout = run_timeout  # no backend run outlives this (Stash has no limit; tests need one)
        self.config_dir = Path(config_dir)
        self.session_cookie = session_cookie
        self.jobs: dict[int, PluginJob] = {}
        self._ids = itertools.count(1)

    def plugin(self, plugin_id: str) -> PluginConfig:
        plugin = self.plugins.get(plugin_id)
        if plugin is None:
            raise GraphQLError(f"no plugin with ID {plugin_id}")
        return plugin

    def enabled(self, plugin_id: str) -> bool:
        return plugin_id not in self.disabled

    def runnable(self, plugin_id: str) -> PluginConfig:
        """The plugin, refused when it is disabled (as Stash's RunPlugin refuses it)."""
        plugin = self.plugin(plugin_id)
        if not self.enabled(plugin_id):
            raise GraphQLError(f"plugin {plugin_id} is disabled")
        return plugin

    def reload(self) -> None:
        """Read the plugins folder again (``reloadPlugins``, and after installing a package);
        running jobs keep the configuration they started with."""
        self.plugins = load_plugins(self.plugins_dir)

    def add_work(self, description: str, work: Callable[[PluginJob], Awaitable[None]]) -> PluginJob:
        """A job of the emulator's own (installing packages) in the same queue as plugin tasks:
        ``work`` raising marks it FAILED with the message, as Stash's job manager does."""
        job = PluginJob(id=next(self._ids), description=description)
        self.jobs[job.id] = job

        async def run() -> None:
            job.status, job.start_time = "RUNNING", now_rfc3339()
            try:
                await work(job)
            except asyncio.CancelledError:
                job.status = "CANCELLED"
            except Exception as exc:  # noqa: BLE001 - a failed job reports, it never takes the emulator down
                log.exception("job %s failed", description)
                job.error, job.status = str(exc), "FAILED"
            else:
                job.status = "CANCELLED" if job.status == "STOPPING" else "FINISHED"
            finally:
                job.end_time = now_rfc3339()

        job.task = asyncio.get_running_loop().create_task(run())
        return job

    def plugin_input(self, plugin: PluginConfig, base_url: str, args: Mapping[str, Any]) -> dict[str, Any]:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        cookie = {
            # Go's http.Cookie as encoding/json writes it.
            "Name": "session", "Value": self.session_cookie, "Quoted": False, "Path": "", "Domain": "",
            "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 0, "Secure": False, "HttpOnly": False,
            "SameSite": 0, "Partitioned": False, "Raw": "", "Unparsed": None,
        }
        connection = {
            "Scheme": parts.scheme or "http", "Host": parts.hostname or "localhost", "Port": port,
            "SessionCookie": cookie, "Dir": str(self.config_dir), "PluginDir": str(plugin.directory),
        }
        return {"server_connection": connection, "args": dict(args)}

    async def execute(
        self, plugin: PluginConfig, task: PluginTaskConfig | None, args: Mapping[str, Any], base_url: str,
        job: PluginJob | None = None,
    ) -> PluginRun:
        arguments = dict(args)
        for key, value in (task.default_args if task else {}).items():
            arguments.setdefault(key, value)
        stdin = json.dumps(self.plugin_input(plugin, base_url, arguments)).encode()
        command = plugin.command(task)
        run = job.run if job is not None else PluginRun()
        # The backend runs through Python's own subprocess machinery in a worker thread, never
        # through the event loop's spawn: uvloop's spawn forks and runs Python code (its after-fork
        # handler, object finalizers) in a child of a threaded process, which can deadlock there
        # before exec while libuv blocks the caller, GIL held, freezing the whole process.
        # _posixsubprocess runs no Python code between fork and exec.
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as exc:
            raise GraphQLError(f"error running plugin: {exc}") from None
        if job is not None:
            job.process = process
        try:
            stdout, returncode = await asyncio.to_thread(self._communicate, plugin, process, stdin, run, job)
        except asyncio.CancelledError:
            _kill(process)
            raise
        text = stdout.decode("utf-8", errors="replace")
        try:
            decoded = json.loads(text)
            if not isinstance(decoded, dict):
                raise ValueError("not an object")
            run.output, run.error = decoded.get("output"), decoded.get("error")
        except ValueError:
            run.output = text  # Stash passes undecodable output through as a string
        if returncode is None:
            run.error = f"the plugin did not finish within {self.run_timeout:.0f} s and was killed"
        elif returncode != 0 and run.error is None:
            run.error = f"exit status {returncode}"
        return run

    def _communicate(
        self, plugin: PluginConfig, process: subprocess.Popen[bytes], stdin: bytes, run: PluginRun, job: PluginJob | None,
    ) -> tuple[bytes, int | None]:
        """Feeds stdin, reads stdout and (line by line, for progress) stderr; kills the backend
        after ``run_timeout`` so that no run can outlive its caller. Returns (stdout, exit code
        or None when it was killed for time)."""
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        stderr_reader = threading.Thread(target=self._read_stderr, args=(plugin, process.stderr, run, job), daemon=True)
        stderr_reader.start()
        chunks: list[bytes] = []
        stdout_reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()), daemon=True)  # type: ignore[union-attr]
        stdout_reader.start()
        with contextlib.suppress(OSError):  # a backend that exits without reading its input
            process.stdin.write(stdin)
        with contextlib.suppress(OSError):
            process.stdin.close()
        timed_out = False
        try:
            process.wait(timeout=self.run_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(process)
            process.wait()
        # The pipes close when the backend (and its process group) is gone.
        stdout_reader.join(timeout=10)
        stderr_reader.join(timeout=10)
        return b"".join(chunks), None if timed_out else process.returncode

    def _read_stderr(self, plugin: PluginConfig, stream: IO[bytes], run: PluginRun, job: PluginJob | None) -> None:
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if not line:
                continue
            level, message = "e", line  # Stash's default level for unprefixed stderr
            if len(line) >= 4 and line[0] == "\x01" and line[2] == "\x02":
                level, message = line[1], line[3:].strip()
            if level == "p":
                try:
                    fraction = float(message)
                except ValueError:
                    log.error("[Plugin / %s] error parsing progress value %r", plugin.name, message)
                    continue
                run.progress.append(fraction)
                if job is not None:
                    job.progress = fraction
                continue
            run.logs.append((level, message))
            log.log(_LOG_LEVELS.get(level, logging.INFO), "[Plugin / %s] %s", plugin.name, message)

    def add_job(self, plugin: PluginConfig, task: PluginTaskConfig | None, description: str, args: Mapping[str, Any], base_url: str) -> PluginJob:
        job = PluginJob(id=next(self._ids), description=f"Running plugin task: {description}")
        self.jobs[job.id] = job

        async def work() -> None:
            job.status, job.start_time = "RUNNING", now_rfc3339()
            try:
                await self.execute(plugin, task, args, base_url, job)
            except GraphQLError as exc:
                job.error, job.status = exc.message, "FAILED"
            except asyncio.CancelledError:
                job.status = "CANCELLED"
            else:
                if job.status == "STOPPING":
                    job.status = "CANCELLED"
                else:
                    job.status = "FINISHED"
                    if job.run.error:  # Stash logs the plugin's error; the job itself still finishes
                        log.error("Plugin returned error: %s", job.run.error)
            finally:
                job.end_time = now_rfc3339()

        job.task = asyncio.get_running_loop().create_task(work())
        return job

    def stop(self, job_id: int) -> bool:
        job = self.jobs.get(job_id)
        if job is None:
            return False
        if job.status in ("READY", "RUNNING"):
            job.status = "STOPPING"
            if job.process is not None:
                _kill(job.process)  # as Stash does: the backend cannot clean up
        return True

    async def close(self) -> None:
        for job in self.jobs.values():
            if job.process is not None:
                _kill(job.process)
            if job.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await job.task


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL for the backend and anything it started (it runs in its own session)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


# -- GraphQL ----------------------------------------------------------------------------------


def _host(info: GraphQLResolveInfo) -> PluginHost:
    host = getattr(info.context, "plugins", None)
    if host is None:
        raise GraphQLError("this emulator was started without a plugins folder")
    return host


def _paths(plugin: PluginConfig, kind: str, base_url: str) -> list[str] | None:
    """Stash's ``pluginURLBuilder``: the external URLs, then ``{base}/plugin/{id}/{kind}``
    (which serves all of the plugin's own files of that kind, concatenated); None without any."""
    if not getattr(plugin, kind):
        return None
    return [*plugin.urls(kind), f"{base_url}/plugin/{plugin.id}/{kind}"]


def _plugin_object(plugin: PluginConfig, enabled: bool, base_url: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": plugin.id, "name": plugin.name, "description": plugin.description, "url": plugin.url,
        "version": plugin.version, "enabled": enabled, "hooks": [], "requires": list(plugin.requires),
        "settings": [
            {"name": key, "display_name": value.get("displayName"), "description": value.get("description"), "type": value.get("type") or "STRING"}
            for key, value in plugin.settings.items()
        ],
        "paths": {"javascript": _paths(plugin, "javascript", base_url), "css": _paths(plugin, "css", base_url)},
    }
    obj["tasks"] = [{"name": t.name, "description": t.description, "plugin": obj} for t in plugin.tasks]
    return obj


def _plugins(_root: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    host = getattr(info.context, "plugins", None)
    if host is None:
        return []
    return [_plugin_object(p, host.enabled(p.id), info.context.base_url) for p in host.plugins.values()]


def _plugin_tasks(root: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    # Stash lists the tasks of enabled plugins only.
    return [task for plugin in _plugins(root, info) if plugin["enabled"] for task in plugin["tasks"]]


def _job_queue(_root: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    host = getattr(info.context, "plugins", None)
    if host is None:
        return []
    return [job.as_graphql() for job in host.jobs.values() if job.status in ("READY", "RUNNING", "STOPPING")]


def _find_job(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any] | None:
    host = getattr(info.context, "plugins", None)
    try:
        job = host.jobs.get(int(input["id"])) if host is not None else None
    except ValueError:
        return None
    return None if job is None else job.as_graphql()


async def _run_plugin_operation(_root: Any, info: GraphQLResolveInfo, plugin_id: str, args: Mapping[str, Any] | None = None) -> Any:
    host = _host(info)
    plugin = host.runnable(plugin_id)
    run = await host.execute(plugin, None, args or {}, info.context.base_url)
    if run.error:
        raise GraphQLError(run.error)
    return run.output


def _legacy_args(args: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """``[PluginArgInput]`` to a map, as Stash converts the deprecated ``args``."""

    def value(v: Mapping[str, Any] | None) -> Any:
        if v is None:
            return None
        for key in ("str", "i", "b", "f"):
            if v.get(key) is not None:
                return v[key]
        if v.get("o") is not None:
            return _legacy_args(v["o"])
        if v.get("a") is not None:
            return [value(item) for item in v["a"]]
        return None

    return {a["key"]: value(a.get("value")) for a in args or ()}


def _run_plugin_task(
    _root: Any, info: GraphQLResolveInfo, plugin_id: str, task_name: str | None = None, description: str | None = None,
    args: Sequence[Mapping[str, Any]] | None = None, args_map: Mapping[str, Any] | None = None,
) -> str:
    host = _host(info)
    plugin = host.runnable(plugin_id)
    task = None
    if task_name is not None:
        task = plugin.task(task_name)
        if task is None:
            raise GraphQLError(f"no task with name {task_name} in plugin {plugin.name}")
    arguments = dict(args_map) if args_map is not None else _legacy_args(args)
    job = host.add_job(plugin, task, description or task_name or plugin_id, arguments, info.context.base_url)
    return str(job.id)


def _stop_job(_root: Any, info: GraphQLResolveInfo, job_id: str) -> bool:
    host = getattr(info.context, "plugins", None)
    try:
        return host is not None and host.stop(int(job_id))
    except ValueError:
        return False


def _reload_plugins(_root: Any, info: GraphQLResolveInfo) -> bool:
    host = getattr(info.context, "plugins", None)
    if host is not None:
        host.reload()
    return True


def _set_plugins_enabled(_root: Any, info: GraphQLResolveInfo, enabledMap: Mapping[str, bool]) -> bool:  # noqa: N803 - the schema's name
    # Stash keeps the list of disabled plugin ids in its configuration.
    host = _host(info)
    disabled = set(host.disabled)
    for plugin_id, enabled in enabledMap.items():
        if enabled:
            disabled.discard(plugin_id)
        else:
            disabled.add(plugin_id)
    host.disabled = disabled
    info.context.catalog.store.set_config("disabledPlugins", sorted(disabled))
    return True


PLUGIN_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "plugins"): _plugins,
    ("Query", "pluginTasks"): _plugin_tasks,
    ("Query", "jobQueue"): _job_queue,
    ("Query", "findJob"): _find_job,
    ("Mutation", "runPluginOperation"): _run_plugin_operation,
    ("Mutation", "runPluginTask"): _run_plugin_task,
    ("Mutation", "stopJob"): _stop_job,
    ("Mutation", "reloadPlugins"): _reload_plugins,
    ("Mutation", "setPluginsEnabled"): _set_plugins_enabled,
}
