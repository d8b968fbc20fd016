"""Sources of rows: CSV (any delimiter and encoding) and JSON Lines, read in chunks.

Every source hands on chunks of text columns named by the mapping's canonical fields (``id``,
``created`` …; "" where a value is missing) with each row's line number, so a reject names
the line. CSV is parsed by pandas' C reader (the fastest here); its line number is the data
row's number counting the header as line 1, which is the physical line unless a quoted value
spans lines. JSON Lines numbers are physical lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain.errors import InvalidInput
from gridgov.exchange.mapping import Mapping

Lines = npt.NDArray[np.int64]


def object_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame that keeps object columns as Python objects (pandas would otherwise make
    Arrow-backed strings of them, which every later step copies back)."""
    return pd.DataFrame(
        {k: pd.Series(v, dtype=object) if _objects(v) else v for k, v in columns.items()}
    )


def _objects(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.dtype == object


@dataclass
class Chunk:
    frame: pd.DataFrame  # canonical field → str column ("" = missing), RangeIndex
    lines: Lines  # source line (or record number) of each row
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # (line, why)


@dataclass(frozen=True)
class Scan:
    """A first cheap pass: how many records, and which ids occur more than once."""

    total: int
    repeated: frozenset[str]


class RowSource(Protocol):
    def scan(self) -> Scan: ...

    def chunks(self, size: int) -> Iterator[Chunk]: ...


def _repeated(ids: Iterable[str]) -> frozenset[str]:
    s = pd.Series(list(ids) if not isinstance(ids, pd.Series) else ids, dtype=object)
    s = s.astype(str).str.strip()
    return frozenset(s[s.duplicated(keep=False) & (s != "")].tolist())


class CsvSource:
    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.used = mapping.columns.used()
        opts = mapping.csv
        self._kw: dict[str, Any] = {
            "sep": opts.delimiter,
            "quotechar": opts.quotechar,
            "encoding": opts.encoding,
            "dtype": object,  # plain Python strings: the cheapest form for what follows
            "keep_default_na": False,
            "na_filter": False,
            "engine": "c",
        }
        self._names = self._header()

    def _read(self, **kw: Any) -> Any:
        try:
            return pd.read_csv(self.path, **self._kw, **kw)
        except FileNotFoundError as exc:
            raise InvalidInput(f"no file {self.path}", field="file") from exc
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{self.path.name} is not valid {self.mapping.csv.encoding}: {exc.reason} "
                f"at byte {exc.start}; set csv.encoding in the mapping",
                field="csv.encoding",
            ) from exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InvalidInput(f"{self.path.name}: cannot parse CSV: {exc}", field="file") from exc

    def _header(self) -> dict[str, str]:
        """source column → the file's own header spelling (BOM and blanks trimmed)."""
        header = self._read(nrows=0)
        actual = {str(c).lstrip("\ufeff").strip(): str(c) for c in header.columns}
        missing = [c for c in self.used.values() if c not in actual]
        if missing:
            raise InvalidInput(
                f"{self.path.name}: no column {missing[0]!r} (mapped in columns); "
                f"the file has: {', '.join(actual)}",
                field="columns",
            )
        return actual

    def scan(self) -> Scan:
        ids = self._read(usecols=[self._names[self.used["id"]]]).iloc[:, 0]
        return Scan(len(ids), _repeated(ids))

    def chunks(self, size: int) -> Iterator[Chunk]:
        cols = {self._names[c]: f for f, c in self.used.items()}
        extra = (
            {k: v for k, v in self._names.items() if v not in cols}
            if self.mapping.keep_unmapped
            else {}
        )
        first_line = 2  # line 1 is the header
        with self._read(usecols=[*cols, *extra.values()], chunksize=size) as reader:
            for raw in reader:
                frame = object_frame({f: raw[c].to_numpy(dtype=object) for c, f in cols.items()})
                if extra:
                    frame["attributes"] = attributes(
                        {name: raw[c].tolist() for name, c in extra.items()}, len(frame)
                    )
                lines = np.arange(first_line, first_line + len(frame), dtype=np.int64)
                first_line += len(frame)
                yield Chunk(frame, lines)


