"""Post-training the LLM's nodes: data from the synthetic world, SFT, GRPO, rejection sampling, DPO, calibration, the vision projector, and the program writer's data and rewards.

    recipe.py, pipeline.py     a stage's YAML recipe and its run (`vot train nodes --config ...`)
    models.py                  the base model and the card that binds an adapter to it
    data.py, data_ray.py       node training rows from world questions (locally or on Ray)
    sft.py, grpo.py, rejection.py, dpo.py, rewards.py   the stages and RL rewards
    calibrate.py, probe.py, evaluate.py                 the verify threshold, probes, held-out evaluation
    projector.py               the frame projector that lets the text LLM watch frames
    writer_data.py, writer_rewards.py, writer_shapes.py  the program writer's data and rewards
"""
