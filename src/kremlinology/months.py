"""Month arithmetic: a month is an integer ``year * 12 + month - 1``; text form ``YYYY-MM``."""

from __future__ import annotations

import re

MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
NEVER = -1
"""Stored fire month of an event that has not fired."""


class MonthFormatError(ValueError):
    """A text month that is not ``YYYY-MM`` with a month from 01 to 12."""


def parse_month(text: str) -> int:
    """Return the month number of ``YYYY-MM``; raise MonthFormatError otherwise."""
    match = MONTH_PATTERN.match(text.strip())
    if match is None:
        raise MonthFormatError(f"'{text}' is not a month; write YYYY-MM, e.g. 1956-10")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise MonthFormatError(f"'{text}' has month {month:02d}; months run from 01 to 12")
    return year * 12 + month - 1


def format_month(month: int) -> str:
    """Return ``YYYY-MM`` for a month number."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def month_words(month: int) -> str:
    """Return a month in words, e.g. ``June 1953``."""
    return f"{MONTH_NAMES[month % 12]} {month // 12}"
