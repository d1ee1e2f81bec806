"""Fixtures the decoding tests share."""

from __future__ import annotations

import pytest

from keyscribe.decoding.lm_build import build_arpa


@pytest.fixture(scope="module")
def the_lm(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "the.arpa"
    build_arpa(
        ["the cat sat on the mat", "then the hen ate the bread"] * 5,
        4,
        path,
        discounts=(0.5, 1.0, 1.5),
    )
    return str(path)
