"""Field types and bounds shared by the request schemas.

JSON numbers must arrive as JSON numbers: pydantic's lax mode would turn "5" into 5 and true into 1,
so a client's type mistake would silently train for one epoch. Integers that end up in a database
column are bounded by what the column holds, so an oversized one is a 422, not an overflow (500).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, Strict

DB_INT_MAX = 2**63 - 1  # BIGINT, and SQLite's INTEGER
INT32_MAX = 2**31 - 1  # INTEGER columns on PostgreSQL

Int = Annotated[int, Strict()]  # a JSON integer: neither "5", 5.0 nor true
Number = Annotated[float, Strict(), AllowInfNan(False)]  # a finite JSON number (integers too), neither "0.1" nor true
