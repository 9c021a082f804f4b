import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from moddistill.data import records
from moddistill.data.listings import Listing, read_listings, render_listing, rendering
from moddistill.data.records import RowError
from tests.conftest import read_jsonl, write_jsonl

GOOD = {"id": "a1", "title": "Pisau dapur stainless 8 inch", "description": "Tajam, gagang kayu.",
        "category": "Home & Kitchen > Knives", "price": 89000, "currency": "IDR", "market": "ID", "language": "id"}


def row(**changes):
    r = dict(GOOD, **changes)
    return {k: v for k, v in r.items() if v is not ...}


def test_jsonl_round_trip(tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [row(), row(id="a2", seller_id="s_1", attributes={"brand": "Tramontina"})])
    listings, report = read_listings(path)
    assert [x.id for x in listings] == ["a1", "a2"]
    assert listings[0].price == 89000.0 and listings[1].attributes == {"brand": "Tramontina"}
    assert (report.read, report.kept, report.rejected) == (2, 2, 0)
    assert listings[1].source == f"{path}, line 2"


@pytest.mark.parametrize("change, field, reason", [
    ({"title": ...}, "title", "missing"),
    ({"title": "  "}, "title", "empty"),
    ({"price": "cheap"}, "price", "expected a number"),
    ({"price": -3}, "price", "non-negative"),
    ({"currency": "rupiah"}, "currency", "ISO 4217"),
    ({"market": "IDN"}, "market", "ISO 3166"),
    ({"language": "Bahasa"}, "language", "BCP 47"),
    ({"attributes": {"size": {"w": 3}}}, "attributes.size", "flat mapping"),
    ({"id": ...}, "id", "missing"),
])
def test_bad_field_names_file_line_and_field(tmp_path, change, field, reason):
    path = write_jsonl(tmp_path / "l.jsonl", [row(), row(**{"id": "a2", **change})])
    with pytest.raises(RowError) as e:
        read_listings(path)
    assert (e.value.file, e.value.location, e.value.field) == (str(path), "line 2", field)
    assert reason in str(e.value) and "l.jsonl, line 2, field" in str(e.value)


def test_malformed_json_and_duplicate_id(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text(json.dumps(row()) + "\n{not json\n" + json.dumps(row()) + "\n", encoding="utf-8")
    with pytest.raises(RowError, match=r"line 2, field '<row>': malformed JSON"):
        read_listings(path)
    listings, report = read_listings(path, on_error="skip", rejects_path=tmp_path / "rejects.jsonl")
    assert [x.id for x in listings] == ["a1"]
    rejects = read_jsonl(tmp_path / "rejects.jsonl")
    assert [(r["location"], r["field"]) for r in rejects] == [("line 2", "<row>"), ("line 3", "id")]
    assert "duplicate id 'a1'" in rejects[1]["reason"]


def test_skip_writes_rejects_and_counts_reconcile(tmp_path):
    rows = [row(id=f"x{i}") for i in range(5)] + [row(id="bad1", price="free"), row(id="bad2", currency="$$")]
    path = write_jsonl(tmp_path / "l.jsonl", rows)
    listings, report = read_listings(path, on_error="skip", rejects_path=tmp_path / "r.jsonl")
    assert (report.read, report.kept, report.rejected) == (7, 5, 2)
    assert report.read == report.kept + report.rejected
    assert report.reasons == {"price": 1, "currency": 1}
    rejects = read_jsonl(tmp_path / "r.jsonl")
    assert [r["row"]["id"] for r in rejects] == ["bad1", "bad2"]
    assert "rejected 2" in report.summary()


def test_csv_through_datasets_keeps_ids_as_text(tmp_path):
    path = tmp_path / "l.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(GOOD) + ["attributes"])
        w.writeheader()
        w.writerow({**GOOD, "id": "007", "attributes": '{"colour": "black"}'})
        w.writerow({**GOOD, "id": "008", "price": "abc", "attributes": ""})
    with pytest.raises(RowError) as e:
        read_listings(path)
    assert (e.value.location, e.value.field) == ("line 3", "price")
    listings, report = read_listings(path, on_error="skip", rejects_path=tmp_path / "r.jsonl")
    assert listings[0].id == "007" and listings[0].attributes == {"colour": "black"}
    assert (report.kept, report.rejected) == (1, 1)


def test_parquet_with_column_mapping(tmp_path):
    table = pa.table({
        "listing_id": ["p1", "p2"], "product_name": ["Water gun 2L", "Brass knuckles"], "body": ["Summer fun", ""],
        "category": ["Toys > Outdoor", "Sports > Self defense"], "price": [9.5, 20.0], "currency": ["USD", "USD"],
        "market": ["US", "US"], "language": ["en", "en"],
    })
    pq.write_table(table, tmp_path / "l.parquet")
    columns = {"id": "listing_id", "title": "product_name", "description": "body"}
    listings, _ = read_listings(tmp_path / "l.parquet", columns=columns)
    assert [(x.id, x.title) for x in listings] == [("p1", "Water gun 2L"), ("p2", "Brass knuckles")]
    with pytest.raises(RowError, match=r"row 1, field 'id': missing"):
        read_listings(tmp_path / "l.parquet")  # without the mapping the fields are not found


def test_unsupported_file_type(tmp_path):
    (tmp_path / "l.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="unsupported file type"):
        read_listings(tmp_path / "l.txt")


def test_render_is_stable_and_carries_every_text_field():
    x = Listing(**{**GOOD, "price": 89000.0})
    text = render_listing(x)
    assert text == "Pisau dapur stainless 8 inch\nHome & Kitchen > Knives | 89000 IDR | ID id\nTajam, gagang kayu."
    assert render_listing(Listing(**{**GOOD, "price": 12.5, "description": ""})).endswith("12.5 IDR | ID id")


def test_the_renderings_differ_only_by_de_obfuscating_title_and_description():
    x = Listing(**{**GOOD, "title": "OTF kn1fe, 4ut0m4tic", "description": "Pr3ss the sl1der, D2 st33l",
                   "category": "K n 1 f e s"})
    v1, v2 = render_listing(x, "listing-text-v1"), render_listing(x, "listing-text-v2")
    assert v1.startswith("OTF kn1fe, 4ut0m4tic\nK n 1 f e s |")
    assert v2 == "OTF knife, automatic\nK n 1 f e s | 89000 IDR | ID id\nPress the slider, D2 steel"
    assert render_listing(x) == v2  # what new runs read
    assert "de-obfuscated" in rendering("listing-text-v2").rules and "de-obfuscated" not in rendering(
        "listing-text-v1").rules
    with pytest.raises(ValueError, match=r"unknown listing rendering 'listing-text-v9'; this moddistill renders "
                                         r"listing-text-v1, listing-text-v2"):
        render_listing(x, "listing-text-v9")


def test_an_atomic_write_interrupted_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    path = tmp_path / "out" / "rows.jsonl"
    records.write_jsonl(path, [{"id": "a"}])

    def rows():
        yield {"id": "b"}
        raise KeyboardInterrupt  # a run killed halfway through writing

    with pytest.raises(KeyboardInterrupt):
        records.write_jsonl(path, rows())
    assert read_jsonl(path) == [{"id": "a"}] and [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]
    records.write_text_atomic(path, '{"id": "c"}\n')
    assert read_jsonl(path) == [{"id": "c"}] and [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]
