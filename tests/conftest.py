"""Test-session settings: probdsl's user cache goes to a temporary directory, not ~/.cache."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_user_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROBDSL_CACHE_DIR", str(tmp_path_factory.mktemp("probdsl-cache")))
        yield os.environ["PROBDSL_CACHE_DIR"]
