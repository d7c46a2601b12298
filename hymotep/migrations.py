"""Production's tables and functions (requests, the job queue, the verdicts of gap queries): the stream of
``hymotep/sql/migrations/``, applied after the catalogue's by hygor's runner.

hesp 0.1 shipped its first three files in the catalogue's stream (as 0004, 0006 and 0007), and made the chain
versions' and periods' functions (now in 0002) in the catalogue's 0005: a database made then has the records
moved here and runs nothing again.
"""

from __future__ import annotations

from hygor.migrations import CATALOGUE, MigrationStream, Moved

PRODUCTION = MigrationStream(
    "hymotep",
    "hymotep.sql",
    moved={1: Moved("hygor", 4), 2: Moved("hygor", 6), 3: Moved("hygor", 7)},
    replaced={2: "c6d022f34bc8d0b5da8a31d4a2ac2e0608fb91b69d9aafd1cbf742b65ede777a"},
)
# What a production database holds: the catalogue, then production.
STREAMS = (CATALOGUE, PRODUCTION)
