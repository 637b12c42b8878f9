"""Eval token budgets (tailjax/budgets.py): the grid, `auto`, the settings' one-line errors."""

import pytest

from tailjax.budgets import auto_budget, cell_budgets, check_setting, on_grid


def test_the_grid_has_four_budgets_per_doubling_and_rounds_up_by_at_most_a_quarter():
    assert [on_grid(n) for n in (1, 7, 8, 9, 16, 17, 1000, 1024, 1025, 8193, 34473)] == \
        [1, 7, 8, 10, 16, 20, 1024, 1024, 1280, 10240, 40960]
    grid = sorted({on_grid(n) for n in range(1024, 8193)})
    assert grid == [1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192]
    assert all(n <= on_grid(n) <= 1.25 * n for n in range(1, 70000))


def test_auto_is_the_longest_reference_times_the_margin_on_the_grid():
    assert auto_budget(800) == 1024                  # 800 x 1.25 = 1000 -> 1024
    assert auto_budget(820) == 1280                  # 1025 -> 1280
    assert auto_budget(1000, margin=1.0) == 1024
    assert auto_budget(34473) == 49152               # 43092 -> 49152 (6 x 8192)
    needs = {("lcs", "S"): 900, ("lcs", "L"): 30000}
    assert cell_budgets(needs, "auto") == {("lcs", "S"): 1280, ("lcs", "L"): 40960}
    assert cell_budgets(needs, 8192) == {("lcs", "S"): 8192, ("lcs", "L"): 8192}


@pytest.mark.parametrize("value, expected", [("auto", "auto"), (" auto ", "auto"), (512, 512),
                                             ("8192", 8192)])
def test_settings_that_are_accepted(value, expected):
    assert check_setting(value) == expected


@pytest.mark.parametrize("value, message", [
    (0, "eval.max_new_tokens must be at least 1 token, got 0; write a number of new tokens"),
    ("-3", "must be at least 1 token, got -3"),
    ("atuo", "eval.max_new_tokens 'atuo' is neither a number of tokens nor auto; write e.g. 8192"),
    ("Auto", "'Auto' is neither"),
    (True, "True is neither"),
    (2.5, "2.5 is neither"),
])
def test_bad_settings_are_one_line_naming_the_fix(value, message):
    with pytest.raises(ValueError) as e:
        check_setting(value)
    assert message in str(e.value) and "\n" not in str(e.value) and "auto" in str(e.value)
