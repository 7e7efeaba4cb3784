"""How good the recommendations are, measured: recall@10, NDCG@10 and coverage by ranker.

Interactions come from a generated household data set with planted taste clusters (the
default), or from a file in the MovieLens ``u.data`` format (``user item rating
timestamp``, tab-separated) given as ``--movielens PATH``.  MovieLens cannot be downloaded
on the machines we measure on, so ``--write-movielens PATH`` writes the generated set in
that format (and ``--write-movielens-items PATH`` its genres as a ``u.item`` file) to
exercise the MovieLens path without the internet.

The split is by time: each person's last ``--holdout`` share (at least one) of their
interactions is held out; people with fewer than three take no part in the scoring but
their viewing stays in the training part.  Four rankers are fitted on the training part
with :mod:`mediaserver.recommend.engine` and scored on the held-out titles, each top 10
leaving out what the person has already seen:

- popularity: how many training interactions a title has (``--half-life DAYS`` makes it
  ``decayed_popularity`` instead);
- item-to-item: ``Model.co_watching_scores``;
- content-based: ``Model.content_scores`` (genres and overview words);
- the blend: ``Model.blended_scores`` with ``--mix``.

Before that, the nightly job's arithmetic is timed on all of the data: ``fit`` and a
blended top 10 for every person (the database read is measured elsewhere).  ``--scale``
runs it at 10,000 people × 20,000 titles × 1,000,000 interactions.

    .venv/bin/python bench/recommend_eval.py
    .venv/bin/python bench/recommend_eval.py --scale
    .venv/bin/python bench/recommend_eval.py --movielens u.data --movielens-items u.item

The last line is machine-readable ``key=value`` pairs, the first of them
``recall10_blend_over_popularity``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mediaserver.recommend import engine

TARGET_RATIO = 1.5  # issue 7: the blend's recall@10 over popularity's
TARGET_JOB_S = 60.0  # issue 7, at scale
TARGET_PEAK_MB = 1024.0
N = 10  # the length of a row of recommendations
END = 1_767_225_600  # 2026-01-01, when the generated history ends
DAY = 86_400.0
GLOBAL_SHARE = 0.3  # of a generated person's viewing, drawn from what everyone watches
ZIPF = 1.0  # the popularity skew of generated titles
# u.item's 19 genre flags, in its order
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")  # fmt: skip


@dataclass
class Interactions:
    """One row per interaction, people and titles by position."""

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray  # in (0, 1]
    times: np.ndarray  # seconds since the epoch
    people: int
    titles: int
    features: sp.csr_matrix | None  # titles × features
    genres: np.ndarray | None = None  # titles × 19 flags, to write a u.item file
    truth: np.ndarray | None = None  # clusters × titles: the generator's own chances
    cluster: np.ndarray | None = None  # per person


# -- the generated household ------------------------------------------------------------


def made_up_words(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct pronounceable words of three syllables ("bakoru"), none a stop word."""
    consonants, vowels = list("bdfgklmnprstvz"), list("aeiou")
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(3)))
    return sorted(words)


