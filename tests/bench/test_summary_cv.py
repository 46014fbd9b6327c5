"""The summariser's weights are chosen on some abstracts and scored on others (`bench.summary_cv`)."""

from __future__ import annotations

from bench.summary_cv import choose, cross_validate, fold_of, grid
from bot.content.summary_scoring import WEIGHTS, Weights


def test_each_knob_takes_its_best_main_effect_not_the_best_single_point() -> None:
    candidates = grid({"position": (0.6, 1.2), "topic": (0.5, 2.0)})
    # (0.6, 0.5) is one lucky point; over the other knob's settings, position 1.2 and topic 0.5 do better
    means = {(0.6, 0.5): 0.9, (0.6, 2.0): 0.0, (1.2, 0.5): 0.5, (1.2, 2.0): 0.6}
    scores = [[means[(c.position, c.topic)]] * 3 for c in candidates]
    chosen = candidates[choose(candidates, scores, range(3))]
    assert (chosen.position, chosen.topic) == (1.2, 0.5)
    assert chosen.closing == WEIGHTS.closing  # knobs off the grid keep the shipped value


def test_a_fold_is_scored_with_weights_chosen_without_it() -> None:
    names = [f"post-{i}" for i in range(10)]
    folds = fold_of(names)
    candidates = grid({"scope": (0.0, 1.0)})

    # scope 0 is excellent on fold 0's posts only, and best over all posts because of them
    def score_of(w: Weights) -> list[float]:
        if w.scope == 0.0:
            return [1.0 if f == 0 else 0.2 for f in folds]
        return [0.3] * len(names)

    cv = cross_validate(names, score_of, candidates)
    assert cv.best_overall.scope == 0.0 and round(cv.best_overall_score, 6) == 0.36
    assert cv.chosen[0].scope == 1.0  # fold 0's own posts did not choose its weights
    assert cv.per_fold[0] == 0.3
    assert all(w.scope == 0.0 for w in cv.chosen[1:])
    assert [round(x, 6) for x in cv.per_fold[1:]] == [0.2] * 4
    assert round(cv.held_out, 6) == 0.22
