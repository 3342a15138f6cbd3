"""Quoting text in errors: folded to one line, numbers masked, then cut."""

from __future__ import annotations

import pytest

from telzino_provider.exceptions import quoted, truncate_body

LIMIT = 50
#: 8 digits: the mask shows "+35*****5"; a cut before masking would leave "+353..." in clear.
NUMBER = "+35312345"


@pytest.mark.parametrize("spaces", [False, True], ids=["plain", "indented"])
def test_no_cut_leaves_more_of_a_number_than_its_mask_shows(spaces: bool) -> None:
    # Every cut position through the number: at the limit, and at the first cut of a long body.
    for before in [*range(LIMIT - 9, LIMIT + 1), *range(2 * LIMIT + 55, 2 * LIMIT + 65)]:
        text = (" " * before if spaces else "x" * before) + NUMBER + " is blocked " + "y" * 500
        for out in (truncate_body(text, LIMIT), quoted(ValueError(text), LIMIT)):
            assert "+353" not in out and out.endswith("...(truncated)"), (before, out)


def test_a_short_text_is_folded_and_masked_whole() -> None:
    assert truncate_body(f"  {NUMBER}\n  is blocked ", LIMIT) == "+35*****5 is blocked"
