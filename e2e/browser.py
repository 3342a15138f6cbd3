"""Scenario 6: the ``telzino`` connection form in a real browser, on the UI each generation ships.

Headless Chromium from Debian's ``chromium`` package (installed when absent), driven by Playwright
through that executable: Playwright's own browser download is never used. On 3.x the React form,
on 2.x the FAB form. For each: the Telzino type shows its labelled fields; a connection saved through
the form places a call; Test Connection reports success for a good token and the provider's own
message for a bad one. Screenshots go to ``.e2e/<version>/screenshots/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from e2e.deployment import ADMIN, AIRFLOW_MAJOR
from e2e.postgres import AptGet

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Labels the provider gives the form (connection_form.py); each must be on screen.
LABELS = ["API base URL", "Access token", "OAuth client ID", "OAuth client secret", "Max retries"]
GOOD_MESSAGE = "the credentials were accepted"
BAD_MESSAGE = "Telzino rejected the credentials"


def ensure_chromium(apt: AptGet) -> None:
    if not Path(CHROMIUM).exists():
        apt.install("chromium")


@contextmanager
def browser_page(shots: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(60_000)
            yield context
        finally:
            browser.close()


def connection_form(
    base_url: str, password: str, api_token: str | None, emu: Any, shots: Path
) -> dict[str, Any]:
    """Create a good and a bad connection through the form, test both; returns the messages seen."""
    if shutil.which(CHROMIUM) is None:
        raise AssertionError(f"{CHROMIUM} is missing")
    with browser_page(shots) as context:
        if AIRFLOW_MAJOR >= 3:
            return _react_form(context, base_url, api_token, emu, shots)
        return _fab_form(context, base_url, password, emu, shots)


# -- Airflow 3: the React UI ----------------------------------------------------------------------
def _react_form(context: Any, base_url: str, api_token: str | None, emu: Any, shots: Path) -> dict[str, Any]:
    context.add_cookies([{"name": "_token", "value": api_token, "url": base_url}])
    page = context.new_page()
    results = {}
    for conn_id, token in (("telzino_ui", emu.token), ("telzino_ui_bad", "not-a-valid-token")):
        page.goto(f"{base_url}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").click()
        page.get_by_text("Select Connection Type").click(force=True)  # a react-select
        page.keyboard.type("telzino")
        page.keyboard.press("Enter")
        page.get_by_label("Access token").wait_for()
        page.get_by_label("Connection ID").fill(conn_id)
        page.get_by_label("API base URL").fill(emu.base_url)
        page.get_by_label("Access token").fill(token)
        page.screenshot(path=str(shots / f"react-form-{conn_id}.png"), full_page=True)
        # The accordion shows one section at a time: the extra fields replace the standard ones.
        page.get_by_role("button", name="Extra Fields", exact=True).click()
        page.get_by_text(LABELS[-1]).first.wait_for()
        missing = [label for label in LABELS[2:] if not page.get_by_text(label).first.is_visible()]
        assert not missing, f"the Telzino form lacks {missing}"
        page.screenshot(path=str(shots / f"react-form-extra-{conn_id}.png"), full_page=True)
        page.get_by_role("button", name="Save").click()
        row = page.get_by_role("row").filter(has_text=conn_id)
        row.wait_for()
        with page.expect_response(lambda r: r.url.endswith("/connections/test")) as answer:
            row.get_by_role("button", name="Test Connection").click()
        reply = answer.value
        page.wait_for_timeout(1000)  # the toast
        page.screenshot(path=str(shots / f"react-test-{conn_id}.png"))
        body = reply.json()
        if reply.status == 400 and "differs from the stored connection" in body.get("detail", ""):
            # Airflow 3.3.2's UI sends port 0 for a connection without one, and the API reads that as
            # another destination (apache/airflow#73298, fixed upstream). Ask the same endpoint the
            # way the fixed UI does, from the page, with the UI's own body and session.
            sent = reply.request.post_data_json
            body = page.evaluate(_RETEST_JS, {"url": reply.url, "body": {**sent, "port": None}})
            body["airflow_73298"] = True
        results[conn_id] = body
    return results


_RETEST_JS = """async ({url, body}) => {
    const reply = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify(body), credentials: "include"});
    return await reply.json();
}"""


# -- Airflow 2: the FAB UI ------------------------------------------------------------------------
def _fab_form(context: Any, base_url: str, password: str, emu: Any, shots: Path) -> dict[str, Any]:
    page = context.new_page()
    page.goto(f"{base_url}/login/")
    page.fill("#username", ADMIN)
    page.fill("#password", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state("networkidle")
    results = {}
    for conn_id, token in (("telzino_ui", emu.token), ("telzino_ui_bad", "not-a-valid-token")):
        page.goto(f"{base_url}/connection/add", wait_until="networkidle")
        page.select_option("#conn_type", "telzino")  # the select2 widget follows the hidden <select>
        page.get_by_text(LABELS[-1], exact=True).wait_for()
        missing = [label for label in LABELS if not page.get_by_text(label, exact=True).first.is_visible()]
        assert not missing, f"the Telzino form lacks {missing}"
        page.fill("#conn_id", conn_id)
        page.fill("#host", emu.base_url)
        page.fill("#password", token)
        with page.expect_response(lambda r: r.url.endswith("/connections/test")) as answer:
            page.click("#test-connection")
        shown = page.locator(".alert").filter(has_text=answer.value.json()["message"][:40])
        shown.first.wait_for()  # the answer as the user sees it
        page.screenshot(path=str(shots / f"fab-test-{conn_id}.png"), full_page=True)
        results[conn_id] = answer.value.json()
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state("networkidle")
    page.goto(f"{base_url}/connection/list/", wait_until="networkidle")
    page.screenshot(path=str(shots / "fab-list.png"), full_page=True)
    return results
