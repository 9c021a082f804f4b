"""The console's routes (review/app.py) through FastAPI's TestClient: every page, the verdict form and its
refusals (CSRF, unknown listing, unknown policy: 4xx and nothing stored), listing text escaped, export and import
of the verdict JSONL, the dashboard's parts, the operator token, and two clients submitting at once."""

from __future__ import annotations

import re
import threading

import pytest
from fastapi.testclient import TestClient

from moddistill.errors import UserError
from moddistill.review.app import create_app
from moddistill.review.console import check_bind
from moddistill.teacher.expert_verdicts import read_expert_verdicts
from tests.conftest import read_jsonl, write_jsonl
from tests.review.conftest import HOSTILE_DESCRIPTION, HOSTILE_TITLE, make_console


def browser_like(app) -> TestClient:
    """A client that reaches the console as a browser on this machine does (Host: 127.0.0.1)."""
    return TestClient(app, base_url="http://127.0.0.1")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


@pytest.fixture
def client(console):
    with browser_like(create_app(console)) as c:
        yield c


def submit(client, lid, csrf, decision="allow", violations=(), reviewer="ana", note=""):
    return client.post(f"/items/{lid}/verdict", data={"csrf": csrf, "decision": decision,
                                                      "violations": list(violations), "reviewer": reviewer,
                                                      "note": note}, follow_redirects=False)


def test_queue_page_lists_every_item_and_sets_a_session(client, console):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    r = client.get("/queue")
    assert r.status_code == 200 and "review_session" in client.cookies
    assert all(f'href="/items/{lid}"' in r.text for lid in console.queue.ids())
    assert "7 queued · 7 pending" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # the keyboard script and the styles come from the console itself: nothing is fetched from elsewhere
    assert '<script src="/static/review.js" defer></script>' in r.text and "http" not in r.text.replace(
        "http://127.0.0.1", "")
    assert "keydown" in client.get("/static/review.js").text and client.get("/static/review.css").status_code == 200


def test_item_page_shows_listing_scores_reason_llm_and_the_clauses(client, console):
    r = client.get("/items/r0")
    assert r.status_code == 200
    html = r.text
    assert "Sports &gt; Knives" in html and "25.00 USD" in html and "market US" in html and "language en" in html
    assert "student and LLM disagree strongly on weapons" in html
    assert "0.970" in html and "0.500" in html  # the score against its threshold
    assert "A &lt;b&gt;kitchen&lt;/b&gt; knife, allowed." in html and "qwen" in html
    weapons = console.policy["weapons"]
    assert weapons.clauses[0].id in html and weapons.violating_examples[0].listing.title[:20] in html
    # the policies in question come first, on the number keys
    assert re.search(r'value="weapons" data-key="1"', html)


def test_listing_text_renders_as_text(client):
    html = client.get("/items/r0").text
    assert "<script>alert" not in html and "<img" not in html and "<b>kitchen" not in html
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt; Hunting knife" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE_TITLE not in html and HOSTILE_DESCRIPTION not in html


def test_unknown_item_page_is_404(client):
    r = client.get("/items/nope")
    assert r.status_code == 404 and "not in this review queue" in r.text


def test_a_verdict_is_stored_and_the_next_pending_item_follows(client, console):
    csrf = csrf_of(client.get("/queue").text)
    r = submit(client, "r0", csrf, "violates", ["weapons"], note="a real blade")
    assert r.status_code == 303 and r.headers["location"] == "/items/r1"
    assert client.cookies["review_reviewer"] == "ana"
    (v,) = console.store.all()
    assert (v.id, v.decision, v.violations, v.reviewer, v.note) == (
        "r0", "violates", ("weapons",), "ana", "a real blade")
    assert 'value="ana"' in client.get("/items/r1").text  # the reviewer's name is remembered
    # a second reviewer on the same item is kept beside the first; their disagreement shows as a conflict
    submit(client, "r0", csrf, "allow", reviewer="bo")
    assert len(console.store.all()) == 2
    assert "r0: ana [&#39;weapons&#39;]; bo none" in client.get("/queue").text
    assert submit(client, "r1", csrf, "escalate").status_code == 303
    assert "escalated by ana" in client.get("/queue").text


