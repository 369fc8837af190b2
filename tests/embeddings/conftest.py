"""One torch thread for these tests: on the shared 2-core machine, with another process busy, two OpenMP
threads spinning for a core made small-graph training ~50x slower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
