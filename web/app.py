"""The Starlette app: a static page, a JSON API, and one server-sent-event stream per chat thread.

    GET  /                                   the page (static/index.html, app.js, style.css)
    GET  /api/media                          sample clips, media files (a sample's own file listed once,
                                             as the sample), the upload limit
    PUT  /api/upload?name=clip.mp4           raw body = the file; stored in media/uploads if it is a video
    GET  /api/threads                        chat threads, newest first, with their first question
    POST /api/threads        {"video": {"kind": "sample"|"media", "name"}}    -> a new thread
    GET  /api/threads/{id}                   the thread and its turns
    POST /api/threads/{id}/ask   {"question", "choices": [...]}               -> the queued turn
    POST /api/threads/{id}/turns/{turn}/retry                                 -> resume a failed turn
    GET  /api/threads/{id}/events?after=N    text/event-stream: stored events after N (a reload
                                             replays from 0), then new ones, and "live" LLM text
    GET  /api/pictures/{id}/{file}           drawn frames and timelines
    GET  /api/runs                           `vot eval` folders under the runs folder
    GET  /api/runs/{name}                    summary and questions ({name} may contain '/')
    GET  /api/question?run=&key=             one question's record and trace
    GET  /api/compare?a=&b=[&key=]           two runs (or one question in both) compared

Every error is JSON {"error": message} with a 4xx status for the request's fault and 500 for
ours; the server keeps running either way. Starlette (the core FastAPI is built on) and uvicorn
are the only dependencies: see docs/web.md for why not Gradio.

Every request passes `request_refusal` first, as Jupyter's server checks its requests: the Host
header must name this server (else a page on another domain that rebinds its DNS to 127.0.0.1
could read the chats), a state-changing request (POST, PUT, PATCH, DELETE) that carries an
Origin must come from this app's own origin, and a POST must be application/json or multipart
(a cross-origin form or `fetch` can send text/plain without asking the server first).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

from videothought.web.chat import ChatService
from videothought.web.config import WebConfig
from videothought.web.media import MediaError, list_media, store_upload
from videothought.web.threads import ChatError, ChatStore

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_PICTURE = re.compile(r"^[A-Za-z0-9_.-]+\.png$")
_THREAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
POLL_SECONDS = 0.15  # how often the event stream looks for new rows and LLM text
KEEPALIVE_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
POST_BODY_TYPES = ("application/json", "multipart/form-data")  # what no cross-origin page sends without a preflight


def host_name(host: str) -> str | None:
    """The name in a Host (or Origin netloc) value: "Example.com:7860" -> "example.com",
    "[::1]:7860" -> "::1"; None when it is not a host[:port]."""
    try:
        parts = urlsplit("//" + host)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.username is not None:
        return None
    return parts.hostname


def request_refusal(config: WebConfig, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
    """(status, message) when a request is refused, else None. `headers` have lower-case names.

    Host: one of config.host_allowed's names (DNS rebinding sends the attacker's domain).
    Origin, on POST/PUT/PATCH/DELETE: absent (a script or curl) or this app's own origin,
    scheme http(s) with the Host's name and port. Content-Type, on POST: JSON or multipart."""
    host = headers.get("host", "")
    name = host_name(host) if host else None
    if name is None:
        return 400, f"the request's Host header is missing or malformed ({host!r})"
    if not config.host_allowed(name):
        return 403, (f"this app does not answer to the name {name!r}: it is reached as localhost, 127.0.0.1, ::1 or "
                     f"{config.host!r} (a page that renamed this machine is refused; `vot serve --allow-host NAME` "
                     "adds a name)")
    if method in STATE_CHANGING:
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
                return 403, f"a {method} from the page at {origin!r} is refused: only this app's own page ({host}) may change it"
    if method == "POST":
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in POST_BODY_TYPES:
            return 415, f"a POST must send application/json (or multipart/form-data), not {media_type or 'no Content-Type'}"
    return None


