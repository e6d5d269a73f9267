"""Run the mnist-scratch CLI in a subprocess with the tiny test pins (mirrors on a 127.0.0.1 test server).

Usage: python faultdriver.py SPEC_JSON ARGS...   SPEC keys: pickle_urls (list), marker (a file touched just before
the cache lock is requested), boom (make loading data fail with an unexpected error holding a secret local),
small (serve trainfakes.small_data with this many train rows instead), fsize (a file-size limit in bytes: writes past
it fail with EFBIG, as on a full disk).
"""

import gzip
import json
import sys
from pathlib import Path

from fakemnist import classic_splits, make_arrays, py2_pickle, tiny_pins


def main() -> None:
    spec = json.loads(sys.argv[1])
    import mnist_scratch.data
    from mnist_scratch.data import Net, api

    arrays = make_arrays()
    pkl = gzip.compress(py2_pickle(classic_splits(arrays)), mtime=0)
    pins = tiny_pins(arrays, pickle=pkl, pickle_urls=spec.get("pickle_urls", []))
    net = Net(connect_timeout=5, read_timeout=120)

    def prepare(*a, **k):
        if spec.get("boom"):
            secret_local = "hunter2-do-not-print"  # noqa: F841 - must never reach the user's terminal
            raise ZeroDivisionError("something internal broke")
        return api.prepare_dataset(*a, **k, pins=pins, net=net)

    mnist_scratch.data.prepare_dataset = prepare
    mnist_scratch.data.load_dataset = lambda *a, **k: prepare(*a, **k)[0]
    if spec.get("small"):
        from trainfakes import small_data

        data = small_data(n_train=spec["small"])
        mnist_scratch.data.load_dataset = lambda *a, **k: data
    if spec.get("fsize"):
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), the process lives
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["fsize"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    if spec.get("marker"):
        from filelock import FileLock

        acquire = FileLock.acquire

        def marked(self, *a, **k):
            Path(spec["marker"]).touch()
            return acquire(self, *a, **k)

        FileLock.acquire = marked
    from mnist_scratch.cli import main as cli_main

    sys.argv = ["mnist-scratch", *sys.argv[2:]]
    cli_main()


if __name__ == "__main__":
    main()
