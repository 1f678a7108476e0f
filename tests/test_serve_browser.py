"""The page of `emotrans serve` in a real headless Chromium (Debian's package, driven over the
DevTools pipe by tests/chromium_pipe.py) against a real server on 127.0.0.1: upload a clip or
take the example, type emotion names, click Score, and read the bars back from the DOM; they
show what the API answers. With EMOTRANS_SCREENSHOT=docs/serve.png the page is saved there."""

from __future__ import annotations

import os

import pytest

media_fixtures = pytest.importorskip("media_fixtures")
serve_fixtures = pytest.importorskip("serve_fixtures")

from chromium_pipe import Chromium, needs_chromium  # noqa: E402
from serve_fixtures import LiveServer, predict  # noqa: E402

pytestmark = [pytest.mark.slow, serve_fixtures.needs_serve, needs_chromium]

LABEL = "[...document.querySelectorAll('label')].find(l => l.textContent.startsWith({!r})).control"
BUTTON = "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === {!r})"

READ_BARS = """[...document.querySelectorAll('#bars li')].map(li => ({
  name: li.querySelector('[role=meter]').getAttribute('aria-label'),
  p: Number(li.querySelector('[role=meter]').getAttribute('aria-valuenow')),
  kind: li.querySelector('.badge').textContent,
  contributions: Object.fromEntries([...li.querySelectorAll('.seg')].map(
    s => [s.dataset.modality, Number(s.dataset.value)])),
}))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    world = serve_fixtures.tiny_world(tmp_path_factory)
    uploads = tmp_path_factory.mktemp("browser_uploads")
    with LiveServer(world["run"], uploads, workers=1, queue=2, max_upload_mb=2,
                    max_seconds=8) as live:  # fmt: skip
        live.world = world
        yield live


@pytest.fixture
def page(server):
    with Chromium(width=1000, height=1100) as browser:
        page = browser.new_page()
        page.goto(f"{server.url}/")
        page.wait_for("document.getElementById('run-info').textContent.startsWith('Run ')")
        yield page


def _score(page, names: str) -> list[dict]:
    page.type_into(LABEL.format("Emotion names"), names)
    page.click(BUTTON.format("Score"))
    page.wait_for(
        "!document.getElementById('results').hidden || !document.getElementById('error').hidden"
    )
    error = page.evaluate("document.getElementById('error').hidden ? '' : "
                          "document.getElementById('error').textContent")  # fmt: skip
    assert not error, error
    return page.evaluate(READ_BARS)


def test_an_uploaded_clip_shows_a_bar_per_name_as_the_api_scores_it(server, page):
    clip = server.world["new"] / "a.mp4"
    page.set_files("#clip", [clip])
    page.wait_for("document.getElementById('chosen').textContent.includes('a.mp4')")
    bars = _score(page, "high, low, bored, proud")
    status, _, want = predict(server.url, clip, "high,low,bored,proud")
    assert status == 200
    assert [b["name"] for b in bars] == want["ranking"]  # drawn in decreasing probability
    for b in bars:
        assert b["p"] == pytest.approx(want["probabilities"][b["name"]], abs=1e-9)
        assert b["kind"] == ("trained" if b["name"] in ("high", "low") else "new (zero-shot)")
        assert set(b["contributions"]) == {"text", "audio", "vision"}
        for m, c in b["contributions"].items():
            assert c == pytest.approx(want["contributions"][m][b["name"]], abs=1e-9)
    assert page.evaluate("document.getElementById('result-clip').textContent") == "a.mp4"
    source = page.evaluate("document.getElementById('result-transcript-source').textContent")
    assert source.startswith("automatic")  # speech recognition gave the words
    timing = page.evaluate("document.getElementById('result-timing').textContent")
    assert "server" in timing and "round trip" in timing
    legend = page.evaluate("document.getElementById('legend').textContent")
    assert "fusion weight" in legend


def test_the_example_clip_is_scored_and_the_page_can_be_saved(server, page):
    page.click(BUTTON.format("Use the example clip"))
    page.wait_for("document.getElementById('chosen').textContent.includes('example.mp4')")
    bars = _score(page, "high, low, happy, sad, calm, bored, proud")
    assert len(bars) == 7 and all(0 < b["p"] < 1 for b in bars)
    assert {b["name"] for b in bars if b["kind"] == "trained"} == {"high", "low"}
    assert page.evaluate("document.getElementById('result-clip').textContent") == "example.mp4"
    shot = os.environ.get("EMOTRANS_SCREENSHOT")
    if shot:
        page.wait_for("document.getElementById('preview').readyState >= 2", timeout=20)
        page.screenshot(shot)


def test_a_bad_upload_shows_the_services_message(server, page, tmp_path):
    text = media_fixtures.text_named_mp4(tmp_path / "notes.mp4")
    page.set_files("#clip", [text])
    page.type_into(LABEL.format("Emotion names"), "high")
    page.click(BUTTON.format("Score"))
    error = page.wait_for(
        "!document.getElementById('error').hidden && document.getElementById('error').textContent"
    )
    assert error.startswith("415: notes.mp4: the file is plain text despite its .mp4 name")
    assert server.upload_folders() == []
