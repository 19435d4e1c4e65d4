"""Hostile and broken input over HTTP: bodies and pages over their limits, wrong JSON
types, unknown fields, text in every script, SQL's meta characters and NUL. Each is kept
exactly as sent or refused with a problem that names the field; nothing is ever a 5xx,
and a refusal changes nothing."""

import json
import re
import socket
from urllib.parse import quote

from sqlalchemy import text

from api import routes
from api.settings import REQUEST_BODY_BYTES_MAX
from api.strict import JSON_DEPTH_MAX
from ledger import Database, migrate
from ledger.access.audit import AUDIT_PAGE_SIZE_MAX
from ledger.access.principals import PRINCIPAL_PAGE_SIZE_MAX
from ledger.earning.activities import ROSTER_SIZE_MAX
from ledger.earning.claims import CLAIM_PAGE_SIZE_MAX
from ledger.earning.summary import LEADERBOARD_SIZE_MAX
from ledger.honours.reports import EVIDENCE_PAGE_SIZE_MAX
from ledger.journal.queries import STATEMENT_PAGE_SIZE_MAX
from ledger.shop.redemptions import REDEMPTION_PAGE_SIZE_MAX
from ledger.shop.rewards import REWARD_PAGE_SIZE_MAX
from ledger.storage.datafiles import DATA_FILE_ERRORS_LISTED_MAX
from ledger.values import ID_MAX, MEMO_LENGTH_MAX
from tests.builders import (
    COMMUNITY,
    GRID,
    MICRO,
    assert_problem,
    award,
    award_body,
    key,
    member,
    post,
    recently,
    reward,
    reward_body,
    rules,
    tree,
)
from tests.site import serving

TABLES = ("journal_txn", "posting", "account", "member", "org_unit", "reward", "redemption", "tier_scheme")


async def _rows(ledger) -> dict[str, int]:
    """Rows per table: what a refused request must leave as it found it."""
    async with ledger.db.read() as conn:
        return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES}


async def _community(client, ledger) -> str:
    """The test tree and rules, a member with 30 points, and a reward at the community."""
    await tree(ledger)
    await rules(ledger)
    mid = await member(ledger)
    await award(client, mid, 30)
    await reward(client)
    return mid


# Sizes.


