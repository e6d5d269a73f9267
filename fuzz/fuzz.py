"""atheris harness for one of the targets in targets.py (idx, unpickle, config, checkpoint).

Run: python fuzz/fuzz.py TARGET WORK_DIR fuzz/corpus/TARGET -max_total_time=60 (WORK_DIR collects new inputs).
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["mnist_scratch", "targets", "pickle", "tomllib", "json"]):
    import targets

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: python fuzz/fuzz.py {{{','.join(targets.TARGETS)}}} [libFuzzer arguments]")
    target = targets.TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
