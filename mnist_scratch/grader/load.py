"""Load a learner's .py or .ipynb into a namespace: code cells in order, magics and shell lines skipped.

The file is only read, never written. Each cell runs on its own, so a cell that raises (say one that needs the
dataset) is noted and the cells after it still run, as "Run all" with errors ignored would.
"""

import builtins
import io
import linecache
import re
from dataclasses import dataclass, field
from pathlib import Path

from mnist_scratch.atomic import open_regular
from mnist_scratch.errors import UsageError
from mnist_scratch.grader.sandbox import learner_frames, run

MAX_BYTES = 5_000_000  # a lesson file is a few kB; anything this big is not one
CELL_MARK = re.compile(r"^# ?%%")  # VS Code / jupytext cell markers
KEEP_BODY_MAGICS = ("%%time", "%%timeit", "%%capture")  # cell magics whose body is still Python
LESSON_MODULE = "__lesson__"  # __name__ of a loaded file: its `if __name__ == "__main__"` blocks do not run


@dataclass
class Loaded:
    """The namespace a file's cells built, and what went wrong on the way."""

    namespace: dict
    filenames: frozenset[str]
    syntax_error: str = ""  # "line N: message" when the file does not compile (then nothing ran)
    notes: list[str] = field(default_factory=list)  # cells that raised while loading
    output: str = ""  # what the cells printed


def strip_magics(src: str) -> str:
    """IPython magics (%, %%) and shell escapes (!) blanked out, keeping line numbers.

    `%time stmt` keeps stmt (the lesson times its matmul that way); a cell magic other than timing/capture means
    the body is not Python (%%bash, %%writefile...), so the whole cell goes.
    """
    lines = src.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%") and not first.startswith(KEEP_BODY_MAGICS):
        return "\n" * len(lines)
    out = []
    for line in lines:
        s = line.lstrip()
        indent = line[: len(line) - len(s)]
        if s.startswith(("%time ", "%timeit ")):
            stmt = s.partition(" ")[2].strip()
            while stmt.startswith("-"):  # %timeit -n 10 stmt: drop the options; an option with nothing after is all
                words = stmt.split(None, 2 if stmt.split(None, 1)[0] in ("-n", "-r") else 1)
                stmt = words[-1] if len(words) > 1 else ""
            out.append(indent + stmt)
        elif s.startswith(("%", "!")) or re.match(r"^[\w.]+\s*=\s*[!%]", s):
            out.append("")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def py_cells(text: str, path: str) -> list[tuple[str, str, int]]:
    """(filename, source, first line) of each `# %%` cell of a .py file (one cell when it has no markers)."""
    lines = text.splitlines()
    starts = [0] + [i for i, line in enumerate(lines) if CELL_MARK.match(line) and i > 0]
    ends = starts[1:] + [len(lines)]
    return [(path, "".join(line + "\n" for line in lines[a:b]), a + 1) for a, b in zip(starts, ends, strict=True)]


def ipynb_cells(text: str, path: str) -> list[tuple[str, str, int]]:
    """(filename "PATH [code cell N]", source, 1) of each code cell; outputs are never looked at."""
    import nbformat

    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # noqa: BLE001 - nbformat raises several kinds for a broken notebook
        raise UsageError(f"{path} is not a readable notebook: {str(e).splitlines()[0] if str(e) else e}") from None
    code = [c for c in nb.cells if c.get("cell_type") == "code"]
    return [(f"{path} [code cell {n}]", "".join(c.source), 1) for n, c in enumerate(code, 1)]


def read_bounded(path: Path) -> str:
    """The file's text, refusing what is too large or unreadable."""
    try:
        with open_regular(path) as f:  # a FIFO or device is refused (PathError), never waited on
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path} is larger than {MAX_BYTES // 1_000_000} MB: not a lesson file")
    return data.decode("utf-8", errors="replace")


def load_file(path: Path, *, seconds: float) -> Loaded:
    """Run every code cell of path (.py or .ipynb) in one fresh namespace."""
    if path.suffix not in (".py", ".ipynb"):
        raise UsageError(f"{path}: check reads .py or .ipynb files")
    text = read_bounded(path)
    cells = ipynb_cells(text, str(path)) if path.suffix == ".ipynb" else py_cells(text, str(path))
    return load_cells(cells, str(path), seconds=seconds)


def load_cells(cells: list[tuple[str, str, int]], path: str, *, seconds: float) -> Loaded:
    """Compile every cell first (a syntax error anywhere stops here), then run them in order."""
    stripped = [(f, strip_magics(src), first) for f, src, first in cells]
    shown: dict[str, list[str]] = {}  # per file name, its lines as run: tracebacks quote their code from here
    for filename, src, _ in stripped:
        shown.setdefault(filename, []).extend(src.splitlines(keepends=True))
    for filename, lines in shown.items():
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    compiled = []
    for filename, src, first in stripped:
        try:  # the padding keeps line numbers the file's own
            compiled.append((filename, compile("\n" * (first - 1) + src, filename, "exec", dont_inherit=True)))
        except SyntaxError as e:
            where = f"{filename}, line {e.lineno}" if filename != path else f"line {e.lineno}"
            code = f": {e.text.strip()}" if e.text and e.text.strip() else ""
            return Loaded({}, frozenset(), syntax_error=f"syntax error at {where}: {e.msg}{code}")
    names = frozenset(f for f, _ in compiled)
    ns = {"__name__": LESSON_MODULE, "__file__": path, "__builtins__": builtins}
    loaded, out = Loaded(ns, names), io.StringIO()
    for filename, code in compiled:
        ran = run(exec, code, ns, seconds=seconds, is_theirs=learner_frames(names), stdout=out)
        if ran.outcome != "ok":
            what = ran.message or (ran.traceback[-1] if ran.traceback else ran.outcome)
            loaded.notes.append(f"{filename}: {what}" if ran.outcome == "timeout" else "\n".join(ran.traceback))
    loaded.output = out.getvalue()
    return loaded
