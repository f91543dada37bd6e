import pytest
from playwright.sync_api import expect
from tests.browser.conftest import axe_violations, AXE
from tests.browser.test_chat_page import named

def test_scratch(open_page):
    page = named(open_page(), "Ada")
    try:
        page.add_script_tag(path=str(AXE))
        print("add_script_tag ok", page.evaluate("typeof window.axe"))
    except Exception as e:
        print("add_script_tag failed", e)
    print(axe_violations(page))
    dark = named(open_page(390, 844, color_scheme="dark"), "Bea")
    print(axe_violations(dark))
    page.screenshot(path="/tmp/scratch/old1280.png")
    dark.screenshot(path="/tmp/scratch/old390dark.png")
