"""Hostile scenario folders for fuzzing: Hypothesis strategies, and a sandbox to load them in.

``hostile_folders()`` draws a :class:`FolderSpec`: a scenario folder whose files are valid,
mutated or hostile YAML, plus special entries (symlink loops, links to ``/dev/zero`` and
``/dev/urandom`` and out of the folder, FIFOs, folders, sparse files over the size limit), and a
manifest whose ``posterior:`` may be absolute, climb out with ``..`` or name a CSV that is not
UTF-8, holds NaN, or is malformed. Content generators cover every case of issue 12: long and
doubling derived chains, NaN, infinities and ``10**400`` in values and bounds, alias bombs, deep
nesting, huge duplicated values that end up in error messages, names starting with "D".

:class:`Sandbox` loads each folder (and simulates a few timelines of what loads) in a child
process (tests/hostile_child.py) and classifies the outcome: ``ok``, ``refused`` (a clear error),
``traceback``, ``hang`` (no answer within the timeout; the child is killed and replaced) or
``memory`` (its resident memory grew by more than the limit; killed and replaced). The timeout
counts the child's CPU seconds, so that a busy machine (other processes taking the cores) does not
pass for a runaway; a child that waits without computing (asleep, as on a blocking read) is caught
once it has slept ``wall_factor`` times the timeout; a child that is runnable but starved of a core
by other work counts neither. Every outcome also carries its wall seconds.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from scenario_strategies import draw_events_yaml

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
TESTBED = SRC / "kremlinology" / "scenarios" / "testbed"
OUTSIDE_NAME = "outside.yaml"  # written next to (not inside) every folder, for links to leave by

MANIFEST = "name: fuzz\nversion: 0.0.1\ntitle: A hostile scenario\nstart: 2000-01\nend: 2000-08\n"


@dataclass
class Entry:
    """One directory entry: ``kind`` is text, bytes, symlink, fifo, folder or sparse."""

    name: str
    kind: str
    payload: str | bytes | int = ""


@dataclass
class FolderSpec:
    """A scenario folder to write: its entries (the manifest among them) and a label."""

    entries: list[Entry] = field(default_factory=list)
    label: str = ""

    def write(self, folder: Path) -> Path:
        """Create the folder (which must not exist) with every entry; return it."""
        folder.mkdir(parents=True)
        (folder.parent / OUTSIDE_NAME).write_text("events: []\n", encoding="utf-8")
        for entry in self.entries:
            path = folder / entry.name
            path.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(path):
                continue  # two entries of one name: the first one stands
            if entry.kind == "text":
                path.write_text(str(entry.payload), encoding="utf-8")
            elif entry.kind == "bytes":
                path.write_bytes(bytes(entry.payload))  # type: ignore[arg-type]
            elif entry.kind == "symlink":
                path.symlink_to(str(entry.payload))
            elif entry.kind == "fifo":
                os.mkfifo(path)
            elif entry.kind == "folder":
                path.mkdir()
            elif entry.kind == "sparse":
                with open(path, "wb") as handle:
                    handle.truncate(int(entry.payload))
        return folder


# Strategies -------------------------------------------------------------------------------------

HOSTILE_TOKENS = [
    ".nan",
    ".inf",
    "-.inf",
    ".NaN",
    "1" + "0" * 400,
    "-1" + "0" * 400,
    "1e400",
    '"inf"',
    '"nan"',
    "*undefined",
    "&a x",
    "<<: *a",
    "[[[[[[",
    "{{{{",
    "!!python/object/apply:os.system ['true']",
    "!!binary AAAA",
    "? complex key",
    "'unterminated",
    '"\\xff"',
    "\t",
    "~",
    "0x7fffffffffffffffffff",
    "2000-13",
    "9999-99",
    "Dissent",
    "__import__('os')",
    "month ** 99999",
    "Dnope == mood",
    "mood == Dnope",
]


class _Drawer:
    """Lets a composite strategy's ``draw`` stand in for ``st.data()`` (with its labels)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def draw(self, strategy: st.SearchStrategy[object], label: str | None = None) -> object:
        return self._draw(strategy)


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few random line-level and character-level mutations."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        where = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "token", "cut", "swap", "indent"]))
        if action == "delete":
            del lines[where]
        elif action == "duplicate":
            lines.insert(where, lines[where])
        elif action == "token":
            line = lines[where]
            col = draw(st.integers(0, len(line)))
            lines[where] = line[:col] + draw(st.sampled_from(HOSTILE_TOKENS)) + line[col:]
        elif action == "cut":
            lines[where] = lines[where][: draw(st.integers(0, len(lines[where])))]
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[where], lines[other] = lines[other], lines[where]
        else:
            lines[where] = "  " + lines[where]
    return "\n".join(lines)


