"""The OpenAPI description the service serves says what it answers: every problem an
operation can give, as problem+json, and each file type the export streams."""

PROBLEM = "application/problem+json"
KEY_CONFLICTS = ("exists_with_different_body", "idempotency_key_taken")


async def _description(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert 200 == response.status_code
    return response.json()


async def test_every_operation_describes_its_problems(client):
    """Every operation lists the problems any request can meet (a lost database among
    them), writes also a conflict and the rate limit, and a body's operation also a body
    over the limit."""
    paths = (await _description(client))["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"401", "403", "500", "503"} | ({"409", "429"} if method in ("post", "put", "patch") else set())
            expected |= {"413"} if "requestBody" in operation else set()
            assert expected <= responses.keys(), (method, path)
            problems = {s: r for s, r in responses.items() if s >= "400"}
            assert all(PROBLEM in r["content"] for r in problems.values()), (method, path)
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
