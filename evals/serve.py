"""`vot serve`: the web app (videothought.web, which knows no benchmark) with the
evaluation-run browser of evals (videothought.evals.web_runs) plugged in."""

from __future__ import annotations

import argparse

from videothought.web.cli import configure  # noqa: F401  (the same options)


def run(args: argparse.Namespace) -> int:
    from videothought.web import cli
    from videothought.evals import web_runs

    return cli.run(args, run_browser=web_runs)
