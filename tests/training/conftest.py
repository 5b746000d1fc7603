"""One torch thread for the encoder tests: on the shared, oversubscribed CI box, two-thread
parallel regions stall on each other (a training step measured 13x slower with 2 threads)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