def derived_chain(length: int, doubling: bool) -> str:
    """A chain of derived values: each the one before plus a little, or doubling at each step."""
    lines = ["variables:", "  - {id: a, type: number, initial: 1}", "derived:"]
    lines.append('  - {id: d0, expr: "a"}')
    for i in range(1, length):
        expr = f"d{i - 1} + d{i - 1}" if doubling else f"d{i - 1} + 0.5"
        lines.append(f'  - {{id: d{i}, expr: "{expr}"}}')
    lines += [
        "events:",
        f'  - {{id: e0, label: grows, hazard: 0.5, effects: {{a: "clip(d{length - 1}, 0, 5)"}}}}',
        "outcomes:",
        f'  - {{id: o, label: last, expr: "d{length - 1}"}}',
    ]
    return "\n".join(lines) + "\n"


def numeric_edge(value: str, where: str) -> str:
    """A small valid scenario with one hostile number in the place named ``where``."""
    places = {
        "initial": f"variables:\n  - {{id: a, type: number, initial: {value}}}\n",
        "min": f"variables:\n  - {{id: a, type: number, initial: 0, min: {value}}}\n",
        "max": f"variables:\n  - {{id: a, type: number, initial: 0, max: {value}}}\n",
        "attribute": (
            "actors:\n  - id: k\n    name: K\n    kind: person\n    attributes:\n"
            f"      power: {{value: 0, min: 0, max: {value}}}\n"
        ),
        "attribute_value": (
            f"actors:\n  - id: k\n    name: K\n    kind: person\n    attributes:\n"
            f"      power: {value}\n"
        ),
        "prior": (f"parameters:\n  - id: p\n    prior: {{dist: uniform, low: 0, high: {value}}}\n"),
        "hazard": (f"events:\n  - id: e\n    label: e\n    hazard: {value}\n"),
        "tolerance": (
            "facts:\n  - id: f\n    month: 2000-02\n    label: f\n    condition: true\n"
            f"    tolerance: {value}\n"
        ),
    }
    return places[where]


def alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def duplicated_value(size: int, copies: int) -> str:
    """One huge value, repeated by an alias into many places where an id is expected."""
    big = "Z" * size
    lines = ["actors:", f"  - id: &big {big}", "    name: first", "    kind: person"]
    for i in range(copies):
        lines += ["  - id: *big", f"    name: n{i}", "    kind: person"]
    return "\n".join(lines) + "\n"


def d_names(left: bool) -> str:
    """A categorical compared with a name starting with "D" that is not one of its values."""
    expr = "Dissent == mood" if left else "mood == Dissent"
    return (
        "variables:\n  - {id: mood, type: categorical, values: [calm, angry], initial: calm}\n"
        f'outcomes:\n  - {{id: o, label: o, expr: "{expr}"}}\n'
    )


def many_items(count: int) -> str:
    lines = ["variables:"]
    lines += [f"  - {{id: v{i}, type: number, initial: 0}}" for i in range(count)]
    return "\n".join(lines) + "\n"


SPECIAL_TARGETS = [
    "/dev/zero",
    "/dev/urandom",
    "/dev/null",
    "/etc/hostname",
    "/etc/passwd",
    f"../{OUTSIDE_NAME}",
    "self",
    "loop_b.yaml",
    "nowhere.yaml",
    "world.yaml",
    "/proc/self/mem",
    "/proc/self/fd/0",
]


@st.composite
def special_entry(draw: st.DrawFn) -> Entry:
    """A link, a FIFO, a folder or a sparse huge file, named like a scenario file."""
    name = draw(st.sampled_from(["events.yaml", "loop.yaml", "extra.yml", "loop_a.yaml"]))
    kind = draw(st.sampled_from(["symlink", "symlink", "symlink", "fifo", "folder", "sparse"]))
    if kind == "symlink":
        target = draw(st.sampled_from(SPECIAL_TARGETS))
        return Entry(name, kind, name if target == "self" else target)
    if kind == "sparse":
        return Entry(name, kind, draw(st.sampled_from([8_000_001, 50_000_000, 10**10])))
    return Entry(name, kind)


POSTERIOR_PATHS = [
    "post.csv",
    "/etc/hostname",
    "../post.csv",
    "sub/../../post.csv",
    "fit/post.csv",
    "pipe.csv",
    "zero.csv",
    "",
    "  ",
    "C:\\post.csv",
    "loop.csv",
]

