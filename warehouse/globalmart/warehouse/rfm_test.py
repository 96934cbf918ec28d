import itertools

import pytest

from globalmart.warehouse.rfm import SEGMENTS, score, segment


def test_every_score_combination_has_exactly_the_first_matching_segment() -> None:
    seen = {segment(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert seen == set(SEGMENTS)


@pytest.mark.parametrize(
    "scores, expected",
    [
        ((5, 5, 5), "champions"),
        ((1, 5, 5), "cannot_lose"),
        ((3, 4, 2), "loyal"),
        ((2, 3, 1), "at_risk"),
        ((5, 1, 1), "new"),
        ((3, 2, 3), "potential_loyalist"),
        ((2, 1, 1), "hibernating"),
        ((1, 1, 5), "lost"),
    ],
)
def test_named_segments(scores: tuple[int, int, int], expected: str) -> None:
    assert segment(*scores) == expected


def test_scores_are_quintiles_of_rank() -> None:
    assert [score(rank, 10) for rank in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert score(1, 1) == 1 and score(3, 3) == 4
