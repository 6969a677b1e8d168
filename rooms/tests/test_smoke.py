import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)


async def test_two_users_chat_and_see_counts(make_room, seller, buyer, room_socket):
    room = await sync_to_async(make_room)(live=True)
    seller_ws = await room_socket(room, seller)
    connected, _ = await seller_ws.connect()
    assert connected
    state = await seller_ws.receive_json_from()
    assert state["type"] == "room-state" and state["you"]["role"] == "seller"
    buyer_ws = await room_socket(room, buyer, via="session")
    assert (await buyer_ws.connect())[0]
    state = await buyer_ws.receive_json_from()
    assert state["you"]["role"] == "buyer"
    await buyer_ws.send_json_to({"type": "chat-message", "text": "  hello\x00 there "})
    seen = []
    for _ in range(6):
        try:
            seen.append(await seller_ws.receive_json_from(timeout=2))
        except Exception:
            break
        if any(m["type"] == "chat-message" for m in seen):
            break
    print(seen)
    assert any(m["type"] == "chat-message" and m["text"] == "hello there" for m in seen)
    await seller_ws.disconnect()
    await buyer_ws.disconnect()
