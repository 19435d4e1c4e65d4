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
