"""The recommendation arithmetic on matrices small enough to know the right answer by hand:
neighbours, TF-IDF, top, the diversity rule, trending, and a blend for two taste groups."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mediaserver.recommend import engine


def people_by_titles(rows: list[list[float]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.asarray(rows, dtype=np.float32))


# -- neighbours -----------------------------------------------------------------------------


def test_neighbours_finds_the_co_watched_title_and_never_the_title_itself() -> None:
    watched = people_by_titles(
        [
            [1, 1, 0, 0],
            [1, 1, 0, 0],
            [1, 0.5, 1, 0],
            [0, 0, 1, 1],
        ]
    )
    similar = engine.neighbours(sp.csr_matrix(watched.T), k=1)
    assert similar.shape == (4, 4)
    assert [int(row.indices[0]) for row in similar] == [1, 0, 3, 2]
    assert not similar.diagonal().any()


def test_neighbours_keeps_the_k_most_similar() -> None:
    items = np.random.default_rng(3).uniform(0.1, 1.0, (7, 5))  # every pair overlaps
    similar = engine.neighbours(sp.csr_matrix(items), k=2)
    unit = items / np.linalg.norm(items, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -1)
    for n in range(7):
        row = similar.getrow(n)
        assert set(row.indices) == set(np.argsort(-cosine[n])[:2])
        assert np.allclose(row.data, cosine[n, row.indices], atol=1e-5)


def test_neighbours_k_beyond_the_catalog_keeps_every_other_title_once() -> None:
    items = np.random.default_rng(4).uniform(0.1, 1.0, (4, 3))
    similar = engine.neighbours(sp.csr_matrix(items), k=10)
    assert list(np.diff(similar.indptr)) == [3, 3, 3, 3]
    assert not similar.diagonal().any()


# -- tfidf ----------------------------------------------------------------------------------


def test_tfidf_weights_rare_words_over_common_ones_and_drops_the_too_rare_and_too_common() -> None:
    texts = [
        "falcon harbor signal",  # falcon in 2 texts, harbor in 3, signal in all 7
        "falcon harbor signal",
        "harbor orbit signal",
        "lantern orbit signal",
        "lantern velvet signal",  # velvet: only here, below min_df
        "ember lantern signal",
        "copper signal",  # nothing left: a row of zeros
    ]
    matrix = engine.tfidf(texts, min_df=2, max_share=0.5).toarray()
    assert matrix.shape == (7, 4)  # falcon, harbor, lantern, orbit (sorted)
    falcon, harbor, lantern, orbit = range(4)
    assert matrix[0, falcon] > matrix[0, harbor] > 0
    assert matrix[2, orbit] > matrix[2, harbor] > 0
    assert np.count_nonzero(matrix[4]) == 1 and matrix[4, lantern] == pytest.approx(1.0)
    assert not matrix[6].any()
    assert np.allclose(np.linalg.norm(matrix[:6], axis=1), 1.0)


# -- top ------------------------------------------------------------------------------------


def test_top_keeps_order_respects_n_and_ignores_non_positive_scores() -> None:
    row = np.array([0.5, 0.9, -1.0, 0.0, 0.7, 0.2], dtype=np.float32)
    assert list(engine.top(row, 2)) == [1, 4]
    assert list(engine.top(row, 10)) == [1, 4, 0, 5]
    assert list(row) == pytest.approx([0.5, 0.9, -1.0, 0.0, 0.7, 0.2])  # not changed


def test_top_never_returns_an_excluded_title() -> None:
    row = np.array([0.5, 0.9, -1.0, 0.0, 0.7, 0.2], dtype=np.float32)
    assert list(engine.top(row, 2, exclude=np.array([1, 5]))) == [4, 0]
    assert list(engine.top(row, 10, exclude=np.array([1, 5]))) == [4, 0]


# -- diversify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("AAAABB", [0, 1, 4, 2, 3, 5]),
        ("AAACB", [0, 1, 3, 2, 4]),  # C moves up one place, B stays where it was
        ("AABAAAB", [0, 1, 2, 3, 4, 6, 5]),
        ("AAA", [0, 1, 2]),  # nothing else left: the order stays
        ("ABAB", [0, 1, 2, 3]),
    ],
)
def test_diversify_moves_items_only_as_far_as_needed(groups: str, expected: list[int]) -> None:
    assert engine.diversify(range(len(groups)), lambda i: groups[i]) == expected


def test_diversify_never_three_of_a_group_in_a_row_while_another_is_left() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        groups = [str(g) if g < 3 else None for g in rng.integers(0, 4, 12)]
        out = engine.diversify(range(12), groups.__getitem__)
        assert sorted(out) == list(range(12))
        for n in range(2, 12):
            group = groups[out[n]]
            if group is not None and groups[out[n - 1]] == groups[out[n - 2]] == group:
                assert all(groups[i] == group for i in out[n:])


def test_titles_without_a_group_never_block() -> None:
    groups = [None, None, None, "A"]
    assert engine.diversify([0, 1, 2, 3], groups.__getitem__) == [0, 1, 2, 3]


# -- trending -------------------------------------------------------------------------------


def test_decayed_popularity_halves_at_the_half_life() -> None:
    items = np.array([0, 0, 1, 1])
    ages = np.array([0.0, 7.0, 14.0, -3.0])  # a play dated in the future counts as today
    trending = engine.decayed_popularity(items, ages, 3, half_life_days=7.0)
    assert trending == pytest.approx([1.5, 1.25, 0.0])


# -- the blend ------------------------------------------------------------------------------

# Titles 0-2 and 6 are one taste's, 3-5 the other's; nobody has seen 6 yet.  People 0-2 share
# the first taste (2 has not seen title 2), 3-7 the second (7 has not seen 5), 8 has no
# history.  Popularity favours the second taste, so ranking by it alone would be wrong, and
# title 2's genre is nobody else's, so only co-watching ties it to its taste.
HOUSEHOLD: list[list[float]] = [
    [1, 1, 1, 0, 0, 0, 0],
    [1, 0.9, 0.8, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0, 0],
    [0, 0, 0, 1, 1, 1, 0],
    [0, 0, 0, 1, 0.8, 1, 0],
    [0, 0, 0, 0.9, 1, 1, 0],
    [0, 0, 0, 1, 1, 0.7, 0],
    [0, 0, 0, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
]
GENRES: list[list[float]] = [
    [1, 0, 0],
    [1, 0, 0],
    [0, 0, 1],
    [0, 1, 0],
    [0, 1, 0],
    [0, 1, 0],
    [1, 0, 0],
]
TRENDING = np.array([6, 5, 2, 9, 8, 4, 0], dtype=np.float32)


@pytest.fixture
def household() -> tuple[sp.csr_matrix, engine.Model]:
    weights = people_by_titles(HOUSEHOLD)
    model = engine.fit(weights, sp.csr_matrix(np.asarray(GENRES, np.float32)), TRENDING)
    return weights, model


def picks(weights: sp.csr_matrix, scores: np.ndarray, person: int) -> list[int]:
    seen = weights.getrow(person).indices
    return [int(t) for t in engine.top(scores[person], 10, exclude=seen)]


def test_each_taste_group_gets_its_unseen_title_first(
    household: tuple[sp.csr_matrix, engine.Model],
) -> None:
    weights, model = household
    everyone = slice(0, weights.shape[0])
    blended = model.blended_scores(weights, everyone)
    assert picks(weights, blended, 2)[:2] == [2, 6]  # 6: nobody watched it, "more like"
    assert picks(weights, blended, 7)[0] == 5
    assert not {0, 1} & set(picks(weights, blended, 2))  # already seen
    by_popularity = model.blended_scores(weights, everyone, engine.Mix(0, 0, 1))
    assert picks(weights, by_popularity, 2)[0] == 3  # what the blend had to beat


def test_the_new_title_is_found_by_content_alone(
    household: tuple[sp.csr_matrix, engine.Model],
) -> None:
    weights, model = household
    people = slice(0, 3)
    assert not model.co_watching_scores(weights, people)[:, 6].any()
    assert (model.content_scores(weights, people)[:, 6] > 0).all()


def test_a_person_with_no_history_gets_popularity_order(
    household: tuple[sp.csr_matrix, engine.Model],
) -> None:
    weights, model = household
    blended = model.blended_scores(weights, slice(8, 9))
    assert list(engine.top(blended[0], 10)) == [3, 4, 0, 1, 5, 2]
