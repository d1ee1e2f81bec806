import math

import pytest

from keyscribe.decoding.charlm import BOS, EOS, SPACE, UNK, CharLM
from keyscribe.decoding.default_lm import sonnets_lines
from keyscribe.decoding.lm_build import build_arpa, kn_discounts


def test_toy_corpus_gives_textbook_interpolated_modified_kn(tmp_path):
    """Corpus "aab" / "ab", order 2, D1=0.5 D2=1.0 D3+=1.5, worked by hand.

    Bigrams (raw): <s>a 2, aa 1, ab 2, b</s> 2. Unigram continuation counts (distinct left
    neighbours): a 2 (<s>, a), b 1, </s> 1; total 4, one seen twice, two once ->
    gamma = (1.0*1 + 0.5*2) / 4 = 0.5; uniform over {a, b, </s>, <unk>} = 1/4.
    """
    arpa = tmp_path / "toy.arpa"
    build_arpa(["aab", "ab"], 2, arpa, discounts=(0.5, 1.0, 1.5))
    lm = CharLM.load(arpa)
    p_a = (2 - 1.0) / 4 + 0.5 / 4  # 0.375
    p_b = (1 - 0.5) / 4 + 0.5 / 4  # 0.25
    p_end = (1 - 0.5) / 4 + 0.5 / 4  # 0.25
    p_unk = 0.5 / 4
    expected_unigrams = {"a": p_a, "b": p_b, EOS: p_end, UNK: p_unk}
    for token, p in expected_unigrams.items():
        assert lm.probs[token] == pytest.approx(math.log10(p), abs=1e-6)
    # context <s>: {a: 2} -> gamma 1.0*1/2; context a: {a: 1, b: 2} -> gamma (0.5+1.0)/3;
    # context b: {</s>: 2} -> gamma 0.5
    expected_bigrams = {
        BOS + "a": (2 - 1.0) / 2 + 0.5 * p_a,
        "aa": (1 - 0.5) / 3 + 0.5 * p_a,
        "ab": (2 - 1.0) / 3 + 0.5 * p_b,
        "b" + EOS: (2 - 1.0) / 2 + 0.5 * p_end,
    }
    for gram, p in expected_bigrams.items():
        assert lm.probs[gram] == pytest.approx(math.log10(p), abs=1e-6)
    for context in (BOS, "a", "b"):
        assert lm.backoffs[context] == pytest.approx(math.log10(0.5), abs=1e-6)
    assert lm.probs[BOS] == -99.0
    # an unseen bigram backs off: P(a | b) = gamma(b) * P(a)
    assert lm.score("b", "a") == pytest.approx(math.log10(0.5 * p_a), abs=1e-6)


def test_discounts_from_counts_of_counts():
    n1, n2, n3, n4 = 10, 5, 3, 2
    y = n1 / (n1 + 2 * n2)
    expected = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    assert kn_discounts((n1, n2, n3, n4)) == pytest.approx(expected)
    assert kn_discounts((4, 0, 1, 1)) is None


@pytest.mark.parametrize("prune_from", [0, 3])
def test_every_context_sums_to_one(tmp_path, prune_from):
    arpa = tmp_path / "lm.arpa"
    report = build_arpa(sonnets_lines()[:400], 4, arpa, prune_from=prune_from)
    assert not report.warnings
    lm = CharLM.load(arpa)
    vocabulary = [t for t in lm.vocabulary if t != BOS]
    contexts = list(lm.contexts())
    assert len(contexts) > 1000
    for context in contexts[::7]:
        total = sum(10 ** lm.score(context, t) for t in vocabulary)
        assert total == pytest.approx(1.0, abs=1e-4), repr(context)


def test_pruning_drops_singletons_only_at_high_orders(tmp_path):
    full = build_arpa(sonnets_lines()[:400], 4, tmp_path / "full.arpa")
    pruned = build_arpa(sonnets_lines()[:400], 4, tmp_path / "pruned.arpa", prune_from=3)
    assert pruned.ngrams[:2] == full.ngrams[:2]
    assert pruned.ngrams[2] < full.ngrams[2] and pruned.ngrams[3] < full.ngrams[3]


def test_spilling_to_disk_gives_the_same_model(tmp_path):
    lines = sonnets_lines()[:200]
    build_arpa(lines, 4, tmp_path / "memory.arpa")
    build_arpa(lines, 4, tmp_path / "spilled.arpa", max_counts=500)
    assert (tmp_path / "memory.arpa").read_text() == (tmp_path / "spilled.arpa").read_text()


def test_space_is_a_visible_token_and_whitespace_is_normalised(tmp_path):
    arpa = tmp_path / "lm.arpa"
    build_arpa(["a  b\tc", "", "   "], 2, arpa, discounts=(0.5, 1.0, 1.5))
    text = arpa.read_text()
    assert "\ta <sp>\t" in text or "\ta <sp>\n" in text
    lm = CharLM.load(arpa)
    assert SPACE in lm.vocabulary and "\t" not in lm.vocabulary


def test_arpa_loads_in_kenlm_with_the_same_scores(tmp_path):
    kenlm_module = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import Dictionary

    arpa = tmp_path / "lm.arpa"
    build_arpa(sonnets_lines()[:300], 5, arpa, prune_from=4)
    ours = CharLM.load(arpa)
    names = ["t", "h", "e", "<sp>", "q", "~"]  # "~" is not in the LM: <unk>
    kenlm = kenlm_module.KenLM(str(arpa), Dictionary(names))
    state = kenlm.start(False)
    context = BOS
    for i, name in [(0, "t"), (1, "h"), (2, "e"), (3, " "), (4, "q"), (5, "~"), (0, "t")]:
        state, score = kenlm.score(state, i)
        assert score == pytest.approx(ours.score(context, name), abs=1e-4)
        context += name
    _, end = kenlm.finish(state)
    assert end == pytest.approx(ours.score(context, EOS), abs=1e-4)


def test_load_refuses_a_word_lm(tmp_path):
    path = tmp_path / "word.arpa"
    path.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\thello\n\n\\end\\\n")
    with pytest.raises(ValueError, match="not a character LM"):
        CharLM.load(path)
