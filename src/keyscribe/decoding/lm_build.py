"""Build a modified Kneser-Ney character n-gram LM from text and write it as ARPA.

Written in the project because KenLM's ``lmplz`` needs a compiler and Boost. The estimate is
interpolated modified Kneser-Ney (Chen & Goodman 1998) with the conventions of ``lmplz``:

* each line of the corpus is a sentence ``<s> c1 ... cn </s>``; a token is one character, a space
  is the visible token ``<sp>`` (runs of whitespace become one space);
* the highest order uses raw counts, lower orders the number of distinct left extensions, except
  n-grams starting with ``<s>`` which keep raw counts (nothing can precede ``<s>``);
* three discounts per order, D1, D2, D3+, from that order's counts of counts;
* unigrams are interpolated with the uniform distribution over the vocabulary plus ``<unk>``;
* with pruning, dropped n-grams leave their mass to the backoff, and backoff weights are
  renormalised so every context still sums to one.

Memory. Counting is bounded: n-grams are counted into a dict of at most ``max_counts`` entries,
spilled to a sorted temporary file when full, and the spills are merged in one streaming pass.
The estimation then holds, per order, the kept n-grams (after pruning), the distinct lower-order
n-grams (for their continuation counts) and one small record per context: about 150 bytes per
held n-gram. Pruning singletons at high orders (``prune_from``) is what keeps large corpora small.
"""

from __future__ import annotations

import heapq
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keyscribe.decoding.lm_tokens import BOS, EOS, UNK, corpus_line, token_name

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback


