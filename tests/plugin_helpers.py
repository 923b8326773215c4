"""Shared pieces of the Stash plugin tests: where the plugin lives, its GraphQL documents, a
small probe plugin for the emulator tests, and Stash's stdin JSON for the backend."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO / "src" / "stash_sense" / "plugin"
PLUGIN_ID = "stash-sense"
BACKEND = PLUGIN_DIR / "stash_sense_backend.py"
PLUGIN_SCHEMA = REPO.parent / "shared" / "stash-plugin-schema" / "plugin.schema.json"


def gql(url: str, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None, cookie: str | None = None) -> httpx.Response:
    headers = {"ApiKey": key} if key else {}
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=120)


def gql_data(url: str, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None) -> dict[str, Any]:
    response = gql(url, query, variables, key=key)
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]


def ui_documents() -> dict[str, str]:
    """The GraphQL documents the plugin's JavaScript sends (its ``DOCUMENTS`` table)."""
    source = (PLUGIN_DIR / "stash-sense.js").read_text(encoding="utf-8")
    block = source.split("const DOCUMENTS = {", 1)[1].split("\n  };", 1)[0]
    return dict(re.findall(r"(\w+):\s*`([^`]*)`", block))


def stash_stdin(stash_url: str, session_cookie: str, args: dict[str, Any], *, plugin_dir: Path = PLUGIN_DIR) -> str:
    """Stash's raw-plugin input: the server connection (Go's http.Cookie as JSON) and args."""
    parts = httpx.URL(stash_url)
    cookie = {
        "Name": "session", "Value": session_cookie, "Quoted": False, "Path": "", "Domain": "",
        "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 0, "Secure": False, "HttpOnly": False,
        "SameSite": 0, "Partitioned": False, "Raw": "", "Unparsed": None,
    }
    connection = {"Scheme": parts.scheme, "Host": parts.host, "Port": parts.port, "SessionCookie": cookie,
                  "Dir": str(plugin_dir.parent), "PluginDir": str(plugin_dir)}
    return json.dumps({"server_connection": connection, "args": args})


PROBE_SCRIPT = textwrap.dedent(
    '''
    """A raw plugin for the emulator tests: reports its stdin, logs, progress and an answer."""
    import json, sys, time, urllib.request

    data = json.load(sys.stdin)
    args = data["args"]
    conn = data["server_connection"]
    sys.stderr.write("\\x01i\\x02probe started\\n")
    sys.stderr.write("plain stderr line\\n")
    if args.get("mode") == "fail":
        print(json.dumps({"output": None, "error": "probe failed on purpose"}))
        sys.exit(0)
    if args.get("mode") == "crash":
        sys.exit(3)
    if args.get("mode") == "text":
        sys.stdout.write("not json")
        sys.exit(0)
    if args.get("mode") == "settings":
        # Read this plugin's settings back from the emulator with the session cookie only.
        body = json.dumps({"query": "{ configuration { plugins } }"}).encode()
        request = urllib.request.Request(
            f"{conn['Scheme']}://{conn['Host']}:{conn['Port']}/graphql", data=body,
            headers={"Content-Type": "application/json", "Cookie": "session=" + conn["SessionCookie"]["Value"]},
        )
        with urllib.request.urlopen(request) as response:
            print(json.dumps({"output": json.load(response)["data"]["configuration"]["plugins"], "error": None}))
        sys.exit(0)
    steps = int(args.get("steps", 3))
    for i in range(steps):
        sys.stderr.write(f"\\x01p\\x02{(i + 1) / steps}\\n")
        sys.stderr.flush()
        time.sleep(float(args.get("pause", 0)))
    print(json.dumps({"output": {"args": args, "connection": conn}, "error": None}))
    '''
)

PROBE_YAML = textwrap.dedent(
    """
    name: Probe
    description: test plugin
    version: 1.2.3
    exec:
      - python
      - "{pluginDir}/probe.py"
    interface: raw
    settings:
      greeting:
        displayName: Greeting
        type: STRING
    tasks:
      - name: Count
        description: counts to steps
        defaultArgs:
          mode: count
          steps: "4"
    """
)


def write_probe_plugin(plugins_dir: Path) -> Path:
    folder = plugins_dir / "probe"
    folder.mkdir(parents=True)
    (folder / "probe.py").write_text(PROBE_SCRIPT)
    (folder / "probe.yml").write_text(PROBE_YAML)
    return folder


# -- the plugin in a browser: emulator with the plugin installed, and a sidecar process --------

# Performer 3 (Hugh Jackman) is on stash-box and in the face DB, but not in this Stash.
MISSING = 3


async def _populate(stash_url: str, assets: Any, stash_key: str) -> dict[int, str]:
    """Every library performer but ``MISSING`` in Stash (name, portrait, stash-box link), and
    Brad Pitt on scene 1; returns library id -> Stash id."""
    from emulator_helpers import IDENTITIES, performer_stash_id
    from stash_sense.stash import StashClient, StashID

    created: dict[int, str] = {}
    async with StashClient(stash_url, stash_key) as stash:
        for pid in range(1, len(IDENTITIES) + 1):
            if pid == MISSING:
                continue
            name = IDENTITIES[pid - 1]
            photo = sorted((assets.library / "gallery" / name).glob("*.jpg"))[0].read_bytes()
            performer = await stash.create_performer(
                name, image=photo, stash_ids=[StashID(endpoint=assets.box_endpoint, stash_id=performer_stash_id(pid))]
            )
            created[pid] = performer.id
        await stash.add_performers_to_scenes(["1"], [created[1]])
    return created


def plugin_stack(assets: Any, tmp_path: Path, **env: str):
    """A Stash emulator with ``plugin/`` installed and configured for a sidecar process, on the
    browser tests' assets (stash-box identities)."""
    import asyncio
    import contextlib

    from api_helpers import app_process
    from browser_helpers import SIDECAR_KEY, STASH_KEY, sidecar_process, stash_boxes

    @contextlib.contextmanager
    def stack():
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        (plugins / PLUGIN_ID).symlink_to(PLUGIN_DIR, target_is_directory=True)
        # The emulator runs in a child process: the plugin backends it starts, and anything that
        # could block there, stay outside the pytest process and its deadlines.
        with app_process(
            "stash", assets.stash_library, name="plugin-stash", api_key=STASH_KEY, stash_boxes=stash_boxes(assets.box_endpoint),
            state_db=tmp_path / "stash-state.db", plugins_dir=plugins,
        ) as stash_url:
            ids = asyncio.run(_populate(stash_url, assets, STASH_KEY))
            sidecar_env = {
                "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
                "STASH_SENSE_DATA_DIR": str(tmp_path / "sidecar-data"), "STASH_SENSE_FACE_DB": str(assets.face_db),
                "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_FINGERPRINT_FRAMES": "4", **env,
            }
            with sidecar_process(sidecar_env) as sidecar_url:
                gql_data(stash_url, 'mutation($input: Map!) { configurePlugin(plugin_id: "stash-sense", input: $input) }',
                         {"input": {"sidecarUrl": sidecar_url, "sidecarApiKey": SIDECAR_KEY, "showRejected": True}}, key=STASH_KEY)
                yield stash_url, sidecar_url, ids

    return stack()
