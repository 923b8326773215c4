"""Test and demo stand-ins for Stash and stash-box, backed by a sample library (stash-box also
by folders of labelled photos).

Production code never imports this package: it talks to these servers over HTTP exactly as it
talks to the real ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "create_stashbox_app", "run_in_thread"]

if TYPE_CHECKING:
    from stash_sense.devtools.emulator.app import create_app
    from stash_sense.devtools.emulator.server import run_in_thread
    from stash_sense.devtools.emulator.stashbox import create_stashbox_app


def __getattr__(name: str) -> Any:
    # Lazy, so that `import stash_sense.devtools.emulator.media` does not pull in Starlette.
    if name == "create_app":
        from stash_sense.devtools.emulator.app import create_app

        return create_app
    if name == "create_stashbox_app":
        from stash_sense.devtools.emulator.stashbox import create_stashbox_app

        return create_stashbox_app
    if name == "run_in_thread":
        from stash_sense.devtools.emulator.server import run_in_thread

        return run_in_thread
    raise AttributeError(name)
