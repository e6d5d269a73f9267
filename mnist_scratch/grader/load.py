"""Load a learner's .py or .ipynb into a namespace: code cells in order, each top-level statement on its own.

The file is only read, never written. A statement that raises (an import of a package that is not installed, a
download, a data file that is not here) is noted once, and everything after it still runs, so only what depends
on it is lost; the NameErrors that follow from it are counted under that one note. IPython syntax (magics, shell
lines, `obj?` help, `get_ipython()` calls) is skipped with one note, never a syntax error.
"""

import ast
import builtins
import io
import json
import linecache
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_scratch.atomic import open_regular
from mnist_scratch.errors import UsageError
from mnist_scratch.grader.sandbox import learner_frames, run

MAX_BYTES = 5_000_000  # a lesson file is a few kB; anything this big is not one
CELL_MARK = re.compile(r"^# ?%%")  # VS Code / jupytext cell markers
IN_MARK = re.compile(r"^# In\[\s*(\d*)\s*\]:\s*$")  # `jupyter nbconvert --to script` cell markers
KEEP_BODY_MAGICS = ("%%time", "%%timeit", "%%capture")  # cell magics whose body is still Python
LESSON_MODULE = "__lesson__"  # __name__ of a loaded file: its `if __name__ == "__main__"` blocks do not run
HELP = re.compile(r"^\s*(\?{1,2}[\w.]+(\(\))?|[\w.]+(\(\))?\?{1,2})\s*$")  # obj?, obj??, ?obj, ??obj
GET_IPYTHON = re.compile(r"^\s*([\w.,\s]+=\s*)?get_ipython\(\)")  # what nbconvert writes for a magic
CELL_MAGIC_CALL = re.compile(r"^get_ipython\(\)\.run_cell_magic\('(time|timeit|capture)', '[^']*', (.*)\)\s*$")
NOT_DEFINED = re.compile(r"^NameError: name '(\w+)' is not defined")
# CPython 3.11 converts between ast objects and its own trees with one recursion counter shared by all threads
# (gh-106905): files loaded in parallel threads (check FOLDER --jobs) fail with "AST constructor recursion depth
# mismatch" unless parse and compile of ast objects take turns
AST_LOCK = threading.Lock()


@dataclass(frozen=True)
class Definition:
    """One `def` or `class` statement that ran: where it is and what it made."""

    name: str
    where: str  # "In [7], line 2" / "line 40": as the learner sees it
    obj: object
    autograd: bool = False  # a torch.nn.Module subclass: the autograd version, not a hand-written rule


@dataclass
class Loaded:
    """The namespace a file's cells built, and what went wrong on the way."""

    namespace: dict
    filenames: frozenset[str]
    syntax_error: str = ""  # "line N: message" when the file does not compile (then nothing ran)
    notes: list[str] = field(default_factory=list)  # one per root cause: statements that raised, skipped syntax
    output: str = ""  # what the cells printed
    definitions: dict[str, list[Definition]] = field(default_factory=dict)  # every def/class, in run order

    def handwritten(self, name: str) -> "tuple[object | None, str]":
        """The last hand-written definition of name (None when there is none), and a note when others exist."""
        defs = self.definitions.get(name, [])
        if not defs:
            return self.namespace.get(name), ""
        mine = [d for d in defs if not d.autograd]
        if not mine:
            return None, f"{name} ({defs[-1].where}) is a torch.nn.Module (autograd), not hand-written: skipped"
        if len(defs) == 1:
            return mine[-1].obj, ""
        rest = ", ".join(d.where + (" (a torch.nn.Module)" if d.autograd else "") for d in defs if d is not mine[-1])
        return mine[-1].obj, (f"{name} is defined {len(defs)} times: the last hand-written one ({mine[-1].where}) "
                              f"is graded, not {rest}")


@dataclass
class Cell:
    """One code cell: the file name tracebacks show, its source, its first line in that file, its label."""

    filename: str
    source: str
    first: int = 1
    label: str = ""  # "In [7]" / "code cell 3" for a notebook, "" for a .py (its line numbers say where)


def strip_magics(src: str, skipped: "list[str] | None" = None) -> str:
    """IPython syntax blanked out, keeping line numbers; what was blanked is appended to skipped.

    `%time stmt` keeps stmt (the lesson times its matmul that way); a cell magic other than timing/capture means
    the body is not Python (%%bash, %%writefile...), so the whole cell goes.
    """
    skipped = [] if skipped is None else skipped
    lines = src.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%") and not first.startswith(KEEP_BODY_MAGICS):
        skipped.append(first.split()[0])
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
            skipped.append(s.split()[0] if s.startswith(("%", "!")) else s.split("=", 1)[1].split()[0])
            out.append("")
        elif HELP.match(s):
            skipped.append(s.strip())
            out.append("")
        elif GET_IPYTHON.match(s):
            skipped.append("get_ipython()")
            out.append("")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def py_cells(text: str, path: str) -> list[tuple[str, str, int]]:
    """(filename, source, first line) of each `# %%` or `# In[ ]:` cell of a .py file (one cell when unmarked)."""
    return [(c.filename, c.source, c.first) for c in py_cell_list(text, path)]


