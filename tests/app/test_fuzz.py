"""Issue #9 §5 "Keep it fixed": a bounded fuzz test over every route, JSON and upload included.

The app runs in a process of its own (werkzeug's threaded server on a free port, CSRF on as in
production, rate limits off so bodies reach the parsers), as an anonymous visitor (with a session
and CSRF token, as in the SIGSEGV report), an annotator and a requester. Routes come from
`app.url_map`, so a new route is fuzzed without touching this file. Each request is a route and
method, path values (known ids, 0, 2**31, 2**63, huge, foreign digits), an odd query string
(NUL, lone surrogates, CR/LF, `2**63`), and a body: malformed, huge, deep or wrongly typed JSON,
form fields, or an upload of CSV/JSON/JSONL/zip/media files with the same nasties in their rows.

It asserts that no response is a 5xx, none hangs, and the process survives: /healthz still
answers and the books still reconcile afterwards. Bounded: a fixed list of known-bad requests
plus FUZZ_EXAMPLES (default 800) derandomized Hypothesis examples per backend, no shrinking.
The counts are printed (`-s`) and recorded as junit properties.

Run the server alone: `python tests/app/test_fuzz.py CONFIG.json` (prints its port).
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "800"))
MAX_CONTENT_LENGTH = 2 * 2**20  # the fuzzed server's cap: a "too large" body stays cheap to send
REQUEST_TIMEOUT = 30  # seconds; a request slower than this counts as a hang
ROLES = ("anonymous", "annotator", "requester")
# Endpoints that may start or end the role's session when they succeed: the role logs in again.
SESSION_ENDPOINTS = {"web.login", "web.signup", "web.logout", "web.password", "api.siwe_login"}
NASTY = [
    "", " ", "0", "-1", "+5", " 7 ", "1_000", "1e309", "NaN", "Infinity", "-0", "٥٠", "²", "0x10",
    "2147483647", "2147483648", "9223372036854775807", "9223372036854775808", "2**63", "1" * 400,
    "\x00", "a\x00b", "\ud800", "x\udfffy", "\r\n", "\r\nSet-Cookie: fuzz=1", "/\\evil.example",
    "//evil.example", "javascript:alert(1)", "<script>alert(1)</script>", "' OR 1=1 --", "%00",
    "../../../etc/passwd", "\u202e", "😀" * 50, "null", "true", "[]", "{}", "positive",
    "escrow", "balance", "login", "link", "requester", "annotator", "admin",
]
FIELDS = ["result", "amount", "key", "source", "reason", "answer_id", "worker_id", "address",
          "purpose", "message", "signature", "from_name", "to_name", "type", "value", "choices",
          "username", "password", "role", "title", "instructions", "label_config", "reward",
          "overlap", "seconds_per_task", "aggregation", "min_level", "current_password",
          "new_password", "confirm", "csrf_token", "next", "page", "answers_page"]
QUERY_KEYS = ["page", "answers_page", "next", "bonus_answer", "bonus_worker", "quality", "format"]
UPLOAD_SUFFIXES = [".csv", ".json", ".jsonl", ".zip", ".png", ".jpg", ".wav", ".mp3", ".txt", ""]


# --- The server, in its own process ----------------------------------------------------------------

def serve(config_path: str) -> None:
    import logging

    from werkzeug.serving import make_server

    from app import create_app

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = json.loads(Path(config_path).read_text())
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def errors(self) -> list[str]:
        """The server's logged tracebacks, one line each: what failed, where, and why."""
        text = self.log.read_text(errors="replace")
        found = []
        for block in re.split(r"\n(?=[A-Z]+:[\w.]+:|Fatal Python error)", text):
            if not block.startswith(("ERROR:", "CRITICAL:", "Fatal Python error")):
                continue
            lines = [line for line in block.splitlines() if line.strip()]
            frames = [line.strip() for line in lines if line.strip().startswith('File "')
                      and "site-packages" not in line]
            found.append(" | ".join([lines[0], *(frames[-1:]), lines[-1]]))
        return found


