"""Reading answers: the final answer a text commits to, and checks a verifier can run on it.

Self-consistency compares final answers, not wording; a cascade asks how much to trust a small
model's answer before paying for a large one. Both need the same small, pure readers.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
_FINAL_MARKERS = (
    re.compile(r"####\s*\$?\s*(" + _NUMBER + ")"),
    re.compile(r"answer(?: is)?\s*[:=]?\s*\**\$?\s*(" + _NUMBER + ")", re.I),
    re.compile(r"\\boxed\{\s*\$?(" + _NUMBER + r")\s*\}"),
)
_ANY_NUMBER = re.compile(_NUMBER)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def final_number(text: str) -> float | None:
    """The number an answer commits to: after ``####``, "the answer is", or ``\\boxed{}``;
    else the last number in the text; None when there is none."""
    for marker in _FINAL_MARKERS:
        found = marker.findall(text)
        if found:
            return _number(found[-1])
    numbers = _ANY_NUMBER.findall(text)
    return _number(numbers[-1]) if numbers else None


def normalize(text: str) -> str:
    """A key under which two answers count as the same: the final number when there is one
    (``18``, ``18.0`` and ``$18`` agree), else the lower-cased words."""
    n = final_number(text)
    if n is not None:
        return f"{n:g}"
    return " ".join(re.findall(r"\w+", text.lower()))


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    raise ValueError("not plain arithmetic")


def evaluate(expression: str) -> float | None:
    """Plain arithmetic (+ - * / and brackets; ``x`` and ``×`` as times, ``$`` and ``,``
    ignored), evaluated without ``eval``; None for anything else."""
    cleaned = expression.replace(",", "").replace("$", "").replace("×", "*").replace("÷", "/")
    cleaned = re.sub(r"(?<=[\d)\s])x(?=[\s\d(])", "*", cleaned).strip()
    if not cleaned or len(cleaned) > 200 or not re.fullmatch(r"[\d.+\-*/() ]+", cleaned):
        return None
    try:
        return _evaluate(ast.parse(cleaned, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


_EQUATION = re.compile(
    r"((?:\(?\$?"
    + _NUMBER
    + r"\)?\s*[-+*/x×÷]\s*)+\(?\$?"
    + _NUMBER
    + r"\)?)\s*=\s*\$?("
    + _NUMBER
    + ")"
)
_ANNOTATION = re.compile(r"<<([^=<>]{1,200})=([^<>]{1,40})>>")
_HEDGES = (
    "however", "assum", "approximately", "round", "cannot", "can't", "not possible",
    "not enough information", "actually", "mistake", "let me re", "wait",
)  # fmt: skip


@dataclass(frozen=True)
class AnswerChecks:
    """What a verifier can tell from an answer's text alone."""

    equations: int
    wrong_equations: int
    has_final: bool
    final_is_integer: bool
    finals: int
    hedges: int
    length: int
    question_numbers_used: float | None = None

    def features(self) -> dict[str, float]:
        out = {
            "equations": float(self.equations),
            "wrong_equations": float(self.wrong_equations),
            "no_final": float(not self.has_final),
            "non_integer_final": float(self.has_final and not self.final_is_integer),
            "finals": float(self.finals),
            "hedges": float(self.hedges),
            "answer_kchars": self.length / 1000,
        }
        if self.question_numbers_used is not None:
            out["question_numbers_used"] = self.question_numbers_used
        return out


def check_answer(text: str, question: str | None = None) -> AnswerChecks:
    """Recompute every ``a op b = c`` and ``<<a op b=c>>`` the answer wrote; count those that
    are wrong, hedging words, final-answer markers, and whether it commits to a whole-number
    final answer. With the ``question``, also the share of its numbers the answer uses."""
    pairs = [(m.group(1), m.group(2)) for m in _ANNOTATION.finditer(text)]
    pairs += [(m.group(1), m.group(2)) for m in _EQUATION.finditer(_ANNOTATION.sub("", text))]
    checked: set[tuple[float, float]] = set()  # a calculator annotation repeats its equation
    for expression, stated in pairs:
        value, claimed = evaluate(expression), _number(stated.strip().lstrip("$"))
        if value is not None and claimed is not None:
            checked.add((round(value, 6), round(claimed, 6)))
    seen = len(checked)
    wrong = sum(abs(v - c) > 0.01 * max(1.0, abs(c)) for v, c in checked)
    marked = any(m.search(text) for m in _FINAL_MARKERS)
    final = final_number(text) if marked else None
    lower = text.lower()
    used = None
    if question is not None:
        asked = {n for n in map(_number, _ANY_NUMBER.findall(question)) if n is not None}
        written = {n for n in map(_number, _ANY_NUMBER.findall(text)) if n is not None}
        used = len(asked & written) / len(asked) if asked else 1.0
    return AnswerChecks(
        equations=seen,
        wrong_equations=wrong,
        has_final=final is not None,
        final_is_integer=final is not None and float(final).is_integer(),
        finals=sum(len(m.findall(text)) for m in _FINAL_MARKERS),
        hedges=sum(lower.count(h) for h in _HEDGES),
        length=len(text),
        question_numbers_used=used,
    )
