"""Load: the real app under several concurrent browser sessions that keep changing filters.

`streamlit run` serves a small demo on a free loopback port; four headless Chromium contexts
(one browser, Debian's /usr/bin/chromium, never a downloaded one) each open pages with filters
in the URL (`/sellers?n=…`, `/buyers?platform=…`, `/business?platform=…`) for a bounded number
of rounds and at most a minute. Every page a session opens must show the filter value that
session asked for, its own numbers, and no exception; at the end the server still answers its
health check.

A second test switches one session to a hostile source through the Data page (check, report,
"Use this source") and checks that names full of HTML and Markdown stay text in the browser.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"load tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium); "
                "Playwright must not download a browser", allow_module_level=True)

from playwright.async_api import async_playwright, expect  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
SESSIONS = 4
ROUNDS = 3  # per session, each round three pages
TIME_BUDGET_S = 60  # no new round starts after this
SERVER_START_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 90_000
expect.set_options(timeout=PAGE_TIMEOUT_MS)  # a page under load may take longer than the default 5 s
FINISHED = "[data-testid=stApp][data-test-script-state=notRunning]"
N_LABEL = "N: sales per week for the seller share"
PLATFORMS = ("ios", "android", "web")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """RECDASH_CACHE of the server: an allowed folder by default, so sources put here can be chosen."""
    return tmp_path_factory.mktemp("load-cache")


@pytest.fixture(scope="module")
def demo(cache) -> Path:
    from dashboard.engine.demo import generate

    folder = cache / "small-demo"
    generate(folder, users=1500, weeks=8, seed=3)
    return folder


@pytest.fixture(scope="module")
def server(demo, cache, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("load-server") / "streamlit.log"
    env = dict(os.environ, RECDASH_CACHE=str(cache), RECDASH_UPLOAD_DIR=str(cache / "uploads"), PYTHONUNBUFFERED="1")
    env.pop("RECDASH_ALLOWED_DIRS", None)
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false", "--", "--data", str(demo)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not healthy(f"{base}/_stcore/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)  # polling interval, not synchronisation
        yield base, proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


async def open_page(page, url: str, title: str) -> None:
    await page.goto(url)
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    await page.wait_for_selector(FINISHED, state="attached")
    await page.wait_for_function("() => !document.querySelector('[data-testid=stSkeleton]')")


async def assert_clean(page, where: str) -> None:
    exceptions = page.locator("[data-testid=stException]")
    errors = page.locator("[data-testid=stAlertContentError]")
    assert await exceptions.count() == 0, f"{where}: exception: {await exceptions.all_inner_texts()}"
    assert await errors.count() == 0, f"{where}: error: {await errors.all_inner_texts()}"


def platform_box(page):
    return page.locator("[data-testid=stSidebar]").get_by_role("combobox", name="Platform")


async def session(browser, base: str, number: int, deadline: float) -> list[str]:
    """One user: rounds of sellers/buyers/business with this session's own filter values."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    done = []
    try:
        for round_ in range(ROUNDS):
            if time.monotonic() > deadline:
                break
            n = number * 10 + round_  # distinct in every session and round
            await open_page(page, f"{base}/sellers?n={n}", "Sellers")
            await expect(page.get_by_label(N_LABEL)).to_have_value(str(n))
            await expect(page.get_by_text(f"Share of active sellers with more than {n} sales a week").first).to_be_attached()
            await assert_clean(page, f"session {number} sellers?n={n}")

            platform = PLATFORMS[(number + round_) % len(PLATFORMS)]
            await open_page(page, f"{base}/buyers?platform={platform}", "Buyers")
            await expect(platform_box(page)).to_have_value(platform)
            await expect(page.locator("[data-testid=stPlotlyChart]").first).to_be_attached()
            await assert_clean(page, f"session {number} buyers?platform={platform}")

            other = PLATFORMS[(number + round_ + 1) % len(PLATFORMS)]
            await open_page(page, f"{base}/business?platform={other}", "Business")
            await expect(platform_box(page)).to_have_value(other)
            await assert_clean(page, f"session {number} business?platform={other}")
            done.append(f"n={n}, {platform}, {other}")
    finally:
        await context.close()
    return done


