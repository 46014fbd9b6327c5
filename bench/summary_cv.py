"""K-fold cross-validation of the summariser's weights against authors' abstracts.

The weights that choose sentences (`bot.content.summary_scoring.Weights`) were fitted on the
same abstracts the bench measures against, so their in-sample ROUGE-L flatters them. Here the
abstracts are split into folds; for each fold the grid point with the best mean ROUGE-L on the
*other* folds is chosen and scored on that fold alone. The figure reported for "kiji (CV)" is
the mean over folds of those held-out scores: what a setting fitted this way would score on
posts it was not fitted on. Each post's score for each grid point is computed once; choosing
per fold is then only arithmetic.

`python -m bench.eval_summaries --tune` prints the grid point best on all the abstracts: that
is how `WEIGHTS` was fitted.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.content.summary_scoring import WEIGHTS, Weights

FOLDS = 5
FOLD_SEED = 25  # the number: a fixed split, so a run is reproducible

# Every combination is scored; each axis holds the shipped value and its neighbours.
GRID: dict[str, tuple[float, ...]] = {
    "position": (0.6, 1.2),
    "topic": (0.5, 2.0),
    "closing": (0.0, 1.0),
    "brevity": (0.0, 1.0),
    "scope": (0.0, 1.0),
    "centrality": (0.3, 1.0),
}


def grid() -> list[Weights]:
    axes = list(GRID)
    return [replace(WEIGHTS, **dict(zip(axes, values, strict=True))) for values in itertools.product(*GRID.values())]


def fold_of(names: Sequence[str], folds: int = FOLDS) -> list[int]:
    """Each post's fold: a seeded shuffle dealt round-robin, so folds differ in size by at most one."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    random.Random(FOLD_SEED).shuffle(order)
    assignment = [0] * len(names)
    for rank, i in enumerate(order):
        assignment[i] = rank % folds
    return assignment


@dataclass(frozen=True)
class CrossValidation:
    held_out: float  # mean over folds of the chosen weights' ROUGE-L on the fold left out
    per_fold: tuple[float, ...]
    chosen: tuple[Weights, ...]  # the weights each fold's training part chose
    best_overall: Weights  # best on every abstract: what `WEIGHTS` should be
    best_overall_score: float


def cross_validate(
    names: Sequence[str], score_of: Callable[[Weights], list[float]], candidates: Sequence[Weights]
) -> CrossValidation:
    """`score_of(weights)` gives one ROUGE-L per post, in the order of `names`."""
    scores = [score_of(w) for w in candidates]
    folds = fold_of(names)
    per_fold, chosen = [], []
    for k in range(max(folds) + 1):
        train = [i for i, f in enumerate(folds) if f != k]
        test = [i for i, f in enumerate(folds) if f == k]
        best = max(range(len(candidates)), key=lambda c: (statistics.mean(scores[c][i] for i in train), -c))
        chosen.append(candidates[best])
        per_fold.append(statistics.mean(scores[best][i] for i in test))
    overall = max(range(len(candidates)), key=lambda c: (statistics.mean(scores[c]), -c))
    return CrossValidation(
        statistics.mean(per_fold), tuple(per_fold), tuple(chosen), candidates[overall], statistics.mean(scores[overall])
    )
