"""The console's web app (FastAPI, server-rendered Jinja2 templates, a little JavaScript for the keyboard).

Security model: listing text is untrusted, so templates autoescape everything and never mark it safe, and a
Content-Security-Policy allows scripts from the console itself only (no inline script, no CDN). Every write (a
verdict, an import, an export) carries a CSRF token bound to the browser's session cookie. The server listens on
loopback unless the operator sets a token (``token_env``): then it may bind anywhere, and every request must carry
the token (a cookie set by opening ``/?token=...`` once, or ``Authorization: Bearer ...``). Without a token it
answers only to loopback host names, so a web page cannot reach it by rebinding its own DNS name to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from moddistill.data.records import RowError
from moddistill.review.console import Console, is_loopback
from moddistill.review.dashboard import CHART_WIDTH, build_dashboard
from moddistill.review.store import ESCALATE, UnknownItem, make_verdict, read_verdict_file

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SESSION_COOKIE, TOKEN_COOKIE, REVIEWER_COOKIE = "review_session", "review_token", "review_reviewer"
SHORTCUT_KEYS = "1234567890"  # the policy checkboxes the keyboard toggles, in the order the item page lists them
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def host_name(header: str) -> str:
    """The host of a Host header, without its port (``[::1]:8765`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class _Secrets:
    """The per-process key that binds each session's CSRF token to its session cookie."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)

    def csrf(self, session: str) -> str:
        return hmac.new(self.key, session.encode(), hashlib.sha256).hexdigest()


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.globals["chart_width"] = CHART_WIDTH
    return Jinja2Templates(env=env)


def create_app(console: Console) -> FastAPI:
    app = FastAPI(title="moddistill review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = _templates()
    keys = _Secrets()
    policy, queue, store = console.policy, console.queue, console.store
    ids = queue.ids()
    known = set(ids)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        token = console.token
        if not token and not is_loopback(host_name(request.headers.get("host", ""))):
            # a page on another site that rebinds its DNS name to 127.0.0.1 reaches us under its own name
            return PlainTextResponse("refused: without the operator's token the console answers only to a loopback "
                                     "host name (127.0.0.1, localhost)", status_code=400)
        if token:
            given = (request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token")
                     or request.headers.get("authorization", "").removeprefix("Bearer "))
            if not hmac.compare_digest(given.encode(), token.encode()):
                return PlainTextResponse("the operator's token is required: open /?token=...", status_code=401)
        session = request.cookies.get(SESSION_COOKIE)
        request.state.fresh = session is None  # a new browser: its session, to which its CSRF token is bound
        request.state.session = session or secrets.token_urlsafe(32)
        response = await call_next(request)
        if token and request.cookies.get(TOKEN_COOKIE) != token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        if request.state.fresh:
            response.set_cookie(SESSION_COOKIE, request.state.session, httponly=True, samesite="strict")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def check_csrf(request: Request, given: str) -> Response | None:
        """A write needs the token of the session its cookie names (a request without the cookie has none)."""
        if request.state.fresh or not given or not hmac.compare_digest(given, keys.csrf(request.state.session)):
            return message(request, "Refused: this form's CSRF token is missing or not this session's. Reload the "
                                    "page and submit again.", 403)
        return None

    def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        statuses = item_statuses()
        context |= {"csrf": keys.csrf(request.state.session), "statuses": statuses, "total": len(ids),
                    "counts": Counter(s["state"] for s in statuses.values())}
        return templates.TemplateResponse(request, name, context, status_code=status)

    def message(request: Request, text: str, status: int = 200) -> HTMLResponse:
        return render(request, "message.html", status, text=text)

    def item_statuses() -> dict[str, dict]:
        """Per listing: pending, decided (what stands and who), conflict (as expert_verdicts reports it) or
        escalated."""
        settled = store.settle(policy)
        conflicts = {c.id: c.summary() for c in settled.conflicts}
        escalated: dict[str, list[str]] = {}
        for v in store.all():
            if v.decision == ESCALATE:
                escalated.setdefault(v.id, []).append(v.reviewer)
        out = {}
        for lid in ids:
            if lid in conflicts:
                out[lid] = {"state": "conflict", "text": conflicts[lid]}
            elif lid in settled.standing:
                v = settled.standing[lid]
                out[lid] = {"state": "decided", "text": f"{', '.join(v.violations) or 'allow'} "
                                                        f"({', '.join(settled.reviewers[lid])})"}
            elif lid in escalated:
                out[lid] = {"state": "escalated", "text": "escalated by " + ", ".join(sorted(set(escalated[lid])))}
            else:
                out[lid] = {"state": "pending", "text": "pending"}
        return out

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request):
        return render(request, "queue.html", items=list(queue.items.values()),
                      export_path=str(console.verdicts_out), not_for_experts=queue.not_for_experts)

    @app.get("/items/{item_id:path}", response_class=HTMLResponse)
    def item_page(request: Request, item_id: str):
        item = queue.items.get(item_id)
        if item is None:
            return message(request, f"Listing {item_id!r} is not in this review queue.", 404)
        first = item.in_question(policy, console.thresholds)
        order = [policy[p] for p in first] + [p for p in policy.policies if p.id not in first]
        llm_labels = (item.llm or {}).get("labels") or {}
        scores = [{"id": p.id, "name": p.name, "score": item.scores.get(p.id),
                   "threshold": console.thresholds.get(p.id), "llm": llm_labels.get(p.id), "in_question": p.id in first}
                  for p in policy.policies]
        i = ids.index(item_id)
        return render(request, "item.html", item=item, listing=item.listing, scores=scores, order=order,
                      in_question=[policy[p] for p in first], keys=dict(zip((p.id for p in order), SHORTCUT_KEYS)),
                      history=[v for v in store.all() if v.id == item_id],
                      previous=ids[i - 1] if i else None, next=ids[i + 1] if i + 1 < len(ids) else None,
                      reviewer=request.cookies.get(REVIEWER_COOKIE, ""),
                      llm_said=[p for p in policy.ids if isinstance(llm_labels.get(p), (int, float))
                                and llm_labels[p] >= 0.5])

    @app.post("/items/{item_id:path}/verdict")
    def submit_verdict(request: Request, item_id: str, csrf: str = Form(""), reviewer: str = Form(""),
                       decision: str = Form(""), violations: list[str] = Form([]), note: str = Form("")):
        refused = check_csrf(request, csrf)
        if refused:
            return refused
        try:
            verdict = make_verdict(known, policy, id=item_id, decision=decision, violations=violations,
                                   reviewer=reviewer, note=note)
        except UnknownItem as e:
            return message(request, f"Refused, nothing stored: {e}.", 404)
        except RowError as e:
            return message(request, f"Refused, nothing stored: field '{e.field}': {e.reason}.", 422)
        store.add([verdict])  # committed before the answer: a verdict acknowledged is a verdict kept
        log.info("verdict on %s by %s: %s %s", verdict.id, verdict.reviewer, verdict.decision,
                 ",".join(verdict.violations))
        statuses = item_statuses()
        i = ids.index(item_id)
        after = [lid for lid in ids[i + 1:] + ids[:i] if statuses[lid]["state"] == "pending"]
        response = RedirectResponse(f"/items/{quote(after[0], safe='')}" if after else "/queue", status_code=303)
        response.set_cookie(REVIEWER_COOKIE, verdict.reviewer, samesite="strict")
        return response

    @app.post("/export", response_class=HTMLResponse)
    def export(request: Request, csrf: str = Form("")):
        refused = check_csrf(request, csrf)
        if refused:
            return refused
        n = store.export(console.verdicts_out)
        return message(request, f"Exported {n} verdicts to {console.verdicts_out} (the verdict JSONL that training, "
                                "audit.py and the loop read; escalations are not verdicts and are left out).")

    @app.get("/export.jsonl")
    def download():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "verdicts.jsonl"
            store.export(path)
            body = path.read_bytes()
        return Response(body, media_type="application/x-ndjson",
                        headers={"Content-Disposition": 'attachment; filename="verdicts.jsonl"'})

    @app.post("/import", response_class=HTMLResponse)
    async def import_verdicts(request: Request, file: UploadFile, csrf: str = Form("")):
        refused = check_csrf(request, csrf)
        if refused:
            return refused
        name = Path(file.filename or "").name or "verdicts.jsonl"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(await file.read())
            try:
                verdicts = read_verdict_file(path, policy, known, origin=name)
            except ValueError as e:  # a UserError (a bad row, an unknown listing) or a file type no reader takes
                return message(request, f"Refused, nothing imported: {str(e).replace(str(path), name)}", 422)
        added = store.add(verdicts)
        return message(request, f"Imported {name}: {len(verdicts)} verdicts read, {added} new "
                                f"({len(verdicts) - added} already in the store).")

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request):
        d = build_dashboard(policy=policy, store=store, export_dir=console.export_dir, decisions=console.decisions,
                            audit_samples=queue.audit_samples, **console.dashboard_files)
        by_reviewer = Counter(v.reviewer for v in store.all())
        return render(request, "dashboard.html", d=d, by_reviewer=by_reviewer.most_common(),
                      conflicts=store.settle(policy).conflicts)

    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