def test_concurrent_sessions_each_get_their_own_results(server):
    base, proc, log = server

    async def run():
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                deadline = time.monotonic() + TIME_BUDGET_S
                return await asyncio.gather(*(session(browser, base, i, deadline) for i in range(SESSIONS)))
            finally:
                await browser.close()

    rounds = asyncio.run(run())
    assert all(len(r) >= 1 for r in rounds), rounds  # every session finished at least one full round
    assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
    assert healthy(f"{base}/_stcore/health")
    print(f"\nrounds per session: {[len(r) for r in rounds]}")


# --- a hostile source chosen on the Data page ---------------------------------------------------

MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
MARKDOWN = "[click](javascript:window.__xss=3) **bold** :red[red]"


@pytest.fixture(scope="module")
def hostile(cache) -> Path:
    """A small source whose names are HTML and Markdown, inside the server's allowed cache folder."""
    from conftest import write_source

    events, assignments = [], []
    for i in range(60):
        user = f"u{i}"
        events += [
            {"event_id": f"i{i}", "ts": "2025-03-04 10:00:00", "user_id": user, "event_type": "impression",
             "item_id": "it1", "block": MARKUP, "platform": "web"},
            {"event_id": f"c{i}", "ts": "2025-03-04 10:01:00", "user_id": user, "event_type": "click",
             "item_id": "it1", "block": MARKUP, "platform": "web"},
        ]
        assignments.append({"experiment_id": MARKUP, "user_id": user, "variant": "a" if i < 55 else "b"})
    return write_source(cache / "hostile", {
        "events": events,
        "items": [{"item_id": "it1", "seller_id": "s1", "category": MARKDOWN}],
        "orders": [{"order_id": f"o{i}", "item_id": "it1", "ts": "2025-03-04 10:05:00", "user_id": f"u{i}",
                    "quantity": "1", "price": "5"} for i in range(30)],
        "experiments": [{"experiment_id": MARKUP, "name": MARKDOWN, "block": MARKUP,
                         "start_ts": "2025-03-03", "end_ts": "2025-03-10"}],
        "experiment_variants": [
            {"experiment_id": MARKUP, "variant": "a", "model_version": "m1", "is_control": "true", "traffic_share": "0.5"},
            {"experiment_id": MARKUP, "variant": "b", "model_version": "m2", "is_control": "false", "traffic_share": "0.5"},
        ],
        "assignments": assignments,
    })


def test_hostile_names_chosen_on_the_data_page_stay_text(server, hostile):
    base, proc, log = server

    async def run():
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            try:
                await open_page(page, f"{base}/data", "Data")
                await page.get_by_text("Use another source").click()
                await page.get_by_label("Path of a folder of table files or of a .duckdb file").fill(str(hostile))
                await page.get_by_role("button", name="Check", exact=True).click()
                await expect(page.get_by_text("This source can be used. What it holds:")).to_be_visible()
                await page.get_by_role("button", name="Use this source").click()
                await expect(page.locator("[data-testid=stCode]").first).to_contain_text(str(hostile))
                await page.wait_for_selector(FINISHED, state="attached")
                seen = {}
                for path, title in (("buyers", "Buyers"), ("experiments", "Experiments"), ("data", "Data")):
                    await page.goto(f"{base}/{path}")
                    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
                    await page.wait_for_selector(FINISHED, state="attached")
                    await page.wait_for_function("() => !document.querySelector('[data-testid=stSkeleton]')")
                    assert await page.locator("[data-testid=stException]").count() == 0, path
                    seen[path] = await page.evaluate("() => window.__xss === undefined")
                    # No element that the markup would have created exists in the page.
                    assert await page.locator("img[src=x], main script").count() == 0, path
                    assert await page.locator("a[href^='javascript:']").count() == 0, path
                return seen
            finally:
                await context.close()
                await browser.close()

    seen = asyncio.run(run())
    assert seen == {"buyers": True, "experiments": True, "data": True}
    assert healthy(f"{base}/_stcore/health")
