"""The page at / in a real browser: Debian's Chromium driven by Playwright.

Types the article's prefix and checks that the bars carry the probabilities
the API gives, clicks a word, fills a blank, watches a generation stream, and
works by keyboard and on a phone-sized screen. Screenshots are kept as test
artefacts in $RNNKIT_TEST_ARTEFACTS (default: test-artefacts/serve-page/).
"""

import os
import pathlib
import shutil
import socket
import threading
import time

import httpx
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'rnnkit[test]')")
CHROMIUM = os.environ.get("RNNKIT_CHROMIUM", "/usr/bin/chromium")
if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTICLE_PREFIX = "我昨天上学迟到了，老师批评了"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def server_url(engine):
    """A real server (uvicorn on loopback) in a thread of this process."""
    import uvicorn

    from rnnkit.serve.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning", lifespan="on"))
    server.capture_signals = _no_signals  # the test process keeps its own handlers
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(30)
    sock.close()


class _no_signals:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def artefacts():
    path = pathlib.Path(os.environ.get("RNNKIT_TEST_ARTEFACTS", "test-artefacts")) / "serve-page"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    pg = context.new_page()
    problems = []
    pg.on("pageerror", lambda e: problems.append(str(e)))
    # a 422 the page shows on purpose is logged by Chromium as a failed load: not a problem of the page
    pg.on("console", lambda m: problems.append(m.text)
          if m.type == "error" and "Failed to load resource" not in m.text else None)
    pg.goto(server_url + "/")
    pg.wait_for_selector("body[data-ready='true']")
    yield pg
    context.close()
    assert not problems, problems  # no script error, no failed request