class RequestGuard:
    """ASGI middleware: every HTTP request passes `request_refusal` before the app sees it."""

    def __init__(self, app, config: WebConfig):
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            refusal = request_refusal(self.config, scope["method"], headers)
            if refusal is not None:
                from starlette.responses import JSONResponse

                status, message = refusal
                logger.warning("refused %s %s: %s", scope["method"], scope["path"], message)
                await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(config: WebConfig, *, context_factory=None, start_worker: bool = True, run_browser=None):
    """The ASGI app. `context_factory` builds the VoT run context (default: the embedded stack or
    config.lm); the worker starts with the app (on_startup) and stops with it.

    `run_browser` serves the evaluation-run pages (`find_runs`, `run_overview`, `question_record`,
    `compare_runs`, `compare_question`): evaluation is not the agent's business, so it is passed
    in (the `vot serve` command passes its run browser); without one those pages answer 404."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.media_dir.mkdir(parents=True, exist_ok=True)
    store = ChatStore(config.state_dir / "web.sqlite")
    service = ChatService(config, store, context_factory=context_factory)

    def error_response(error: Exception) -> JSONResponse:
        status = getattr(error, "status", 400)
        return JSONResponse({"error": str(error)}, status_code=status)

    def guarded(handler):
        """Request faults become 4xx JSON; anything else a 500 JSON naming it, logged. Never a crash."""
        async def endpoint(request: Request):
            try:
                return await handler(request)
            except (MediaError, ChatError) as error:
                return error_response(error)
            except json.JSONDecodeError as error:
                return JSONResponse({"error": f"the request body is not JSON: {error}"}, status_code=400)
            except Exception as error:
                logger.exception("%s %s failed", request.method, request.url.path)
                return JSONResponse({"error": f"{type(error).__name__}: {error}"}, status_code=500)
        return endpoint

    async def body_json(request: Request) -> dict:
        data = json.loads(await request.body() or b"{}")
        if not isinstance(data, dict):
            raise ChatError("the request body must be a JSON object")
        return data

    async def index(request: Request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def media(request: Request):
        samples = service.samples()
        # A media folder that holds the sample clips (say, the shared data folder) lists each once, as a sample.
        sample_files = {path.resolve() for path in samples.values()}
        files = [f for f in list_media(config.media_dir) if (config.media_dir / f["name"]).resolve() not in sample_files]
        return JSONResponse({"samples": sorted(samples), "files": files,
                             "max_upload_bytes": config.max_upload_bytes, "media_dir": str(config.media_dir)})

    async def upload(request: Request):
        declared = request.headers.get("content-length")
        stored = await store_upload(config.media_dir, request.query_params.get("name", ""), request.stream(),
                                    max_bytes=config.max_upload_bytes,
                                    declared_bytes=int(declared) if declared and declared.isdigit() else None)
        return JSONResponse(stored)

    async def threads(request: Request):
        if request.method == "POST":
            data = await body_json(request)
            return JSONResponse(service.new_thread(data.get("video") or {}))
        return JSONResponse({"threads": store.threads()})

    def thread_id_of(request: Request) -> str:
        thread_id = request.path_params["thread_id"]
        if not _THREAD.match(thread_id):
            raise ChatError(f"{thread_id!r} is not a thread id", status=404)
        return thread_id

    async def thread(request: Request):
        thread_id = thread_id_of(request)
        return JSONResponse({"thread": store.thread(thread_id), "turns": store.turns(thread_id)})

    async def ask(request: Request):
        data = await body_json(request)
        choices = data.get("choices") or []
        if not isinstance(choices, list):
            raise ChatError("choices must be a list of strings")
        return JSONResponse(service.ask(thread_id_of(request), str(data.get("question") or ""), choices))

    async def retry(request: Request):
        return JSONResponse(service.retry(thread_id_of(request), int(request.path_params["turn_id"])))

    async def events(request: Request):
        thread_id = thread_id_of(request)
        store.thread(thread_id)
        after = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        after = int(after) if after.isdigit() else 0
        return StreamingResponse(event_stream(request, thread_id, after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def event_stream(request: Request, thread_id: str, after: int):
        live = service.live_text(thread_id)
        seen_version, last_beat = -1, asyncio.get_running_loop().time()
        yield "retry: 1500\n\n"
        while True:
            rows = store.events_after(thread_id, after)
            for row in rows:
                after = row["seq"]
                data = json.dumps({"turn": row["turn"], **row["payload"]})
                yield f"id: {row['seq']}\nevent: {row['kind']}\ndata: {data}\n\n"
            snapshot = live.snapshot()
            if snapshot["version"] != seen_version and not rows:
                seen_version = snapshot["version"]
                data = {"turn": snapshot["turn"], "node": snapshot["node"], "text": snapshot["text"]}
                yield f"event: live\ndata: {json.dumps(data)}\n\n"
            now = asyncio.get_running_loop().time()
            if now - last_beat > KEEPALIVE_SECONDS:
                last_beat = now
                yield ": keep-alive\n\n"
            if service.stopping.is_set() or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)

    async def picture(request: Request):
        thread_id, name = thread_id_of(request), request.path_params["file"]
        if not _PICTURE.match(name):
            raise MediaError(f"{name!r} is not a picture name", status=404)
        path = config.state_dir / "pictures" / thread_id / name
        if not path.is_file():
            raise MediaError(f"no picture {name!r}", status=404)
        return FileResponse(path)

    def browser():
        if run_browser is None:
            raise MediaError("no evaluation-run browser in this app (start it with `vot serve`)", status=404)
        return run_browser

    async def runs(request: Request):
        return JSONResponse({"runs_dir": str(config.runs_dir),
                             "runs": browser().find_runs(config.runs_dir, config.max_run_depth)})

    async def run(request: Request):
        return JSONResponse(browser().run_overview(config.runs_dir, request.path_params["name"]))

    async def question(request: Request):
        params = request.query_params
        return JSONResponse(browser().question_record(config.runs_dir, params.get("run", ""), params.get("key", "")))

    async def compare(request: Request):
        params = request.query_params
        if params.get("key"):
            return JSONResponse(browser().compare_question(config.runs_dir, params.get("a", ""), params.get("b", ""),
                                                             params["key"]))
        return JSONResponse(browser().compare_runs(config.runs_dir, params.get("a", ""), params.get("b", "")))

    async def not_found(request: Request, exc):
        return JSONResponse({"error": f"no such page: {request.url.path}"}, status_code=404)

    async def wrong_method(request: Request, exc):
        return JSONResponse({"error": f"{request.method} is not served at {request.url.path}"}, status_code=405)

    routes = [
        Route("/", index),
        Route("/api/media", guarded(media)),
        Route("/api/upload", guarded(upload), methods=["PUT"]),
        Route("/api/threads", guarded(threads), methods=["GET", "POST"]),
        Route("/api/threads/{thread_id}", guarded(thread)),
        Route("/api/threads/{thread_id}/ask", guarded(ask), methods=["POST"]),
        Route("/api/threads/{thread_id}/turns/{turn_id:int}/retry", guarded(retry), methods=["POST"]),
        Route("/api/threads/{thread_id}/events", guarded(events)),
        Route("/api/pictures/{thread_id}/{file}", guarded(picture)),
        Route("/api/runs", guarded(runs)),
        Route("/api/runs/{name:path}", guarded(run)),
        Route("/api/question", guarded(question)),
        Route("/api/compare", guarded(compare)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def on_startup():
        if start_worker:
            service.start()

    async def on_shutdown():
        service.stop()
        store.close()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        await on_startup()
        try:
            yield
        finally:
            await on_shutdown()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: wrong_method},
                    middleware=[Middleware(RequestGuard, config=config)])
    app.state.service = service
    app.state.store = store
    app.state.config = config
    return app


def serve(config: WebConfig, *, context_factory=None, run_browser=None) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    if not config.loopback:
        logger.warning("serving on %s: anyone who can reach this address can read the media folder and run "
                       "models; use the default 127.0.0.1 unless you mean it. Host names answered: localhost, "
                       "127.0.0.1, ::1, %s%s", config.host, ", ".join(config.allowed_hosts) or "(no --allow-host)",
                       ", any IP address" if config.host in ("0.0.0.0", "::", "") else "")
    app = create_app(config, context_factory=context_factory, run_browser=run_browser)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:  # Ctrl-C: end the open event streams (browser tabs) first
            app.state.service.stopping.set()
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                   timeout_graceful_shutdown=5))
    server.run()
