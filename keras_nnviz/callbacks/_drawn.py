"""TensorBoard's view of a callback's schedule: which epochs it drew.

The fit-wide budget (:mod:`._budget`) decides at each epoch end which callbacks draw; the
manifest's run record lists the epochs (``"drawn"``) and the report shows them. TensorBoard
gets the same, next to the frames, in the TensorBoard sink's run folder:

* ``nnviz/drawn/<callback>``: a scalar at every snapshot a callback took, at that snapshot's
  TensorBoard step, valued the epoch it shows (the scalar chart has a point exactly where the
  callback drew; the state before training has no TensorBoard step and is listed below);
* ``nnviz/schedule/<callback>``: a text summary at train end listing every epoch drawn (the
  state before training included) and the budget's spending.

Both are written on the writer thread, after the snapshot's own items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..io import When
from ..io.sinks import TensorBoardSink, summary_writer, tensorboard_step

__all__ = ["DRAWN", "SCHEDULE", "mark_drawn", "write_schedule"]

#: Tag prefixes (the callback's folder follows).
DRAWN = "nnviz/drawn"
SCHEDULE = "nnviz/schedule"


def _runs(sinks: Sequence[Any], log_dir) -> list:
    return [log_dir / s.run for s in sinks if isinstance(s, TensorBoardSink)]


def mark_drawn(sinks: Sequence[Any], log_dir, folder: str, when: When) -> None:
    """Writer thread: the scalar ``nnviz/drawn/<folder>`` at ``when``'s TensorBoard step."""
    step = tensorboard_step(when)
    if step is None:
        return  # the state before training: listed by the train-end text
    import tensorflow as tf

    for run in _runs(sinks, log_dir):
        with summary_writer(run).as_default():
            tf.summary.scalar(
                f"{DRAWN}/{folder}",
                float(when.epoch),
                step=step,
                description=f"{folder} drew a snapshot here (value: the epoch it shows)",
            )


def schedule_text(drawn: Sequence[int], every: str, spend: dict[str, Any] | None) -> str:
    """The train-end text: the epochs drawn, the schedule and the budget's spending."""
    epochs = ", ".join(str(e) for e in drawn) or "none"
    lines = [f"drew epochs: {epochs} (0: the state before training)", f"every: {every}"]
    if spend:
        fraction = spend.get("fraction")
        share = "no limit" if fraction is None else f"{fraction:.0%} of the training time"
        lines.append(
            f"budget: {share}; the fit's callbacks spent {spend.get('spent_s', 0):.2f} s "
            f"against {spend.get('train_s', 0):.2f} s of training"
        )
    return "\n\n".join(lines)


def write_schedule(
    sinks: Sequence[Any],
    log_dir,
    folder: str,
    when: When,
    drawn: Sequence[int],
    every: str,
    spend: dict[str, Any] | None,
) -> None:
    """Writer thread, train end: the text ``nnviz/schedule/<folder>``."""
    runs = _runs(sinks, log_dir)
    if not runs:
        return
    import tensorflow as tf

    text = schedule_text(drawn, every, spend)
    step = tensorboard_step(when) or 0
    for run in runs:
        with summary_writer(run).as_default():
            tf.summary.text(f"{SCHEDULE}/{folder}", text, step=step)
