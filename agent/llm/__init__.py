"""Language-model backends behind one small protocol, and the loader.

    from videothought.agent.llm import load_language_model
    lm = load_language_model()                              # "embedded": SmolLM2-135M-Instruct, CPU, offline
    lm = load_language_model("/path/to/hf/model")           # any local transformers causal LM
    lm = load_language_model("/path", adapters={"rank_answers": "/lora"})   # peft adapters per node
    lm = load_language_model("video:/path/qwen2-vl")        # a Qwen2-VL-class video LLM (takes frames)
    lm = load_language_model("http://127.0.0.1:8000/v1")    # any OpenAI-compatible server
    lm = load_language_model("fake")                        # FakeLanguageModel, for tests

Modules: `protocol` (the LanguageModel protocol, errors, shared types, `check_language_model`),
`loading` (a spec -> a backend), `fake`, `local` (transformers causal LM), `quantized` (its int4
runtime), `shared_prefix` (a prompt encoded once: packed scoring, the prompt-prefix KV cache),
`embedded` (the shipped SmolLM2 weights and the tiny random model like it), `video`
(Qwen2-VL-class), `http` (OpenAI-compatible client), `server` (our OpenAI-compatible server:
`vot llm serve`), `parsing` (robust parsing of small-model output and the one parse-retry loop),
`constrained` (JSON-Schema-constrained decoding for the program writer), `bench` (`vot bench llm`).
The protocol is documented in docs/llm.md.

Why here and not a package of its own: the backends serve the graph's nodes. Adapters are
named by node (`adapter_scope(lm, "rank_answers")`, agent/adapters/), an adapter's card carries
the verify node's threshold, and constrained decoding exists for the program writer; the nodes
and the writer import this package everywhere. It is still a layer of its own below the rest of
agent/: it imports nothing of the graph (only graph/optional.py and graph/threads.py), so training
and the evals use it without the graph, and tests/test_layering.py keeps it that way. A move to
videothought.llm would buy a shorter import path for the price of rewriting every import or
aliasing submodules, while the program path's modules that import it are being edited.
"""

from videothought.agent.llm.fake import FakeLanguageModel
from videothought.agent.llm.loading import (
    EMBEDDED_SPEC,
    LLM_ENV_VAR,
    cache_root,
    file_fingerprint,
    load_language_model,
)
from videothought.agent.llm.parsing import (
    ParseError,
    ParseOutcome,
    extract_choice,
    extract_json,
    extract_rating,
    generate_choice,
    generate_json,
    generate_parsed,
    generate_rating,
)
from videothought.agent.llm.protocol import (
    BackendUnavailableError,
    Generation,
    InvalidMessagesError,
    LanguageModel,
    LanguageModelError,
    ModelNotFoundError,
    ScoringNotSupportedError,
    VisionLanguageModel,
    accepts_frames,
    adapter_scope,
    call_generate,
    call_score,
    check_language_model,
    render_chatml,
    truncate_at_stop,
    validate_messages,
)

__all__ = [
    "EMBEDDED_SPEC", "LLM_ENV_VAR", "BackendUnavailableError", "FakeLanguageModel", "Generation",
    "InvalidMessagesError", "LanguageModel", "LanguageModelError", "ModelNotFoundError", "ParseError",
    "ParseOutcome", "ScoringNotSupportedError", "VisionLanguageModel", "accepts_frames", "adapter_scope",
    "cache_root", "call_generate", "call_score", "check_language_model", "extract_choice", "extract_json", "extract_rating", "file_fingerprint",
    "generate_choice", "generate_json", "generate_parsed", "generate_rating", "load_language_model",
    "render_chatml", "truncate_at_stop", "validate_messages",
]