async def _chunks(body: bytes, size: int = 64 * 1024):
    """The body in pieces with no Content-Length, as a client streaming it sends it."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_body_over_the_limit_is_413_and_changes_nothing(client, ledger):
    """A body one byte over the limit is refused before a handler sees it, whether its
    length is declared or it arrives in chunks."""
    await _community(client, ledger)
    before = await _rows(ledger)
    head, tail = b'{"memo": "', b'"}'
    largest = head + b"x" * (REQUEST_BODY_BYTES_MAX - len(head) - len(tail)) + tail
    oversized = largest[: -len(tail)] + b"x" + tail
    headers = {"Idempotency-Key": key(), "Content-Type": "application/json"}
    assert_problem(await client.post(routes.api(routes.AWARDS), content=largest, headers=headers), 422, "invalid_input")
    declared = await client.post(routes.api(routes.AWARDS), content=oversized, headers=headers)
    chunked = await client.post(routes.api(routes.AWARDS), content=_chunks(oversized), headers=headers)
    for response in (declared, chunked):
        assert_problem(response, 413, "body_too_large")
    assert before == await _rows(ledger)


PAGES = [
    (routes.api(routes.MEMBER_STATEMENT, member_id="m-张三"), "limit", STATEMENT_PAGE_SIZE_MAX),
    (routes.api(routes.MEMBER_EVIDENCE, member_id="m-张三"), "limit", EVIDENCE_PAGE_SIZE_MAX),
    (routes.api(routes.MEMBER_REDEMPTIONS, member_id="m-张三"), "limit", REDEMPTION_PAGE_SIZE_MAX),
    (routes.api(routes.REWARD_REDEMPTIONS, code="r-毛巾"), "limit", REDEMPTION_PAGE_SIZE_MAX),
    (routes.api(routes.REWARDS), "limit", REWARD_PAGE_SIZE_MAX),
    (routes.api(routes.CLAIMS), "limit", CLAIM_PAGE_SIZE_MAX),
    (routes.api(routes.TOKENS), "limit", PRINCIPAL_PAGE_SIZE_MAX),
    (routes.api(routes.AUDIT), "limit", AUDIT_PAGE_SIZE_MAX),
    (routes.api(routes.ORG_UNIT_SUMMARY, code=COMMUNITY), "top", LEADERBOARD_SIZE_MAX),
]


async def test_every_page_size_has_a_maximum(client, ledger):
    """A page of the largest size is served; one more is a 422 naming the parameter."""
    await _community(client, ledger)
    for path, name, most in PAGES:
        assert 200 == (await client.get(path, params={name: most})).status_code, path
        assert_problem(await client.get(path, params={name: most + 1}), 422, "invalid_input", name)


async def _activity(client) -> str:
    """An activity at the micro-grid organised by 张三: the roster's path."""
    activity = await client.post(
        routes.api(routes.ACTIVITIES),
        json={
            "name": "义剪",
            "org_unit": MICRO,
            "rule": "hour",
            "starts_at": "2026-01-01T09:00:00+08:00",
            "ends_at": "2026-01-01T12:00:00+08:00",
            "organizer": "m-张三",
        },
    )
    return routes.api(routes.ACTIVITY_ROSTER, activity_id=activity.json()["id"])


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_a_body_nested_too_deeply_is_400_on_every_route_that_takes_one(client, ledger):
    """Arrays nested one level past the limit, or 50,000 levels, are a malformed request
    on every operation with a JSON body, never a crash; the limit itself is read. (An
    import's body is a spreadsheet, refused by its own rules.)"""
    await _community(client, ledger)
    before = await _rows(ledger)
    paths = (await client.get(f"{routes.OPENAPI}/openapi.json")).json()["paths"]
    operations = [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for path, items in paths.items()
        for method, operation in items.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(operations) > 10
    headers = {"Idempotency-Key": key(), "Content-Type": "application/json"}
    for method, path in operations:
        for depth in (JSON_DEPTH_MAX + 1, 50_000):
            response = await client.request(method, path, content=_nested(depth), headers=headers)
            body = assert_problem(response, 400, "malformed_request")
            assert f"deeper than {JSON_DEPTH_MAX}" in body["detail"], (method, path)
    assert before == await _rows(ledger)
    # At the limit the body is decoded and refused for its shape, not its depth.
    response = await client.post(routes.api(routes.TIERS), content=_nested(JSON_DEPTH_MAX), headers=headers)
    assert "deeper" not in response.json()["detail"]


async def test_brackets_inside_text_are_not_nesting(client, ledger):
    """A memo of a hundred `[` and an escaped quote is text, awarded as sent."""
    await _community(client, ledger)
    memo = '"[{' * 100
    assert 201 == (await post(client, routes.api(routes.AWARDS), award_body("m-张三", memo=memo))).status_code
    lines = (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=quote("m-张三")))).json()["lines"]
    assert memo in [line["memo"] for line in lines]


async def test_a_key_sent_twice_is_400_naming_it(client, ledger):
    """Two `points` in one award are refused by name instead of the last one winning."""
    await _community(client, ledger)
    before = await _rows(ledger)
    body = json.dumps(award_body("m-张三", points=1)).replace('"points": 1', '"points": 1, "points": 30').encode()
    headers = {"Idempotency-Key": key(), "Content-Type": "application/json"}
    problem = assert_problem(
        await client.post(routes.api(routes.AWARDS), content=body, headers=headers), 400, "malformed_request"
    )
    assert "`points`" in problem["detail"]
    assert before == await _rows(ledger)


