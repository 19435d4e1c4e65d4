"""The OpenAPI description the service serves says what it answers: every problem an
operation can give, as problem+json, and each file type the export streams; what each
operation does, an example of each request, and the codes of each refusal."""

import pytest

from ledger import LedgerError, Principal, default_rules_text, default_tiers_text, load_demo
from tests.builders import MICRO, award_body, key, member, tree

PROBLEM = "application/problem+json"
KEY_CONFLICTS = ("exists_with_different_body", "idempotency_key_taken")


async def _description(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert 200 == response.status_code
    return response.json()


async def test_every_operation_describes_its_problems(client):
    """Every operation lists the problems any request can meet (a lost database among
    them), writes also the rate limit, and a body's operation also a body over the limit;
    a 409 only where the ledger's state can refuse (the sweep, for one, cannot)."""
    paths = (await _description(client))["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"401", "403", "500", "503"} | ({"429"} if method in ("post", "put", "patch") else set())
            expected |= {"413"} if "requestBody" in operation else set()
            assert expected <= responses.keys(), (method, path)
            problems = {s: r for s, r in responses.items() if s >= "400"}
            assert all(PROBLEM in r["content"] for r in problems.values()), (method, path)
    assert "409" not in paths["/v1/admin/sweep"]["post"]["responses"]
    assert "409" not in paths["/v1/members/{member_id}"]["get"]["responses"]
    awards = paths["/v1/awards"]["post"]["responses"]
    assert ["201", "400", "401", "403", "404", "409", "413", "422", "429", "500", "503"] == sorted(awards)
    assert {"$ref": "#/components/schemas/ProblemRead"} == awards["422"]["content"][PROBLEM]["schema"]
    # A client learns from the description both ways its key can be refused.
    assert [True, True] == [code in awards["409"]["description"] for code in KEY_CONFLICTS]


async def test_the_problem_shape_is_described(client):
    """A problem has RFC 9457's members, a stable code and, where there is one, the field."""
    problem = (await _description(client))["components"]["schemas"]["ProblemRead"]
    assert ["code", "detail", "status", "title", "type"] == sorted(problem["required"])
    assert "field" in problem["properties"]


async def test_the_export_describes_both_file_types(client):
    """The nomination export answers CSV or XLSX, and says so."""
    ok = (await _description(client))["paths"]["/v1/exports/nominations"]["get"]["responses"]["200"]
    assert {"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} == set(ok["content"])


MOVES_POINTS = {
    ("post", "/v1/awards"),
    ("post", "/v1/deductions"),
    ("post", "/v1/transactions/{transaction_id}/reversal"),
    ("post", "/v1/members/{member_id}/erasure"),  # moves none, but is exactly-once like them
    ("post", "/v1/activities/{activity_id}/settle"),
    ("post", "/v1/claims/{claim_id}/approve"),
    ("post", "/v1/claims/review"),
    ("post", "/v1/redemptions"),
    ("post", "/v1/redemptions/{redemption_id}/fulfil"),
    ("post", "/v1/redemptions/{redemption_id}/cancel"),
}
"""The writes that move points, each exactly once under its client's key."""


async def test_every_write_that_moves_points_declares_its_idempotency_key(client):
    """A client generated from the description sends Idempotency-Key where it is needed:
    a required header on exactly the writes that move points, saying what a retry does."""
    paths = (await _description(client))["paths"]
    declared = {
        (method, path): parameter
        for path, operations in paths.items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "Idempotency-Key"
    }
    assert MOVES_POINTS == declared.keys()
    assert all(p["in"] == "header" and p["required"] and "retry" in p["description"] for p in declared.values())


async def test_a_write_without_its_key_is_refused_naming_the_header(client):
    """Declared is enforced: the service's own 422, not a framework's message."""
    response = await client.post("/v1/redemptions", json={"reward": "r-none", "member_id": "m-none"})
    assert 422 == response.status_code
    assert ("invalid_input", "Idempotency-Key") == (response.json()["code"], response.json()["field"])


def _operations(description: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, ops in description["paths"].items() for method, op in ops.items()]


def _codes(response: dict) -> list[str]:
    """The codes a problem response's description lists, one a line: ``- `code`: meaning``."""
    return [line.split("`")[1] for line in response["description"].splitlines() if line.startswith("- `")]


def _error_codes() -> set[str]:
    """Every code a ledger error can carry."""
    found, classes = set(), [LedgerError]
    while classes:
        cls = classes.pop()
        found.add(cls.code)
        classes.extend(cls.__subclasses__())
    return found


async def test_every_operation_says_what_it_does_and_who_may_call_it(client):
    """A description of a sentence or more, ending with the roles its guard admits."""
    for method, path, op in _operations(await _description(client)):
        description = op.get("description", "")
        assert len(description.split(". ")) >= 2 and " Allowed roles: " in description, (method, path)
    award = (await _description(client))["paths"]["/v1/awards"]["post"]["description"]
    assert award.endswith("Allowed roles: admin, organizer.")


async def test_every_request_has_an_example(client):
    """Each body, in each of its media types, carries an example, and so does each path
    parameter, header and required query parameter (an optional one where it shows a use:
    a search's ``q`` and a page's ``after`` are not sent together)."""
    exemplified = 0
    for method, path, op in _operations(await _description(client)):
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            example = content.get("examples", {}).get("demo", {})
            assert "value" in example or "externalValue" in example, (method, path, media)
        for parameter in op.get("parameters", []):
            needed = parameter["in"] != "query" or parameter.get("required", False)
            assert not needed or "demo" in parameter.get("examples", {}), (method, path, parameter["name"])
            exemplified += "demo" in parameter.get("examples", {})
    assert exemplified > 100  # the shared ones (limit, cursor, period …) too


def _filled(path: str, parameters: list[dict]) -> tuple[str, dict[str, str]]:
    """The path with its example path parameters, and the example query."""
    query = {}
    for parameter in (p for p in parameters if "demo" in p.get("examples", {})):
        value = parameter["examples"]["demo"]["value"]
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query":
            query[parameter["name"]] = str(value).lower() if isinstance(value, bool) else str(value)
    return path, query


@pytest.mark.sqlite_only
async def test_every_example_is_accepted_by_its_operation_on_the_demo(client, ledger):
    """Sent as written to the demo, no example is refused as malformed or invalid input,
    and none fails: an example that no longer fits its operation fails here. (A 404 or a
    409 is the demo's state, not the example's fault, and must carry a code it lists.)"""
    await ledger.load_rules(Principal.admin("test"), default_rules_text())
    await ledger.load_tiers(Principal.admin("test"), default_tiers_text())
    assert await load_demo(ledger)
    for method, path, op in _operations(await _description(client)):
        url, query = _filled(path, op.get("parameters", []))
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content and content:
            continue  # a file body: its example is the template, checked by the import tests
        body = content.get("application/json", {}).get("examples", {}).get("demo", {}).get("value")
        response = await client.request(
            method.upper(), url, params=query, json=body, headers={"Idempotency-Key": f"example {method} {path}"}
        )
        refused = response.status_code in (400, 422) or response.status_code >= 500
        assert not refused, (method, path, response.status_code, response.text[:300])
        if response.status_code in (404, 409):  # the demo's state refused it: with a code the operation lists
            assert response.json()["code"] in _codes(op["responses"][str(response.status_code)]), (method, path)


async def test_every_refusal_names_the_codes_it_can_carry(client):
    """A 404, 409 or 422 lists its codes, each a code the service really answers with; an
    operation that takes input describes a 422 with invalid_input, and one that takes an
    Idempotency-Key a 409 with both ways its key can be refused."""
    known = _error_codes()
    for method, path, op in _operations(await _description(client)):
        responses = op["responses"]
        for status in ("404", "409", "422"):
            if status in responses:
                codes = _codes(responses[status])
                assert codes and set(codes) <= known, (method, path, status, codes)
        takes_input = "requestBody" in op or op.get("parameters")
        assert (not takes_input) or "invalid_input" in _codes(responses["422"]), (method, path)
        keyed = any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
        assert (not keyed) or set(KEY_CONFLICTS) <= set(_codes(responses["409"])), (method, path)


async def test_a_refusal_carries_a_code_its_description_lists(client, ledger):
    """What the service answers matches what it says: a redemption beyond the member's
    points, a reversal of an unknown transaction, an award to an unknown member."""
    await tree(ledger)
    member_id = await member(ledger)
    paths = (await _description(client))["paths"]
    reward = {"code": "r-毛巾", "org_unit": MICRO, "name_zh": "毛巾", "kind": "goods", "cost_points": 2, "stock": 3}
    assert 201 == (await client.post("/v1/rewards", json=reward)).status_code
    for method, path, url, body in (
        ("post", "/v1/redemptions", "/v1/redemptions", {"reward": "r-毛巾", "member_id": member_id}),
        ("post", "/v1/transactions/{transaction_id}/reversal", "/v1/transactions/999/reversal", {"reason": "错"}),
        ("post", "/v1/awards", "/v1/awards", award_body("m-无此人")),
    ):
        response = await client.post(url, json=body, headers={"Idempotency-Key": key()})
        status, code = str(response.status_code), response.json()["code"]
        assert code in _codes(paths[path][method]["responses"][status]), (path, status, code)