def attributes(columns: dict[str, list[Any]], n: int) -> npt.NDArray[Any]:
    """Per row: JSON text of the non-empty unmapped values (``""`` when there are none)."""
    out = np.full(n, "", dtype=object)
    for i in range(n):
        kept = {k: str(v[i]).strip() for k, v in columns.items() if str(v[i]).strip()}
        if kept:
            out[i] = json.dumps(kept, ensure_ascii=False)
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _get(record: dict[str, Any], path: str) -> Any:
    """``record[path]``, or a dotted path into nested objects when no such key exists."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


Record = tuple[int, dict[str, Any] | str]  # (line, record) or (line, why it is unreadable)


class RecordSource:
    """Records already parsed (JSON objects); ``records`` is re-iterable."""

    def __init__(self, records: Iterable[Record], mapping: Mapping) -> None:
        self.records = records
        self.used = mapping.columns.used()
        self.keep_unmapped = mapping.keep_unmapped

    def scan(self) -> Scan:
        total = 0
        ids: list[str] = []
        for _, rec in self.records:
            total += 1
            if isinstance(rec, dict):
                ids.append(_text(_get(rec, self.used["id"])))
        return Scan(total, _repeated(ids))

    def chunks(self, size: int) -> Iterator[Chunk]:
        batch: list[Record] = []
        for item in self.records:
            batch.append(item)
            if len(batch) == size:
                yield self._chunk(batch)
                batch = []
        if batch:
            yield self._chunk(batch)

    def _chunk(self, batch: list[Record]) -> Chunk:
        good = [(line, rec) for line, rec in batch if isinstance(rec, dict)]
        bad = [(line, rec) for line, rec in batch if isinstance(rec, str)]
        frame = object_frame(
            {
                f: np.array([_text(_get(r, c)) for _, r in good], dtype=object)
                for f, c in self.used.items()
            }
        )
        if self.keep_unmapped:
            mapped = {c.split(".")[0] for c in self.used.values()}
            frame["attributes"] = np.array(
                [
                    json.dumps(kept, ensure_ascii=False)
                    if (kept := {k: _text(v) for k, v in r.items() if k not in mapped and _text(v)})
                    else ""
                    for _, r in good
                ],
                dtype=object,
            )
        lines = np.array([line for line, _ in good], dtype=np.int64)
        return Chunk(frame, lines, bad)


class _JsonLines:
    """Re-iterable (line, record) pairs of a JSON Lines file; blank lines are skipped."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.path, self.encoding = path, encoding

    def __iter__(self) -> Iterator[Record]:
        try:
            with self.path.open(encoding=self.encoding) as fh:
                for n, text in enumerate(fh, start=1):
                    if not text.strip():
                        continue
                    try:
                        rec = json.loads(text.strip())
                    except json.JSONDecodeError as exc:
                        yield n, f"not JSON: {exc.msg} at column {exc.colno}"
                        continue
                    yield n, rec if isinstance(rec, dict) else "not a JSON object"
        except FileNotFoundError as exc:
            raise InvalidInput(f"no file {self.path}", field="file") from exc
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{self.path.name} is not valid {self.encoding}: {exc.reason}",
                field="csv.encoding",
            ) from exc


def json_lines(path: Path, mapping: Mapping) -> RecordSource:
    # utf-8-sig reads plain UTF-8 too and drops a BOM if there is one.
    enc = mapping.csv.encoding
    return RecordSource(_JsonLines(Path(path), "utf-8-sig" if enc == "utf-8" else enc), mapping)


def open_file(path: Path, mapping: Mapping) -> RowSource:
    if mapping.format == "csv":
        return CsvSource(path, mapping)
    if mapping.format == "jsonl":
        return json_lines(path, mapping)
    raise InvalidInput("format open311 reads from a server, not a file", field="format")