async def test_a_memo_over_its_length_is_422_naming_it(client, ledger):
    """A memo of a million characters is refused by name, not stored cut short."""
    await _community(client, ledger)
    before = await _rows(ledger)
    for length in (MEMO_LENGTH_MAX + 1, 1_000_000 // 4):
        response = await post(client, routes.api(routes.AWARDS), award_body("m-张三", memo="长" * length))
        assert_problem(response, 422, "invalid_input", "memo")
    assert before == await _rows(ledger)


async def test_a_roster_over_its_size_is_422_naming_it(client, ledger):
    """A roster of one line more than the limit is refused whole: nobody is on it."""
    await _community(client, ledger)
    path = await _activity(client)
    lines = [{"member_id": "m-张三", "quantity": 1}] * (ROSTER_SIZE_MAX + 1)
    assert_problem(await client.put(path, json={"participants": lines}), 422, "invalid_input", "participants")
    assert [] == (await client.get(path.removesuffix("/roster"))).json()["roster"]


# Strict JSON: types and fields.


DEDUCTION = {"member_id": "m-张三", "points": 5, "reason": "违规", "occurred_at": recently()}
STRICT = [
    (routes.api(routes.DEDUCTIONS), DEDUCTION, "points", "5"),
    (routes.api(routes.DEDUCTIONS), DEDUCTION, "points", 5.0),
    (routes.api(routes.DEDUCTIONS), DEDUCTION, "points", True),
    (routes.api(routes.AWARDS), award_body("m-张三"), "points", 5.5),
    (routes.api(routes.AWARDS), award_body("m-张三"), "points", [5]),
    (routes.api(routes.REWARDS), reward_body("r-皂"), "cost_points", "20"),
    (routes.api(routes.REWARDS), reward_body("r-皂"), "cost_points", 20.0),
    (routes.api(routes.REWARDS), reward_body("r-皂"), "stock", "10"),
    (routes.api(routes.REDEMPTIONS), {"reward": "r-毛巾", "member_id": "m-张三"}, "member_id", 1),
    (routes.api(routes.AWARDS), award_body("m-张三"), "points_bonus", 5),
    (routes.api(routes.REDEMPTIONS), {"reward": "r-毛巾", "member_id": "m-张三"}, "quantity", 2),
    (routes.api(routes.REWARDS), reward_body("r-皂"), "price", 20),
]


async def test_wrong_types_and_unknown_fields_are_refused_by_name(client, ledger):
    """A string of digits is not a number, 5.0 and true are not points, and a field the
    API does not know is not silently dropped: each is a 422 naming the field, and
    nothing is written."""
    await _community(client, ledger)
    before = await _rows(ledger)
    for path, body, field, value in STRICT:
        assert_problem(await post(client, path, body | {field: value}), 422, "invalid_input", field)
    assert before == await _rows(ledger)


async def test_a_garbage_data_file_lists_the_first_errors_and_counts_the_rest(client, ledger):
    """A tiers file of entries that are not schemes is one error per entry: the problem
    lists the first hundred in document order (/schemes/99 before /schemes/100), says how
    many more there are, and nothing is stored."""
    listed, more = DATA_FILE_ERRORS_LISTED_MAX, 50
    before = await _rows(ledger)
    response = await client.post(routes.api(routes.TIERS), json={"schemes": [7] * (listed + more)})
    body = assert_problem(response, 422, "invalid_data_file")
    assert [{"path": f"/schemes/{i}", "reason": "7 is not of type 'object'"} for i in range(listed)] == body["errors"]
    assert (more, f"the file has {listed + more} error(s) and was not loaded; the first {listed} are listed") == (
        body["errors_omitted"],
        body["detail"],
    )
    assert before == await _rows(ledger)


async def test_a_roster_line_of_the_wrong_shape_is_named_by_its_position(client, ledger):
    """Inside a list, the refusal names the line and the field: participants[1].quantity."""
    await _community(client, ledger)
    await member(ledger, "m-李四")
    path = await _activity(client)
    for line, field in (({"member_id": "m-李四", "quantity": 2.0}, "quantity"), ({"member_id": "m-李四"}, "quantity")):
        body = {"participants": [{"member_id": "m-张三", "quantity": 1}, line]}
        assert_problem(await client.put(path, json=body), 422, "invalid_input", f"participants[1].{field}")
    extra = {"participants": [{"member_id": "m-张三", "quantity": 1, "hours": 3}]}
    assert_problem(await client.put(path, json=extra), 422, "invalid_input", "participants[0].hours")
    assert [] == (await client.get(path.removesuffix("/roster"))).json()["roster"]


# Text in any script.


SCRIPTS = {
    "chinese": "张秀英",
    "uyghur": "ئابدۇرېھىم تۇرسۇن",  # Arabic script, written right to left
    "tibetan": "བཀྲ་ཤིས་བདེ་ལེགས།",
    "mongolian": "ᠪᠠᠲᠤ ᠮᠥᠩᠬᠡ",
    "emoji": "👩🏽‍🌾志愿者🧹",  # a zero-width-joined sequence with a skin tone
    "combining": "Zoe\u0308 Nguye\u0302\u0303n",  # decomposed marks: never recomposed
    "bidi": "\u202bשלום\u202c עולם\u200f",  # embedding controls and a right-to-left mark
    "beyond_bmp": "𠀀𪚥𰻞",  # CJK extensions outside the Basic Multilingual Plane
}


async def _round_trip(client, name: str) -> None:
    """Store ``name`` as a unit's, a member's and a reward's name and as a memo, with an
    id made of it too, and read each back as the bytes it was sent as."""
    ident = "id-" + "".join(name.split())
    unit = {"code": f"u-{ident}", "name": name, "level": "micro_grid", "parent": GRID}
    assert 201 == (await client.post(routes.api(routes.ORG_UNITS), json=unit)).status_code
    person = {"id": ident, "name": name, "org_unit": unit["code"]}
    assert 201 == (await client.post(routes.api(routes.MEMBERS), json=person)).status_code
    await award(client, ident, 5, memo=name)
    await reward(client, f"r-{ident}", org_unit=unit["code"], name_zh=name, name_en=name)
    stored = [
        (await client.get(routes.api(routes.ORG_UNIT, code=quote(unit["code"])))).json()["name"],
        (await client.get(routes.api(routes.MEMBER, member_id=quote(ident)))).json()["name"],
        (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=quote(ident)))).json()["lines"][0]["memo"],
        (await client.get(routes.api(routes.REWARD, code=quote("r-" + ident)))).json()["name_en"],
    ]
    assert [name.encode()] * 4 == [s.encode() for s in stored]