@pytest.fixture
def fuzz_server(app, tmp_path, targets):
    from browser_support import SHARED_CONFIG

    config = {k: app.config[k] for k in SHARED_CONFIG}
    config.update(WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
                  PUBLIC_URL="http://127.0.0.1")
    path = tmp_path / "fuzz-config.json"
    path.write_text(json.dumps(config))
    log = tmp_path / "fuzz-server.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, __file__, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=stderr, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), f"the fuzz server did not start: {log.read_text()[-3000:]}"
        server = Server(f"http://127.0.0.1:{port}", process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


# --- What the fuzzed requests aim at -----------------------------------------------------------------

@pytest.fixture
def targets(db, app, make_user, make_job):
    """Users for the roles and the ids the routes take: the requester's published job (with an
    answer and a leased task), a draft to upload to, another requester's job, a media file."""
    from annotation.imports import UploadedFile
    from annotation.models import Item
    from annotation.tasks import next_task_for
    from app.demo import IMAGE_CONFIG, shape_png
    from app.operations.jobs import add_items, create_job
    from app.operations.tasks import submit_answer

    from conftest import choices_result

    requester, annotator, stranger = make_user("requester"), make_user(), make_user("requester")
    job = make_job(requester, n_items=4)
    answer = submit_answer(annotator, next_task_for(annotator, job).id, choices_result("positive"))
    db.session.commit()
    lease = next_task_for(annotator, job)
    draft = make_job(requester, n_items=1, publish=False)
    images = create_job(requester, title="Shapes", label_config=IMAGE_CONFIG, reward=10, overlap=1)
    add_items(requester, images, [UploadedFile("a.png", shape_png("circle", 1, size=128))],
              media_root=app.config["MEDIA_ROOT"])
    db.session.flush()
    media = db.session.scalars(db.select(Item).where(Item.job_id == images.id)).one().data["image"]
    foreign = make_job(stranger, n_items=1)
    ids = {
        "job_id": [job.id, draft.id, images.id, foreign.id],
        "answer_id": [answer.id],
        "assignment_id": [lease.id, answer.assignment_id],
        "name": [media.rsplit("/", 1)[1]],
        "fmt": ["csv", "json"],
    }
    found = {"ids": ids, "upload_job": draft.id,
             "users": {"annotator": annotator.username, "requester": requester.username}}
    db.session.commit()  # and nothing read after it: on SQLite the server needs the write lock
    return found


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    methods: tuple[str, ...]
    converters: dict[str, Any]


def routes_of(app) -> list[Route]:
    """Every route of the app but static files (nothing there parses input)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        methods = tuple(sorted(rule.methods - {"HEAD", "OPTIONS"}))
        found.append(Route(rule.endpoint, rule.rule, methods, dict(rule._converters)))
    return sorted(found, key=lambda r: r.rule)


def kind_of(route: Route) -> str:
    """"json" for the JSON API, "upload" for routes that take files, "page" for the rest."""
    if route.rule.startswith("/api/"):
        return "json"
    return "upload" if route.endpoint == "web.upload_items" else "page"


# --- Strategies --------------------------------------------------------------------------------------

def strategies(routes: list[Route], ids: dict[str, list]):
    from hypothesis import strategies as st
    from werkzeug.routing import AnyConverter, IntegerConverter

    text = st.one_of(st.sampled_from(NASTY), st.text(max_size=30))
    clean_text = st.one_of(st.sampled_from([s for s in NASTY if not re.search("[\ud800-\udfff]", s)]),
                           st.text(max_size=30))
    big_ints = st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30])
    numbers = st.one_of(big_ints, st.integers(), st.floats(allow_nan=True, allow_infinity=True))
    leaves = st.one_of(st.none(), st.booleans(), numbers, text)
    json_values = st.recursive(
        leaves, lambda children: st.one_of(st.lists(children, max_size=4),
                                           st.dictionaries(st.one_of(st.sampled_from(FIELDS), text),
                                                           children, max_size=4)),
        max_leaves=12)
    choice_result = st.lists(st.fixed_dictionaries({
        "from_name": st.one_of(st.just("sentiment"), st.just("shape"), text),
        "to_name": st.one_of(st.just("text"), st.just("image"), text),
        "type": st.one_of(st.just("choices"), text),
        "value": st.one_of(st.fixed_dictionaries({"choices": st.lists(
            st.one_of(st.sampled_from(["positive", "negative", "neutral", "circle"]), text), max_size=3)}),
            json_values),
    }), max_size=3)
    json_objects = st.dictionaries(st.sampled_from(FIELDS),
                                   st.one_of(json_values, choice_result, big_ints, text), max_size=6)

    def digits(n: int) -> str:
        return str(n)

    def path_value(name: str, converter):
        known = ids.get(name, [])
        if isinstance(converter, IntegerConverter):
            weird = st.sampled_from(["0", "2147483647", "2147483648", "4294967296", "9223372036854775807",
                                     "9223372036854775808", "1" * 40, "٥", "²", "-1", "1.5", "x"])
            options = [weird, st.integers(min_value=0, max_value=2**70).map(digits)]
            if known:
                options.insert(0, st.sampled_from([str(v) for v in known]))
            return st.one_of(*options)
        if isinstance(converter, AnyConverter):
            return st.one_of(st.sampled_from(sorted(converter.items)), clean_text)
        if known:
            return st.one_of(st.sampled_from(known), text)
        return text

    def url_quote(value: str) -> str:
        return quote(value.encode("utf-8", "surrogatepass"), safe="")

    @st.composite
    def paths(draw, route: Route) -> str:
        def fill(match: re.Match) -> str:
            name = match.group(1)
            value = draw(path_value(name, route.converters.get(name)))
            return url_quote(str(value)) or "x"
        return re.sub(r"<(?:[^:<>]+:)?(\w+)>", fill, route.rule)

    queries = st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), text),
                              st.one_of(text, big_ints.map(str)), max_size=3).map(
        lambda q: "&".join(f"{url_quote(k)}={url_quote(v)}" for k, v in q.items()))

    def csv_file(rows: list[list[str]]) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().encode("utf-8", "surrogatepass")

    csv_headers = st.lists(st.one_of(st.sampled_from(["text", "image", "audio", "_gold.sentiment", "_gold"]),
                                     text), min_size=1, max_size=3)
    csv_bodies = st.builds(lambda header, rows: csv_file([header, *rows]), csv_headers,
                           st.lists(st.lists(text, max_size=4), max_size=6))
    jsonl_bodies = st.lists(st.one_of(st.fixed_dictionaries({"text": st.one_of(text, json_values)}),
                                      st.fixed_dictionaries({"data": json_objects}), json_values),
                            max_size=6).map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode())
    json_bodies = st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {"text": text, "_gold": st.one_of(json_objects, text)}), max_size=4)).map(lambda v: json.dumps(v).encode())
    special_files = st.sampled_from([
        ("rows.csv", b'text\n"an unterminated quote\nnext row\n'),
        ("rows.csv", b"text\nNaN\nInfinity\n" + b"1" * 5000 + b"\n"),
        ("rows.csv", "text\n\ud800\n".encode("utf-8", "surrogatepass")),
        ("rows.csv", b"text\na\x00b\n"),
        ("rows.csv", b"\xff\xfe\x00t\x00e\x00x\x00t"),
        ("rows.jsonl", b'{"text": NaN}\n{"text": Infinity}\n{"text": ' + b"9" * 5000 + b"}\n"),
        ("rows.json", b"[" * 50_000 + b"]" * 50_000),
        ("rows.json", b'[{"text": "\\ud800"}]'),
        ("rows.json", b'{"data": {"text": "x"}}'),
        ("rows.jsonl", b'{"text": "ok"}\n{"text": '),
        ("a.png", b"\x89PNG\r\n\x1a\nnot really"),
        ("a.wav", b"RIFF\x00\x00\x00\x00WAVEfmt "),
        ("bomb.zip", b"PK\x03\x04 truncated"),
    ])

    def zipped(members: list[tuple[str, bytes]]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for n, (name, body) in enumerate(members):
                name = name.replace("\x00", "_") or "x"  # zipfile cuts a name at NUL
                archive.writestr(f"{n}/{name}" if n else name, body)
        return out.getvalue()

    names = st.builds(lambda stem, suffix: stem + suffix, clean_text.map(lambda s: s[:40]),
                      st.sampled_from(UPLOAD_SUFFIXES))
    plain_files = st.tuples(names, st.one_of(csv_bodies, jsonl_bodies, json_bodies,
                                             st.binary(max_size=300)))
    zip_files = st.lists(st.one_of(plain_files, special_files), max_size=4).map(
        lambda members: ("pack.zip", zipped(members)))
    files = st.lists(st.one_of(plain_files, special_files, zip_files), min_size=0, max_size=4)

    raw_json = st.one_of(
        st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b"{\"a\":" * 70 + b"1" + b"}" * 70,
                         b"[" * 65 + b"]" * 65, b"[" * 1000, b"]]]", b'{"a": 1,}', b"\xff\xfe", b"",
                         b'"\\ud800"', b'{"result": [' + b"1," * 10 + b"1]}", b"1" * 5000,
                         b'{"amount": 1e400}', b'{"key": "a\\u0000b"}', b'\xef\xbb\xbf{"a": 1}',
                         b" " * (MAX_CONTENT_LENGTH + 1), b"[" + b"0," * 600_000 + b"0]"]),
        st.binary(max_size=200))
    form_fields = st.dictionaries(st.sampled_from(FIELDS), st.one_of(clean_text, big_ints.map(str)), max_size=6)
    content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data", "application/json; charset=latin-1",
                                     "application/merge-patch+json", "", "x/y; boundary="])
    no_body = st.just(("none", None, None, None))
    json_body = st.builds(lambda v: ("json", "application/json", json.dumps(v).encode(), None),
                          st.one_of(json_objects, json_values))
    raw_body = st.builds(lambda ct, raw: ("raw", ct, raw, None), content_types, raw_json)
    form_body = st.builds(lambda f: ("form", None, f, None), form_fields)
    upload_body = st.builds(lambda f, fs: ("upload", None, f, fs), form_fields, files)
    # What each kind of route mostly gets, and now and then anything else.
    bodies = {
        "json": st.one_of(json_body, json_body, raw_body, raw_body, no_body, form_body, upload_body),
        "upload": st.one_of(upload_body, upload_body, upload_body, raw_body, json_body, form_body),
        "page": st.one_of(no_body, form_body, json_body, raw_body, upload_body),
    }
    focus = [r for r in routes if kind_of(r) != "page"]
    pick_route = st.one_of(st.sampled_from(focus), st.sampled_from(focus), st.sampled_from(routes))

    @st.composite
    def requests_(draw):
        route = draw(pick_route)
        return {
            "route": route,
            "method": draw(st.sampled_from(route.methods)),
            "path": draw(paths(route)),
            "query": draw(st.one_of(st.just(""), queries)),
            "body": draw(bodies[kind_of(route)]),
            "role": draw(st.sampled_from(ROLES)),
            "csrf": draw(st.integers(0, 9)) > 0,  # mostly with the token, so bodies reach the views
            "accept": draw(st.sampled_from(["text/html", "application/json", "*/*"])),
        }

    return requests_()


# --- Clients ----------------------------------------------------------------------------------------

CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


class Roles:
    """One requests.Session per role, each with its CSRF token; re-logged in when a fuzzed
    request (log out, log in, sign up) may have replaced its session."""

    def __init__(self, base: str, users: dict[str, str]) -> None:
        self.base, self.users = base, users
        self.sessions: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.logins = 0
        for role in ROLES:
            self.reset(role)

    def reset(self, role: str) -> None:
        import requests

        session = requests.Session()
        page = session.get(f"{self.base}/login", timeout=REQUEST_TIMEOUT)
        token = CSRF_META.search(page.text).group(1)
        if role != "anonymous":
            from conftest import PASSWORD

            done = session.post(f"{self.base}/login", data={
                "username": self.users[role], "password": PASSWORD, "csrf_token": token},
                allow_redirects=False, timeout=REQUEST_TIMEOUT)
            assert done.status_code == 302, (role, done.status_code)
            page = session.get(self.base + done.headers["Location"], timeout=REQUEST_TIMEOUT)
            token = CSRF_META.search(page.text).group(1)
        self.sessions[role], self.tokens[role] = session, token
        self.logins += 1


@dataclass
class Tally:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    by_endpoint: dict[str, int] = field(default_factory=dict)
    slowest: tuple[float, str] = (0.0, "")

    def record(self, what: str, endpoint: str, status: int | None, elapsed: float, note: str = "") -> None:
        self.requests += 1
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status is None or status >= 500:
            self.failures.append(f"{status or note} ← {what}")
        if elapsed > self.slowest[0]:
            self.slowest = (elapsed, what)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def describe(req: dict) -> str:
    kind, ctype, data, files = req["body"]
    body = {"none": "no body", "form": f"form {str(data)[:120]!r}"}.get(kind)
    if body is None and kind == "upload":
        body = f"upload {[(n[:40], len(b)) for n, b in files]} form {str(data)[:80]!r}"
    if body is None:
        body = f"{kind} {ctype!r} {len(data)} bytes {data[:80]!r}"
    query = f"?{req['query']}" if req["query"] else ""
    return (f"{req['role']} {req['method']} {req['path'][:160]}{query[:120]} "
            f"[{req['route'].endpoint}] csrf={req['csrf']} {body}")


def send(roles: Roles, tally: Tally, req: dict) -> None:
    import requests

    role, route = req["role"], req["route"]
    kind, ctype, data, files = req["body"]
    headers = {"Accept": req["accept"]}
    if req["csrf"]:
        headers["X-CSRFToken"] = roles.tokens[role]
    options: dict[str, Any] = {}
    if kind in ("json", "raw"):
        options["data"] = data
        if ctype:
            headers["Content-Type"] = ctype
    elif kind == "form":
        options["data"] = data
    elif kind == "upload":
        options["data"] = data
        options["files"] = [("files", (name, body, "application/octet-stream")) for name, body in files] or None
    url = f"{roles.base}{req['path']}" + (f"?{req['query']}" if req["query"] else "")
    what = describe(req)
    start = time.perf_counter()
    try:
        response = roles.sessions[role].request(req["method"], url, headers=headers, allow_redirects=False,
                                                timeout=REQUEST_TIMEOUT, **options)
    except requests.Timeout:
        tally.record(what, route.endpoint, None, time.perf_counter() - start, "timeout")
        return
    except requests.ConnectionError as exc:
        tally.record(what, route.endpoint, None, time.perf_counter() - start, f"connection lost ({exc})")
        return
    tally.record(what, route.endpoint, response.status_code, time.perf_counter() - start)
    if route.endpoint in SESSION_ENDPOINTS and response.status_code < 400:
        roles.reset(role)


def sweep(routes: list[Route], targets: dict) -> list[dict]:
    """Every route, method and role once, with the first known value of each path argument and
    an empty JSON object: so every route is reached however few examples Hypothesis draws."""
    from werkzeug.routing import AnyConverter

    out = []
    for route in routes:
        def fill(match: re.Match, route: Route = route) -> str:
            name = match.group(1)
            converter = route.converters.get(name)
            if isinstance(converter, AnyConverter):
                return sorted(converter.items)[0]
            return quote(str(targets["ids"].get(name, ["x"])[0]), safe="")
        path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", fill, route.rule)
        for method in route.methods:
            for role in ROLES:
                body = ("none", None, None, None) if method == "GET" else ("json", "application/json", b"{}", None)
                out.append({"route": route, "method": method, "path": path, "query": "", "body": body,
                            "role": role, "csrf": True, "accept": "application/json"})
    return out


def known_bad_requests(routes: list[Route], targets: dict) -> list[dict]:
    """The inputs the issue names, sent first and exactly: each once per role."""
    by_endpoint = {r.endpoint: r for r in routes}
    job, answer = targets["ids"]["job_id"][0], targets["ids"]["answer_id"][0]
    upload = targets["upload_job"]
    deep = b"[" * 100_000 + b"]" * 100_000
    cases = [
        ("api.siwe_message", "POST", "/api/siwe/message", "", ("raw", "application/json", deep, None)),
        ("api.next_task", "POST", f"/api/jobs/{job}/next", "", ("raw", "application/json", deep, None)),
        ("web.job_detail", "GET", "/jobs/2147483648", "", ("none", None, None, None)),
        ("web.job_detail", "GET", f"/jobs/{job}", "page=9223372036854775808", ("none", None, None, None)),
        ("web.job_detail", "GET", f"/jobs/{job}", "answers_page=2**63&page=-1", ("none", None, None, None)),
        ("web.label", "GET", "/work/jobs/9223372036854775808", "", ("none", None, None, None)),
        ("api.bonus", "POST", f"/api/jobs/{job}/bonuses", "", ("json", "application/json", json.dumps(
            {"amount": 1, "key": "a\x00b", "answer_id": "²", "source": "escrow"}).encode(), None)),
        ("api.bonus", "POST", f"/api/jobs/{job}/bonuses", "", ("json", "application/json", json.dumps(
            {"amount": 2**63, "key": "k", "worker_id": 2**31, "source": "balance"}).encode(), None)),
        ("api.dispute", "POST", f"/api/answers/{answer}/dispute", "", ("json", "application/json",
                                                                     b'{"reason": "\\ud800"}', None)),
        ("web.login", "POST", "/login", "next=%0D%0ASet-Cookie:%20x=1", ("form", None, {
            "username": "nobody", "password": "wrong"}, None)),
        ("web.login", "GET", "/login", "next=/%0D%0ALocation:%20//evil.example", ("none", None, None, None)),
        ("web.upload_items", "POST", f"/jobs/{upload}/items", "", ("upload", None, {}, [
            ("a.csv", b"text\nNaN\nInfinity\n" + b"1" * 5000 + b"\n"),
            ("b.json", b"[" * 50_000 + b"]" * 50_000),
            ("c.jsonl", b'{"text": "\\ud800"}\n'),
            ("d.csv", b'text\n"unterminated\nnext\n'),
            ("e.png", b"not an image")])),
        ("web.upload_items", "POST", f"/jobs/{upload}/items", "", ("upload", None, {}, [
            ("rows.zip", _zip_of([("x.csv", b"text\n" + b"row\n" * 2000)] * 4))] * 4)),
        ("web.login", "POST", "/login", "", ("raw", "application/json", b'"a string"', None)),
        ("web.job_action", "POST", f"/jobs/{job}/pause", "", ("raw", "application/json", b"[1]", None)),
        ("web.logout", "POST", "/logout", "", ("raw", "application/json", b"7", None)),
        ("api.answer", "POST", "/api/tasks/2147483648/answer", "", ("json", "application/json",
                                                                    b'{"result": []}', None)),
        ("api.answer", "POST", f"/api/tasks/{targets['ids']['assignment_id'][0]}/answer", "", (
            "json", "application/json", json.dumps({"result": [{"x": "y" * 100}] * 1000}).encode(), None)),
    ]
    out = []
    for endpoint, method, path, query, body in cases:
        for role in ROLES:
            out.append({"route": by_endpoint[endpoint], "method": method, "path": path, "query": query,
                        "body": body, "role": role, "csrf": True, "accept": "application/json"})
    return out


def _zip_of(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, (name, body) in enumerate(members):
            archive.writestr(f"{n}-{name}", body)
    return out.getvalue()


# --- The test ---------------------------------------------------------------------------------------

def test_fuzzing_every_route_gives_no_5xx_and_the_server_survives(app, fuzz_server, targets, runner,
                                                                  record_property):
    from hypothesis import HealthCheck, Phase, given, settings

    routes = routes_of(app)
    roles = Roles(fuzz_server.base, targets["users"])
    tally = Tally()
    started = time.perf_counter()
    for req in [*sweep(routes, targets), *known_bad_requests(routes, targets)]:
        send(roles, tally, req)

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategies(routes, targets["ids"]))
    def fuzz(req):
        if fuzz_server.alive():
            send(roles, tally, req)

    fuzz()
    elapsed = time.perf_counter() - started

    import requests

    health = requests.get(f"{fuzz_server.base}/healthz", timeout=REQUEST_TIMEOUT) if fuzz_server.alive() else None
    uncovered = sorted({r.endpoint for r in routes} - set(tally.by_endpoint))
    focused = sum(n for e, n in tally.by_endpoint.items() if e.startswith("api.") or e == "web.upload_items")
    summary = (f"fuzz: {tally.requests} requests ({focused} to the JSON API and uploads) in {elapsed:.1f} s "
               f"over {len(routes)} routes, "
               f"{tally.server_errors} 5xx, {len(tally.failures)} failures; statuses {dict(sorted(tally.statuses.items()))}; "
               f"slowest {tally.slowest[0]:.2f} s")
    print("\n" + summary)
    for name, value in (("fuzz_requests", tally.requests), ("fuzz_5xx", tally.server_errors),
                        ("fuzz_failures", len(tally.failures)), ("fuzz_seconds", round(elapsed, 1))):
        record_property(name, value)

    assert fuzz_server.alive(), f"the server died: {fuzz_server.log.read_text()[-4000:]}"
    assert health is not None and health.status_code == 200 and health.json() == {"ok": True}
    errors = fuzz_server.errors()
    assert tally.failures == [] and errors == [], "\n".join(
        [summary, "requests:", *tally.failures[:40], "server log:", *errors[:40]])
    assert uncovered == [], f"routes never fuzzed: {uncovered}"
    reconcile = runner.invoke(args=["rewards", "reconcile"])
    assert reconcile.exit_code == 0, reconcile.output


if __name__ == "__main__":
    serve(sys.argv[1])