POSTERIOR_BODIES = [
    b"p\n0.25\n0.75\n",
    b"p1,cat\n0.5,x\n0.25,y\n",
    b"p1,cat\n0.5,x\n0.25,y\n",
    b"p1,cat\nnan,x\n",
    b"p1,cat\n0.5,z\n",
    b"p\n\xff\xfe\n",
    b"p\n0.5\n\xc3\x28\n",
    b"p\nnan\n",
    b"p\ninf\n0.5\n",
    b"p\n-inf\n",
    b"p\n1e400\n",
    b"p,q\n0.5\n",
    b"p\n0.5\x00\n",
    b"p\n" + b'"' + b"x" * 200_000 + b'"\n',
    b"",
    b"q\n0.5\n",
]


@st.composite
def posterior_entries(draw: st.DrawFn) -> tuple[str, list[Entry]]:
    """A ``posterior:`` line for the manifest and the entries it may name."""
    path = draw(st.sampled_from(POSTERIOR_PATHS))
    body = draw(st.sampled_from(POSTERIOR_BODIES))
    entries = [Entry("post.csv", "bytes", body), Entry("fit/post.csv", "bytes", body)]
    entries += [
        Entry("pipe.csv", "fifo"),
        Entry("zero.csv", "symlink", "/dev/zero"),
        Entry("loop.csv", "symlink", "loop.csv"),
    ]
    parameters = "parameters:\n  - id: p\n    prior: {dist: uniform, low: 0, high: 1}\n"
    entries.append(Entry("params.yaml", "text", parameters))
    return f"posterior: {json.dumps(path)}\n", entries


@st.composite
def content_text(draw: st.DrawFn) -> tuple[str, str]:
    """(label, YAML text) of one content file: valid, mutated, or one of the targeted cases."""
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "valid",
                "valid",
                "mutated",
                "mutated",
                "mutated_testbed",
                "chain",
                "doubling",
                "numeric",
                "alias_bomb",
                "nesting",
                "duplicated",
                "d_names",
                "many",
                "bytes",
            ]
        )
    )
    if kind in ("valid", "mutated"):
        text = draw_events_yaml(_Drawer(draw), max_events=4)  # type: ignore[arg-type]
        return kind, text if kind == "valid" else draw(mutated_text(text))
    if kind == "mutated_testbed":
        name = draw(st.sampled_from(["world.yaml", "events.yaml"]))
        return kind, draw(mutated_text((TESTBED / name).read_text(encoding="utf-8")))
    if kind in ("chain", "doubling"):
        length = draw(st.sampled_from([2, 40, 300, 1200, 2500] if kind == "chain" else [60, 200]))
        return f"{kind}{length}", derived_chain(length, kind == "doubling")
    if kind == "numeric":
        value = draw(
            st.sampled_from(
                [".nan", ".inf", "-.inf", "1" + "0" * 400, "1e400", '"inf"', '"nan"', "1e300"]
            )
        )
        where = draw(
            st.sampled_from(
                [
                    "initial",
                    "min",
                    "max",
                    "attribute",
                    "attribute_value",
                    "prior",
                    "hazard",
                    "tolerance",
                ]
            )
        )
        return f"numeric {where}={value[:8]}", numeric_edge(value, where)
    if kind == "alias_bomb":
        return kind, alias_bomb(draw(st.integers(3, 9)))
    if kind == "nesting":
        depth = draw(st.sampled_from([50, 150, 5000, 100_000]))
        opener = draw(st.sampled_from(["[", "{a: "]))
        return f"nesting{depth}", "x: " + opener * depth + "\n"
    if kind == "duplicated":
        return kind, duplicated_value(draw(st.sampled_from([1000, 100_000])), 50)
    if kind == "d_names":
        return kind, d_names(draw(st.booleans()))
    if kind == "many":
        return kind, many_items(draw(st.sampled_from([10, 1500, 30_000])))
    raw = draw(st.binary(max_size=200))
    return kind, raw.decode("latin-1")


@st.composite
def hostile_folders(draw: st.DrawFn) -> FolderSpec:
    """A whole hostile scenario folder (see the module docstring)."""
    spec = FolderSpec()
    manifest = MANIFEST
    labels = []
    if draw(st.integers(0, 9)) == 0:
        manifest = draw(mutated_text(manifest))
        labels.append("manifest")
    if draw(st.integers(0, 5)) == 0:
        line, entries = draw(posterior_entries())
        manifest += line
        spec.entries += entries
        labels.append("posterior " + line.strip())
    spec.entries.append(Entry("scenario.yaml", "text", manifest))
    for i in range(draw(st.sampled_from([1, 1, 1, 2]))):
        label, text = draw(content_text())
        labels.append(label)
        if label == "bytes":
            spec.entries.append(Entry(f"c{i}.yaml", "bytes", text.encode("latin-1")))
        else:
            spec.entries.append(Entry(f"c{i}.yaml", "text", text))
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):
        special = draw(special_entry())
        if special.name == "loop_a.yaml":
            spec.entries.append(Entry("loop_b.yaml", "symlink", "loop_a.yaml"))
        spec.entries.append(special)
        labels.append(f"{special.kind} {special.name} {special.payload}")
    spec.label = "; ".join(labels)
    return spec


