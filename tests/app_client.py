"""What a person does with ``maedfer app`` and the documentation site, run in a process of its
own (gradio_client and playwright leave threads behind, and a pytest process with threads must
not fork DataLoader workers later):

    python tests/app_client.py predict URL VIDEO          -> the endpoint's answer, as JSON
    python tests/app_client.py screenshot URL VIDEO PNG   -> the page's text, as JSON
    python tests/app_client.py read URL PNG               -> a page's title, heading and text, as JSON
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium keeps calling Google's hosts, which a
# closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


def predict(url: str, video: str) -> dict:
    from gradio_client import Client, handle_file

    try:
        label, timeline, annotated, summary = Client(url, verbose=False).predict(
            handle_file(video), api_name="/predict"
        )
    except Exception as e:  # the page's error, as the person would read it
        return {"error": str(e)}
    return {"label": label, "timeline": timeline, "annotated": annotated, "summary": summary}


def screenshot(url: str, video: str, out: str) -> dict:
    """Upload ``video`` in Chromium, press Recognise, wait for the result, save a PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(url)
        page.locator("input[type=file]").first.set_input_files(video)
        page.get_by_role("button", name="Recognise").click()
        page.locator("img[src*='timeline']").wait_for(timeout=60000)
        page.wait_for_timeout(500)
        page.screenshot(path=out, full_page=True)
        text = page.inner_text("body")
        browser.close()
    return {"text": text, "png": str(Path(out))}


def read(url: str, out: str) -> dict:
    """Open ``url`` in Chromium, save a PNG; its title, first heading, text and console errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=out)
        found = {
            "title": page.title(),
            "h1": page.locator("article h1").first.inner_text(),
            "text": page.inner_text("body"),
            "errors": errors,
            "png": out,
        }
        browser.close()
    return found


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    print(json.dumps({"predict": predict, "screenshot": screenshot, "read": read}[command](*rest)))
