"""The in-app inbox: own notifications and role broadcasts, read marks, privacy between users."""

from __future__ import annotations

from sqlalchemy import select

from rodistaa.acs.tables import notifications
from rodistaa.core.ids import new_id
from rodistaa.core.roles import Role
from rodistaa.notifications.repo import notify
from tests.api.flows import Session, sign_up
from tests.conftest import Harness


async def send(h: Harness, session: Session, role: Role, message: str) -> str:
    async with h.app.state.services.db.transaction() as conn:
        return await notify(conn, user_id=session.user_id, role=role, message=message, now=h.clock.now())


async def broadcast(h: Harness, role: Role, message: str) -> str:
    notification_id = new_id("NTF")
    async with h.app.state.services.db.transaction() as conn:
        await conn.execute(
            notifications.insert().values(
                id=notification_id, user_id=None, role=role.value, message=message, created_at=h.clock.now()
            )
        )
    return notification_id


async def inbox(h: Harness, session: Session, **params: str) -> dict:
    response = await h.client.get("/v1/notifications", params=params, headers=session.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_user_sees_their_own_notifications_and_their_roles_broadcasts_newest_first(
    harness: Harness,
) -> None:
    h = harness
    operator = await sign_up(h, "+919555000001", role=Role.OPERATOR, name="Op One")
    shipper = await sign_up(h, "+919555000002", role=Role.SHIPPER, name="Ship One")
    first = await send(h, operator, Role.OPERATOR, "Bid BID-1 accepted")
    h.clock.advance(seconds=1)
    to_operators = await broadcast(h, Role.OPERATOR, "GPS anomaly detected")
    await broadcast(h, Role.SHIPPER, "For shippers only")
    await send(h, shipper, Role.SHIPPER, "Shipper's own")

    body = await inbox(h, operator)

    assert [n["id"] for n in body["data"]] == [to_operators, first]
    assert body["data"][0]["broadcast"] is True and body["data"][1]["broadcast"] is False
    assert body["data"][1]["message"] == "Bid BID-1 accepted" and body["data"][1]["readAt"] is None
    assert body["meta"]["total"] == 2


async def test_marking_read_is_idempotent_and_filters_the_unread_view(harness: Harness) -> None:
    h = harness
    operator = await sign_up(h, "+919555000003", role=Role.OPERATOR, name="Op Two")
    read_me = await send(h, operator, Role.OPERATOR, "one")
    await send(h, operator, Role.OPERATOR, "two")
    first_read_at = h.clock.now()

    response = await h.client.post(f"/v1/notifications/{read_me}/read", headers=operator.headers)
    assert response.status_code == 200, response.text
    assert response.json()["readAt"] is not None
    h.clock.advance(minutes=5)
    again = await h.client.post(f"/v1/notifications/{read_me}/read", headers=operator.headers)
    assert again.status_code == 200
    async with h.app.state.services.db.read() as conn:
        stored = (
            await conn.execute(select(notifications.c.read_at).where(notifications.c.id == read_me))
        ).scalar()
    assert stored == first_read_at  # the first read time is kept

    unread = await inbox(h, operator, unread="true")
    assert [n["message"] for n in unread["data"]] == ["two"]


async def test_someone_elses_notification_is_not_found_and_stays_unread(harness: Harness) -> None:
    h = harness
    owner = await sign_up(h, "+919555000004", role=Role.OPERATOR, name="Owner")
    other = await sign_up(h, "+919555000005", role=Role.OPERATOR, name="Other")
    notification_id = await send(h, owner, Role.OPERATOR, "private")

    response = await h.client.post(f"/v1/notifications/{notification_id}/read", headers=other.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert (await inbox(h, other))["data"] == []
    assert (await inbox(h, owner))["data"][0]["readAt"] is None


async def test_a_broadcast_cannot_be_marked_read_for_everyone(harness: Harness) -> None:
    h = harness
    operator = await sign_up(h, "+919555000006", role=Role.OPERATOR, name="Op Three")
    notification_id = await broadcast(h, Role.OPERATOR, "to all operators")

    response = await h.client.post(f"/v1/notifications/{notification_id}/read", headers=operator.headers)

    assert response.status_code == 409
    assert response.json()["code"] == "INVALID_STATE"
    async with h.app.state.services.db.read() as conn:
        read_at = (
            await conn.execute(select(notifications.c.read_at).where(notifications.c.id == notification_id))
        ).scalar()
    assert read_at is None


async def test_the_inbox_needs_a_signed_in_user(harness: Harness) -> None:
    response = await harness.client.get("/v1/notifications")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
