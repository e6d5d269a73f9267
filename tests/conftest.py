"""Fixtures for every test: names under .invalid fail to resolve without asking any resolver."""

import socket

import pytest


@pytest.fixture(autouse=True)
def invalid_names_never_resolve(monkeypatch):
    """Tests use *.invalid for 'DNS failure'; answer it here, so no query leaves the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if isinstance(host, (str, bytes)) and (host.decode() if isinstance(host, bytes) else host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def one_thread():
    """One torch thread for the test: small steps only lose time to a second thread on a shared machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# Tests that compare numbers whose last bits depend on how the CPU rounds (matrix-multiply kernels, vectorized
# randn, summation order): `make test` runs them a second time with torch's portable kernels and AVX2-only
# BLAS/oneDNN (`pytest -m floats`). Prefixes, so new tests in these files and folders are covered; whole training
# runs and commands stay out of the second run, which has to be quick.
FLOATS = ("lesson/test_nn", "lesson/test_init_stats", "gradcheck/", "grader/test_grader_funcs",
          "grader/test_grader_chain", "grader/test_grader_classes", "grader/test_grader_compare",
          "grader/test_grader_ratio",
          "grader/test_grader_diagnose", "grader/test_grader_softmax", "grader/test_grader_expect",
          "grader/test_grader_shape", "grader/test_grader_core", "grader/test_grader_grade", "training/test_engines",
          "training/test_fused", "training/test_stats", "training/test_precision")


# Tests that start processes (the fault matrix runs the real command line, the parallel tests start ranks) or
# train on the real data: `make check` leaves them to `make test`.
SLOW = ("faults/", "training/test_parallel.py", "bench/")


def pytest_collection_modifyitems(config, items):
    root = config.rootpath / "tests"
    for item in items:
        where = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        if where.startswith(FLOATS):
            item.add_marker(pytest.mark.floats)
        if where.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
