"""The exercise file as text: a `# %%` Python file or a real notebook, stubs or the reference answers."""

from mnist_scratch.grader.solutions import PARTS, cells

FORMATS = ("py", "ipynb")


def render_py(parts: "tuple[str, ...]" = PARTS, solutions: bool = False) -> str:
    """Cells separated by `# %%` markers (VS Code and Jupyter with jupytext open it as a notebook)."""
    chunks = []
    for kind, src in cells(parts, solutions):
        if kind == "markdown":
            chunks.append("# %% [markdown]\n" + "\n".join(f"# {line}".rstrip() for line in src.splitlines()))
        else:
            chunks.append("# %%\n" + src)
    return "\n\n".join(chunks) + "\n"


def render_ipynb(parts: "tuple[str, ...]" = PARTS, solutions: bool = False) -> str:
    """A version 4 notebook (written by nbformat), one cell per piece, no outputs."""
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell(src) if kind == "markdown" else v4.new_code_cell(src)
                for kind, src in cells(parts, solutions)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, c in enumerate(nb.cells):  # stable ids: the same command writes the same file
        c["id"] = f"cell-{i}"
    return nbformat.writes(nb)


def render(fmt: str, parts: "tuple[str, ...]" = PARTS, solutions: bool = False) -> str:
    """The exercise in format fmt ("py" or "ipynb")."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be py or ipynb, got {fmt!r}")
    return render_py(parts, solutions) if fmt == "py" else render_ipynb(parts, solutions)
