from __future__ import annotations

import pytest

from manager.ca import RootCA, create_root_ca
from tests.unit.ca.pki import NOW, Issuer


@pytest.fixture(scope="session")
def root() -> RootCA:
    return create_root_ca(NOW)


@pytest.fixture(scope="session")
def other_root() -> RootCA:
    return create_root_ca(NOW)


@pytest.fixture(scope="session")
def issuer(root: RootCA) -> Issuer:
    return Issuer(root)
