"""Evaluation of step-wise VoT traces.

    datasets   loaders (world, NExT-QA, Video-MME, MVBench, EgoSchema, YAML tasks) -> Sample
    runner     resumable, sharded runs of any compiled LangGraph graph -> JSONL records
    ray_eval   the same runs on Ray workers (`vot eval --ray`), this process the one writer
    long_videos  long videos through the library; needle retrieval and the needle suite
    metrics    per-question and per-run step metrics; first divergence between two runs
    report     markdown tables and PNG plots across runs
    world      the synthetic world with ground truth (`vot world generate`)

Command lines: `vot eval` (cli_eval) and `vot report` (cli_report).
"""
