"""The rules reader: the frozen baseline that reads a question in code and checks answers against the STSG.

    nodes.py      its VoT nodes (identify_targets, track, analyze_actions, propose_candidates,
                  rank_answers, verify); agent/graph.py wires them for reader="rules"
    language.py   English read in code: mentions of objects (the scene's vocabulary) and events
                  (graph/schema.py EVENT_PHRASES), time, order, count, cause and counterfactual cues
    grounding.py  which tracks a phrase names (attributes, labels, region embeddings)
    claims.py     how well an answer agrees with the STSG, for any wording
    times.py      times and intervals named in answers ("minute 7", "between 1:00 and 2:30")

Frozen (issue 25): no new phrase or word table, the same answers on the same questions
(tests/agent/ pin them). Its words are graph/words.py's, its sentences for the LLM
graph/verbalize.py's, its follow-up tests agent/followup.py's; what both readers share
(the STSG a question sees, the steps' helpers, the prompts) is in agent/.
"""