async def test_text_of_any_script_round_trips_byte_for_byte(client, ledger):
    """A unit, a member (its id too), a reward and a memo keep every code point: nothing
    is normalized, trimmed, reordered or escaped away."""
    await tree(ledger)
    for name in SCRIPTS.values():
        await _round_trip(client, name)


async def test_a_name_is_measured_in_characters_not_bytes(client, ledger):
    """100 characters of four UTF-8 bytes each fit a name; the 101st is refused by name."""
    await tree(ledger)
    longest = {"id": "m-长", "name": "𠀀" * 100, "org_unit": MICRO}
    assert "𠀀" * 100 == (await client.post(routes.api(routes.MEMBERS), json=longest)).json()["name"]
    too_long = {**longest, "id": "m-更长", "name": "𠀀" * 101}
    assert_problem(await client.post(routes.api(routes.MEMBERS), json=too_long), 422, "invalid_input", "name")


# SQL's meta characters and NUL.


SQL_TEXT = ["'; DROP TABLE member; --", "Robert'); DROP TABLE posting;--", "100% _done_", "C:\\temp\\'\\\"", "$1 :x ?"]
SQL_IDS = ["';DROP_TABLE_member;--", "%", "_", "\\", "a%b_c\\d", "1'OR'1'='1"]


async def test_sql_meta_characters_are_stored_literally(client, ledger):
    """Quotes, comment marks, LIKE's wildcards and backslashes in ids, names and memos
    are plain text: stored and read back as sent, and every table is still there."""
    await tree(ledger)
    people = [(f"{ident}{i}", name) for ident in SQL_IDS for i, name in enumerate(SQL_TEXT)]
    for person_id, name in people:
        person = {"id": person_id, "name": name, "org_unit": MICRO}
        assert 201 == (await client.post(routes.api(routes.MEMBERS), json=person)).status_code
        await award(client, person_id, 7, memo=name)
    for person_id, name in people:
        stored = (await client.get(routes.api(routes.MEMBER, member_id=quote(person_id, safe="")))).json()
        line = (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=quote(person_id, safe="")))).json()[
            "lines"
        ][0]
        assert (name, name, 7) == (stored["name"], line["memo"], line["points"]), person_id
    rows = await _rows(ledger)
    assert (len(people), len(people)) == (rows["journal_txn"], rows["member"])
    assert (await ledger.verify()).ok


