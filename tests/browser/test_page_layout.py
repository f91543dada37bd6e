"""What a first visit finds (issue 23): names readable in the online list, Tab order as the
screen reads, menus nobody's panel clips, moving with the arrow keys, links, length counters."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import messages, named, send
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

LONG_NAME = "Samantha-Beatrix"


@pytest.fixture(scope="module")
def server():
    env = {"JOIN_RATE": "0", "RESUME_GRACE_SECONDS": "5"}
    with ServerProcess(env=env) as process:
        yield process


@pytest.mark.parametrize("width", [1280, 1440, 1920])
def test_names_in_the_online_list_are_shown_whole_on_a_desktop(open_page, width):
    """The name cell was about 45 px wide at 1280 px and more: "Sa…"."""
    page = named(open_page(width, 800), f"Ada{width}")
    named(open_page(), f"{LONG_NAME[:-4]}{width}")
    row = page.locator(f"#online-list li[data-name='{LONG_NAME[:-4]}{width}']")
    expect(row).to_have_count(1)
    cell = row.locator(".user-name")
    box = cell.bounding_box()
    assert box["width"] >= 110, box
    assert cell.evaluate("(e) => e.scrollWidth <= e.clientWidth + 1")  # not cut off
    assert cell.evaluate("(e) => getComputedStyle(e).textOverflow") != "ellipsis"


def test_tab_order_follows_the_screen_online_chat_game(open_page):
    """Online is left of the chat on a desktop: it comes first in the Tab order too."""
    page = named(open_page(1280, 800), "Tabby")
    panels = (("online", "#online-list"), ("chat", "#log"), ("game", "#find-match"))
    boxes = {panel: page.locator(selector).bounding_box()["x"] for panel, selector in panels}
    assert boxes["online"] < boxes["chat"] < boxes["game"]
    order = page.evaluate(
        """() => ['#online-list', '#log', '#find-match'].map((s) => document.querySelector(s))
             .map((node, i, all) => i === 0 ? 0 : all[i - 1].compareDocumentPosition(node))"""
    )
    following = 4  # Node.DOCUMENT_POSITION_FOLLOWING
    assert order[1] & following and order[2] & following


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_a_message_menu_is_whole_on_screen_and_moves_with_arrows(open_page, size):
    """The "⋯" menu was clipped on its left ("port this message") by the chat's edge."""
    bea = named(open_page(), f"Bea{size[0]}")
    ada = named(open_page(*size), f"Ada{size[0]}")
    send(bea, f"a line to report at {size[0]}")
    line = messages(ada).filter(has_text=f"a line to report at {size[0]}")
    line.get_by_role("button", name=f"Actions for the message from Bea{size[0]}").click()
    menu = ada.get_by_role("menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= size[0]
    assert box["y"] >= 0 and box["y"] + box["height"] <= size[1]
    # every item is what is drawn at its place: nothing covers or clips it
    for item in menu.get_by_role("menuitem").all():
        b = item.bounding_box()
        hit = ada.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.closest('[role=menuitem]')?.textContent",
            [b["x"] + 4, b["y"] + b["height"] / 2],
        )
        assert hit == item.text_content()
    items = menu.get_by_role("menuitem")
    expect(items.first).to_be_focused()
    ada.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    ada.keyboard.press("End")
    expect(items.last).to_be_focused()
    ada.keyboard.press("ArrowDown")  # wraps around
    expect(items.first).to_be_focused()
    ada.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(line.get_by_role("button", name=re.compile("Actions for"))).to_be_focused()


def test_links_in_messages_open_in_a_new_tab_and_nothing_else_is_markup(open_page):
    ada = named(open_page(), "Linker")
    bea = named(open_page(), "Reader")
    send(ada, "see https://example.com/a?b=1&c=2. and <b>http://x.test</b> or javascript:alert(1)")
    line = messages(bea).filter(has_text="see https://example.com")
    links = line.locator(".msg-text a")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "https://example.com/a?b=1&c=2")
    expect(links.first).to_have_text("https://example.com/a?b=1&c=2")  # the full stop stays text
    expect(links.nth(1)).to_have_attribute("href", "http://x.test/")
    for link in links.all():
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    expect(line.locator(".msg-text")).to_have_text(
        "see https://example.com/a?b=1&c=2. and <b>http://x.test</b> or javascript:alert(1)"
    )
    assert line.locator(".msg-text b").count() == 0


def test_a_long_paste_is_not_cut_without_a_word(open_page):
    """A 2,280-character paste was cut to 2,000 silently (names over 32 likewise)."""
    page = named(open_page(), "Paster")
    box = page.get_by_label("Message", exact=True)
    box.fill("x" * 2280)
    expect(box).to_have_value("x" * 2280)  # nothing cut
    counter = page.locator("#message-count")
    expect(counter).to_have_text("280 characters too many (at most 2000)")
    expect(box).to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    expect(page.locator("#errors")).to_contain_text("at most 2000 characters")
    expect(box).to_have_value("x" * 2280)  # kept, to shorten
    box.fill("x" * 1900)
    expect(counter).to_have_text("100 characters left")  # a warning before the limit
    name = page.get_by_label("Your name")
    name.fill("N" * 40)
    expect(name).to_have_value("N" * 40)
    expect(page.locator("#name-count")).to_have_text("8 characters too many (at most 32)")


def test_the_chat_log_is_one_tab_stop_with_arrow_keys(open_page):
    """Every message had its own Tab stop (its "⋯" button): 20+ presses from chat to game."""
    reader = named(open_page(), "Arrow")
    writer = named(open_page(), "Writer")
    for n in range(3):
        send(writer, f"line {n}")
    expect(messages(reader).filter(has_text="line 2")).to_have_count(1)
    reader.get_by_label("Message", exact=True).focus()
    reader.keyboard.press("Shift+Tab")  # back from the message box: into the log, once
    last = messages(reader).filter(has_text="line 2")
    expect(last).to_be_focused()
    reader.keyboard.press("Shift+Tab")  # and out of it at once
    assert reader.evaluate("!document.activeElement.closest('#messages')")
    last.focus()
    reader.keyboard.press("ArrowUp")
    expect(messages(reader).filter(has_text="line 1")).to_be_focused()
    reader.keyboard.press("Enter")  # the message's menu
    expect(reader.get_by_role("menuitem", name="Report this message…")).to_be_focused()
    tab_stops = reader.evaluate(
        "document.querySelectorAll('#messages [tabindex=\"0\"], #messages button:not([tabindex])')"
        ".length"
    )
    assert tab_stops == 1
