"""Reading rows from JSONL, CSV or Parquet files, validating them, and accounting for rejects.

Every stage reads tabular records the same way: each row carries its location (file and line) so a
validation error can name file, line and field; with ``on_error="skip"`` bad rows go to a rejects
file with their reason, and the counts reconcile: read = kept + rejected.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, TypeVar

from moddistill.errors import UserError

log = logging.getLogger(__name__)
T = TypeVar("T")
ON_ERROR = ("raise", "skip")
ReadMode = Literal[ON_ERROR]  # stop at the first bad row, or set bad rows aside and go on


class RowError(UserError):
    """A row that cannot be used: names the file, the row's location, and the offending field."""

    def __init__(self, file: str | Path, location: str, field: str, reason: str):
        self.file, self.location, self.field, self.reason = str(file), location, field, reason
        super().__init__(f"{file}, {location}, field '{field}': {reason}")


class EmptyInputError(UserError):
    """An input file without a single row (accepted only where the caller says ``allow_empty``)."""


@dataclass
class ReadReport:
    """What a read did: ``read == kept + rejected`` always holds."""

    path: str
    read: int = 0
    kept: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{self.path}: read {self.read} rows, kept {self.kept}, rejected {self.rejected}"
        if self.rejected and self.rejects_path:
            text += f" (reasons in {self.rejects_path})"
        return text


@dataclass(frozen=True)
class Row:
    file: str
    location: str  # "line 12" for JSONL/CSV, "row 12" for Parquet
    data: Mapping[str, Any] | None  # None when the row itself could not be decoded
    decode_error: str | None = None

    def error(self, field: str, reason: str) -> RowError:
        return RowError(self.file, self.location, field, reason)


def record_id(row: Row) -> str:
    """The row's ``id`` as text (an integer id is accepted): every record type is keyed by it."""
    value = row.data.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise row.error("id", "missing" if value in (None, "") else f"expected a string id, got {value!r}")
    return str(value).strip()


def unique_ids(parse: Callable[[Row], T], what: str) -> Callable[[Row], T]:
    """``parse`` that refuses a row whose ``id`` an earlier row of the file already had (one ``what`` per id)."""
    seen: set[str] = set()

    def parse_unique(row: Row) -> T:
        record = parse(row)
        if record.id in seen:
            raise row.error("id", f"duplicate id {record.id!r} (one {what} per id)")
        seen.add(record.id)
        return record

    return parse_unique


def iter_rows(path: str | Path) -> Iterator[Row]:
    """Yield the rows of a .jsonl/.json, .csv or .parquet file with their locations."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        yield from _iter_jsonl(path)
    elif suffix in (".csv", ".parquet"):
        yield from _iter_datasets(path, suffix)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (use .jsonl, .csv or .parquet)")


def _iter_jsonl(path: Path) -> Iterator[Row]:
    # Read line by line rather than through `datasets`: its JSON loader fails the whole file on one
    # malformed line and loses line numbers, and we need both the line number and per-line skipping.
    # Bytes are decoded per line, so one line that is not UTF-8 is one bad row; a BOM and CRLF line ends
    # are accepted, blank lines skipped.
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"line {lineno}"
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield Row(str(path), where, None, _not_utf8(raw[e.start:e.start + 1]))
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                yield Row(str(path), where, None, f"malformed JSON: {e.msg}")
                continue
            except RecursionError:
                yield Row(str(path), where, None, "malformed JSON: nested too deeply")
                continue
            if not isinstance(data, dict):
                yield Row(str(path), where, None, f"expected a JSON object, got {type(data).__name__}")
                continue
            yield Row(str(path), where, data)


def _not_utf8(byte: bytes) -> str:
    return f"not UTF-8 text (a {byte!r} byte); re-save the file as UTF-8"


def _iter_datasets(path: Path, suffix: str) -> Iterator[Row]:
    try:
        import datasets
    except ImportError:
        raise UserError(f"{path}: reading {suffix} files needs the `datasets` package (pip install "
                        "'moddistill[train]'), or give the listings as .jsonl") from None

    if suffix == ".csv":
        raw = path.read_bytes()
        try:
            lines = raw.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError as e:  # a CSV row cannot be skipped reliably past bad bytes: the file is refused
            line = raw[:e.start].count(b"\n") + 1
            raise RowError(path, f"line {line}", "<row>", _not_utf8(raw[e.start:e.start + 1])) from None
        if not any(line.strip() for line in lines[1:]):
            return  # no file, or a header alone: no rows
        header = next(csv.reader(lines[:1]), [])
        # Every column as text so ids like "007" survive; fields are typed by the record's own parser.
        features = datasets.Features({name: datasets.Value("string") for name in header})
        ds = datasets.Dataset.from_csv(str(path), features=features, keep_default_na=False, keep_in_memory=True,
                                       encoding="utf-8-sig")
        first, unit = 2, "line"  # line 1 is the header; records are assumed single-line
    else:
        try:
            ds = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
            raise RowError(path, "file", "<file>", f"not a readable Parquet file ({type(e).__name__}: {e})") from None
        first, unit = 1, "row"
    for i, data in enumerate(ds):
        yield Row(str(path), f"{unit} {i + first}", data)


def rename_columns(data: Mapping[str, Any], columns: Mapping[str, str] | None) -> dict[str, Any]:
    """Map a user's column names onto record field names: ``columns`` is {field: source_column}."""
    out = dict(data)
    for field_name, source in (columns or {}).items():
        if source and source != field_name and source in out:
            out[field_name] = out.pop(source)
    return out


def read_records(
    path: str | Path,
    parse: Callable[[Row], T],
    *,
    on_error: str = "raise",
    rejects_path: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> tuple[list[T], ReadReport]:
    """Parse every row of ``path`` with ``parse``; raise on the first bad row or skip it to ``rejects_path``.
    A file without a single row is an error unless ``allow_empty``."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    report = ReadReport(path=str(path), rejects_path=str(rejects_path) if rejects_path else None)
    kept: list[T] = []
    rejects = []
    for row in iter_rows(path):
        report.read += 1
        try:
            if row.data is None:
                raise row.error("<row>", row.decode_error or "undecodable row")
            if columns:
                row = Row(row.file, row.location, rename_columns(row.data, columns))
            kept.append(parse(row))
        except RowError as e:
            if on_error == "raise":
                raise
            report.rejected += 1
            report.reasons[e.field] = report.reasons.get(e.field, 0) + 1
            rejects.append(
                {"file": e.file, "location": e.location, "field": e.field, "reason": e.reason, "row": row.data}
            )
    report.kept = len(kept)
    if report.read == 0 and not allow_empty:
        raise EmptyInputError(f"{path}: no rows (an empty file); nothing to do")
    if rejects:
        if rejects_path is None:
            raise ValueError("on_error='skip' needs a rejects_path to write rejected rows to")
        write_jsonl(rejects_path, rejects)
    assert report.read == report.kept + report.rejected
    return kept, report


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write, renamed onto it when the block ends without error: a reader
    (another process, a sweep's next job, a resumed run) never sees half a file, and a run killed while writing
    leaves the old file whole. The name carries the process id, so two writers never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_jsonl(path: str | Path, rows) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")


def read_jsonl_ids(path: str | Path) -> set[str]:
    """The ``id`` of every row of a JSONL file we wrote (an errors file, validation scores); none if it is absent."""
    path = Path(path)
    if not path.exists():
        return set()
    return {str(row.data["id"]) for row in _iter_jsonl(path) if row.data is not None and "id" in row.data}
