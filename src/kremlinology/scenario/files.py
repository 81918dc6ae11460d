"""Reading the files of a scenario folder safely: regular files inside the folder, of bounded size.

A scenario folder may come from a stranger. Every file the loader reads goes through
:func:`read_file`, which

- resolves the path first (a symlink loop is an error, not a traceback) and, when a folder is
  given, refuses a path that resolves outside it (a symlink to ``/etc/passwd``, ``../x``);
- refuses anything but a regular file (a FIFO, which would block the reader forever; a device such
  as ``/dev/zero`` or ``/dev/urandom``, which never ends; a folder), looking before it opens and
  again on the opened file, so swapping the file in between gains nothing;
- refuses a file over :data:`~kremlinology.limits.MAX_FILE_BYTES` before reading it, and never
  reads more than that even if the file grows meanwhile.

:func:`decode` turns bytes into text with a positioned error (``file:line:col``) at the first byte
that is not UTF-8. :func:`inside` resolves a path written *in* a scenario (``posterior:``) within
the folder: absolute paths and ``..`` are refused. Every refusal is a :class:`ScenarioError`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from kremlinology.limits import MAX_FILE_BYTES, MAX_SCENARIO_FILES, shorten
from kremlinology.scenario.errors import Position, Problem, ScenarioError

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer
    | getattr(os, "O_NOFOLLOW", 0)  # the path is resolved already: a new link here is a swap
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def refuse(name: str, message: str, line: int = 1, col: int = 1) -> ScenarioError:
    """A ScenarioError of one problem at ``name:line:col``."""
    return ScenarioError([Problem(Position(name, line, col), message)])


def resolve(path: Path, folder: Path | None, name: str) -> Path:
    """Return the real path of ``path``; refuse loops, missing files, escapes from ``folder``."""
    try:
        real = Path(os.path.realpath(path, strict=True))
    except RuntimeError:  # pathlib's way of saying "symlink loop" on some versions
        raise refuse(name, "cannot read file: a symlink loop") from None
    except OSError as error:
        raise refuse(name, f"cannot read file: {_reason(error)}") from None
    if folder is not None:
        root = Path(os.path.realpath(folder))
        if real != root and root not in real.parents:
            raise refuse(name, "refused: the file links outside the scenario folder")
    return real


def read_file(
    path: Path, folder: Path | None = None, name: str | None = None, limit: int = MAX_FILE_BYTES
) -> bytes:
    """Return the bytes of a regular file of at most ``limit`` bytes (see the module docstring).

    ``folder``, when given, is the folder the file must resolve inside; ``name`` is how errors
    name the file (default: the path as given).
    """
    shown = name or str(path)
    real = resolve(path, folder, shown)
    try:
        _check_kind(os.stat(real).st_mode, shown)
        handle = os.open(real, _OPEN_FLAGS)
    except OSError as error:
        raise refuse(shown, f"cannot read file: {_reason(error)}") from None
    try:
        info = os.fstat(handle)
        _check_kind(info.st_mode, shown)
        _check_size(info.st_size, limit, shown)
        data = _read_at_most(handle, limit + 1, shown)
    finally:
        os.close(handle)
    _check_size(len(data), limit, shown)
    return data


def _read_at_most(handle: int, most: int, name: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < most:
        try:
            chunk = os.read(handle, min(1 << 20, most - total))
        except OSError as error:
            raise refuse(name, f"cannot read file: {_reason(error)}") from None
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _check_kind(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    kind = next((text for test, text in kinds if test(mode)), "not a regular file")
    raise refuse(name, f"refused: {kind}, not a regular file")


def _check_size(size: int, limit: int, name: str) -> None:
    if size > limit:
        raise refuse(name, f"file is larger than {_megabytes(limit)} (the most a scenario reads)")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:g} MB" if size >= 100_000 else f"{size:,} bytes"


def _reason(error: OSError) -> str:
    if error.strerror:
        return error.strerror.lower() if error.strerror[:1].isupper() else error.strerror
    return type(error).__name__


def decode(raw: bytes, name: str) -> str:
    """Return ``raw`` as UTF-8 text; raise ScenarioError at the line and column of the first bad
    byte (the column counts characters, as an editor does)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
        line_start = raw.rfind(b"\n", 0, start) + 1
        line = raw.count(b"\n", 0, start) + 1
        col = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        message = f"file is not UTF-8 text (byte 0x{raw[start]:02x} at offset {start:,})"
        raise refuse(name, message, line, col) from None


def read_text(
    path: Path, folder: Path | None = None, name: str | None = None, limit: int = MAX_FILE_BYTES
) -> str:
    """:func:`read_file` then :func:`decode`."""
    return decode(read_file(path, folder, name, limit), name or str(path))


def inside(folder: Path, written: str, position: Position) -> Path:
    """Return the path a scenario names (``posterior: fit/samples.csv``) inside ``folder``.

    The path must be relative and may not climb out with ``..``; errors are at ``position``
    (where the path is written). Links leaving the folder are refused when the file is read.
    """
    shown = shorten(repr(written))
    problem = None
    if not written.strip():
        problem = "the path is empty"
    elif PurePosixPath(written).is_absolute() or PureWindowsPath(written).is_absolute():
        problem = f"{shown} is an absolute path; name a file inside the scenario folder"
    elif ".." in PurePosixPath(written.replace("\\", "/")).parts:
        problem = f"{shown} climbs out of the scenario folder ('..')"
    elif "\0" in written:
        problem = f"{shown} is not a file name"
    if problem is not None:
        raise ScenarioError([Problem(position, problem)])
    return folder / written


def yaml_files(folder: Path, manifest: str) -> list[Path]:
    """The scenario's content files: ``*.yaml`` and ``*.yml`` but the manifest, sorted by name.

    Every name is listed (a FIFO or a link is refused when read, with its name); a folder holding
    more than MAX_SCENARIO_FILES of them is refused.
    """
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(folder)
            if entry.name.endswith((".yaml", ".yml")) and entry.name != manifest
        )
    except OSError as error:
        raise refuse(str(folder), f"cannot list the scenario folder: {_reason(error)}") from None
    if len(names) > MAX_SCENARIO_FILES:
        raise refuse(
            str(folder / manifest),
            f"the scenario folder holds {len(names):,} YAML files (at most {MAX_SCENARIO_FILES})",
        )
    return [folder / n for n in names]


def fingerprint(folder: Path) -> str:
    """A hash of every file in ``folder`` that the loader could read, safely.

    Each entry contributes its name; a regular file inside the folder of at most MAX_FILE_BYTES
    also its bytes, anything else (a link out, a FIFO, a device, a huge file) only its kind and
    size, so computing the fingerprint never blocks, never reads outside and stays bounded.
    """
    digest = hashlib.sha256()
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return digest.hexdigest()
    for entry in entries[: MAX_SCENARIO_FILES * 2]:
        digest.update(entry.name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            digest.update(read_file(Path(entry.path), folder) + b"\0")
        except ScenarioError as error:
            digest.update(str(error).encode("utf-8", "replace") + b"\1")
    return digest.hexdigest()
