"""Training: the AoE encoder's pretraining (encoder/) and the LLM nodes' post-training in stages (nodes/), run by `vot train` from YAML recipes (recipes/)."""