async def test_like_wildcards_in_a_unit_code_match_only_that_unit(client, ledger):
    """A unit coded with `_` or `%` is its own subtree: a sibling whose code the wildcard
    would match does not leak into its roll-up, and a wildcard query names no unit."""
    await tree(ledger)
    for code in ("g_1", "gX1", "G_1", "g%"):
        await client.post(
            routes.api(routes.ORG_UNITS), json={"code": code, "name": code, "level": "grid", "parent": COMMUNITY}
        )
        await client.post(
            routes.api(routes.ORG_UNITS),
            json={"code": f"{code}-m", "name": code, "level": "micro_grid", "parent": code},
        )
        await member(ledger, f"m-{code}", home=f"{code}-m", name=f"m-{code}")
        await award(client, f"m-{code}", 7)
    for code in ("g_1", "g%"):
        summary = (await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=quote(code, safe="")))).json()
        assert (7, [f"m-{code}"]) == (summary["total_points"], [m["name"] for m in summary["top_members"]])
    for wildcard in ("%", "_", "g_"):
        assert_problem(
            await client.get(routes.api(routes.REWARDS), params={"org_unit": wildcard}), 404, "org_unit_not_found"
        )
    assert [] == (await client.get(routes.api(routes.AUDIT), params={"principal": "%"})).json()["entries"]


NUL_INPUTS = [
    ("POST", routes.api(routes.MEMBERS), {"id": "m-\x00", "name": "张三", "org_unit": MICRO}, "id"),
    ("POST", routes.api(routes.MEMBERS), {"id": "m-王五", "name": "王\x00五", "org_unit": MICRO}, "name"),
    ("POST", routes.api(routes.AWARDS), award_body("m-张三", memo="日巡\x00千步"), "memo"),
    (
        "POST",
        routes.api(routes.TIERS),
        {"schemes": [{"tiers": [{"name": "优\x00秀", "points": 1}]}]},
        "schemes[0].tiers[0].name",
    ),
    ("GET", routes.api(routes.MEMBER, member_id="m-%00"), None, "member_id"),
    ("GET", routes.api(routes.REWARDS) + "?org_unit=%00", None, "org_unit"),
    ("GET", routes.api(routes.AUDIT) + "?principal=admin%00", None, "principal"),
]


async def test_nul_is_refused_wherever_it_is_sent(client, ledger):
    """NUL (U+0000), which PostgreSQL cannot store, is a 422 naming where it was, in the
    body, the path or the query, on both databases alike."""
    await _community(client, ledger)
    before = await _rows(ledger)
    for method, path, body, field in NUL_INPUTS:
        response = await client.request(method, path, json=body, headers={"Idempotency-Key": key()})
        assert_problem(response, 422, "invalid_input", field)
    assert before == await _rows(ledger)


