"""Raw JSON bodies and the number arrays inside them, checked once for every route that reads them
itself (/v1 predict, OIP v2 infer, explain): 422 naming what was wrong, never an exception that
escapes as a 500.

`numeric_array` keeps numpy's fast conversion for the usual case (a rectangular list of numbers) and
looks at single values only when numpy could not make numbers of them (strings, booleans, null,
integers beyond float64) or when the body may hold `true`/`false` (numpy turns a boolean among
numbers into 1.0 silently).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from .errors import ApiError, brief

FLOAT64_MAX = sys.float_info.max


def loads_json(body: bytes, expected: str) -> Any:
    """json.loads of a request body; 422 for invalid JSON or nesting too deep for the parser."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ApiError(422, f"invalid request: the JSON body is nested too deeply; expected {expected}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"invalid request: the body is not valid JSON ({exc}); expected {expected}") from None


def may_hold_booleans(body: bytes) -> bool:
    """Whether a JSON body can contain `true` or `false` (a substring test in C: no parse, no walk)."""
    return b"true" in body or b"false" in body


def _leaves(value: Any):
    """Every non-list value of a nested list, depth first, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            yield item


def _problem(value: Any, allow_null: bool) -> str | None:
    """What makes the first offending value of `value` not a number, or None when every value is one."""
    for leaf in _leaves(value):
        if isinstance(leaf, bool):
            return f"found a boolean, {json.dumps(leaf)}"
        if isinstance(leaf, str):
            return f"found a string, {leaf[:40]!r}"
        if leaf is None:
            if not allow_null:
                return "found null"
            continue
        if isinstance(leaf, int):
            if abs(leaf) > FLOAT64_MAX:
                return "found an integer too large for a float, beyond 1.8e308"
            continue
        if not isinstance(leaf, float):
            return f"found a {type(leaf).__name__} where a number belongs"
    return None


def reject_booleans(value: Any, what: str, expected: str) -> None:
    """422 when a nested list holds true/false (numpy would have read them as 1.0 and 0.0)."""
    for leaf in _leaves(value):
        if isinstance(leaf, bool):
            raise ApiError(422, f"{what}: not a rectangular array of numbers (found a boolean, {json.dumps(leaf)}); {expected}")


def reject_non_booleans(value: Any, what: str, expected: str) -> None:
    """422 unless every value of a nested list is true or false (numpy would read "x" or 7 as True)."""
    for leaf in _leaves(value):
        if not isinstance(leaf, bool):
            raise ApiError(422, f"{what}: not an array of booleans (found {brief(leaf)}); {expected}")


def numeric_array(value: Any, what: str, expected: str, *, allow_null: bool = True,
                  check_booleans: bool = True) -> np.ndarray:
    """A nested JSON list -> float64 array (null -> NaN when allowed), or 422 naming what was wrong.

    `what` names the field ("instances"), `expected` the shape and type wanted. Pass
    check_booleans=False when the raw body cannot hold a boolean (see may_hold_booleans)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, f"{what}: not a rectangular array of numbers; {expected}") from None
    if arr.dtype.kind in "iuf":
        problem = _problem(value, allow_null) if check_booleans else None
    else:  # strings, booleans, null, ints beyond int64, ragged objects: say which
        problem = _problem(value, allow_null) or (None if arr.dtype.kind == "O" else f"found {arr.dtype} values")
    if problem is not None:
        raise ApiError(422, f"{what}: not a rectangular array of numbers ({problem}); {expected}")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, f"{what}: not a rectangular array of numbers; {expected}") from None
