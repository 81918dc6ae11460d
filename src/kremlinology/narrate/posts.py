"""Forum BBCode cut into posts that a forum accepts: numbered, each at most a given size.

A post is cut only between lines, never inside one (a line is one heading, list item or chronicle
entry). Block tags that are open at a cut (``[list]``, ``[spoiler=...]``, ``[quote]``) are closed
at the end of that post and opened again at the start of the next one, a spoiler with
``(continued)`` after its title, so every post is balanced BBCode on its own. Every post starts
with its number (``post 2 of 7``). Sizes are counted in characters, as forums count them.
"""

from __future__ import annotations

import re

DEFAULT_POST_SIZE = 10_000
MIN_POST_SIZE = 2_000
MAX_POST_SIZE = 200_000
"""The largest post the big alternate-history forum accepts."""

_BLOCK = re.compile(r"\[(/?)(list|spoiler|quote)(=[^\]]*)?\]")


class PostSizeError(ValueError):
    """A post size out of range, or a line that cannot fit in a post of that size."""


def check_post_size(size: int) -> int:
    """Return ``size`` when it is a whole number of characters in range, else raise."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise PostSizeError(f"the post size must be a whole number of characters, not {size!r}")
    if not MIN_POST_SIZE <= size <= MAX_POST_SIZE:
        raise PostSizeError(
            f"the post size must be between {MIN_POST_SIZE:,} and {MAX_POST_SIZE:,} characters, "
            f"not {size:,}"
        )
    return size


def _opened(stack: list[str], line: str) -> list[str]:
    """The block tags open after ``line`` (openers as written), given those open before it."""
    stack = list(stack)
    for match in _BLOCK.finditer(line):
        if match.group(1):
            for k in range(len(stack) - 1, -1, -1):
                if stack[k].startswith(f"[{match.group(2)}"):
                    del stack[k:]
                    break
        else:
            stack.append(match.group(0))
    return stack


def _closers(stack: list[str]) -> list[str]:
    return [f"[/{_BLOCK.match(tag).group(2)}]" for tag in reversed(stack)]  # type: ignore[union-attr]


def _reopen(tag: str) -> str:
    match = _BLOCK.match(tag)
    assert match is not None
    if match.group(2) == "spoiler" and match.group(3):
        return f"[spoiler={match.group(3)[1:]} (continued)]"
    return tag


def _header(title: str, number: int, total: int) -> str:
    return f"[b]{title}: post {number} of {total}[/b]"


def split_posts(text: str, size: int = DEFAULT_POST_SIZE, title: str = "Report") -> list[str]:
    """Cut BBCode ``text`` into numbered posts of at most ``size`` characters each.

    Raises PostSizeError for a size out of range, or when one line (with the header and the tags
    it must reopen and close) does not fit in a post.
    """
    check_post_size(size)
    lines = text.rstrip("\n").split("\n")
    widest = len(_header(title, 999, 999)) + 1
    budget = size - widest - 1  # the header line, and the newline that ends the post
    posts: list[list[str]] = []
    current: list[str] = []
    length = 0  # characters of "\n".join(current)
    stack: list[str] = []
    fresh = True  # the current post holds only reopened tags

    def cost(line: str, after: list[str]) -> int:
        grown = length + len(line) + (1 if current else 0)
        return grown + sum(len(c) + 1 for c in _closers(after))

    for line in lines:
        after = _opened(stack, line)
        if cost(line, after) > budget and not fresh:
            posts.append([*current, *_closers(stack)])
            current = [_reopen(tag) for tag in stack]
            length = len("\n".join(current))
            fresh = True
        if cost(line, after) > budget:
            raise PostSizeError(
                f"a line of {len(line):,} characters does not fit in a post of {size:,}"
            )
        length += len(line) + (1 if current else 0)
        current.append(line)
        stack = after
        fresh = fresh and not line.strip()
    if current and any(x.strip() for x in current):
        posts.append([*current, *_closers(stack)])
    total = len(posts)
    return [
        "\n".join([_header(title, k, total), *_trim(body)]) + "\n"
        for k, body in enumerate(posts, 1)
    ]


def _trim(lines: list[str]) -> list[str]:
    """Drop blank lines at either end of a post's body."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]
