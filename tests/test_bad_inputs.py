"""The catalogue of awkward input files (README, "Bad input and exit codes"): each is accepted on purpose or
refused naming file, line and field; and fuzzed bytes and JSON never escape the documented error types."""

from __future__ import annotations

import csv
import io
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moddistill.data.listings import read_listings
from moddistill.data.records import EmptyInputError, RowError, read_records
from moddistill.teacher.answers import AnswerError, parse_answer
from tests.conftest import read_jsonl
from tests.data.test_listings import GOOD, row


def _jsonl(*rows) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def test_accepted_on_purpose_bom_crlf_blank_lines_and_very_long_text(tmp_path):
    long_text = "sharp " * 200_000  # 1.2 MB: kept whole; the tokenizer truncates it to the model's max_length
    body = _jsonl(row(), row(id="a2")).replace(b"\n", b"\r\n") + b"\r\n   \r\n" + _jsonl(row(id="a3", description=long_text))
    path = tmp_path / "l.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body)
    listings, report = read_listings(path)
    assert [x.id for x in listings] == ["a1", "a2", "a3"] and report.read == 3
    assert listings[0].title == GOOD["title"] and listings[2].description == long_text.strip()
    assert listings[2].source.endswith("line 5")  # the blank line still counts


def test_a_line_that_is_not_utf8_is_one_bad_row(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_bytes(_jsonl(row()) + b'{"id": "a2", "title": "caf\xe9"}\n' + _jsonl(row(id="a3")))
    with pytest.raises(RowError, match=r"l\.jsonl, line 2, field '<row>': not UTF-8 text \(a b'\\xe9' byte\)"):
        read_listings(path)
    listings, report = read_listings(path, on_error="skip", rejects_path=tmp_path / "rejects.jsonl")
    assert [x.id for x in listings] == ["a1", "a3"] and (report.read, report.rejected) == (3, 1)
    assert read_jsonl(tmp_path / "rejects.jsonl")[0]["location"] == "line 2"


@pytest.mark.parametrize("line, reason", [
    (b"[1, 2, 3]", "expected a JSON object, got list"),
    (b'"just text"', "expected a JSON object, got str"),
    (b"null", "expected a JSON object, got NoneType"),
    (b"[" * 100_000, "malformed JSON"),
])
def test_json_that_is_not_an_object_is_refused(tmp_path, line, reason):
    path = tmp_path / "l.jsonl"
    path.write_bytes(_jsonl(row()) + line + b"\n")
    with pytest.raises(RowError, match=rf"line 2, field '<row>': {reason}"):
        read_listings(path)


@pytest.mark.parametrize("price", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinite_prices_are_refused(tmp_path, price):
    path = tmp_path / "l.jsonl"
    path.write_bytes(_jsonl(row())[:-1].replace(b'"price": 89000', f'"price": {price}'.encode()) + b"\n")
    with pytest.raises(RowError, match=r"line 1, field 'price': expected a non-negative number"):
        read_listings(path)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_an_empty_file_is_an_error_unless_allowed(tmp_path, content):
    path = tmp_path / "l.jsonl"
    path.write_bytes(content)
    with pytest.raises(EmptyInputError, match="no rows"):
        read_listings(path)
    assert read_listings(path, allow_empty=True)[0] == []


def test_csv_bom_header_is_accepted_and_bad_bytes_name_the_line(tmp_path):
    def csv_line(values) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(values)
        return out.getvalue()

    header, values = csv_line(GOOD), csv_line(GOOD.values())
    path = tmp_path / "l.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (header + values).encode())
    assert [x.id for x in read_listings(path)[0]] == ["a1"]
    path.write_bytes((header + values).encode() + values.replace("a1", "a2").encode().replace(b"Tajam", b"Taj\xe0m"))
    with pytest.raises(RowError, match=r"l\.csv, line 3, field '<row>': not UTF-8 text"):
        read_listings(path)
    path.write_bytes(header.encode())
    with pytest.raises(EmptyInputError):
        read_listings(path)


def test_parquet_with_wrong_column_types_names_row_and_field(tmp_path):
    table = pa.table({k: [v, v] for k, v in GOOD.items() if k != "price"} | {"id": ["a1", "a2"],
                                                                            "price": ["cheap", "12"]})
    pq.write_table(table, tmp_path / "l.parquet")
    with pytest.raises(RowError, match=r"l\.parquet, row 1, field 'price': expected a number, got 'cheap'"):
        read_listings(tmp_path / "l.parquet")
    table = pa.table({k: [v] for k, v in GOOD.items() if k != "title"} | {"title": [42]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(RowError, match=r"row 1, field 'title': expected text, got int"):
        read_listings(tmp_path / "t.parquet")
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(RowError, match=r"x\.parquet, file, field '<file>': not a readable Parquet file"):
        read_listings(tmp_path / "x.parquet")


# --- fuzzing: whatever the bytes, a reader raises only its documented errors ------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_jsonl_reader(tmp_path, data):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    try:
        listings, report = read_listings(path, on_error="skip", rejects_path=tmp_path / "rejects.jsonl")
    except EmptyInputError:  # only when no line holds anything but whitespace
        assert all(not seg.decode("utf-8-sig" if i == 0 else "utf-8").strip() for i, seg in enumerate(data.split(b"\n")))
        return
    assert report.read == report.kept + report.rejected


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                        max_size=6),
                     max_leaves=20)
_listing_like = st.fixed_dictionaries({}, optional={k: _json | st.just(v) for k, v in GOOD.items()})


@FUZZ
@given(st.lists(_listing_like | _json, min_size=1, max_size=6))
def test_random_json_rows_are_kept_or_rejected_with_a_field(tmp_path, rows):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows), encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    rejects.unlink(missing_ok=True)
    listings, report = read_listings(path, on_error="skip", rejects_path=rejects)
    assert report.read == len(rows) == report.kept + report.rejected
    for listing in listings:
        assert listing.title and math.isfinite(listing.price) and listing.price >= 0
    if report.rejected:
        assert all(r["field"] and r["reason"] for r in read_jsonl(rejects))


@FUZZ
@given(content=st.text(max_size=300) | _json.map(json.dumps) | st.dictionaries(
           st.sampled_from(["weapons", "drugs", "rationale", "verdicts", "violations", "x"]), _json, max_size=4
       ).map(json.dumps),
       finish_reason=st.sampled_from(["stop", "length", None]),
       mode=st.sampled_from(["all_policies", "per_policy", "violations"]))
def test_random_teacher_answers_parse_or_raise_answer_error(content, finish_reason, mode):
    ids = ["weapons"] if mode == "per_policy" else ["weapons", "drugs"]
    try:
        answer = parse_answer({"content": content, "finish_reason": finish_reason}, ids, mode)
    except AnswerError as e:
        assert e.kind and e.reason
        return
    assert set(answer.verdicts) == set(ids) and all(0.0 <= v.prob <= 1.0 for v in answer.verdicts.values())


def test_read_records_reports_rows_it_cannot_decode(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    kept, report = read_records(path, lambda r: r.data, on_error="skip", rejects_path=tmp_path / "rej.jsonl")
    assert kept == [{"a": 1}] and report.rejected == 1
