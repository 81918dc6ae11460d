"""The expression compiler: refuses all outside the allowlist, with positions; never crashes."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ScenarioNamespace
from kremlinology.engine.reference import Timeline, evaluate
from kremlinology.engine.simulate import start_block
from kremlinology.engine.vector import VectorProgram, compile_vector
from kremlinology.months import parse_month
from kremlinology.scenario.expressions import (
    BOOL,
    MAX_DEPTH,
    MAX_LENGTH,
    NUM,
    STR,
    Categorical,
    ExpressionError,
    Node,
    compile_expression,
)
from kremlinology.scenario.model import Scenario


@pytest.fixture(scope="module")
def ns(testbed: Scenario) -> ScenarioNamespace:
    return ScenarioNamespace(testbed)


def refused(text: object, ns: ScenarioNamespace) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, ns)  # type: ignore[arg-type]
    error = info.value
    assert error.line >= 1 and error.col >= 1
    assert str(error) == error.message and error.message
    return error


def value_at_start(node: Node, scenario: Scenario, month: str = "2000-01") -> object:
    """Evaluate a tree on the initial state of timeline 0 with the reference interpreter."""
    block = start_block(VectorProgram(scenario), 1, 0, 1)
    t = Timeline(
        0,
        parse_month(month),
        [float(x) for x in block.world.values[:, 0]],
        [-1] * len(scenario.events),
        [-1] * len(scenario.events),
        [0] * len(scenario.events),
        [0] * len(scenario.events),
    )
    return evaluate(node, t)


HOSTILE = [
    ("__import__('os')", 1, 1),
    ("__import__('os').system('ls')", 1, 1),
    ("().__class__", 1, 1),
    ("().__class__.__bases__[0].__subclasses__()", 1, 1),
    ("unrest.__class__", 1, 1),
    ("king.__dict__", 1, 1),
    ("lambda: 1", 1, 1),
    ("(lambda x: x)(1)", 1, 1),
    ("unrest[0]", 1, 1),
    ("[x for x in (1, 2)]", 1, 1),
    ("{x for x in (1, 2)}", 1, 1),
    ("{x: 1 for x in (1, 2)}", 1, 1),
    ("sum(x for x in (1, 2))", 1, 1),
    ("f'{unrest}'", 1, 1),
    ("(x := 1)", 1, 2),
    ("os.system('rm -rf /')", 1, 1),
    ("os", 1, 1),
    ("open('/etc/passwd')", 1, 1),
    ("eval('1')", 1, 1),
    ("exec('x = 1')", 1, 1),
    ("getattr(king, 'alive')", 1, 1),
    ("globals()", 1, 1),
    ("print(1)", 1, 1),
    ("_x", 1, 1),
    ("[1, 2]", 1, 1),
    ("(1, 2)", 1, 1),
    ("{'a': 1}", 1, 1),
    ("{1}", 1, 1),
    ("b'bytes'", 1, 1),
    ("...", 1, 1),
    ("1 ** 1000", 1, 1),
    ("2 // 3", 1, 1),
    ("1 << 40", 1, 1),
    ("1 & 2", 1, 1),
    ("~1", 1, 1),
    ("1 in (1, 2)", 1, 1),
    ("unrest is None", 1, 1),
    ("None", 1, 1),
    ("1j", 1, 1),
    ("1e999", 1, 1),
    ("1" * 400, 1, 1),
    ("-" + "9" * 1000 + ".5", 1, 2),
    ("min(*(1, 2))", 1, 1),
    ("min(1, key=abs)", 1, 1),
    ("min(1)", 1, 1),
    ("clip(1, 2)", 1, 1),
    ("abs(1, 2)", 1, 1),
    ("fired(plot)", 1, 1),
    ("fired('plot', 'x')", 1, 1),
    ("fired('no_such_event')", 1, 7),
    ("chose('discovered', 'pardoned')", 1, 21),
    ("unrest.__class__.__mro__", 1, 1),
    ("king", 1, 1),
    ("rebel.base", 1, 1),
    ("no_such_name", 1, 1),
    ("king.no_such_attribute", 1, 1),
    ("unrest +", 1, 9),
    ("unrest + + ", 1, 12),
    ("yield 1", 1, 1),
    ("await unrest", 1, 1),
    ("not unrest", 1, 5),
    ("unrest and true", 1, 1),
    ("regime + 1", 1, 1),
    ("regime < hard", 1, 1),
    ("regime == bogus", 1, 11),
    ("regime == ruler", 1, 1),
    ("'text' + 1", 1, 1),
    ("1 if unrest else 2", 1, 6),
    ("1 if true else regime", 1, 1),
    ("1956-13 > 0", 1, 1),
    ("", 1, 1),
    ("   ", 1, 1),
    ("1\x00", 1, 1),
    ("unrest\n  + nope", 2, 5),
    ("unrest + 1\n\n   + __x", 3, 6),
]


@pytest.mark.parametrize(("text", "line", "col"), HOSTILE)
def test_hostile_and_invalid_inputs_are_refused_with_positions(
    ns: ScenarioNamespace, text: str, line: int, col: int
) -> None:
    error = refused(text, ns)
    assert (error.line, error.col) == (line, col), error.message


def test_messages_say_what_is_wrong(ns: ScenarioNamespace) -> None:
    assert "lambda" in refused("lambda: 1", ns).message
    assert "indexing" in refused("unrest[0]", ns).message
    assert "comprehension" in refused("[x for x in (1, 2)]", ns).message
    assert "f-string" in refused("f'{unrest}'", ns).message
    assert "assignment" in refused("(x := 1)", ns).message
    assert "only these functions" in refused("open('/etc/passwd')", ns).message
    assert "unknown name 'nope'" in refused("unrest + nope", ns).message
    assert "'_'" in refused("king.__dict__", ns).message
    assert "is not one of the categories (soft, hard)" in refused("regime == 'bogus'", ns).message
    assert "unknown name 'bogus'" in refused("regime == bogus", ns).message
    assert "13" in refused("1956-13 > 0", ns).message
    assert "unknown event 'no_such_event'" in refused("fired('no_such_event')", ns).message


def test_length_limit(ns: ScenarioNamespace) -> None:
    ok = "1" + " + 1" * ((MAX_LENGTH - 1) // 4)
    assert len(ok) <= MAX_LENGTH
    with pytest.raises(ExpressionError):  # too deep, but not too long: a different refusal
        compile_expression(ok, ns)
    flat = "max(" + ", ".join(["1"] * 15) + ")"
    assert compile_expression(flat, ns).op == "max"
    too_long = "1" + " " * MAX_LENGTH
    error = refused(too_long, ns)
    assert str(MAX_LENGTH) in error.message


def test_depth_limit(ns: ScenarioNamespace) -> None:
    def negated(depth: int) -> str:
        return "-" * depth + "1"

    # each unary minus is one level; the Expression wrapper and the constant are two more
    compile_expression(negated(MAX_DEPTH - 2), ns)
    error = refused(negated(MAX_DEPTH + 5), ns)
    assert f"more than {MAX_DEPTH}" in error.message
    assert "deep" in refused("not " * 60 + "true", ns).message
    refused("(" * 999 + "1" + ")" * 999, ns)  # parser's own nesting limit
    refused("[" * 999 + "]" * 999, ns)
    refused("-(" * 600 + "1" + ")" * 600, ns)


def test_date_literals(ns: ScenarioNamespace, testbed: Scenario) -> None:
    node = compile_expression("1956-10", ns)
    assert node == Node("const", (1956 * 12 + 9,), NUM)
    spaced = compile_expression("1956 - 10", ns)
    assert spaced.op == "sub"
    assert value_at_start(spaced, testbed) == 1946.0
    assert value_at_start(compile_expression("month >= 2000-10", ns), testbed, "2000-10") is True
    assert value_at_start(compile_expression("month >= 2000-10", ns), testbed, "2000-09") is False
    assert value_at_start(compile_expression("month - 2000-01 > 3", ns), testbed, "2000-05")
    assert not value_at_start(compile_expression("month - 2000-01 > 3", ns), testbed, "2000-04")
    assert value_at_start(compile_expression("2000-03-2000-01", ns), testbed) == 2.0
    # inside a string it stays text
    assert compile_expression("'1956-10'", ns).type == STR
    # a date and a column: positions count in the original text
    error = refused("month >= 1956-10 + nope", ns)
    assert error.col == 20


def test_categorical_comparisons(ns: ScenarioNamespace, testbed: Scenario) -> None:
    for text, expected in [
        ("ruler == king", True),
        ("ruler == 'king'", True),
        ("'king' == ruler", True),
        ("king == ruler", True),
        ("ruler != rebel", True),
        ("ruler == rebel", False),
        ("palace.commander == king", True),
        ("king.crown == worn", True),
        ("king.crown != 'lost'", True),
        ("ruler == palace.commander", True),
        ("(ruler == king) and not (king.crown == lost)", True),
    ]:
        node = compile_expression(text, ns)
        assert node.type == BOOL
        assert value_at_start(node, testbed) is expected, text
    refused("ruler == crown", ns)  # 'crown' is not a category of ruler
    refused("ruler == king.crown", ns)  # different categories


def test_expected_category_for_assignments(ns: ScenarioNamespace, testbed: Scenario) -> None:
    ruler = testbed.slots[testbed.slot_index["ruler"]].type
    assert isinstance(ruler, Categorical)
    node = compile_expression("rebel", ns, ruler)
    assert node == Node("const", (float(ruler.domain.index("rebel")),), ruler)
    node = compile_expression("rebel if unrest > 2 else 'king'", ns, ruler)
    assert node.type == ruler
    with pytest.raises(ExpressionError):
        compile_expression("nobody", ns, ruler)


def test_numbers_and_booleans(ns: ScenarioNamespace, testbed: Scenario) -> None:
    cases = {
        "1 + 2 * 3": 7.0,
        "7 % 3": 1.0,
        "-7 % 3": 2.0,
        "1 / 0": 0.0,
        "5 % 0": 0.0,
        "min(3, 1, 2)": 1.0,
        "max(3, 1, 2)": 3.0,
        "clip(5, 0, 1)": 1.0,
        "abs(-2)": 2.0,
        "logistic(0)": 0.5,
        "true + true": 2.0,
        "1 < 2 < 3": True,
        "1 < 3 < 2": False,
        "months_since('plot')": 9999.0,
        "fired('plot')": False,
        "chose('discovered', 'crushed')": False,
        "unrest + rebel.base.strength * 10": 3.0,
        "threat": 0.6,
        "(1 if king.alive else 2) + 0": 1.0,
        "True and not False": True,
    }
    for text, expected in cases.items():
        assert value_at_start(compile_expression(text, ns), testbed) == expected, text


def test_non_text_sources(ns: ScenarioNamespace) -> None:
    assert compile_expression(True, ns) == Node("const", (True,), BOOL)
    assert compile_expression(2, ns) == Node("const", (2.0,), NUM)
    assert compile_expression(0.5, ns) == Node("const", (0.5,), NUM)
    for bad in (None, [1], {"a": 1}, b"1"):
        refused(bad, ns)
    refused(float("inf"), ns)
    refused(float("nan"), ns)


# -- fuzzing --------------------------------------------------------------------------------------

NAMES = [
    "unrest",
    "king",
    "king.alive",
    "king.power",
    "rebel.base.strength",
    "regime",
    "ruler",
    "threat",
    "luck",
    "month",
    "os",
    "__import__",
    "__class__",
    "_x",
    "hard",
    "true",
    "None",
    "self",
]
CALLS = ["min", "max", "clip", "abs", "logistic", "fired", "months_since", "chose", "open", "eval"]
ATOMS = st.one_of(
    st.sampled_from(NAMES),
    st.integers(-(10**400), 10**400).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["'plot'", "'discovered'", "'crushed'", '"hard"', "b'x'", "...", "1956-10"]),
    st.sampled_from(["2000-13", "1e999", "0x1F", "1_000", "1j", "True", "False"]),
)
BINARY = ["+", "-", "*", "/", "%", "**", "//", "<<", "&", "|", "^", "@", "and", "or"]
COMPARE = ["<", "<=", ">", ">=", "==", "!=", "in", "not in", "is", "is not"]


FORMS = [
    "{a} {binary} {b}",
    "({a} {binary} {b})",
    "{a} {compare} {b}",
    "{unary}{a}",
    "{call}({a})",
    "{call}({a}, {b})",
    "{call}({a}, {b}, {a})",
    "({a}).{name}",
    "{a}[{b}]",
    "({a} if {b} else {a})",
    "lambda: {a}",
    "[x for x in {a}]",
    "f'{{{a}}}'",
    "(y := {a})",
    "[{a}, {b}]",
    "{{{a}: {b}}}",
    "*{a}",
    "({a})",
    "{a}\n",
]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 5) -> str:
    """Random Python expression text, allowed or not, nested up to ``depth`` levels."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(ATOMS)
    form = draw(st.sampled_from(FORMS))
    return form.format(
        a=draw(expressions(depth - 1)),
        b=draw(expressions(depth - 1)),
        binary=draw(st.sampled_from(BINARY)),
        compare=draw(st.sampled_from(COMPARE)),
        unary=draw(st.sampled_from(["-", "+", "not ", "~"])),
        call=draw(st.sampled_from(CALLS)),
        name=draw(st.sampled_from(NAMES)),
    )


