"""The web app: chat with a video and watch each node run in a browser (`vot serve`), over the same library calls as `vot ask` / `vot chat` / `vot report`.

    vot serve                                   # http://127.0.0.1:7860, the embedded stack
    vot serve --lm http://127.0.0.1:8000/v1 --media ~/videos --runs runs/

Modules:
    config   WebConfig: where media, state and eval runs live, upload limit, host and port
    media    the media folder: listing, lexical path checks, uploads (size-limited, probed)
    threads  chat threads, their turns and events in one SQLite file
    chat     one worker runs turns through the VoT graph (LangGraph stream, SqliteSaver
             checkpoints) and records every node's trace record as an event
    live     what the page sees while a turn runs: the LLM's text, the running node, indexing
    app      the Starlette app: JSON API, server-sent events, static page; every request's Host,
             Origin and content type checked first (request_refusal), as Jupyter's server does
    cli      `vot serve`

Nothing here formats traces or draws STSGs itself: it calls videothought.agent.trace and
videothought.graph.draw. The evaluation-run pages are served by a browser passed into
`create_app(run_browser=...)`; the `vot serve` command passes its run browser in.
"""
