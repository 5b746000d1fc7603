"""A run context for the real VoT agent graph with a scripted fake LLM (tests only): the
perception stack (proposer, tracker, STSG) is the real default one."""

from __future__ import annotations


def fake_llm_context():
    from videothought.agent.context import default_context
    from videothought.agent.llm import FakeLanguageModel

    return default_context(lm=FakeLanguageModel(replies=['{"targets": ["the red circle"]}', "It moves.", "7", "yes"]),
                           encoder=None)
