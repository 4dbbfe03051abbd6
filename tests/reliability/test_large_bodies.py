"""Four 5 MB JSON requests at once never hold up a health check: ``/ping`` p99 stays under 50 ms.

The real servers on loopback: the SageMaker container entry (``python -m handlers.sagemaker_entry``) and
``maaskit serve`` (the server people put in their own containers). Bodies at or above
``MAASKIT_OFFLOAD_BYTES`` are decoded and their answers encoded off the event loop by the one inference
pipeline, and for ``/invocations`` in worker processes (``MAASKIT_DECODE_PROCESSES``, 2 on both entries;
:mod:`handlers.offload`). The four posters run in a process of their own. ``python -m bench.large_bodies``
prints both entries' figures side by side.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.common import PYTHON, free_port, sagemaker_env, start_server
from bench.hostile_clients import ping_under_large_bodies
from bench.large_bodies import idle_pings

ROW = "[5.1, 3.5, 1.4, 0.2],"
BODY = ('{"instances": [' + ROW * (5_000_000 // len(ROW)) + "[5.1, 3.5, 1.4, 0.2]]}").encode()
HEADERS = {"Content-Type": "application/json", "X-Maaskit-Model": "iris"}
QUIET_IDLE_P99_S = 0.005  # an idle /ping p99 above this: CPUs shared with other work (quiet: 1-2 ms)
SPARE_CORES = 4  # the server's loop, two decode workers and the posting process each on a core of their own


def _container(bundle, port: int, **env: str):
    environment = sagemaker_env(bundle, port, MAASKIT_BATCHING="0", MAASKIT_MAX_RESPONSE_BYTES="0", **env)
    return start_server("sagemaker-large-bodies", [PYTHON, "-m", "handlers.sagemaker_entry"], port, environment)


def _serve(bundle, port: int, **env: str):
    """``maaskit serve`` with its own defaults (decode processes included), one ORT thread, no access log."""
    environment = {"MAASKIT_INTRA_OP_THREADS": "1", "MAASKIT_ACCESS_LOG": "false", **env}
    command = [PYTHON, "-m", "maaskit", "serve", str(bundle), "--port", str(port)]
    return start_server("serve-large-bodies", command, port, environment)


ENTRIES = {"sagemaker": _container, "serve": _serve}


@pytest.mark.slow
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_ping_p99_under_50ms_while_four_5mb_requests_run(rel_bundles, tmp_path, entry):
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    port = free_port()
    with ENTRIES[entry](rel_bundles.iris, port) as server:
        idle = float(np.percentile(idle_pings(server.url, 200), 99))
        latencies, statuses = ping_under_large_bodies(server.url, str(body_file), headers=HEADERS)
    assert statuses == [200] * 4
    assert len(latencies) >= 20, "the large requests ended before /ping was measured"
    p99 = float(np.percentile(latencies, 99))
    measured = f"{entry}: /ping p99 {p99 * 1000:.1f} ms over {len(latencies)} pings (idle p99 {idle * 1000:.1f} ms)"
    # With the loop doing the work, four bodies made /ping wait 3.8-6 s here: a loop blocked by them cannot
    # stay under 250 ms even on a 2-core machine where the posters and decode workers take every core.
    assert p99 < 0.250, measured
    # The 50 ms goal needs a core for the event loop beside the decode workers and the posters, and a quiet
    # machine; on fewer cores it is a figure of the benchmark (python -m bench.large_bodies), not a verdict here.
    cores = os.cpu_count() or 1
    if cores < SPARE_CORES or idle > QUIET_IDLE_P99_S:
        pytest.skip(
            f"{cores} cores, idle /ping p99 {idle * 1000:.1f} ms: too few or too busy to hold 50 ms to account; "
            f"the loop was not blocked: {measured}"
        )
    assert p99 < 0.050, measured
