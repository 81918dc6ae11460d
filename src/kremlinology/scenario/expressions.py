"""The scenario expression language: parsing through an AST allowlist into a typed tree.

The compiler never calls ``eval`` or ``exec``. Python's parser turns the text into an AST; a
dispatch table maps each allowed node type to a handler, and any other node type is refused. The
result is a tree of :class:`Node` objects whose leaves are state slots, event records, the month and
constants.
Two interpreters run these trees: ``engine.vector`` over NumPy arrays of all timelines at once, and
``engine.reference`` over one timeline's plain Python values (a third, compiled kernel must agree
with both).

The operations (``Node.op``, its ``args`` and what every kernel must compute):

- ``const (value,)``: a number or boolean; ``str (text,)``: a string (only ever compared away);
- ``slot (index,)``: the state slot's value (booleans are stored 0/1 and read as ``!= 0``;
  categories as their code);
- ``month ()``: the month number (``year * 12 + month - 1``);
- ``fired (e,)``: event ``e`` has fired (its last firing month is ``>= 0``); ``since (e,)``: months
  since its last firing, ``NEVER_MONTHS`` if never; ``chose (e, o)``: it fired and its last firing
  took option ``o``;
- ``tonum (x,)``: a boolean as 1.0 / 0.0; ``neg``, ``not``, ``abs``, ``logistic (x,)``;
- ``add sub mul div mod (a, b)``: arithmetic, where ``a / 0`` and ``a % 0`` are 0 and ``%`` is
  NumPy's ``remainder`` (the sign of the divisor);
- ``lt le gt ge eq ne (a, b)``; ``and``/``or`` (any number of booleans);
  ``min``/``max`` (two or more numbers, NaN if any is NaN), ``clip (x, lo, hi)`` =
  ``min(max(x, lo), hi)``; ``if (cond, then, else)``;
- ``gather (code, slots, fill)``: the **holder of an office**. ``code`` is a node whose value is a
  category code of the actor domain (``none`` is code 0, then every actor in declaration order);
  ``slots`` and ``fill`` are tuples of that domain's length. The value is
  ``values[slots[c]]`` where ``slots[c] >= 0``, else ``fill[c]`` (the holder lacks the attribute,
  or the office is vacant), with ``c = int(code)`` clipped to the domain. A boolean gather reads
  ``!= 0`` like a slot. ``secretariat.first_secretary.holder.hardline`` compiles to one;
- ``derived (k,)``: the value of derived quantity ``k`` (its tree: ``Scenario.derived_table[k]``).
  Derived quantities are compiled by reference, in dependency order (a tree only refers to lower
  indices), and each is evaluated at most once per state: kernels cache its value until a slot,
  an event record or the month changes (``Scenario.derived_deps[k]`` lists, in order, every
  derived quantity that ``k`` needs, so a cache can be filled without recursion).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeGuard

from kremlinology.limits import MAX_EXPRESSION_CHARS, MAX_EXPRESSION_DEPTH, number_problem
from kremlinology.scenario.errors import KremlinologyError

MAX_LENGTH = MAX_EXPRESSION_CHARS
MAX_DEPTH = MAX_EXPRESSION_DEPTH
NEVER_MONTHS = 9999.0
"""What ``months_since`` gives for an event that never fired."""

_DATE_TOKEN = re.compile(r"(?<![\w.])(\d{4})-(\d{2})(?![\w.])")
_STRING_LITERAL = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


class ExpressionError(KremlinologyError):
    """A malformed, unsafe or ill-typed expression; line and col are 1-based, in the text."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


@dataclass(frozen=True)
class Categorical:
    """The type of a categorical value: its codes index ``domain``."""

    domain: tuple[str, ...]


ValueType = str | Categorical
NUM = "num"
BOOL = "bool"
STR = "str"


def type_name(value_type: ValueType) -> str:
    """Return a readable name of a type for error messages."""
    if isinstance(value_type, Categorical):
        return "categorical"
    return {NUM: "number", BOOL: "boolean", STR: "string"}[value_type]


@dataclass(frozen=True)
class Node:
    """One operation of a compiled expression.

    ``op`` names the operation, ``args`` holds child nodes or literal operands, ``type`` the result.
    """

    op: str
    args: tuple[object, ...]
    type: ValueType


