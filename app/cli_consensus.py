"""``flask consensus ...``: aggregate crowd answers from CSV files.

Plain click commands: they need no database and no app configuration, so they
run the same under ``flask`` (registered with ``app.cli.add_command(consensus_group)``)
and directly from a test with ``click.testing.CliRunner``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import click
import numpy as np

consensus_group = click.Group(
    "consensus",
    help="Aggregate crowd answers from CSV files (task,worker,label); no database needed.",
)

_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)


def _aggregator(method: str):
    from consensus import AGGREGATORS

    try:
        return AGGREGATORS[method]
    except KeyError:
        raise click.BadParameter(
            f"unknown method {method!r}; choose one of: {', '.join(sorted(AGGREGATORS))}",
            param_hint="'--method'",
        ) from None


@consensus_group.command("aggregate")
@click.argument("answers", type=_FILE)
@click.option("--method", default="auto", show_default=True,
              help="Aggregator name from consensus.AGGREGATORS.")
@click.option("--gold", type=_FILE, help="Gold labels CSV (task,label); known tasks are fixed.")
@click.option("--out", required=True, type=_OUT, help="Where to write task,label,confidence.")
@click.option("--workers", type=_OUT, help="Also write per-worker quality scores here.")
@click.option("--seed", type=int, help="random_state for methods that take one.")
def aggregate_command(answers: Path, method: str, gold: Path | None, out: Path,
                      workers: Path | None, seed: int | None) -> None:
    """Aggregate ANSWERS (CSV task,worker,label) into one label per task."""
    from consensus.csvio import read_answers, write_labels, write_worker_scores
    from consensus.errors import ConsensusError
    from consensus.quality import worker_quality

    cls = _aggregator(method)
    params = {}
    if seed is not None:
        if "random_state" in inspect.signature(cls).parameters:
            params["random_state"] = seed
        else:
            click.echo(f"note: {method} is deterministic; --seed is ignored", err=True)
    try:
        enc, y = read_answers(answers, gold)
        model = cls(**params).fit(enc.X, y, n_classes=enc.n_classes)
        probas = np.asarray(model.probas_)
        labels = np.asarray(model.labels_)
        confidence = probas[np.arange(enc.n_tasks), labels]
        write_labels(out, enc.tasks, enc.decode(labels), confidence)
        if workers is not None:
            errors = getattr(model, "errors_", None)
            shape = (enc.n_workers, enc.n_classes, enc.n_classes)
            quality = worker_quality(
                enc.X, probas, y=y, n_workers=enc.n_workers,
                errors=errors if errors is not None and np.shape(errors) == shape else None,
            )
            write_worker_scores(workers, enc.workers, quality)
    except ConsensusError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write output: {exc}") from exc
    click.echo(
        f"{method}: {enc.n_tasks} tasks, {enc.n_workers} workers, {len(enc.X)} answers "
        f"-> {out}" + (f" (worker scores -> {workers})" if workers else "")
    )