def py_cell_list(text: str, path: str) -> list[Cell]:
    """The cells of a .py file; an nbconvert export's cells are labelled with their `In [n]`.

    nbconvert writes a `%%time` cell as one `get_ipython().run_cell_magic('time', '', 'BODY')` line: its body (the
    learner's Python, often definitions) becomes a cell of its own, named after that line.
    """
    lines = text.splitlines()
    marks = [i for i, line in enumerate(lines) if CELL_MARK.match(line) or IN_MARK.match(line)]
    starts = [0] + [i for i in marks if i > 0]
    ends = starts[1:] + [len(lines)]
    cells = []
    for a, b in zip(starts, ends, strict=True):
        m = IN_MARK.match(lines[a]) if a < len(lines) else None
        label = (f"In [{m.group(1)}]" if m.group(1) else "") if m else ""
        first = a
        for i in range(a, b):
            body = _cell_magic_body(lines[i])
            if body is not None:
                cells.append(Cell(path, "".join(line + "\n" for line in lines[first:i]), first + 1, label))
                cells.append(Cell(f"{path} [line {i + 1}: %%cell body]", body, 1, label))
                first = i + 1
        cells.append(Cell(path, "".join(line + "\n" for line in lines[first:b]), first + 1, label))
    return [c for c in cells if c.source or c.first == 1]


def _cell_magic_body(line: str) -> "str | None":
    """The body of an exported %%time/%%timeit/%%capture cell, or None when line is not one."""
    m = CELL_MAGIC_CALL.match(line)
    if not m:
        return None
    try:
        body = ast.literal_eval(m.group(2))
    except (ValueError, SyntaxError):
        return None
    return body if isinstance(body, str) else None


def _source(cell: dict) -> str:
    src = cell.get("source", cell.get("input", ""))
    return "".join(src) if isinstance(src, list) else str(src)


def ipynb_cells(text: str, path: str) -> list[tuple[str, str, int]]:
    """(filename "PATH [In [n]]" or "PATH [code cell N]", source, 1) of each code cell; outputs never looked at."""
    return [(c.filename, c.source, c.first) for c in ipynb_cell_list(text, path)]


def ipynb_cell_list(text: str, path: str) -> list[Cell]:
    """A notebook's code cells, read as plain JSON (any nbformat 4 minor, or 3): no validation, no warnings.

    A cell is labelled with its execution count `In [n]` when it has one (what the learner sees), else by its
    place among the code cells.
    """
    try:
        nb = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{path} is not a readable notebook: not JSON ({e})") from None
    if not isinstance(nb, dict):
        raise UsageError(f"{path} is not a readable notebook: not a JSON object")
    raw = nb.get("cells")
    if raw is None and isinstance(nb.get("worksheets"), list):  # nbformat 3
        raw = [c for ws in nb["worksheets"] if isinstance(ws, dict) for c in ws.get("cells", [])]
    if not isinstance(raw, list):
        raise UsageError(f"{path} is not a readable notebook: it has no list of cells")
    code = [c for c in raw if isinstance(c, dict) and c.get("cell_type") == "code"]
    cells, seen = [], set()
    for n, c in enumerate(code, 1):
        count = c.get("execution_count", c.get("prompt_number"))
        label = f"In [{count}]" if isinstance(count, int) and count not in seen else f"code cell {n}"
        seen.add(count)
        cells.append(Cell(f"{path} [{label}]", _source(c), 1, label))
    return cells


def read_bounded(path: Path) -> str:
    """The file's text, refusing what is too large, unreadable or a symlink (it may point at a teacher's file)."""
    if os.path.islink(path):
        raise UsageError(f"{path} is a symbolic link: check grades a file itself (copy it here)")
    try:
        with open_regular(path, follow=False) as f:  # a FIFO, device or late symlink: PathError
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
    cells = ipynb_cell_list(text, str(path)) if path.suffix == ".ipynb" else py_cell_list(text, str(path))
    return load_cells(cells, str(path), seconds=seconds)


