"""Eval token budgets (tailjax/budgets.py): the grid, `auto`, the settings' one-line errors."""

import pytest

from tailjax.budgets import auto_budget, cell_budgets, check_setting, on_grid, rows_per_batch


def test_the_grid_is_powers_of_two_and_their_three_halves_at_most_half_above():
    assert [on_grid(n) for n in (1, 2, 3, 5, 7, 1000, 1024, 1025, 1537, 8193, 43092)] == \
        [1, 2, 3, 6, 8, 1024, 1024, 1536, 2048, 12288, 49152]
    grid = sorted({on_grid(n) for n in range(1024, 16385)})
    assert grid == [1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384]
    assert all(n <= on_grid(n) <= 1.5 * n for n in range(1, 70000))


def test_auto_is_the_longest_reference_times_the_margin_on_the_grid():
    assert auto_budget(800) == 1024                  # 800 x 1.25 = 1000 -> 1024
    assert auto_budget(820) == 1536                  # 1025 -> 1536
    assert auto_budget(1000, margin=1.0) == 1024
    assert auto_budget(34473) == 49152               # 43092 -> 49152 (3/2 x 32768)
    needs = {("lcs", "S"): 900, ("lcs", "L"): 30000}
    assert cell_budgets(needs, "auto") == {("lcs", "S"): 1536, ("lcs", "L"): 49152}
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


def test_rows_per_batch_keep_the_cache_under_batch_tokens():
    assert rows_per_batch(49152, 700, batch_size=256) == 256          # no cap
    # 32 rows x 32k tokens: a 1024-token prompt and a 49152 budget take 50176 tokens a row.
    assert rows_per_batch(49152, 700, 256, batch_tokens=32 * 32768) == 20
    assert rows_per_batch(49152, 700, 256, 32 * 32768, multiple=8) == 16
    assert rows_per_batch(1024, 300, 256, 32 * 32768) == 256          # capped by batch_size
    assert rows_per_batch(49152, 700, 256, 1000, multiple=8) == 8     # never below one shard


def test_truncation_warnings_name_the_cell_the_share_and_the_fix_for_each_setting():
    from tailjax.budgets import truncation_warnings

    table = {"lcs": {"S": {"n": 200, "truncated": 2, "max_new_tokens": 4096},
                     "L": {"n": 200, "truncated": 3, "max_new_tokens": 16384}}}
    # 2 of 200 is exactly 1%: not more than the threshold.
    (line,) = truncation_warnings(table, 0.01, 8192)
    assert line.startswith("lcs L: 3 of 200 outputs (1.5%) hit the 16384-token budget without "
                           "an end token (more than eval.warn_truncated 1.0%)")
    assert line.endswith("set eval.max_new_tokens (--max-new-tokens) to auto or to a larger "
                         "number of tokens")
    (line,) = truncation_warnings(table, 0.01, "auto")
    assert "ran longer than any reference" in line and line.endswith(
        "raise eval.budget_margin or set eval.max_new_tokens to a larger number")
    assert len(truncation_warnings(table, 0.0, "auto")) == 2