# The sandbox ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # ok, refused, traceback, hang, memory
    detail: str
    seconds: float  # wall clock
    stage: str = ""
    longest: int = 0
    cpu_s: float = 0.0  # the child's CPU time on this folder


class Sandbox:
    """A child process that loads scenario folders one at a time, watched for hangs and memory."""

    def __init__(
        self,
        timeout_s: float = 10.0,
        memory_mb: float = 1024.0,
        run: bool = True,
        wall_factor: float = 6.0,
        child_script: Path | None = None,
    ):
        self.script = child_script or HERE / "hostile_child.py"
        self.timeout_s = timeout_s
        self.wall_s = timeout_s * wall_factor
        self.memory_bytes = int(memory_mb * 1024 * 1024)
        self.run = run
        self.child: subprocess.Popen[bytes] | None = None
        self.baseline = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
        env["KREMLINOLOGY_NO_CACHE"] = "1"
        child = subprocess.Popen(
            [sys.executable, str(self.script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.child = child
        self.baseline = 0
        return child

    def check(self, folder: Path) -> Outcome:
        """Load ``folder`` in the child; classify the outcome (see the module docstring)."""
        child = self.child if self.child is not None and self.child.poll() is None else None
        child = child or self._start()
        assert child.stdin is not None and child.stdout is not None
        started, cpu_before = time.monotonic(), _cpu_s(child.pid)
        waited, last = 0.0, started  # seconds the child slept (blocked) while we waited
        child.stdin.write((json.dumps({"folder": str(folder), "run": self.run}) + "\n").encode())
        child.stdin.flush()
        while True:
            ready, _, _ = select.select([child.stdout], [], [], 0.02)
            if ready:
                line = child.stdout.readline()
                seconds, cpu = time.monotonic() - started, _cpu_s(child.pid) - cpu_before
                if not line:
                    self._kill()
                    return Outcome("traceback", "the child process died", seconds, cpu_s=cpu)
                answer = json.loads(line)
                rss = _rss(child.pid)
                self.baseline = self.baseline or rss
                if cpu > self.timeout_s or waited > self.wall_s:
                    detail = f"answered after {cpu:.1f} s of CPU, {seconds:.1f} s wall"
                    return Outcome("hang", detail, seconds, cpu_s=cpu)
                return Outcome(
                    answer["kind"],
                    answer["detail"],
                    seconds,
                    answer.get("stage", ""),
                    int(answer.get("longest", 0)),
                    cpu,
                )
            now = time.monotonic()
            seconds, cpu = now - started, _cpu_s(child.pid) - cpu_before
            if _state(child.pid) in ("S", "D"):  # asleep: waiting for something, not computing
                waited += now - last
            last = now
            if cpu > self.timeout_s or waited > self.wall_s:
                self._kill()
                detail = (
                    f"no answer after {cpu:.1f} s of CPU, {seconds:.1f} s wall "
                    f"({waited:.1f} s of it waiting without computing)"
                )
                return Outcome("hang", detail, seconds, cpu_s=cpu)
            rss = _rss(child.pid)
            if self.baseline and rss - self.baseline > self.memory_bytes:
                self._kill()
                return Outcome("memory", f"resident memory grew to {rss / 2**20:,.0f} MiB", seconds)
            if not self.baseline and rss > 2 * self.memory_bytes:
                self._kill()
                return Outcome("memory", f"resident memory {rss / 2**20:,.0f} MiB", seconds)

    def _kill(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.wait()
            self.child = None

    def close(self) -> None:
        if self.child is not None and self.child.poll() is None:
            assert self.child.stdin is not None
            self.child.stdin.close()
            try:
                self.child.wait(5)
            except subprocess.TimeoutExpired:
                self._kill()
        self.child = None


def _state(pid: int) -> str:
    """A process's scheduler state (R running or runnable, S sleeping, D in I/O, ...)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _rss(pid: int) -> int:
    """Resident memory of a process in bytes (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def check_spec(sandbox: Sandbox, spec: FolderSpec, root: Path) -> Outcome:
    """Write ``spec`` under a fresh folder of ``root``, check it in the sandbox, remove it."""
    base = Path(_fresh(root))
    try:
        folder = spec.write(base / "scenario")
        return sandbox.check(folder)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _fresh(root: Path) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="hostile-", dir=root)
