"""Evaluation: benchmarks, resumable runs of any graph with step-wise metrics, reports, and the synthetic world they are measured on.

    datasets   loaders (world, NExT-QA, Video-MME, MVBench, EgoSchema, generic, real) -> Sample
    task       a benchmark as one YAML file (evals/tasks/*.yaml): load_task reads it and its data
    runner     resumable, sharded runs of any compiled LangGraph graph -> JSONL records
    ray_eval   the same runs on Ray workers (`vot eval --ray`), this process the one writer
    long_videos  long videos through the library; needle retrieval and the needle suite
    conversations  follow-up turns run in order, each with the earlier turns' own answers
    metrics    per-question and per-run step metrics; first divergence between two runs
    report     markdown tables and PNG plots across runs
    bench_agent, bench_writer, bench_grounding   `vot bench agent|writer|grounding`
    bench_programs, bench_table, bench_latency   `vot bench agent`'s program writers, table, latency
    serve, web_runs   `vot serve`: the web app (videothought.web) with this package's run browser
    world      the synthetic world with ground truth (`vot world generate`): a layer of its own,
               below the library and training, which read its videos (tests/test_layering.py)
    real       the real-footage dev set and the event benchmark on real footage

Command lines: `vot eval` (cli_eval) and `vot report` (cli_report).
"""