@pytest.mark.parametrize("csrf", ["", "0" * 64])
def test_a_write_without_this_sessions_csrf_token_is_refused(client, console, csrf):
    client.get("/queue")
    r = submit(client, "r0", csrf)
    assert r.status_code == 403 and console.store.all() == []
    assert client.post("/export", data={"csrf": csrf}).status_code == 403


def test_a_token_from_another_session_is_refused(console):
    app = create_app(console)
    with browser_like(app) as mine, browser_like(app) as theirs:
        csrf = csrf_of(theirs.get("/queue").text)
        mine.get("/queue")
        assert submit(mine, "r0", csrf).status_code == 403
        fresh = browser_like(app)  # no session cookie at all
        assert submit(fresh, "r0", csrf).status_code == 403
    assert console.store.all() == []


def test_unknown_item_or_policy_is_refused_and_never_stored(client, console):
    csrf = csrf_of(client.get("/queue").text)
    r = submit(client, "nope", csrf)
    assert r.status_code == 404 and "nothing stored" in r.text
    r = submit(client, "r0", csrf, "violates", ["weapons", "not_a_policy"])
    assert r.status_code == 422 and "violations[1]" in r.text and "not_a_policy" in r.text
    assert submit(client, "r0", csrf, "violates", []).status_code == 422
    assert submit(client, "r0", csrf, "allow", reviewer="").status_code == 422
    assert console.store.all() == []


def test_export_writes_the_verdict_jsonl_that_the_verdict_reader_reads(client, console):
    csrf = csrf_of(client.get("/queue").text)
    submit(client, "r0", csrf, "violates", ["weapons"], note="blade")
    submit(client, "r1", csrf, "allow", reviewer="bo")
    submit(client, "b1", csrf, "escalate")
    r = client.post("/export", data={"csrf": csrf})
    assert r.status_code == 200 and f"Exported 2 verdicts to {console.verdicts_out}" in r.text
    back = read_expert_verdicts([console.verdicts_out], console.policy)
    assert {lid: (v.violations, v.reviewer, v.note) for lid, v in back.standing.items()} == {
        "r0": (("weapons",), "ana", "blade"), "r1": ((), "bo", "")}
    download = client.get("/export.jsonl")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert [r["id"] for r in map(__import__("json").loads, download.text.splitlines())] == ["r0", "r1"]


def test_import_reads_a_verdict_file_back_and_refuses_a_bad_one_whole(client, console, tmp_path):
    csrf = csrf_of(client.get("/queue").text)
    good = write_jsonl(tmp_path / "round1.jsonl", [
        {"id": "r0", "violations": ["weapons"], "reviewer": "cy", "time": "2026-05-02T10:00:00Z"},
        {"id": "r1", "violations": [], "reviewer": "cy", "time": "2026-05-02T10:01:00Z", "note": "fine"}])
    r = client.post("/import", data={"csrf": csrf}, files={"file": ("round1.jsonl", good.read_bytes())})
    assert r.status_code == 200 and "2 verdicts read, 2 new" in r.text
    assert [v.verdict_row() for v in console.store.all()] == read_jsonl(good)
    assert {v.origin for v in console.store.all()} == {"round1.jsonl"}
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"id": "r2", "violations": [], "reviewer": "cy", "time": "2026-05-02T10:00:00Z"},
        {"id": "r0", "violations": ["nope"], "reviewer": "cy", "time": "2026-05-02T10:00:00Z"}])
    r = client.post("/import", data={"csrf": csrf}, files={"file": ("bad.jsonl", bad.read_bytes())})
    assert r.status_code == 422 and "bad.jsonl, line 2, field &#39;violations[0]&#39;" in r.text
    unknown = write_jsonl(tmp_path / "other.jsonl", [
        {"id": "zz", "violations": [], "reviewer": "cy", "time": "2026-05-02T10:00:00Z"}])
    r = client.post("/import", data={"csrf": csrf}, files={"file": ("other.jsonl", unknown.read_bytes())})
    assert r.status_code == 422 and "other.jsonl, line 1, field &#39;id&#39;" in r.text
    assert len(console.store.all()) == 2
    r = client.post("/import", data={"csrf": "wrong"}, files={"file": ("round1.jsonl", good.read_bytes())})
    assert r.status_code == 403


