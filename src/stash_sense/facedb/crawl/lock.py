"""One crawl of a stash-box endpoint at a time on this machine, whatever DB it writes to.

Two crawls of one endpoint would double the load on someone else's server and race on the
same rate budget; a file lock (released by the kernel when the process dies, even on SIGKILL)
keeps it to one. The lock lives in the cache directory, keyed by the endpoint's canonical form.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...config import cache_dir
from ...stash.ratelimit import target_key


class CrawlBusyError(RuntimeError):
    """Another process is crawling this endpoint right now."""


def lock_path(endpoint: str) -> Path:
    digest = hashlib.sha256(target_key(endpoint).encode("utf-8")).hexdigest()[:16]
    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"stashbox-crawl-{digest}.lock"


@contextmanager
def endpoint_lock(endpoint: str) -> Iterator[None]:
    """Hold the crawl lock of ``endpoint`` for the block; :class:`CrawlBusyError` when taken."""
    path = lock_path(endpoint)
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise CrawlBusyError(
                f"a crawl of {endpoint} is already running (pid {holder}); one crawl per stash-box at a time "
                "keeps its server's load down: wait for it to finish, or stop it (re-running resumes)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
