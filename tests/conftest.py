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
