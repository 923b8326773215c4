"""Load test of the sidecar's ``POST /identify``: N concurrent clients for T seconds.

Reports throughput, latency percentiles, every non-200 answer, and the server's resident
memory over the run (sampled from ``/proc``), so a leak or an unbounded queue shows as growth
in the second half of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
from pydantic import BaseModel, Field


class ApiLoadReport(BaseModel):
    url: str
    clients: int
    duration_s: float
    warmup_s: float = Field(description="Time to the first successful identification (models load lazily).")
    requests: int
    ok: int
    errors: int
    statuses: dict[str, int] = Field(description="Answers per HTTP status ('exception' for transport failures).")
    error_examples: list[str] = []
    throughput_rps: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    latency_ms_max: float
    rss_mb_start: float | None = None
    rss_mb_max: float | None = None
    rss_mb_end: float | None = None
    rss_mb_max_first_half: float | None = None
    rss_mb_max_second_half: float | None = None
    server_cpus: int | None = Field(None, description="CPUs the server process may run on.")


def read_rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` and its children (the scene workers), in MiB; Linux only."""
    total_kb = 0
    found = False
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
                        found = True
                        break
        except OSError:
            continue
    return round(total_kb / 1024, 1) if found else None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                for child in fh.read().split():
                    out.append(int(child))
                    out.extend(_children(int(child)))
    except OSError:
        pass
    return out


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def _run_load(
    url: str, images: list[bytes], *, clients: int, duration_s: float, api_key: str | None, pid: int | None, timeout_s: float
) -> ApiLoadReport:
    headers = {"X-API-Key": api_key} if api_key else {}
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout_s, limits=limits) as client:
        warm_start = time.monotonic()
        while True:
            response = await client.post("/identify", files={"file": ("warmup.jpg", images[0], "image/jpeg")})
            if response.status_code == 200:
                break
            if time.monotonic() - warm_start > timeout_s:
                raise RuntimeError(f"the server never answered /identify with 200 (last: HTTP {response.status_code} {response.text[:200]})")
            await asyncio.sleep(0.5)
        warmup = time.monotonic() - warm_start

        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        examples: list[str] = []
        rss: list[tuple[float, float]] = []
        start = time.monotonic()
        stop_at = start + duration_s

        async def one_client(index: int) -> None:
            n = index
            while time.monotonic() < stop_at:
                data = images[n % len(images)]
                n += clients
                t0 = time.monotonic()
                try:
                    response = await client.post("/identify", files={"file": (f"img{n}.jpg", data, "image/jpeg")})
                    status = str(response.status_code)
                    if response.status_code != 200 and len(examples) < 5:
                        examples.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    status = "exception"
                    if len(examples) < 5:
                        examples.append(f"{type(exc).__name__}: {exc}")
                statuses[status] += 1
                if status == "200":
                    latencies.append((time.monotonic() - t0) * 1000.0)

        async def sample_rss() -> None:
            while pid is not None:
                value = await asyncio.to_thread(read_rss_mb, pid)
                if value is not None:
                    rss.append((time.monotonic() - start, value))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample_rss())
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        elapsed = time.monotonic() - start
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler

    latencies.sort()
    total = sum(statuses.values())
    ok = statuses.get("200", 0)
    half = elapsed / 2
    first = [v for t, v in rss if t <= half]
    second = [v for t, v in rss if t > half]
    cpus = None
    if pid is not None:
        with contextlib.suppress(OSError, AttributeError):
            cpus = len(os.sched_getaffinity(pid))
    return ApiLoadReport(
        url=url, clients=clients, duration_s=round(elapsed, 2), warmup_s=round(warmup, 2), requests=total, ok=ok,
        errors=total - ok, statuses=dict(statuses), error_examples=examples, throughput_rps=round(ok / elapsed, 2),
        latency_ms_p50=round(_percentile(latencies, 0.50), 1), latency_ms_p95=round(_percentile(latencies, 0.95), 1),
        latency_ms_p99=round(_percentile(latencies, 0.99), 1), latency_ms_max=round(latencies[-1] if latencies else 0.0, 1),
        rss_mb_start=rss[0][1] if rss else None, rss_mb_max=max(v for _, v in rss) if rss else None,
        rss_mb_end=rss[-1][1] if rss else None, rss_mb_max_first_half=max(first) if first else None,
        rss_mb_max_second_half=max(second) if second else None, server_cpus=cpus,
    )


def measure_api_load(
    url: str, images: list[bytes], *, clients: int = 20, duration_s: float = 60.0, api_key: str | None = None,
    server_pid: int | None = None, timeout_s: float = 300.0,
) -> ApiLoadReport:
    """Hammer ``url``'s ``/identify`` with ``clients`` concurrent clients for ``duration_s``."""
    if not images:
        raise ValueError("need at least one image to send")
    if clients < 1 or duration_s <= 0:
        raise ValueError("clients must be >= 1 and duration_s > 0")
    return asyncio.run(
        _run_load(url, images, clients=clients, duration_s=duration_s, api_key=api_key, pid=server_pid, timeout_s=timeout_s)
    )


def load_images(folder: Path, limit: int = 40) -> list[bytes]:
    """Up to ``limit`` JPEG/PNG files from ``folder`` (recursively), in a stable order."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file())
    return [p.read_bytes() for p in paths[:limit]]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sidecar_process(
    env: dict[str, str], *, port: int | None = None, cpus: Sequence[int] | None = None, startup_timeout_s: float = 60.0,
    log_path: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``stash-sense serve`` in a child process; yields ``(base URL, process)`` and stops it after."""
    port = port or free_port()
    command = [sys.executable, "-c", "from stash_sense.cli import main; main()", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    if cpus:
        # Pin the server (and the workers it spawns) to these CPUs, e.g. "2 cores".
        command = ["taskset", "-c", ",".join(str(c) for c in cpus), *command]
    log_file = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=log_file, stderr=log_file, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the sidecar exited with status {proc.returncode} before serving" + (f" (log: {log_path})" if log_path else ""))
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sidecar did not start within {startup_timeout_s:.0f} s")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log_path:
            log_file.close()  # type: ignore[union-attr]
