"""Load: 50 concurrent consoles making mixed calls (Submit, Query, Release,
Hold), against the direct listener and through RabbitMQ, with the local and
the Slurm backend -- zero errors.  bench/load_bench.py (the same driver)
reports the figures at full size (200 calls per console); here each console
makes 12 calls (three cycles), to keep the suite bounded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from load_bench import clear_queue, drive, load_agent  # noqa: E402

pytestmark = pytest.mark.reliability

CONSOLES = 50
CALLS = 12  # three cycles of four


@pytest.mark.parametrize("transport", [
    "direct", pytest.param("broker", marks=pytest.mark.broker)])
@pytest.mark.parametrize("backend", ["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def test_fifty_consoles_of_mixed_calls_make_no_errors(tmp_path: Path, transport: str, backend: str) -> None:
    agent = load_agent(backend, transport, tmp_path).start()
    try:
        result = drive(agent, CONSOLES, CALLS)
        summary = result.summary()
        print(f"{transport}-{backend}: {summary}")
        assert not result.errors, f"{len(result.errors)} errors, e.g. {result.errors[:3]}\n{agent.log()}"
        assert result.calls == CONSOLES * CALLS
        assert set(result.latencies) == {"Submit", "Query", "Release", "Hold"}
        assert agent.proc is not None and agent.proc.poll() is None
    finally:
        clear_queue(agent)  # a stopped agent leaves its Slurm jobs queued, held
        agent.stop()
