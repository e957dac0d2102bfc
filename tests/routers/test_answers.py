"""The answer readers: final answers, safe arithmetic, and the checks a verifier runs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentroute.routers import check_answer, final_number, normalize
from agentroute.routers.answers import evaluate


def test_final_number_prefers_explicit_markers() -> None:
    assert final_number("9 eggs at $2 = $18\n#### 18") == 18
    assert final_number("so 3 and then the answer is 1,250.") == 1250
    assert final_number("\\boxed{42} (not 7)") == 42
    assert final_number("5 apples, 6 pears, 11 fruit") == 11
    assert final_number("no numbers here") is None


def test_normalize_merges_forms_of_the_same_answer() -> None:
    assert normalize("#### 18") == normalize("$18") == normalize("18.0")
    assert normalize("Paris!") == normalize("paris") != normalize("Lyon")


def test_evaluate_is_plain_arithmetic_only() -> None:
    assert evaluate("(3 + 4) x 2") == 14 and evaluate("$1,000 / 4") == 250
    for bad in ("__import__('os')", "2 ** 999999", "1/0", "a + b", "", "(" * 300):
        assert evaluate(bad) is None


@given(st.text(max_size=300))
def test_readers_never_raise(text: str) -> None:
    evaluate(text)
    final_number(text)
    check_answer(text)


def test_check_answer_finds_wrong_equations_hedges_and_missing_finals() -> None:
    good = check_answer("16 - 3 = 13, 13 - 4 = 9, 9 * 2 = <<9*2=18>>18\n#### 18")
    assert (good.equations, good.wrong_equations, good.has_final) == (3, 0, True)
    bad = check_answer("2 + 2 = 5. However, assuming rounding, it is about 4.5")
    assert bad.wrong_equations == 1 and bad.hedges >= 3 and not bad.has_final
    assert check_answer("#### 2.5").features()["non_integer_final"] == 1.0
    used = check_answer("16 - 3 = 13 #### 13", question="16 eggs, eats 3, bakes 4")
    assert used.question_numbers_used == pytest.approx(2 / 3)
    assert "question_numbers_used" not in good.features()