@dataclass
class BuildReport:
    """What a build did: n-grams written per order, discounts, and any discount fallbacks."""

    order: int
    ngrams: list[int] = field(default_factory=list)
    discounts: list[tuple[float, float, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: int = 0
    characters: int = 0


def kn_discounts(counts_of_counts: tuple[int, int, int, int]) -> tuple[float, float, float] | None:
    """Modified-KN discounts (D1, D2, D3+) from n1..n4, the numbers of n-grams seen 1..4 times;
    None when they are undefined or out of range (tiny corpora)."""
    n1, n2, n3, n4 = counts_of_counts
    if min(n1, n2, n3, n4) == 0:
        return None
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < di <= i + 1 for i, di in enumerate(d)):
        return None
    return d


# -- counting -------------------------------------------------------------------------------------


def _spill(counts: Counter[str], directory: str) -> Path:
    path = Path(tempfile.mkstemp(suffix=".counts", dir=directory)[1])
    with path.open("w", encoding="utf-8") as f:
        for gram in sorted(counts):
            f.write(f"{gram}\t{counts[gram]}\n")
    return path


def _read_spill(path: Path) -> Iterator[tuple[str, int]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            gram, count = line.rstrip("\n").rsplit("\t", 1)
            yield gram, int(count)


def count_ngrams(
    lines: Iterable[str], order: int, report: BuildReport, max_counts: int = 4_000_000
) -> Iterator[tuple[str, int]]:
    """All n-grams of orders 1..order (as strings of one-character tokens), sorted, with counts.

    At most ``max_counts`` distinct n-grams are held at once; beyond that they spill to sorted
    temporary files that are merged lazily."""
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="keyscribe-lm-") as tmp:
        spills: list[Path] = []
        for raw in lines:
            text = corpus_line(raw)
            if not text:
                continue
            report.lines += 1
            report.characters += len(text)
            s = BOS + text + EOS
            counts.update(s[1:])  # unigrams (never <s> alone)
            for k in range(2, order + 1):
                counts.update([s[j : j + k] for j in range(len(s) - k + 1)])
            if len(counts) > max_counts:
                spills.append(_spill(counts, tmp))
                counts = Counter()
        if not spills:
            yield from sorted(counts.items())
            return
        spills.append(_spill(counts, tmp))
        del counts
        merged = heapq.merge(*(_read_spill(p) for p in spills))
        current, total = None, 0
        for gram, count in merged:
            if gram != current:
                if current is not None:
                    yield current, total
                current, total = gram, 0
            total += count
        if current is not None:
            yield current, total


# -- estimation -----------------------------------------------------------------------------------


def _add(contexts: dict[str, list[int]], context: str, count: int) -> None:
    """Per context: [total adjusted count, how many follow 1, 2, 3+ times]."""
    acc = contexts.get(context)
    if acc is None:
        acc = contexts[context] = [0, 0, 0, 0]
    acc[0] += count
    acc[min(count, 3)] += 1


def estimate(
    grams: Iterable[tuple[str, int]],
    order: int,
    report: BuildReport,
    prune_from: int = 0,
    discounts: tuple[float, float, float] | None = None,
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Sorted (n-gram, raw count) pairs -> per order, {n-gram: probability} and
    {context: backoff weight} (linear, not log). ``prune_from`` >= 2 drops n-grams seen once at that
    order and above; ``discounts`` fixes D1, D2, D3+ for every order instead of estimating them."""
    threshold = [0] + [1 if prune_from >= 2 and k >= prune_from else 0 for k in range(1, order + 1)]
    kept: list[dict[str, int]] = [{} for _ in range(order + 1)]  # raw counts of kept n-grams
    left: list[Counter[str]] = [Counter() for _ in range(order + 1)]  # distinct left extensions
    bos_raw: list[dict[str, int]] = [{} for _ in range(order + 1)]
    contexts: list[dict[str, list[int]]] = [{} for _ in range(order + 1)]
    count_of_counts = [[0, 0, 0, 0] for _ in range(order + 1)]

    def adjusted(k: int, gram: str) -> int:
        if k == order:
            return kept[k][gram]
        return bos_raw[k][gram] if gram[0] == BOS else left[k][gram]

    for gram, count in grams:
        k = len(gram)
        if k >= 2:
            left[k - 1][gram[1:]] += 1
        if count > threshold[k]:
            kept[k][gram] = count
        if k == order:
            _add(contexts[k], gram[:-1], count)
            if count <= 4:
                count_of_counts[k][count - 1] += 1
        elif gram[0] == BOS:
            bos_raw[k][gram] = count
    for k in range(1, order):
        for gram, a in [*left[k].items(), *bos_raw[k].items()]:
            _add(contexts[k], gram[:-1], a)
            if a <= 4:
                count_of_counts[k][a - 1] += 1

    if not kept[1]:
        raise ValueError("the corpus has no text")
    probs: list[dict[str, float]] = [{} for _ in range(order + 1)]
    backoffs: list[dict[str, float]] = [{} for _ in range(order + 1)]
    vocabulary = len(kept[1]) + 1  # every predicted token plus <unk>
    for k in range(1, order + 1):
        d = discounts or kn_discounts(tuple(count_of_counts[k]))  # type: ignore[arg-type]
        if d is None:
            d = FALLBACK_DISCOUNTS
            report.warnings.append(
                f"order {k}: counts of counts {count_of_counts[k]} give no valid discounts; using {d}"
            )
        report.discounts.append(d)
        gamma = {
            h: (d[0] * c[1] + d[1] * c[2] + d[2] * c[3]) / c[0] for h, c in contexts[k].items()
        }
        for gram in kept[k]:
            a = adjusted(k, gram)
            h = gram[:-1]
            lower = 1.0 / vocabulary if k == 1 else probs[k - 1][gram[1:]]
            probs[k][gram] = (a - d[min(a, 3) - 1]) / contexts[k][h][0] + gamma[h] * lower
        if k == 1:
            probs[1][UNK] = gamma[""] / vocabulary
            continue
        # Backoff weight of each context that has kept extensions: gamma without pruning; with it,
        # the mass left over by the kept n-grams over the mass the lower order gives them.
        seen: dict[str, list[float]] = {}
        for gram, p in probs[k].items():
            acc = seen.setdefault(gram[:-1], [0.0, 0.0])
            acc[0] += p
            acc[1] += probs[k - 1][gram[1:]]
        for h, (p_high, p_low) in seen.items():
            if threshold[k] == 0:
                backoffs[k - 1][h] = gamma[h]
            else:
                backoffs[k - 1][h] = max(1.0 - p_high, 1e-12) / max(1.0 - p_low, 1e-12)
    report.ngrams = [len(probs[k]) + (1 if k == 1 else 0) for k in range(1, order + 1)]  # + <s>
    return probs, backoffs


# -- writing --------------------------------------------------------------------------------------


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else -99.0


def write_arpa(
    path: str | Path, probs: list[dict[str, float]], backoffs: list[dict[str, float]]
) -> None:
    """ARPA text: log10 probabilities, backoff weights where a context has extensions,
    ``<s>`` as a unigram with probability -99 (it is never predicted)."""
    order = len(probs) - 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    unigrams = dict(probs[1])
    unigrams[BOS] = 0.0
    with tmp.open("w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for k in range(1, order + 1):
            f.write(f"ngram {k}={len(unigrams) if k == 1 else len(probs[k])}\n")
        for k in range(1, order + 1):
            f.write(f"\n\\{k}-grams:\n")
            table = unigrams if k == 1 else probs[k]
            for gram in sorted(table):
                words = " ".join(token_name(c) for c in gram)
                line = f"{_log10(table[gram]):.6f}\t{words}"
                if k < order and gram in backoffs[k]:
                    line += f"\t{_log10(backoffs[k][gram]):.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
        f.flush()
        os.fsync(f.fileno())  # a crash after the rename must not leave an empty model
    tmp.replace(path)


def build_arpa(
    corpus: Iterable[str],
    order: int,
    out: str | Path,
    prune_from: int = 0,
    discounts: tuple[float, float, float] | None = None,
    max_counts: int = 4_000_000,
) -> BuildReport:
    """Count, estimate and write: lines of text -> an ARPA character LM at ``out``."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    report = BuildReport(order)
    probs, backoffs = estimate(
        count_ngrams(corpus, order, report, max_counts), order, report, prune_from, discounts
    )
    if report.lines == 0:
        raise ValueError("the corpus has no text")
    write_arpa(out, probs, backoffs)
    return report
