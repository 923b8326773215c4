"""Serves one emulator app (Stash or stash-box) in a process of its own, for the tests that
must not run servers inside the pytest process (a server thread that blocks with the GIL held
would freeze every deadline pytest keeps).

The spec comes in the environment (``STASH_SENSE_TEST_APP``, JSON, so API keys stay out of
process listings): ``{"kind": "stash"|"stashbox", "port": N, "library": PATH, "kwargs": {...}}``;
``*_dir`` and ``state_db`` keyword values are paths.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def main() -> None:
    spec = json.loads(os.environ["STASH_SENSE_TEST_APP"])
    from stash_sense.devtools.emulator import create_app, create_stashbox_app
    from stash_sense.devtools.emulator.server import serve_forever

    kwargs = {k: (Path(v) if v is not None and (k.endswith("_dir") or k == "state_db") else v) for k, v in spec["kwargs"].items()}
    factory = {"stash": create_app, "stashbox": create_stashbox_app}[spec["kind"]]
    serve_forever(factory(Path(spec["library"]), **kwargs), host="127.0.0.1", port=int(spec["port"]), log_level="warning")


if __name__ == "__main__":
    main()
