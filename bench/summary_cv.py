"""K-fold cross-validation of the summariser's weights against authors' abstracts.

The weights that choose sentences (`bot.content.summary_scoring.Weights`) are fitted on the
same abstracts the bench measures against, so their in-sample ROUGE-L flatters them. Here the
abstracts are split into folds; for each fold the weights are chosen on the *other* folds and
scored on that fold alone. The figure reported for "kiji (CV)" is the mean over folds of those
held-out scores: what weights fitted this way score on posts they were not fitted on. Every knob
of `Weights` is on the grid: nothing is set by hand on the abstracts.

How a fold chooses: each knob takes the value with the best mean ROUGE-L over every setting of
the other knobs (its main effect), not the single best grid point. With 9 knobs and ~78
abstracts per fold, the best point is mostly chance (the folds disagreed on it and scored below
the opening); a knob's main effect averages over 256 settings of the others and is stable.
Each post's score for each grid point is computed once; choosing per fold is then arithmetic.

`python -m bench.eval_summaries --tune` prints the weights chosen on all the abstracts: that
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

# Every combination is scored; each axis holds the shipped value and a neighbour, or off and on.
GRID: dict[str, tuple[float, ...]] = {
    "position": (0.6, 1.2),
    "topic": (0.5, 2.0),
    "opening": (0.0, 1.0),
    "closing": (0.0, 1.0),
    "brevity": (0.0, 1.0),
    "scope": (0.0, 1.0),
    "centrality": (0.3, 1.0),
    "subjects": (0.0, 2.0),
    "spread": (False, True),
}


def grid(axes: dict[str, tuple[float, ...]] = GRID) -> list[Weights]:
    return [replace(WEIGHTS, **dict(zip(axes, values, strict=True))) for values in itertools.product(*axes.values())]


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
    best_overall: Weights  # chosen on every abstract: what `WEIGHTS` should be
    best_overall_score: float


def choose(candidates: Sequence[Weights], scores: Sequence[Sequence[float]], posts: Sequence[int]) -> int:
    """The candidate whose every knob has the best main effect on `posts`.

    A knob's main effect for a value: the mean ROUGE-L on `posts` of all candidates with that
    value. Ties go to the value listed first. The candidates must be a full grid (every
    combination of the knobs' values), so that the combination of the best values is one of them.
    """
    means = [statistics.mean(s[i] for i in posts) for s in scores]
    knobs = [k for k in vars(candidates[0]) if len({getattr(c, k) for c in candidates}) > 1]
    best: dict[str, object] = {}
    for knob in knobs:
        values = list(dict.fromkeys(getattr(c, knob) for c in candidates))
        effect = {
            v: statistics.mean(m for c, m in zip(candidates, means, strict=True) if getattr(c, knob) == v)
            for v in values
        }
        best[knob] = max(values, key=lambda v: (effect[v], -values.index(v)))
    return next(i for i, c in enumerate(candidates) if all(getattr(c, k) == v for k, v in best.items()))


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
        best = choose(candidates, scores, train)
        chosen.append(candidates[best])
        per_fold.append(statistics.mean(scores[best][i] for i in test))
    overall = choose(candidates, scores, range(len(names)))
    return CrossValidation(
        statistics.mean(per_fold), tuple(per_fold), tuple(chosen), candidates[overall], statistics.mean(scores[overall])
    )
