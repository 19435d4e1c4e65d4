from tests.builders import MICRO, award, member, tree


async def test_an_award_shows_in_the_balance(client, ledger):
    """An award through HTTP raises the member's available and earned points."""
    await tree(ledger)
    member_id = await member(ledger)
    result = await award(client, member_id, 7)
    balance = (await client.get(f"/v1/members/{member_id}/balance")).json()
    assert 7 == result["available_points"]
    assert (7, 7, 7) == (
        balance["available_points"],
        balance["lifetime_earned_points"],
        balance["period_earned_points"],
    )
    assert MICRO
