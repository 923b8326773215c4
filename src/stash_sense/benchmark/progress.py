"""The progress bar: one per round, with the running accuracy and precision of the round's
reference parameters and an ETA (on stderr; nothing when disabled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import AggregateMetrics, RoundState

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressView:
    def __init__(self, *, enabled: bool = True) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            from rich.console import Console
            from rich import progress as rp

            self._progress = rp.Progress(
                rp.TextColumn("[bold]{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                rp.TextColumn("{task.fields[running]}"), rp.TextColumn("ETA"), rp.TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self._progress.start()

    def start_round(self, rnd: RoundState, *, done: int) -> None:
        if self._progress is None:
            return
        label = f"round {rnd.number} {rnd.name} ({len(rnd.combos)} combination{'s' if len(rnd.combos) != 1 else ''})"
        self._task = self._progress.add_task(label, total=len(rnd.scene_ids), completed=done, running="")

    def advance(self, running: AggregateMetrics) -> None:
        if self._progress is None or self._task is None:
            return
        text = f"accuracy {100 * running.accuracy:.1f}% precision {100 * running.precision:.1f}%"
        if running.errors:
            text += f" ({running.errors} failed)"
        self._progress.update(self._task, advance=1, running=text)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