class Namespace(Protocol):
    """What the compiler may see of a scenario."""

    def slot(self, dotted: str) -> tuple[int, ValueType] | None:
        """Return (slot index, type) of a state quantity, or None."""

    def derived(self, name: str) -> Node | None:
        """Return the compiled tree of a derived quantity, or None."""

    def event(self, name: str) -> int | None:
        """Return an event's index, or None."""

    def option(self, event: int, name: str) -> int | None:
        """Return the index of an option of an event, or None."""

    def is_prefix(self, dotted: str) -> bool:
        """Return whether ``dotted`` starts a declared dotted name (an actor, a group)."""

    def actor_domain(self) -> Categorical:
        """Return the categories of an office (``none`` and every actor)."""

    def gather(self, attribute: str) -> tuple[tuple[int, ...], ValueType] | str:
        """Return the slot of ``actor.attribute`` for each code of the actor domain (-1 where the
        actor has none) and the attribute's type, or a message saying why it cannot be read."""


def const(value: float | bool, value_type: ValueType) -> Node:
    """Return a constant node."""
    return Node("const", (value,), value_type)


def as_number(node: Node) -> Node:
    """Return ``node`` as a number (booleans count 1 and 0)."""
    if node.type == BOOL:
        if node.op == "const":
            return const(1.0 if node.args[0] else 0.0, NUM)
        return Node("tonum", (node,), NUM)
    return node


def mask_dates(source: str) -> tuple[str, set[tuple[int, int]]]:
    """Replace each ``YYYY-MM`` token outside string literals by a same-length name.

    Returns the new text and the (line, col) positions of the replaced tokens, so the compiler
    can tell a date from a name and positions in error messages stay those of the original text.
    """
    spans = [m.span() for m in _STRING_LITERAL.finditer(source)]
    out = list(source)
    marks: set[tuple[int, int]] = set()
    for match in _DATE_TOKEN.finditer(source):
        start = match.start()
        if any(a <= start < b for a, b in spans):
            continue
        out[start : match.end()] = list("D" + match.group(1) + match.group(2))
        line = source.count("\n", 0, start) + 1
        col = start - (source.rfind("\n", 0, start) + 1)
        marks.add((line, col))
    return "".join(out), marks


HOLDER = "holder"
"""The word that dereferences an office: ``office.holder.attribute``."""


def gather(
    code: Node, slots: tuple[int, ...], fill: tuple[float, ...], value_type: ValueType
) -> Node:
    """Return the node reading ``slots[code]`` (or ``fill[code]`` where a slot is -1)."""
    return Node("gather", (code, tuple(slots), tuple(fill)), value_type)


FUNCTIONS = ("min", "max", "clip", "abs", "logistic", "fired", "months_since", "chose")


