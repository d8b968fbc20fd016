"""Bring history in (import from older case systems) and take the ledger out (export).

* ``mapping``        the YAML mapping file that says how a source's columns become case fields
* ``readers``        CSV / JSON Lines sources, read in chunks of text columns
* ``open311_source`` a GeoReport v2 server read by date windows (httpx)
* ``prepare``        one chunk of text rows → validated, normalised values + rejects
* ``rejects``        reject reasons and the reject file
* ``steps``          an imported row's trail: its steps and their events, as rows or as SQL
* ``case_rows``      a new imported case's ``cases`` row and clock fields
* ``changes``        a changed source row against its stored case: conflict or steps to append
* ``store``          reading and writing the ledger in bulk
* ``importer``       the import run: idempotent, chunked, all-or-nothing per row
* ``tables``         exported tables on disk (CSV / Parquet / XLSX) and back
* ``dictionary``     what every exported column means
* ``export``         a month of the ledger out, and ``load_export``
* ``offline``        the assessment's and audit's extracts from an export, without the ledger

See docs/exchange.md.
"""