# Regressions: each of these was a 500, or a wrong answer, before.


ID_PATHS = [
    ("GET", routes.TRANSACTION, "transaction_id"),
    ("GET", routes.ACTIVITY, "activity_id"),
    ("POST", routes.ACTIVITY_SETTLE, "activity_id"),
    ("POST", routes.REDEMPTION_FULFIL, "redemption_id"),
    ("POST", routes.CLAIM_APPROVE, "claim_id"),
]


async def test_an_id_too_large_for_the_database_is_422(client, ledger):
    """An id past 2^63 - 1 names nothing and is refused by name instead of overflowing;
    the largest id that fits is simply not found."""
    for method, template, field in ID_PATHS:
        path = routes.api(template, **{field: ID_MAX + 1})
        response = await client.request(method, path, headers={"Idempotency-Key": key()})
        assert_problem(response, 422, "invalid_input", field)
        fits = await client.request(method, routes.api(template, **{field: ID_MAX}), headers={"Idempotency-Key": key()})
        assert 404 == fits.status_code, template


async def test_a_body_that_is_not_utf8_is_400(client, ledger):
    """Bytes that are not UTF-8 inside a JSON string make a malformed request, not a crash,
    whether the body has a declared shape (a member) or is a data file (tiers)."""
    for path in (routes.api(routes.MEMBERS), routes.api(routes.TIERS)):
        response = await client.post(path, content=b'{"id": "\xff\xfe", "schemes": []}')
        assert_problem(response, 400, "malformed_request")


RAW_CHINESE_URLS = (
    routes.api(routes.NOMINATIONS) + "?flag=优秀共产党员",
    routes.api(routes.MEMBER, member_id="张三"),
    routes.api(routes.ORG_UNITS) + "?under=塔湾社区",
)
"""Request targets with raw UTF-8, as ``curl --path-as-is`` or a hand-written client sends them."""


async def test_a_url_with_raw_chinese_is_a_problem_from_the_server_itself(tmp_path):
    """uvicorn refuses a request line that is not ASCII before the app sees it, in the
    query or the path; the service still answers a 400 problem+json telling the client to
    percent-encode."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}"
    db = Database(url, create=True)
    await migrate(db)
    await db.dispose()
    answers = []
    with serving(url) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        for target in RAW_CHINESE_URLS:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(f"GET {target} HTTP/1.1\r\nHost: ledger.test\r\nConnection: close\r\n\r\n".encode())
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            answers.append(answer)
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        problem = json.loads(body)
        assert b"HTTP/1.1 400 " == head[:13]
        assert b"content-type: application/problem+json" in head.lower()
        assert ("malformed_request", 400) == (problem["code"], problem["status"])
        assert "percent-encoded" in problem["detail"]


async def test_a_malformed_token_is_401_without_a_lookup(client, ledger):
    """A token whose principal part is not the hex id the ledger issues is simply not valid."""
    for token in ("glp_\x00.secret", "glp_zzzz.secret", "glp_" + "a" * 64 + ".secret"):
        response = await client.get(routes.api(routes.RULES), headers={"Authorization": f"Bearer {token}"})
        assert 401 == response.status_code


async def test_the_audit_log_takes_since_only_as_an_iso_time_with_its_zone(client, ledger):
    """A bare number is not read as seconds from 1970, nor a time without its zone."""
    for since in ("-901", "1700000000", "2026-01-01T00:00:00", "yesterday"):
        assert_problem(
            await client.get(routes.api(routes.AUDIT), params={"since": since}), 422, "invalid_input", "since"
        )
    assert (
        200 == (await client.get(routes.api(routes.AUDIT), params={"since": "2026-01-01T00:00:00+08:00"})).status_code
    )