def test_dashboard_shows_kpis_live_audit_estimates_drift_and_leaderboard(client, console, review_files):
    html = client.get("/dashboard").text
    assert "62.5% (5)" in html and "25.0% (2)" in html  # moderate.py's summary: 5 of 8 automatic, 2 experts
    assert "$0.5000" in html  # 0.004 over 8 listings, per 1,000
    assert "86.0%" in html and "11.0%" in html  # fuse.py's operating point
    assert "0 with a verdict, 4 pending" in html and "no audited rows yet" in html
    assert "language mix" in html and "text length" not in html  # alerts and warnings only
    assert "demo/run-a (student)" in html and "0.823" in html and "sweeps/broken" not in html
    # verdicts on the audit sample move the estimates, computed now, as audit.py computes them
    csrf = csrf_of(client.get("/queue").text)
    sampled = [r for r in read_jsonl(review_files["sample"])]
    for r in sampled:
        submit(client, r["id"], csrf, "violates" if r["audit"]["decision"] else "allow", r["audit"]["decision"])
    html = client.get("/dashboard").text
    assert "4 with a verdict, 0 pending" in html
    assert "1.000 [0.342, 1.000] (2/2)" in html  # reject precision: both weapons rejects confirmed
    assert "0.000 [0.000, 0.658] (0/2)" in html  # allow miss rate: no allowed listing violates
    assert "ana: 4" in html


def test_dashboard_parts_without_files_say_what_they_need(review_files, tmp_path):
    console = make_console(review_files, tmp_path, "batch", extra=["dashboard.leaderboard=null", "decisions=null"])
    console.export_dir = None
    with browser_like(create_app(console)) as c:
        html = c.get("/dashboard").text
    assert html.count("Not shown: needs") == 4
    assert "needs an audit.py sample among queues=" in html


def test_an_empty_queue_is_a_page_not_a_crash(review_files, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    review_files["empty"] = empty
    with browser_like(create_app(make_console(review_files, tmp_path, "empty"))) as c:
        r = c.get("/queue")
        assert r.status_code == 200 and 'id="empty-queue"' in r.text
        assert c.get("/dashboard").status_code == 200


def test_the_operator_token_guards_every_request(console):
    console.token = "s3cret"
    with browser_like(create_app(console)) as c:
        assert c.get("/queue").status_code == 401
        assert c.get("/queue", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/queue", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/queue?token=s3cret").status_code == 200
        assert c.get("/queue").status_code == 200  # the cookie the first visit set
    check_bind("127.0.0.1", None, "T")
    check_bind("localhost", None, "T")
    check_bind("0.0.0.0", "s3cret", "T")
    with pytest.raises(UserError, match="host=0.0.0.0 is not a loopback address: set a token in the environment "
                                        "variable T"):
        check_bind("0.0.0.0", None, "T")


def test_two_clients_submitting_at_once_lose_nothing(console):
    app = create_app(console)
    ids = console.queue.ids()
    start = threading.Barrier(2)
    codes: list[int] = []

    def review(reviewer: str) -> None:
        with browser_like(app) as c:
            csrf = csrf_of(c.get("/queue").text)
            start.wait()
            for round_ in range(3):
                for lid in ids:
                    codes.append(submit(c, lid, csrf, "allow", reviewer=reviewer, note=str(round_)).status_code)

    threads = [threading.Thread(target=review, args=(r,)) for r in ("ana", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [303] * 2 * 3 * len(ids)
    rows = console.store.all()
    assert len(rows) == 2 * 3 * len(ids)
    assert sorted((v.reviewer, v.id, v.note) for v in rows) == sorted(
        (r, lid, str(n)) for r in ("ana", "bo") for n in range(3) for lid in ids)


def test_without_a_token_only_loopback_host_names_are_answered(console):
    """A web page rebinding its own DNS name to 127.0.0.1 reaches the console under that name: refused."""
    app = create_app(console)
    assert TestClient(app, base_url="http://rebound.example").get("/queue").status_code == 400
    assert TestClient(app, base_url="http://localhost:8765").get("/queue").status_code == 200
    assert TestClient(app, base_url="http://[::1]:8765").get("/queue").status_code == 200
    console.token = "s3cret"  # with the operator's token, any name the operator serves it under
    assert TestClient(app, base_url="http://review.internal").get("/queue?token=s3cret").status_code == 200