EXPRESSIONS = expressions()


def compile_or_refuse(text: object, ns: ScenarioNamespace) -> Node | None:
    started = time.perf_counter()
    try:
        node = compile_expression(text, ns)  # type: ignore[arg-type]
    except ExpressionError as error:
        assert error.line >= 1 and error.col >= 1
        node = None
    assert time.perf_counter() - started < 2.0
    return node


@settings(max_examples=400)
@given(text=EXPRESSIONS)
def test_random_expression_trees_raise_only_expression_errors(
    ns: ScenarioNamespace, testbed: Scenario, text: str
) -> None:
    node = compile_or_refuse(text, ns)
    if node is not None and node.type != STR:
        # whatever compiles can be evaluated, and both interpreters agree on it
        reference = value_at_start(node, testbed)
        block = start_block(VectorProgram(testbed), 1, 0, 1)
        vectorized = np.broadcast_to(compile_vector(node)(block.world), (1,))[0]
        assert vectorized == reference or (np.isnan(vectorized) and np.isnan(reference))  # type: ignore[arg-type]


@settings(max_examples=400)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text_raises_only_expression_errors(ns: ScenarioNamespace, text: str) -> None:
    compile_or_refuse(text, ns)


SYMBOLS = [*"()[]{}+-*/%<>=!,.:'\"\\ \n\t@&|^~#;", "__", "lambda", "if", "else", "for", "in"]


@settings(max_examples=400)
@given(
    parts=st.lists(st.one_of(st.sampled_from(SYMBOLS), st.sampled_from(NAMES), ATOMS), max_size=60)
)
def test_random_token_soup_raises_only_expression_errors(
    ns: ScenarioNamespace, parts: list[str]
) -> None:
    compile_or_refuse(" ".join(parts), ns)
    compile_or_refuse("".join(parts), ns)
