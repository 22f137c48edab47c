"""Clock times such as 00:01:23, 1:23, 00:01:23.5 or 00:01:23,500 (SRT style)."""

from __future__ import annotations

import re

# hh:mm:ss(.fff), mm:ss(.fff); a decimal comma is accepted as SRT writes it.
_CLOCK = re.compile(r"^\s*(?:(\d{1,3}):)?(\d{1,3}):(\d{1,3})(?:[.,](\d+))?\s*$")
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


class TimestampError(ValueError):
    """A string that looks like a clock time but is not a valid one."""


def parse_clock(value: str) -> tuple[float, bool]:
    """Return (seconds, standard) for a clock time.

    `standard` is False for readable but irregular forms, such as the
    three-digit seconds field in "00:09:025", which callers report as a warning.
    Raises TimestampError for anything that is not a valid time.
    """
    match = _CLOCK.match(value)
    if match is None:
        seconds = _SECONDS.match(value)
        if seconds is None:
            raise TimestampError(f"'{value}' is not a time (expected hh:mm:ss, mm:ss or seconds)")
        return float(seconds.group(1)), True
    hours_s, minutes_s, seconds_s, fraction_s = match.groups()
    hours = int(hours_s) if hours_s is not None else 0
    minutes, seconds = int(minutes_s), int(seconds_s)
    if hours_s is not None and minutes >= 60:
        raise TimestampError(f"'{value}' has {minutes} minutes (at most 59)")
    if seconds >= 60:
        raise TimestampError(f"'{value}' has {seconds} seconds (at most 59)")
    standard = len(seconds_s) == 2 and (hours_s is None or len(minutes_s) == 2)
    total = hours * 3600 + minutes * 60 + seconds
    if fraction_s:
        total += int(fraction_s) / 10 ** len(fraction_s)
    return float(total), standard

