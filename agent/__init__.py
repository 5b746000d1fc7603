"""The Video-of-Thought reasoning graph and what it needs to run: a question and a video in, an answer with a step-wise trace out.

    graph.py          build_vot_graph(reader=...): the uncompiled LangGraph StateGraph
    state.py          VoTState (JSON-safe), TraceRecord, the answer's verdict
    context.py        VoTContext (the models a run uses) and VoTSettings
    run.py            run_question: one question through a compiled graph, with its trace
    session.py        Session: long videos indexed once, then ask and chat with follow-ups
    trace.py          trace records as JSONL and as text
    program_nodes.py  the program reader's nodes (the default-to-be): the LLM writes the
    writer.py           question's program (graph/program.py), the STSG executes it
    rules/            the rules reader's nodes: the frozen baseline that reads English in code
    perceive.py       what either reader's track node sees: the STSG of the video, cached
    followup.py       follow-up detection: does a chat turn point back, and at which moment
    steps.py          what every node does around its LLM calls (records, retries, frames)
    prompts.py        the nodes' prompts
    llm/              the LLM backends (embedded, local transformers, video LLM, HTTP) and our
                      OpenAI-compatible server: the only models the nodes talk to
    cli_ask.py, cli_chat.py, demo.py    `vot ask`, `vot chat`, `vot demo`

agent/nodes.py re-exports build_stsg and follow_up_frame for modules not yet moved to
perceive.py and followup.py. The web app is videothought.web; the long-video library is
videothought.library; the benchmarks live in their own package, which the agent never imports
(it knows none of them).
"""
