"""atheris harness for targets.checkpoint.

Run: python fuzz/fuzz_checkpoint.py WORK_DIR fuzz/corpus/checkpoint -max_total_time=60 (WORK_DIR collects new inputs).
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["mnist_scratch", "targets", "pickle", "tomllib", "json"]):
    import targets

if __name__ == "__main__":
    atheris.Setup(sys.argv, targets.checkpoint)
    atheris.Fuzz()