def title_features(
    rng: np.random.Generator, home: np.ndarray, clusters: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Genres and an overview for every title, following its cluster with noise: one title
    in seven is described as if it belonged to another cluster, each of its cluster's two
    genres shows with chance 0.6, a random genre with 0.3, and half of the words of its
    overview come from a vocabulary every cluster shares."""
    titles = home.size
    described = np.where(rng.random(titles) < 1 / 7, rng.integers(0, clusters, titles), home)
    genres = np.zeros((titles, len(GENRES)), dtype=np.float32)
    first = 1 + (2 * described) % (len(GENRES) - 1)
    second = 1 + (2 * described + 1) % (len(GENRES) - 1)
    rows = np.arange(titles)
    genres[rows, first] = rng.random(titles) < 0.6
    genres[rows, second] = rng.random(titles) < 0.6
    noisy = rng.random(titles) < 0.3
    genres[rows[noisy], rng.integers(1, len(GENRES), int(noisy.sum()))] = 1.0
    genres[genres.sum(axis=1) == 0, 0] = 1.0  # "unknown", as MovieLens has it
    vocabulary = made_up_words(rng, 300 + 30 * clusters)
    common, own = vocabulary[:300], np.asarray(vocabulary[300:]).reshape(clusters, 30)
    from_cluster = rng.random((titles, 12)) < 0.5
    picks = np.where(
        from_cluster,
        own[described[:, None], rng.integers(0, 30, (titles, 12))],
        np.asarray(common)[rng.integers(0, 300, (titles, 12))],
    )
    texts = [" ".join(words) for words in picks]
    features = sp.hstack(
        [engine.normalize_rows(sp.csr_matrix(genres)), 0.8 * engine.tfidf(texts)], format="csr"
    )
    return sp.csr_matrix(features, dtype=np.float32), genres


def generate(people: int, titles: int, events: int, clusters: int, seed: int) -> Interactions:
    """People in taste clusters watching a catalog with a long tail of popularity.

    Each title has a home cluster; each viewing is, with chance ``GLOBAL_SHARE``, drawn by
    popularity over the whole catalog, and otherwise by popularity among the person's
    cluster's titles, never twice the same title (successive draws: Gumbel top-k).  A
    person's viewings are dated in the order drawn; how much of a title they watched is
    higher inside their cluster."""
    rng = np.random.default_rng(seed)
    home = rng.integers(0, clusters, titles)
    popularity = 1.0 / (rng.permutation(titles) + 10.0) ** ZIPF
    popularity /= popularity.sum()
    inside = np.stack([np.where(home == c, popularity, 0.0) for c in range(clusters)])
    inside /= np.maximum(inside.sum(axis=1, keepdims=True), 1e-300)
    truth = GLOBAL_SHARE * popularity + (1 - GLOBAL_SHARE) * inside
    log_truth = np.log(truth)
    cluster = rng.integers(0, clusters, people)
    appetite = rng.lognormal(0.0, 1.0, people)  # some people watch far more than others
    counts = np.clip(np.round(events * appetite / appetite.sum()), 1, titles // 2).astype(int)
    users, items, times = [], [], []
    for start in range(0, people, 256):  # 256 × 20,000 keys at a time: 40 MB
        block = np.arange(start, min(start + 256, people))
        keys = log_truth[cluster[block]] + rng.gumbel(size=(block.size, titles))
        for row, person in enumerate(block):
            n = int(counts[person])
            drawn = np.argpartition(-keys[row], n - 1)[:n]
            drawn = drawn[np.argsort(-keys[row, drawn], kind="stable")]
            began = END - rng.uniform(30, 365) * DAY
            users.append(np.full(n, person, dtype=np.int32))
            items.append(drawn.astype(np.int32))
            times.append(np.sort(rng.uniform(began, END, n)).round())
    user_of, item_of = np.concatenate(users), np.concatenate(items)
    own = home[item_of] == cluster[user_of]
    weights = np.where(own, rng.uniform(0.55, 1.0, own.size), rng.uniform(0.05, 0.7, own.size))
    features, genres = title_features(rng, home, clusters)
    return Interactions(
        user_of, item_of, weights.astype(np.float32), np.concatenate(times), people, titles,
        features, genres, truth.astype(np.float32), cluster,
    )  # fmt: skip


# -- MovieLens ----------------------------------------------------------------------------


def read_movielens(path: Path, items_path: Path | None) -> Interactions:
    """A ``u.data`` file (whitespace-separated user, item, rating 1-5, timestamp); weights
    are rating / 5, a pair rated twice keeps its last rating.  Genres from ``u.item``
    (``|``-separated, 19 genre flags last) if given, else no features."""
    raw = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2, 3), ndmin=2)
    raw = raw[np.lexsort((raw[:, 3], raw[:, 1], raw[:, 0]))]
    last = np.ones(len(raw), dtype=bool)
    last[:-1] = (raw[1:, 0] != raw[:-1, 0]) | (raw[1:, 1] != raw[:-1, 1])
    raw = raw[last]
    user_ids, users = np.unique(raw[:, 0], return_inverse=True)
    item_ids, items = np.unique(raw[:, 1], return_inverse=True)  # the catalog: titles rated
    features = None
    if items_path is not None:
        position = {int(i): n for n, i in enumerate(item_ids)}
        genres = np.zeros((item_ids.size, len(GENRES)), dtype=np.float32)
        for line in items_path.read_text(encoding="latin-1").splitlines():
            fields = line.split("|")
            if len(fields) >= 6 and fields[0].strip().isdigit():
                n = position.get(int(fields[0]))
                if n is not None:
                    genres[n] = [float(f) for f in fields[-len(GENRES) :]]
        features = engine.normalize_rows(sp.csr_matrix(genres))
    return Interactions(
        users.astype(np.int32), items.astype(np.int32), (raw[:, 2] / 5).astype(np.float32),
        raw[:, 3].astype(np.float64), user_ids.size, item_ids.size, features,
    )  # fmt: skip


def write_movielens(data: Interactions, path: Path, items_path: Path | None) -> None:
    """The interactions as ``u.data`` (ids from 1, rating = completion in fifths, rounded
    up), and the genres as ``u.item`` if asked."""
    ratings = np.clip(np.ceil(data.weights * 5 - 1e-6), 1, 5).astype(int)
    rows = zip(data.users + 1, data.items + 1, ratings, data.times.astype(np.int64), strict=True)
    path.write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    if items_path is not None and data.genres is not None:
        items_path.write_text(
            "".join(
                f"{n + 1}|Title {n + 1}|01-Jan-2000||http://example.invalid/{n + 1}|"
                + "|".join(str(int(f)) for f in flags)
                + "\n"
                for n, flags in enumerate(data.genres)
            ),
            encoding="latin-1",
        )


# -- split, rank, score -------------------------------------------------------------------


@dataclass
class Split:
    train: sp.csr_matrix  # people × titles, weights
    held: sp.csr_matrix  # people × titles, 1 where held out
    evaluated: np.ndarray  # the people with three interactions or more
    train_items: np.ndarray  # the training interactions, for popularity
    train_ages_days: np.ndarray


def split_by_time(data: Interactions, holdout: float) -> Split:
    """Each person's last ``holdout`` share (at least 1) of interactions by time held out."""
    order = np.lexsort((data.items, data.times, data.users))
    users, items = data.users[order], data.items[order]
    weights, times = data.weights[order], data.times[order]
    counts = np.bincount(users, minlength=data.people)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    held_per_person = np.where(
        counts >= 3, np.minimum(np.maximum(1, np.round(holdout * counts)), counts - 1), 0
    ).astype(int)
    position = np.arange(users.size) - starts[users]
    held = position >= counts[users] - held_per_person[users]
    shape = (data.people, data.titles)
    train = sp.csr_matrix((weights[~held], (users[~held], items[~held])), shape=shape)
    test = sp.csr_matrix((np.ones(int(held.sum()), np.float32), (users[held], items[held])), shape)
    ages = (times[~held].max() - times[~held]) / DAY
    return Split(train, test, np.flatnonzero(counts >= 3), items[~held], ages)


def rank_everyone(
    scores_of: Callable[[slice], np.ndarray], seen: sp.csr_matrix
) -> tuple[np.ndarray, float]:
    """Everyone's top ``N`` (-1 where fewer), scored ``engine.BLOCK`` people at a time,
    leaving out what they have seen; and the seconds it took."""
    people = seen.shape[0]
    tops = np.full((people, N), -1, dtype=np.int32)
    began = time.perf_counter()
    for start in range(0, people, engine.BLOCK):
        block = slice(start, min(start + engine.BLOCK, people))
        scores = scores_of(block)
        for row, person in enumerate(range(block.start, block.stop)):
            watched = seen.indices[seen.indptr[person] : seen.indptr[person + 1]]
            best = engine.top(scores[row], N, exclude=watched)
            tops[person, : best.size] = best
    return tops, time.perf_counter() - began


@dataclass
class Quality:
    recall: float
    ndcg: float
    coverage: float
    seconds: float


def quality(tops: np.ndarray, seconds: float, split: Split) -> Quality:
    """Recall@N (hits over the smaller of N and the held-out count), NDCG@N (binary gains)
    over the evaluated people, and the share of titles in anyone's top N."""
    discount = 1.0 / np.log2(np.arange(2, N + 2))
    recalls, ndcgs = [], []
    for person in split.evaluated:
        truth = split.held.indices[split.held.indptr[person] : split.held.indptr[person + 1]]
        hit = np.isin(tops[person], truth)
        ideal = min(N, truth.size)
        recalls.append(hit.sum() / ideal)
        ndcgs.append((hit * discount).sum() / discount[:ideal].sum())
    titles = split.train.shape[1]
    coverage = np.unique(tops[tops >= 0]).size / titles
    return Quality(float(np.mean(recalls)), float(np.mean(ndcgs)), coverage, seconds)


def nightly_job(data: Interactions, k: int, mix: engine.Mix) -> tuple[float, float]:
    """The job's arithmetic on all of the data: seconds to fit, and to rank everyone."""
    weights = sp.csr_matrix(
        (data.weights, (data.users, data.items)), shape=(data.people, data.titles)
    )
    began = time.perf_counter()
    model = engine.fit(weights, data.features, k=k)
    fit_s = time.perf_counter() - began
    _, rank_s = rank_everyone(lambda b: model.blended_scores(weights, b, mix), weights)
    return fit_s, rank_s


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def parse_mix(text: str) -> engine.Mix:
    co_watching, content, popularity = (float(part) for part in text.split(","))
    return engine.Mix(co_watching=co_watching, content=content, popularity=popularity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movielens", type=Path, help="a u.data file instead of generating")
    parser.add_argument("--movielens-items", type=Path, help="its u.item file, for genres")
    parser.add_argument("--write-movielens", type=Path, help="write the generated set here")
    parser.add_argument("--write-movielens-items", type=Path, help="and its genres here")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--titles", type=int, default=2000)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--clusters", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", action="store_true", help="10,000 × 20,000 × 1,000,000")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--k", type=int, default=50, help="neighbours kept per title")
    parser.add_argument("--mix", type=parse_mix, default=engine.Mix(), help="co,content,pop")
    parser.add_argument("--half-life", type=float, help="days; popularity decays if given")
    args = parser.parse_args(argv)
    if args.scale:
        args.users, args.titles, args.events = 10_000, 20_000, 1_000_000
    load_1m = os.getloadavg()[0]  # other work on the machine skews the timings below

    began = time.perf_counter()
    if args.movielens:
        data = read_movielens(args.movielens, args.movielens_items)
        source = f"MovieLens file {args.movielens}"
    else:
        data = generate(args.users, args.titles, args.events, args.clusters, args.seed)
        source = f"generated, {args.clusters} taste clusters, seed {args.seed}"
    print(f"{data.users.size:,} interactions, {data.people:,} people × {data.titles:,} titles "
          f"({source}) in {time.perf_counter() - began:.1f} s")  # fmt: skip
    if args.write_movielens:
        write_movielens(data, args.write_movielens, args.write_movielens_items)
        print(f"written in u.data format to {args.write_movielens}")
    if data.features is None:
        print("no title features (no --movielens-items): content-based scores are all zero")
    else:
        print(f"title features: {data.features.shape[1]} columns, {data.features.nnz:,} nonzero")
    before_job_mb = peak_mb()

    fit_s, rank_s = nightly_job(data, args.k, args.mix)
    job_s, job_mb = fit_s + rank_s, peak_mb()
    print(f"job: fit {fit_s:.1f} s + blended top {N} for {data.people:,} people {rank_s:.1f} s "
          f"= {job_s:.1f} s; peak memory {job_mb:.0f} MB "
          f"(of which {before_job_mb:.0f} MB before the job: the data set)")  # fmt: skip

    # Quality, on the split by time.
    split = split_by_time(data, args.holdout)
    print(f"held out: {split.held.nnz:,} interactions of {split.evaluated.size:,} people "
          f"(last {args.holdout:.0%} by time each, at least 1; "
          f"{data.people - split.evaluated.size} people with fewer than 3 not scored)")  # fmt: skip
    if args.half_life:
        popularity = engine.decayed_popularity(
            split.train_items, split.train_ages_days, data.titles, half_life_days=args.half_life
        )
        kind = f"plays decayed with a {args.half_life:g}-day half-life"
    else:
        popularity = np.bincount(split.train_items, minlength=data.titles).astype(np.float32)
        kind = "count of training interactions"
    began = time.perf_counter()
    model = engine.fit(split.train, data.features, popularity, k=args.k)
    print(f"fit on the training part: {time.perf_counter() - began:.1f} s (k={args.k}, "
          f"mix co-watching {args.mix.co_watching:g}, content {args.mix.content:g}, "
          f"popularity {args.mix.popularity:g}); popularity = {kind}")  # fmt: skip
    train = split.train
    rankers: dict[str, Callable[[slice], np.ndarray]] = {
        "popularity": lambda b: model.popularity_scores(b.stop - b.start),
        "item_to_item": lambda b: model.co_watching_scores(train, b),
        "content": lambda b: model.content_scores(train, b),
        "blend": lambda b: model.blended_scores(train, b, args.mix),
    }
    if data.truth is not None and data.cluster is not None:
        truth, cluster = data.truth, data.cluster
        rankers["planted_truth"] = lambda b: truth[cluster[b]]  # the ceiling, for reference
    results = {name: quality(*rank_everyone(fn, train), split) for name, fn in rankers.items()}
    print(f"  {'ranker':16} {'recall@10':>9} {'NDCG@10':>8} {'coverage':>8} {'seconds':>8}")
    for name, q in results.items():
        print(f"  {name:16} {q.recall:9.4f} {q.ndcg:8.4f} {q.coverage:8.1%} {q.seconds:8.2f}")

    base = results["popularity"].recall
    ratio = results["blend"].recall / base if base > 0 else float("inf")
    print(f"blend over popularity on recall@10: {ratio:.2f}× (target {TARGET_RATIO:g}×)")
    ok = ratio >= TARGET_RATIO
    if args.scale:
        ok = ok and job_s <= TARGET_JOB_S and job_mb <= TARGET_PEAK_MB
    fields: dict[str, object] = {"recall10_blend_over_popularity": f"{ratio:.3f}"}
    for name, q in results.items():
        fields[f"recall10_{name}"] = f"{q.recall:.4f}"
        fields[f"ndcg10_{name}"] = f"{q.ndcg:.4f}"
        fields[f"coverage_{name}"] = f"{q.coverage:.4f}"
        fields[f"seconds_{name}"] = f"{q.seconds:.2f}"
    fields |= {
        "job_s": f"{job_s:.1f}", "fit_s": f"{fit_s:.1f}", "peak_mb": f"{job_mb:.0f}",
        "users": data.people, "titles": data.titles, "events": data.users.size,
        "load_1m": f"{load_1m:.2f}", "target_ratio": TARGET_RATIO, "pass": str(ok).lower(),
    }  # fmt: skip
    print(" ".join(f"{k}={v}" for k, v in fields.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