def bound_names(stmt: ast.stmt) -> set[str]:
    """The names a top-level statement binds (assignments, imports, def/class, for/with targets)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    names = set()
    for node in ast.walk(stmt):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def read_names(stmt: ast.stmt) -> set[str]:
    """The names a statement reads."""
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _is_autograd(obj) -> bool:
    """A torch.nn.Module subclass (the notebooks' last `class Model(nn.Module)`)."""
    import torch

    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def load_cells(cells: "list[Cell] | list[tuple[str, str, int]]", path: str, *, seconds: float) -> Loaded:
    """Compile every cell first (a syntax error anywhere stops here), then run their statements in order.

    seconds bounds each cell (all its statements together), as a cell's run in Jupyter.
    """
    cells = [c if isinstance(c, Cell) else Cell(*c) for c in cells]
    skipped: list[str] = []
    stripped = [Cell(c.filename, strip_magics(c.source, skipped), c.first, c.label) for c in cells]
    shown: dict[str, list[str]] = {}  # per file name, its lines as run: tracebacks quote their code from here
    for c in stripped:  # each cell's lines at its own place (a %%time body taken out leaves its line blank)
        at = shown.setdefault(c.filename, [])
        cell_lines = c.source.splitlines(keepends=True)
        at.extend(["\n"] * (c.first - 1 + len(cell_lines) - len(at)))
        at[c.first - 1 : c.first - 1 + len(cell_lines)] = cell_lines
    for filename, lines in shown.items():
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    parsed = []
    for c in stripped:
        try:  # the padding keeps line numbers the file's own
            with AST_LOCK:
                parsed.append((c, ast.parse("\n" * (c.first - 1) + c.source, c.filename)))
        except SyntaxError as e:
            where = f"{c.filename}, line {e.lineno}" if c.filename != path else f"line {e.lineno}"
            code = f": {e.text.strip()}" if e.text and e.text.strip() else ""
            return Loaded({}, frozenset(), syntax_error=f"syntax error at {where}: {e.msg}{code}")
    names = frozenset(c.filename for c, _ in parsed)
    ns = {"__name__": LESSON_MODULE, "__file__": path, "__builtins__": builtins}
    loaded, out = Loaded(ns, names), io.StringIO()
    if skipped:
        shown_kinds = ", ".join(dict.fromkeys(s if len(s) <= 30 else s[:27] + "..." for s in skipped))
        loaded.notes.append(f"skipped {len(skipped)} line(s) of IPython syntax, not Python: {shown_kinds}")
    failed: dict[str, int] = {}  # a name a failed statement should have bound -> index of its note
    cascades: dict[int, int] = {}  # note index -> later statements that failed for want of its names
    ever: set[str] = set()  # every name a statement so far binds (or would have)
    star_root = None  # the note of a failed `from x import *`: it stands for names it cannot list
    for c, tree in parsed:
        deadline = time.monotonic() + seconds
        for stmt in tree.body:
            left = deadline - time.monotonic()
            if left <= 0:
                loaded.notes.append(f"{c.filename}: timed out after {seconds:g}s (an endless loop?)")
                break
            with AST_LOCK:
                code = compile(ast.Module(body=[stmt], type_ignores=[]), c.filename, "exec", dont_inherit=True)
            ran = run(exec, code, ns, seconds=left, is_theirs=learner_frames(names), stdout=out)
            bound = bound_names(stmt)
            ever |= bound
            if ran.outcome == "ok":
                for n in bound:
                    failed.pop(n, None)
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name in ns:
                    where = f"{c.label}, line {stmt.lineno}" if c.label else f"line {stmt.lineno}"
                    obj = ns[stmt.name]
                    loaded.definitions.setdefault(stmt.name, []).append(
                        Definition(stmt.name, where, obj, _is_autograd(obj)))
                continue
            if ran.outcome == "timeout":
                loaded.notes.append(f"{c.filename}: timed out after {seconds:g}s (an endless loop?)")
                break
            m = NOT_DEFINED.match(ran.traceback[-1]) if ran.traceback else None
            missing = m.group(1) if m else None
            cause = next((failed[n] for n in [missing, *sorted(read_names(stmt))] if n in failed), None)
            if cause is None and missing is not None and missing not in ever and star_root is not None:
                cause = star_root  # a name the failed `from x import *` would have brought
            if cause is not None:  # a consequence of an earlier failure, not a new cause
                root = cause
                cascades[root] = cascades.get(root, 0) + 1
            else:
                root = len(loaded.notes)
                loaded.notes.append("\n".join(ran.traceback) or ran.message or ran.outcome)
            if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
                star_root = root
            for n in bound:
                failed[n] = root
    for i, n in cascades.items():
        loaded.notes[i] += f"\n({n} later statement{'s' if n > 1 else ''} failed for want of what this defines)"
    loaded.output = out.getvalue()
    return loaded
