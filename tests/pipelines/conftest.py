"""One temporary Prefect API for the flow tests (starting it takes seconds; on a loaded 2-core machine
over a minute, hence the generous timeout); no telemetry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        with prefect_test_harness(server_startup_timeout=240):
            yield
