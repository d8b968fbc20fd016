"""Integer codes for a column of names: the one way the assessment turns strings into keys.

A city's month has a million cases and a few hundred units, items or people; counting on
integer codes (bincount, integer look-ups) instead of grouping or merging on strings is what
keeps the counting cheap (docs/assessment.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

Codes = npt.NDArray[np.int64]


def codes_of(values: pd.Series) -> tuple[Codes, pd.Index]:
    """(an integer code per row, -1 where missing; the names the codes stand for, as an
    object Index). A categorical column gives its own codes, one look-up per category rather
    than per row; any other column is factorized once."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        raw = values.cat.codes.to_numpy().astype(np.int64)
        names = values.cat.categories
    else:
        factors, names = pd.factorize(values)
        raw = factors.astype(np.int64)
    return raw, pd.Index(np.asarray(names, dtype=object), dtype=object)
