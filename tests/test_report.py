"""The weekly report: one HTML file that opens with no network and shows every section."""
import os
import re
from pathlib import Path

import pytest

from dashboard.__main__ import main

CHROMIUM = "/usr/bin/chromium"
SECTIONS = ["what-moved", "buyers", "sellers", "business", "experiments", "offline-online"]
ARTIFACTS = Path(os.environ.get("RECDASH_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


@pytest.fixture(scope="module")
def report_file(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "review.html"
    assert main(["report", "--data", str(demo_dir), "--out", str(out)]) == 0
    return out


def test_report_is_self_contained(report_file):
    text = report_file.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]?https?:", text)
    for section in SECTIONS:
        assert f"id='{section}'" in text
    assert "Weekly review: week of 2026-10-26" in text  # the demo's last complete week


def test_report_opens_offline_in_chromium_and_shows_every_section(report_file):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.goto(report_file.as_uri())
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3",
                                   timeout=60_000)
            for section in SECTIONS:
                assert page.locator(f"#{section}").is_visible(), section
            assert page.locator("#business table tr").count() >= 5
            shot = ARTIFACTS / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"report screenshot: {shot}")
            page.emulate_media(media="print")
            assert page.locator("#offline-online").is_visible()
        finally:
            browser.close()


def test_report_for_a_chosen_week(demo_source):
    import pandas as pd

    from dashboard.core import report, review
    from dashboard.core.params import Params

    weekly = review.build(demo_source, Params(), week=pd.Timestamp("2026-06-01"))
    text = report.render(weekly)
    assert "Weekly review: week of 2026-06-01" in text
    # The offline ↔ online section states the out-of-sample rule and the review's sentence under it.
    section = text[text.index("id='offline-online'"):]
    assert "loo_sign_accuracy &gt; baseline_accuracy" in section
    assert weekly.offline_online.sentence.split(":")[0] in section
    # ndcg@10, map@10 and recall@10 all follow the models' latent quality in the demo (docs/demo-data.md (b))
    assert weekly.offline_online.sentence.startswith(("No offline metric is a proven proxy", "ndcg@10 is the best proxy",
                                                      "map@10 is the best proxy", "recall@10 is the best proxy"))


def test_report_week_outside_the_data_exits_2(tmp_path, capsys):
    from conftest import write_source

    source = write_source(tmp_path / "s", {"events": [
        {"event_id": "e1", "ts": "2026-03-02 09:00:00", "user_id": "u1", "event_type": "app_open"}]})
    code = main(["report", "--data", str(source), "--out", str(tmp_path / "r.html"), "--week", "2031-01-01"])
    assert code == 2
    assert "--week: week 2030-12-30 is not in the data's range" in capsys.readouterr().err
