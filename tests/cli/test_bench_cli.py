"""`hitl bench` is a benchmark, not a timed test: these only check that it runs end to end with
small sizes and prints every key with a number (and that its correctness checks held)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import KEYS, percentile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_json_prints_every_key_with_a_number(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "OPENAI_",
                                                                     "SLACK_"))}
    hitl = Path(sys.executable).parent / "hitl"  # the console script `make` installs
    done = subprocess.run(
        [str(hitl), "bench", "--json", "--quick", "--events", "500"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    for key in KEYS:
        assert isinstance(report[key], int | float), (key, report[key])
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    assert set(report["methods"]) == set(KEYS)
    assert report["naive"]["ingest_events_per_s"]["value"] > 0


def test_bench_help_lists_the_options() -> None:
    from typer.testing import CliRunner

    from hitl.cli import app

    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    for option in ("--json", "--quick", "--events", "--postgres", "--replicas", "--latency"):
        assert option in result.output


def test_percentile_matches_numpy_linear() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert percentile(list(range(101)), 99) == 99


def test_token_counts_are_real_bpe_counts() -> None:
    from bench.workload import count_tokens

    # "hello world" is two cl100k_base tokens; each message adds 3 + its role's tokens.
    assert count_tokens([{"role": "user", "content": "hello world"}]) == 3 + 3 + 2 + 1
