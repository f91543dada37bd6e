"""axe-core (the npm package, pinned in package.json) finds no WCAG 2.1 A/AA violation in the
page's main states - first visit, in a game, a menu open, Messages open - at 1280 and 390 px,
light and dark (issue 23)."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations
from tests.browser.test_chat_page import named, send
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    env = {"JOIN_RATE": "0", "ROUND_SECONDS": "60", "RESUME_GRACE_SECONDS": "3"}
    with ServerProcess(env=env) as process:
        yield process


def no_violations(page, state):
    found = axe_violations(page)
    assert found == [], f"{state}: {found}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["1280", "390"])
def test_no_axe_violations_in_the_main_states(open_page, size, scheme):
    tag = f"{size[0]}{scheme[0]}"
    page = named(open_page(*size, color_scheme=scheme), f"Ada{tag}")
    other = named(open_page(), f"Bea{tag}")
    send(other, f"hello @Ada{tag}, see https://example.com")
    no_violations(page, "first visit")

    phone = size[0] < 700
    if phone:
        page.get_by_role("button", name="People").click()
    page.get_by_role("button", name=f"Actions for Bea{tag}").click()
    expect(page.get_by_role("menu")).to_be_visible()
    no_violations(page, "a menu open")
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Messages", exact=True).click()
    expect(page.locator("#conversations")).to_be_visible()
    no_violations(page, "Messages open")
    page.get_by_label("Write to (a name online, or any claimed name)").fill(f"Bea{tag}")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator("#dm")).to_be_visible()
    no_violations(page, "a conversation open")
    page.get_by_role("button", name="Close Messages").click()

    page.get_by_role("button", name="Settings").click()
    expect(page.get_by_role("dialog", name="Settings")).to_be_visible()
    no_violations(page, "Settings open")
    page.get_by_role("button", name="Done").click()

    if phone:
        page.get_by_role("button", name="Play").click()
    page.get_by_role("button", name="Play the computer", exact=True).click()
    expect(page.locator("#match")).to_be_visible()
    expect(page.get_by_role("button", name="Rock", exact=True)).to_be_enabled()
    no_violations(page, "in a game")
