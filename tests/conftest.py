"""Shared test fixtures and settings."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The official MNIST test set in IDX format (../shared/data/mnist or $AIAAS_DATA_DIR/mnist)."""
    base = Path(os.environ.get("AIAAS_DATA_DIR", SHARED / "data")) / "mnist"
    images = base / "t10k-images-idx3-ubyte.gz"
    if not images.exists():
        pytest.fail(f"MNIST not found: expected {images} (set AIAAS_DATA_DIR to the folder holding mnist/)")
    return base