def api(server_url, path, body):
    r = httpx.post(server_url + path, json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def bars(pg, which):
    return pg.eval_on_selector_all(f"#{which}-bars .bar",
                                   "els => els.map(e => [e.dataset.token, Number(e.dataset.probability)])")


def type_prefix(pg, text):
    pg.click("#prefix")
    pg.fill("#prefix", "")
    pg.keyboard.type(text, delay=15)  # key by key: the bars follow, debounced
    pg.wait_for_selector(f'#columns[data-prefix="{text}"]', timeout=WAIT_MS)


def test_the_game_shows_the_apis_distribution_and_a_click_appends_the_word(page, server_url, artefacts):
    assert page.input_value("#model") == "zh"
    type_prefix(page, ARTICLE_PREFIX)
    want = api(server_url, "/v1/predict", {"model": "zh", "prefix": ARTICLE_PREFIX, "top": 10})
    assert bars(page, "rnn") == [[p["token"], p["probability"]] for p in want["predictions"]]
    gram = api(server_url, "/v1/predict", {"model": "zh3.arpa", "prefix": ARTICLE_PREFIX, "top": 10})
    assert page.is_visible("#ngram-column")  # side by side, as the article compares them
    assert bars(page, "ngram") == [[p["token"], p["probability"]] for p in gram["predictions"]]
    first = page.text_content("#rnn-bars .bar .bar-value")
    assert first.strip().endswith("%") or "e" in first
    page.screenshot(path=str(artefacts / "game.png"), full_page=True)

    word = [t for t, _ in bars(page, "rnn") if t != "<eos>"][0]
    page.click(f'#rnn-bars .bar[data-token="{word}"]')
    page.wait_for_selector(f'#columns[data-prefix="{ARTICLE_PREFIX + word}"]', timeout=WAIT_MS)
    assert page.input_value("#prefix") == ARTICLE_PREFIX + word
    after = api(server_url, "/v1/predict", {"model": "zh", "prefix": ARTICLE_PREFIX + word, "top": 10})
    assert bars(page, "rnn") == [[p["token"], p["probability"]] for p in after["predictions"]]


def test_english_words_get_spaces_and_unknown_words_are_marked(page, server_url):
    page.select_option("#model", "en")
    page.wait_for_function("document.querySelector('#rnn-title').textContent.includes('en')")
    assert page.is_hidden("#ngram-column")  # the N-gram model cuts Chinese characters: no comparison
    type_prefix(page, "the zebra criticized")
    assert page.eval_on_selector_all("#tokens .tok.unknown", "els => els.map(e => e.textContent)") == ["zebra"]
    word = [t for t, _ in bars(page, "rnn") if t != "<eos>"][0]
    page.click(f'#rnn-bars .bar[data-token="{word}"]')
    page.wait_for_selector(f'#columns[data-prefix="the zebra criticized {word}"]', timeout=WAIT_MS)


def test_every_control_is_reachable_by_keyboard(page):
    type_prefix(page, "我")
    page.focus("#prefix")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('bar')"):
            break
    else:
        pytest.fail("Tab never reached a word")
    word = page.evaluate("document.activeElement.dataset.token")
    page.keyboard.press("Enter")
    expected = "我" if word == "<eos>" else "我" + word
    page.wait_for_selector(f'#columns[data-prefix="{"" if word == "<eos>" else expected}"]', timeout=WAIT_MS)
    # the fill form and the sampler answer to the keyboard too
    page.focus("#fill-text")
    page.keyboard.press("Enter")
    page.wait_for_selector("#fill-bars .bar", timeout=WAIT_MS)
    page.focus("#sample-prefix")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sample-out[data-done='true']", timeout=WAIT_MS)


def test_filling_the_blank_shows_the_apis_fillings(page, server_url, artefacts):
    text = page.input_value("#fill-text")
    assert "__" in text
    page.click("#fill-go")
    page.wait_for_selector("#fill-bars .bar", timeout=WAIT_MS)
    want = api(server_url, "/v1/fill", {"model": "zh-cloze", "text": text, "top": 10})
    assert bars(page, "fill") == [[p["text"], p["probability"]] for p in want["predictions"]]
    page.fill("#fill-text", "没有空")
    page.click("#fill-go")
    page.wait_for_selector("#fill-status.error", timeout=WAIT_MS)
    assert "blank" in page.text_content("#fill-status")


def test_a_generation_streams_into_the_page(page, server_url, artefacts):
    page.fill("#sample-prefix", "老师")
    page.fill("#seed", "7")
    page.fill("#max-tokens", "80")
    page.fill("#temperature", "0.8")
    # every text the page writes, as it writes it: each write replaces the text node, and the
    # records keep each new node, however many writes one observer callback sees (with the server's
    # events arriving within a millisecond, the callback once saw only the last of 80 writes)
    page.evaluate("""() => { window.updates = [];
        new MutationObserver(records => { for (const r of records) for (const n of r.addedNodes)
                window.updates.push(n.textContent); })
            .observe(document.querySelector('#sample-out'), {childList: true, characterData: true, subtree: true}); }""")
    page.click("#sample-go")
    page.wait_for_selector("#sample-out[data-done='true']", timeout=WAIT_MS)
    want = api(server_url, "/v1/generate", {"model": "zh", "prefix": "老师", "seed": 7, "max_tokens": 80,
                                            "temperature": 0.8})
    assert page.text_content("#sample-out") == want["generated_text"]
    updates = [u for u in page.evaluate("window.updates") if u]
    assert len(updates) > 1  # it grew in steps, not all at once
    assert all(want["generated_text"].startswith(u) for u in updates)
    assert "seed 7" in page.text_content("#sample-status")
    page.screenshot(path=str(artefacts / "sample.png"), full_page=True)


def test_on_a_phone_sized_screen_nothing_runs_off_the_side(browser, server_url, artefacts):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    pg = context.new_page()
    pg.goto(server_url + "/")
    pg.wait_for_selector("body[data-ready='true']")
    type_prefix(pg, ARTICLE_PREFIX)
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    assert pg.is_visible("#ngram-column") and pg.is_visible("#rnn-column")
    pg.screenshot(path=str(artefacts / "phone.png"), full_page=True)
    context.close()
