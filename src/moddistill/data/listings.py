"""The listing record (see ``shared/design/policy-taxonomy.md``), its validation, and its text rendering.

``render_listing`` is the single place that turns a listing into model input: training, evaluation,
export and prediction all call it. A run renders with one of ``RENDERINGS`` (``data.render``; new runs
``RENDER_VERSION``), records the version in its metrics.json and its export's manifest, and everything that
scores the model renders with that version, so a model trained before a new rendering keeps its inputs.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from moddistill.data.deobfuscate import DEOBFUSCATE_RULES, deobfuscate
from moddistill.data.records import ReadMode, ReadReport, Row, read_records, record_id, unique_ids
from moddistill.settings import Mapping_, Settings

RENDER_TEMPLATE = "{title}\n{category} | {price} {currency} | {market} {language}\n{description}"
_TEMPLATE_RULES = ("price: fixed-point with 2 decimals, then trailing zeros and a trailing '.' removed (12.50 -> "
                   "12.5, 3.00 -> 3); an empty description drops the last line and the newline before it")


@dataclass(frozen=True)
class Rendering:
    """One version of the model's input text: ``RENDER_TEMPLATE``, with ``normalize`` applied to the title and
    the description first; ``rules`` says all of it in words, for the export's manifest."""

    version: str
    rules: str
    normalize: Callable[[str], str] | None = None


RENDERINGS = {r.version: r for r in (
    Rendering("listing-text-v1", _TEMPLATE_RULES),
    Rendering("listing-text-v2", f"{_TEMPLATE_RULES}; before the template, the title and the description are "
                                 f"de-obfuscated: {DEOBFUSCATE_RULES}", deobfuscate),
)}
RENDER_VERSION = "listing-text-v2"  # what a run renders unless its config says otherwise (data.render)
FIRST_RENDER_VERSION = "listing-text-v1"  # what runs from before data.render rendered

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MARKET = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
LISTING_FIELDS = (
    "id", "title", "description", "category", "price", "currency", "market", "language", "seller_id", "attributes",
)


@dataclass(frozen=True)
class Listing:
    id: str
    title: str
    description: str
    category: str
    price: float
    currency: str
    market: str
    language: str
    seller_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    source: str = field(default="", compare=False, repr=False)  # "file, line N", for error messages

    def where(self) -> tuple[str, str]:
        """(file, location) of the row this listing was read from; ("", "") when it was built in code."""
        file, _, location = self.source.rpartition(", ")  # a path may hold ", "; "line N" does not
        return file, location

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in LISTING_FIELDS}
        if out["seller_id"] is None:
            del out["seller_id"]
        out["attributes"] = dict(self.attributes)
        return out


def render_listing(listing: Listing, version: str = RENDER_VERSION) -> str:
    """The model's input text for a listing, as rendering ``version`` writes it (``RENDER_TEMPLATE`` and the
    rendering's rules, which the export's manifest carries so a service in any language can reproduce it)."""
    normalize = rendering(version).normalize or (lambda text: text)
    price = f"{listing.price:.2f}".rstrip("0").rstrip(".")
    text = RENDER_TEMPLATE.format(title=normalize(listing.title), category=listing.category, price=price,
                                  currency=listing.currency, market=listing.market, language=listing.language,
                                  description=normalize(listing.description))
    return text if listing.description else text[:-1]  # no description: no last line, no trailing newline


def rendering(version: str) -> Rendering:
    try:
        return RENDERINGS[version]
    except KeyError:
        raise ValueError(f"unknown listing rendering {version!r}; this moddistill renders "
                         f"{', '.join(RENDERINGS)}") from None


def parse_listing(row: Row) -> Listing:
    """Validate one row into a Listing; a bad field raises RowError naming file, line and field."""
    d = row.data
    return Listing(
        id=record_id(row),
        title=_text(row, d, "title"),
        description=_text(row, d, "description", allow_empty=True),
        category=_text(row, d, "category"),
        price=_price(row, d.get("price")),
        currency=_code(row, d, "currency", _CURRENCY, "a 3-letter ISO 4217 code such as 'USD'"),
        market=_code(row, d, "market", _MARKET, "a 2-letter ISO 3166 code such as 'ID'"),
        language=_code(row, d, "language", _LANGUAGE, "a BCP 47 tag such as 'en' or 'pt-BR'"),
        seller_id=_optional_id(row, d.get("seller_id")),
        attributes=_attributes(row, d.get("attributes")),
        source=f"{row.file}, {row.location}",
    )


def read_listings(
    path: str | Path,
    *,
    on_error: str = "raise",
    rejects_path: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> tuple[list[Listing], ReadReport]:
    """Read and validate listings from JSONL, CSV or Parquet; ids must be unique within the file, and an empty
    file is an error unless ``allow_empty``."""
    return read_records(path, unique_ids(parse_listing, "listing"), on_error=on_error, rejects_path=rejects_path, columns=columns,
                        allow_empty=allow_empty)


def _optional_id(row: Row, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise row.error("seller_id", f"expected a string, got {value!r}")
    return str(value)


def _text(row: Row, d: Mapping[str, Any], key: str, allow_empty: bool = False) -> str:
    if key not in d or d[key] is None:
        raise row.error(key, "missing")
    value = d[key]
    if not isinstance(value, str):
        raise row.error(key, f"expected text, got {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise row.error(key, "empty")
    return value


def _price(row: Row, value: Any) -> float:
    if value is None or value == "":
        raise row.error("price", "missing")
    if isinstance(value, bool):
        raise row.error("price", f"expected a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.replace(",", ""))
        except ValueError:
            raise row.error("price", f"expected a number, got {value!r}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise row.error("price", f"expected a non-negative number, got {value!r}")
    return float(value)


def _code(row: Row, d: Mapping[str, Any], key: str, pattern: re.Pattern, what: str) -> str:
    value = d.get(key)
    if value is None or value == "":
        raise row.error(key, "missing")
    if not isinstance(value, str) or not pattern.match(value):
        raise row.error(key, f"expected {what}, got {value!r}")
    return value


def _attributes(row: Row, value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # CSV cells carry the mapping as a JSON object
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise row.error("attributes", "expected a JSON object") from None
    if not isinstance(value, Mapping):
        raise row.error("attributes", f"expected a flat mapping, got {type(value).__name__}")
    for k, v in value.items():
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise row.error(f"attributes.{k}", "expected a flat mapping of scalars")
    return {k: v for k, v in value.items() if v is not None}


class ReadSettings(Settings):
    """How a script reads a listings file: what a bad row does, and the record's fields under other column names."""

    on_error: ReadMode
    columns: Mapping_
