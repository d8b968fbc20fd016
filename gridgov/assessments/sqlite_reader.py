"""A child process that reads a SQLite ledger through ADBC and sends Arrow back.

Why a child: ADBC's SQLite driver carries its own copy of the SQLite library. Two copies in
one process break SQLite's file locking (POSIX locks belong to the process, and one copy's
close() drops the locks the other holds), which showed as "disk I/O error" on the next write
of the process's own sqlite3 connection. In a child of its own, the copy is just another
reader of the file, as safe as any other process.

Protocol (stdin/stdout, binary): the parent writes one statement per line (JSON: the SQL, or
``{"sql": …, "kinds": […]}`` naming each column's kind, see ``prepared``); the
child answers each with an 8-byte little-endian zero and then an Arrow IPC stream of the
result (written straight to the pipe: no second copy of a big result in the child), or a
negative length and an error message. All statements run in one read transaction: one
snapshot. EOF on stdin ends the child.

Imports only pyarrow and the ADBC driver (fast start), never the rest of gridgov.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import IO, Any

BATCH_ROWS = "adbc.sqlite.query.batch_rows"


def serve(db: str, inp: IO[bytes], out: IO[bytes]) -> None:
    import adbc_driver_sqlite.dbapi as sqlite_dbapi
    import pyarrow as pa

    conn = sqlite_dbapi.connect(db)  # DB-API: autocommit off, so one transaction
    try:
        for line in inp:
            asked = json.loads(line)
            sql, kinds = (asked, []) if isinstance(asked, str) else (asked["sql"], asked["kinds"])
            try:
                with conn.cursor() as cur:
                    # ADBC's SQLite driver types each column by the values of its first batch
                    # and refuses a later value of another type (a text column whose first
                    # rows are NULL): one batch of all rows, typed by every value.
                    cur.adbc_statement.set_options(**{BATCH_ROWS: str(2**31 - 2)})
                    cur.execute(sql)
                    table = prepared(cur.fetch_arrow_table(), kinds)
            except Exception as e:  # any failure goes back to the parent, which says it
                msg = f"{type(e).__name__}: {e}".encode()
                out.write(struct.pack("<q", -len(msg)))
                out.write(msg)
            else:
                out.write(struct.pack("<q", 0))
                with pa.ipc.new_stream(out, table.schema) as writer:
                    writer.write_table(table)
                del table
            out.flush()
    finally:
        conn.close()


def prepared(table: Any, kinds: list[str]) -> Any:
    """Text columns made ready here, beside the parent's own work: a "cat" column
    dictionary-encoded (a few distinct values instead of a string per row through the pipe),
    a "time" column parsed as naive µs timestamps (the ledger's stored UTC text; a form
    Arrow's parser refuses is left as text, for the parent's own parser)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, kind in enumerate(kinds):
        col = table.column(i)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        if kind == "cat":
            col = pc.dictionary_encode(col)
        elif kind == "time":
            try:
                col = col.cast(pa.timestamp("us"))
            except pa.ArrowInvalid:
                continue
        else:
            continue
        table = table.set_column(i, table.field(i).name, col)
    return table


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
