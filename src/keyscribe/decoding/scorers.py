"""Character LMs behind one small interface (``lmsteps.Scorer``): keyscribe's ARPA reader in pure
Python, or KenLM (the ``kenlm`` package) for ARPA and binary ``.bin`` files in native code.

``load_scorer(path)`` picks: a KenLM binary needs ``kenlm``; an ARPA file uses ``kenlm`` when it is
installed and can read it (native code, same scores) unless ``native=False``, else keyscribe's
reader (any order: the ``kenlm`` package reads up to the order it was compiled for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyscribe.decoding.charlm import BOS, SPACE, UNK, CharLM, token_from_name, token_name


class CharLMScorer:
    """``Scorer`` over keyscribe's ARPA reader (pure Python): a state is the last ``order - 1``
    tokens since ``<s>``, as a string."""

    def __init__(self, lm: Any) -> None:
        self.lm, self.order = lm, lm.order

    def start(self) -> str:
        return BOS

    def step(self, state: str, token: str) -> tuple[str, float]:
        score = self.lm.score(state, token)
        keep = max(self.order - 1, 0)
        return ((state + token)[-keep:] if keep else ""), score

    def has(self, token: str) -> bool:
        return token in self.lm.vocabulary

    def unk(self) -> float:
        return self.lm.score("", UNK)

    def has_space(self) -> bool:
        return SPACE in self.lm.vocabulary


_KENLM_MAGIC = b"mmap lm "


def is_kenlm_binary(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_KENLM_MAGIC)) == _KENLM_MAGIC


class KenLMScorer:
    """``Scorer`` over KenLM (native): states are ``kenlm.State`` (hashable, equal by context)."""

    def __init__(self, path: str | Path) -> None:
        import kenlm

        self._kenlm = kenlm
        config = kenlm.Config()
        config.load_method = kenlm.LoadMethod.LAZY  # mmap a binary: no load time, shared pages
        config.show_progress = False
        self.model = kenlm.Model(str(path), config)
        self.order = self.model.order
        self._start = kenlm.State()
        self.model.BeginSentenceWrite(self._start)
        self._unk = self.model.score("<unk>", bos=False, eos=False)
        self._space = "<sp>" in self.model

    def start(self) -> Any:
        return self._start

    def step(self, state: Any, token: str) -> tuple[Any, float]:
        out = self._kenlm.State()
        return out, self.model.BaseScore(state, token_name(token), out)

    def has(self, token: str) -> bool:
        return token_name(token) in self.model

    def unk(self) -> float:
        return self._unk

    def has_space(self) -> bool:
        return self._space


def kenlm_available() -> bool:
    try:
        import kenlm  # noqa: F401
    except ImportError:
        return False
    return True


def check_character_arpa(path: Path) -> None:
    """ValueError unless the file is an ARPA character LM: its unigrams (read up to the bigram
    section, not the whole file) are single characters or the specials, ``<unk>`` among them."""
    section, unigrams = 0, set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line.startswith("\\"):
                if line == "\\1-grams:":
                    section = 1
                elif section:
                    break
                continue
            if section == 1 and line:
                fields = line.split()
                if len(fields) < 2:
                    raise ValueError(f"line {number}: expected log10 p and a token")
                if token_from_name(fields[1]) is None:
                    raise ValueError(f"line {number}: not a character LM (multi-character token)")
                unigrams.add(fields[1])
    if "<unk>" not in unigrams:
        raise ValueError("no n-gram sections, or no <unk> unigram: not an ARPA character LM")


def load_scorer(path: str | Path, native: bool = True) -> CharLMScorer | KenLMScorer:
    """A scorer for an ARPA or KenLM binary file; ValueError naming the problem otherwise.
    ``native``: KenLM for ARPA too, when the ``kenlm`` package is installed (same scores)."""
    path = Path(path)
    if is_kenlm_binary(path):
        if not kenlm_available():
            raise ValueError("a KenLM binary LM needs the kenlm package (pip install kenlm)")
        try:
            return KenLMScorer(path)
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"KenLM cannot read it ({exc})") from None
    if native and kenlm_available():
        check_character_arpa(path)
        try:
            return KenLMScorer(path)
        except (OSError, RuntimeError):
            # e.g. an order above the KENLM_MAX_ORDER the package was compiled with (6 by
            # default, while `keyscribe lm build` makes 8-grams for HTR): the same scores in Python
            pass
    return CharLMScorer(CharLM.load(path))