class _Compiler:
    """Turns one AST into a typed tree; one instance per expression."""

    def __init__(self, namespace: Namespace, date_marks: set[tuple[int, int]]) -> None:
        self.ns = namespace
        self.date_marks = date_marks
        self.depth = 0
        self.dispatch: dict[type[ast.AST], Callable[..., Node]] = {
            ast.Expression: self._expression,
            ast.Constant: self._constant,
            ast.Name: self._name,
            ast.Attribute: self._attribute,
            ast.UnaryOp: self._unary,
            ast.BinOp: self._binary,
            ast.BoolOp: self._boolean,
            ast.Compare: self._compare,
            ast.IfExp: self._if_else,
            ast.Call: self._call,
        }

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(
            message, getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
        )

    def visit(self, node: ast.AST, expect: Categorical | None = None) -> Node:
        handler = self.dispatch.get(type(node))
        if handler is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in a scenario expression")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(node, f"expression is nested more than {MAX_DEPTH} levels deep")
        try:
            return handler(node, expect)
        finally:
            self.depth -= 1

    def _expression(self, node: ast.Expression, expect: Categorical | None) -> Node:
        return self.visit(node.body, expect)

    def _constant(self, node: ast.Constant, expect: Categorical | None) -> Node:
        value = node.value
        if isinstance(value, bool):
            return const(value, BOOL)
        if isinstance(value, int | float):
            # an int literal can be too large for a float (OverflowError): number_problem
            # compares it as an int
            if number_problem(value) is not None:
                raise self.fail(node, "number is out of range")
            return const(float(value), NUM)
        if isinstance(value, str):
            if expect is not None:
                return self._category(node, value, expect)
            return Node("str", (value,), STR)
        raise self.fail(node, f"constant {value!r} is not allowed")

    def _category(self, node: ast.AST, name: str, expect: Categorical) -> Node:
        if name not in expect.domain:
            shown = ", ".join(expect.domain[:12]) + (" ..." if len(expect.domain) > 12 else "")
            raise self.fail(node, f"'{name}' is not one of the categories ({shown})")
        return const(float(expect.domain.index(name)), expect)

    def _name(self, node: ast.Name, expect: Categorical | None) -> Node:
        name = node.id
        if (node.lineno, node.col_offset) in self.date_marks:
            return self._date(node, name)
        _refuse_dunder(self, node, name)
        if name == "month":
            return Node("month", (), NUM)
        if name in ("true", "True"):
            return const(True, BOOL)
        if name in ("false", "False"):
            return const(False, BOOL)
        found = self.ns.slot(name)
        if found is not None:
            return Node("slot", (found[0],), found[1])
        derived = self.ns.derived(name)
        if derived is not None:
            return derived
        if expect is not None and name in expect.domain:
            return self._category(node, name, expect)
        if self.ns.is_prefix(name):
            raise self.fail(node, f"'{name}' is not a value by itself; name one of its attributes")
        raise self.fail(node, f"unknown name '{name}'")

    def _date(self, node: ast.Name, name: str) -> Node:
        year, month = int(name[1:5]), int(name[5:7])
        if not 1 <= month <= 12:
            raise self.fail(node, f"{year}-{month:02d} is not a month (01 to 12)")
        return const(float(year * 12 + month - 1), NUM)

    def _attribute(self, node: ast.Attribute, expect: Categorical | None) -> Node:
        parts: list[str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise self.fail(node, "attributes may only follow a declared name")
        parts.append(current.id)
        for part in parts:
            _refuse_dunder(self, node, part)
        parts.reverse()
        if HOLDER in parts:
            return self._holder(node, parts)
        dotted = ".".join(parts)
        found = self.ns.slot(dotted)
        if found is None:
            if self.ns.is_prefix(dotted):
                raise self.fail(node, f"'{dotted}' is a group; name one of its attributes")
            raise self.fail(node, f"unknown name '{dotted}'")
        return Node("slot", (found[0],), found[1])

    def _holder(self, node: ast.Attribute, parts: list[str]) -> Node:
        """``office.holder.attribute``: a gather over the holder's slot (chains allowed)."""
        segments: list[list[str]] = [[]]
        for part in parts:
            if part == HOLDER:
                segments.append([])
            else:
                segments[-1].append(part)
        if any(not segment for segment in segments):
            raise self.fail(node, "write OFFICE.holder.ATTRIBUTE (e.g. ruler.holder.power)")
        office_name = ".".join(segments[0])
        found = self.ns.slot(office_name)
        if found is None:
            raise self.fail(node, f"unknown name '{office_name}'")
        code = Node("slot", (found[0],), found[1])
        domain = self.ns.actor_domain()
        reached = office_name
        for segment in segments[1:]:
            if code.type != domain:
                raise self.fail(node, f"'{reached}' is not an office (a categorical of actors)")
            attribute = ".".join(segment)
            table = self.ns.gather(attribute)
            if isinstance(table, str):
                raise self.fail(node, table)
            slots, value_type = table
            code = gather(code, slots, (0.0,) * len(slots), value_type)
            reached = f"{reached}.holder.{attribute}"
        return code

    def _unary(self, node: ast.UnaryOp, expect: Categorical | None) -> Node:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            self._need(node.operand, operand, BOOL, "'not'")
            return Node("not", (operand,), BOOL)
        if isinstance(node.op, ast.USub | ast.UAdd):
            operand = self._numeric(node.operand, operand, "a sign")
            return Node("neg", (operand,), NUM) if isinstance(node.op, ast.USub) else operand
        raise self.fail(node, "operator '~' is not allowed")

    _BINARY: ClassVar[dict[type[ast.operator], str]] = {
        ast.Add: "add",
        ast.Sub: "sub",
        ast.Mult: "mul",
        ast.Div: "div",
        ast.Mod: "mod",
    }

    def _binary(self, node: ast.BinOp, expect: Categorical | None) -> Node:
        op = self._BINARY.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        left = self._numeric(node.left, self.visit(node.left), "arithmetic")
        right = self._numeric(node.right, self.visit(node.right), "arithmetic")
        return Node(op, (left, right), NUM)

    def _boolean(self, node: ast.BoolOp, expect: Categorical | None) -> Node:
        values = [self.visit(v) for v in node.values]
        word = "and" if isinstance(node.op, ast.And) else "or"
        for child, value in zip(node.values, values, strict=True):
            self._need(child, value, BOOL, f"'{word}'")
        return Node(word, tuple(values), BOOL)

    _COMPARE: ClassVar[dict[type[ast.cmpop], str]] = {
        ast.Lt: "lt",
        ast.LtE: "le",
        ast.Gt: "gt",
        ast.GtE: "ge",
        ast.Eq: "eq",
        ast.NotEq: "ne",
    }

    def _compare(self, node: ast.Compare, expect: Categorical | None) -> Node:
        pairs: list[Node] = []
        left_ast = node.left
        for op_ast, right_ast in zip(node.ops, node.comparators, strict=True):
            op = self._COMPARE.get(type(op_ast))
            if op is None:
                raise self.fail(node, f"comparison {type(op_ast).__name__} is not allowed")
            pairs.append(self._compare_pair(node, op, left_ast, right_ast))
            left_ast = right_ast
        return pairs[0] if len(pairs) == 1 else Node("and", tuple(pairs), BOOL)

    def _compare_pair(
        self, node: ast.AST, op: str, left_ast: ast.expr, right_ast: ast.expr
    ) -> Node:
        left = self._try_visit(left_ast)
        right = self.visit(right_ast, left.type if left and _is_cat(left.type) else None)
        if left is None or (left.type == STR and _is_cat(right.type)):
            assert isinstance(right.type, Categorical) or left is None
            left = self.visit(left_ast, right.type if _is_cat(right.type) else None)
        if _is_cat(left.type) or _is_cat(right.type):
            if op not in ("eq", "ne"):
                raise self.fail(node, "categories can only be compared with == or !=")
            if left.type != right.type:
                raise self.fail(node, "compared categoricals must have the same categories")
            return Node(op, (left, right), BOOL)
        left = self._numeric(left_ast, left, "a comparison")
        right = self._numeric(right_ast, right, "a comparison")
        return Node(op, (left, right), BOOL)

    def _try_visit(self, node: ast.expr) -> Node | None:
        """Visit a comparison operand that may be a bare category name awaiting its type."""
        if isinstance(node, ast.Name) and self._is_undeclared(node):
            return None
        return self.visit(node)

    def _is_undeclared(self, node: ast.Name) -> bool:
        """Whether a bare name is none of: a date token, a keyword-like name, a declared one.

        Only the masked date tokens (found by position, not by their spelling) are dates: a
        name such as ``Dissent`` is an ordinary name and may be a category awaiting its type.
        """
        name = node.id
        if (node.lineno, node.col_offset) in self.date_marks:
            return False
        if name in ("month", "true", "True", "false", "False"):
            return False
        return self.ns.slot(name) is None and self.ns.derived(name) is None

    def _if_else(self, node: ast.IfExp, expect: Categorical | None) -> Node:
        test = self.visit(node.test)
        self._need(node.test, test, BOOL, "the condition of 'if'")
        body = self.visit(node.body, expect)
        orelse = self.visit(node.orelse, _cat_or(body.type, expect))
        if _is_cat(orelse.type) and not _is_cat(body.type):
            body = self.visit(node.body, orelse.type)  # type: ignore[arg-type]
        if body.type == orelse.type and body.type != STR:
            return Node("if", (test, body, orelse), body.type)
        if {body.type, orelse.type} <= {NUM, BOOL}:
            return Node("if", (test, as_number(body), as_number(orelse)), NUM)
        raise self.fail(node, "both branches of 'if' must have the same type")

    def _call(self, node: ast.Call, expect: Categorical | None) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise self.fail(node, f"only these functions may be called: {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "functions take plain positional arguments only")
        name = node.func.id
        if name in ("fired", "months_since", "chose"):
            return self._event_call(node, name)
        args = [self._numeric(a, self.visit(a), f"{name}()") for a in node.args]
        arity = {"clip": (3, 3), "abs": (1, 1), "logistic": (1, 1)}.get(name, (2, 16))
        if not arity[0] <= len(args) <= arity[1]:
            raise self.fail(node, f"{name}() takes {_arity_text(arity)} arguments, not {len(args)}")
        return Node(name, tuple(args), NUM)

    def _event_call(self, node: ast.Call, name: str) -> Node:
        want = 2 if name == "chose" else 1
        texts = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if (
            len(node.args) != want
            or not all(isinstance(t, str) for t in texts)
            or len(texts) != want
        ):
            quoted = '"event", "option"' if want == 2 else '"event"'
            raise self.fail(node, f"{name}() takes {quoted} as quoted text")
        event_name = str(texts[0])
        event = self.ns.event(event_name)
        if event is None:
            raise self.fail(node.args[0], f"unknown event '{event_name}'")
        if name == "fired":
            return Node("fired", (event,), BOOL)
        if name == "months_since":
            return Node("since", (event,), NUM)
        option_name = str(texts[1])
        option = self.ns.option(event, option_name)
        if option is None:
            raise self.fail(node.args[1], f"event '{event_name}' has no option '{option_name}'")
        return Node("chose", (event, option), BOOL)

    def _numeric(self, source: ast.AST, node: Node, where: str) -> Node:
        if node.type not in (NUM, BOOL):
            raise self.fail(source, f"{where} needs numbers, not a {type_name(node.type)}")
        return as_number(node)

    def _need(self, source: ast.AST, node: Node, wanted: str, where: str) -> None:
        if node.type != wanted:
            raise self.fail(
                source, f"{where} needs a {type_name(wanted)}, not a {type_name(node.type)}"
            )


def _is_cat(value_type: ValueType) -> TypeGuard[Categorical]:
    return isinstance(value_type, Categorical)


def _cat_or(value_type: ValueType, fallback: Categorical | None) -> Categorical | None:
    return value_type if isinstance(value_type, Categorical) else fallback


def _arity_text(arity: tuple[int, int]) -> str:
    return str(arity[0]) if arity[0] == arity[1] else f"{arity[0]} or more"


def _describe(node: ast.AST) -> str:
    names = {
        ast.Lambda: "a lambda",
        ast.Subscript: "indexing",
        ast.ListComp: "a comprehension",
        ast.NamedExpr: "assignment",
        ast.JoinedStr: "an f-string",
        ast.List: "a list",
        ast.Tuple: "a tuple",
        ast.Dict: "a dict",
        ast.Await: "await",
        ast.Starred: "unpacking",
    }
    return names.get(type(node), f"'{type(node).__name__}'")


def _refuse_dunder(compiler: _Compiler, node: ast.AST, name: str) -> None:
    if name.startswith("__") or name.startswith("_"):
        raise compiler.fail(node, f"name '{name}' is not allowed (no names starting with '_')")


def compile_expression(
    source: str | float | bool, namespace: Namespace, expect: Categorical | None = None
) -> Node:
    """Compile expression text into a typed tree, or raise ExpressionError with its position.

    ``expect`` gives the categories a bare name may stand for (the target of an assignment).
    """
    if isinstance(source, bool):
        return const(source, BOOL)
    if isinstance(source, int | float):
        return _compile_text(repr(float(source)), namespace, expect)
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text, a number or a boolean")
    return _compile_text(source, namespace, expect)


def _compile_text(source: str, namespace: Namespace, expect: Categorical | None) -> Node:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
    if not source.strip():
        raise ExpressionError("expression is empty")
    # One line, wrapped in parentheses, so that indentation and line breaks never matter; columns
    # below are shifted back by the opening parenthesis and mapped onto the original lines.
    masked, marks = mask_dates(source.replace("\n", " ").replace("\r", " "))
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal": the error says enough
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse("(" + masked + ")", mode="eval")
        compiler = _Compiler(namespace, {(1, col + 1) for _line, col in marks})
        return compiler.visit(tree, expect)
    except SyntaxError as error:
        raise _located(source, f"syntax error: {error.msg}", (error.offset or 1) - 1) from None
    except ExpressionError as error:
        raise _located(source, error.message, error.col - 1) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("expression cannot be parsed") from None


def _located(source: str, message: str, col: int) -> ExpressionError:
    """Turn a 1-based column of the one-line form into a line and column of ``source``."""
    offset = max(0, min(col - 1, len(source)))
    line = source.count("\n", 0, offset) + 1
    return ExpressionError(message, line, offset - (source.rfind("\n", 0, offset) + 1) + 1)


def walk(node: Node) -> list[Node]:
    """Return every node of a tree, parents first."""
    found = [node]
    for arg in node.args:
        if isinstance(arg, Node):
            found.extend(walk(arg))
    return found


def referenced_names(source: str | float | bool) -> set[str]:
    """Return the bare names an expression mentions (nothing for text that does not parse).

    Used to order derived quantities before compiling them; errors are reported by the compiler.
    """
    if not isinstance(source, str) or len(source) > MAX_LENGTH:
        return set()
    masked, _marks = mask_dates(source.replace("\n", " ").replace("\r", " "))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse("(" + masked + ")", mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
