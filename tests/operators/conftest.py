from __future__ import annotations

import pytest

from evolve.operators.personas import load_personas
from evolve.operators.server import LoopbackServer


@pytest.fixture(scope="session")
def personas():
    return load_personas()


@pytest.fixture(scope="session")
def loopback():
    with LoopbackServer() as server:
        yield server
