from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "htr"


@pytest.fixture(scope="session")
def lines_dir() -> Path:
    """Ten real cremma-mss-20 lines (images + .gt.txt)."""
    return FIXTURES / "lines"


@pytest.fixture(scope="session")
def pages_dir() -> Path:
    """One ALTO page cropped to three lines, and the same lines as PAGE 2013 and 2019."""
    return FIXTURES / "pages"
