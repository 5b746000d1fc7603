"""A re-export for code not yet moved: the rules reader's nodes live in agent/rules/nodes.py, the
STSG a track node perceives in agent/perceive.py, follow-up detection in agent/followup.py.

The program path's modules (agent/program_nodes.py, evals/bench_agent.py, evals/bench_writer.py,
training/nodes/writer_data.py) import `build_stsg` and `follow_up_frame` from here; once they
import them from their homes, this module goes.
"""

from videothought.agent.followup import follow_up_frame
from videothought.agent.perceive import build_stsg

__all__ = ["build_stsg", "follow_up_frame"]
