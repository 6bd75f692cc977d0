"""Progress on stderr: the library reports through a callback (``progress.Reporter``);
these reporters turn its events into tqdm bars, JSON lines, or nothing."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol

import click

from ..progress import Event

if TYPE_CHECKING:
    from tqdm import tqdm


class ClosingReporter(Protocol):
    """A reporter that owns something on the terminal (bars) to close when the run ends
    or before an error line is printed below it."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


class TqdmReporter:
    """Feeds the core's progress events to tqdm bars on stderr; notices and finished
    episodes print as lines. The audio bar counts seconds of audio, so its ETA holds
    whether a clip lasts one second or sixty."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}
        self.cached: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm  # ~70 ms: only when there is something to show

        if event.kind == "notice":
            tqdm.write(event.message, file=sys.stderr)
        elif event.kind == "episode":
            tqdm.write(f"episode {int(event.total)} ready: {event.message}", file=sys.stderr)
        elif event.kind == "start":
            self.cached[event.stage] = 0
            if event.unit == "s":
                self.bars[event.stage] = tqdm(
                    total=round(event.total, 1), desc=event.stage, unit="s", unit_scale=False, file=sys.stderr,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                    "[{elapsed}<{remaining}, {rate_fmt}]",
                )  # fmt: skip
            else:
                self.bars[event.stage] = tqdm(total=event.total, desc=event.stage, unit="", file=sys.stderr)
        elif event.kind == "step" and event.stage in self.bars:
            bar = self.bars[event.stage]
            if event.unit == "s":
                bar.total = max(round(event.total, 1), bar.n + event.amount)
                bar.update(event.amount)
            elif event.cached:
                self.cached[event.stage] += 1
                # Cached steps cost nothing: keep them out of the rate so the ETA is honest.
                bar.total -= 1
                bar.refresh()
            else:
                bar.update(1)
                bar.set_postfix_str(f"cached {self.cached[event.stage]}, new {bar.n}", refresh=False)
        elif event.kind == "end" and event.stage in self.bars:
            self.bars.pop(event.stage).close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


class JsonReporter:
    """``--progress json``: one JSON object per line on stderr, for scripts."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done: dict[str, float] = {}
        self.totals: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        out: dict[str, Any] = {"event": event.kind}
        if event.kind in ("start", "step", "end"):
            if event.kind == "start":
                self.done[event.stage] = 0
            if event.kind == "step" and not event.cached:
                self.done[event.stage] = self.done.get(event.stage, 0) + event.amount
            if event.kind in ("start", "step") and (event.total or event.kind == "start"):
                self.totals[event.stage] = event.total
            done, total = self.done.get(event.stage, 0), self.totals.get(event.stage, 0)
            elapsed = time.monotonic() - self.started
            out.update(stage=event.stage, done=round(done, 3), total=round(total, 3), unit=event.unit or "step")
            if event.unit == "s" and done > 0 and total >= done:
                out["eta_s"] = round(elapsed * (total - done) / done, 1)
        elif event.kind == "episode":
            out.update(section=int(event.total), path=event.message)
        else:
            out["message"] = event.message
        click.echo(json.dumps(out, ensure_ascii=False), err=True)

    def close(self) -> None:
        pass


class QuietReporter:
    """``--quiet``: no progress and no notices (warnings and errors print elsewhere)."""

    def __call__(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


def make_reporter(progress: str, quiet: bool) -> ClosingReporter:
    """The reporter for ``--progress`` and ``--quiet``."""
    if quiet:
        return QuietReporter()
    return JsonReporter() if progress == "json" else TqdmReporter()
