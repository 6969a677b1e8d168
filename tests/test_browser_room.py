"""The room page in a real browser: two people in one live room see each other's chat and
the viewer count change, and chat text can never become HTML."""

from playwright.sync_api import expect

from tests.browser import log_in, send_chat


def test_two_people_chat_in_a_live_room_and_see_the_viewer_count(chromium, live_room_site):
    base_url, ids = live_room_site
    room_url = f"{base_url}/rooms/{ids['room']}/"
    seller = chromium.new_context().new_page()
    buyer = chromium.new_context().new_page()
    try:
        log_in(seller, base_url, "sally", ids["password"])
        seller.goto(room_url)
        expect(seller.locator("#viewer-count")).to_have_text("1")

        log_in(buyer, base_url, "bob", ids["password"])
        buyer.goto(room_url)
        expect(seller.locator("#viewer-count")).to_have_text("2")
        expect(buyer.locator("#viewer-count")).to_have_text("2")

        send_chat(buyer, "Does the straw hat come in blue?")
        expect(seller.locator("#chat-log")).to_contain_text("Does the straw hat come in blue?")
        expect(buyer.locator("#chat-log")).to_contain_text("Does the straw hat come in blue?")

        send_chat(seller, "Natural only, sorry!")
        expect(buyer.locator("#chat-log")).to_contain_text("Natural only, sorry!")

        # The buyer leaves: the seller's count goes back down.
        buyer.close()
        expect(seller.locator("#viewer-count")).to_have_text("1")
    finally:
        seller.context.close()
        if not buyer.is_closed():
            buyer.context.close()


def test_chat_markup_is_shown_as_text_never_run(chromium, live_room_site):
    base_url, ids = live_room_site
    payload = '<img src=x onerror="window.__owned=1"><b>bold</b><script>window.__owned=2</script>'
    writer = chromium.new_context().new_page()
    reader = chromium.new_context().new_page()
    try:
        log_in(writer, base_url, "bob", ids["password"])
        writer.goto(f"{base_url}/rooms/{ids['room']}/")
        reader.goto(f"{base_url}/rooms/{ids['room']}/")  # anonymous viewer
        expect(reader.locator("#viewer-count")).not_to_have_text("0")
        send_chat(writer, payload)
        for page in (writer, reader):
            expect(page.locator("#chat-log")).to_contain_text("<b>bold</b>")
            assert page.locator("#chat-log img, #chat-log b, #chat-log script").count() == 0
            assert page.evaluate("window.__owned") is None
        # Replayed from history to a late joiner: still text.
        late = chromium.new_context().new_page()
        late.goto(f"{base_url}/rooms/{ids['room']}/")
        expect(late.locator("#chat-log")).to_contain_text("<b>bold</b>")
        assert late.locator("#chat-log img, #chat-log b, #chat-log script").count() == 0
        assert late.evaluate("window.__owned") is None
        late.context.close()
    finally:
        writer.context.close()
        reader.context.close()
