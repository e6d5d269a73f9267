"""mnist-scratch: the first lesson of deep learning from the foundations, as verified software."""

__version__ = "0.1.0"


def check(obj=None, *, part: "str | None" = None, timeout: float = 10.0):
    """Grade your lesson code where you write it: `check()` (your notebook's globals), `check(lin_grad)`, `check(Lin)`,
    `check(globals())` or `check("lesson.py")`.

    Runs your code as you. Returns a CheckResult: it shows as a table in Jupyter and in a terminal, `.ok` is True
    when every graded rule passes, `result["lin_grad"].hint` says what is wrong.
    """
    import inspect

    from mnist_scratch.grader import check_object
    from mnist_scratch.grader.load import LESSON_MODULE
    from mnist_scratch.grader.result import CheckResult
    from mnist_scratch.report.check import shown

    frame = inspect.currentframe()
    caller = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    if caller.get("__name__") == LESSON_MODULE:  # a check() cell in a file `mnist-scratch check` is loading
        return shown(CheckResult([], "skipped: mnist-scratch check is grading this file already"))
    return shown(check_object(obj, part=part, seconds=timeout, caller_globals=caller if obj is None else None))


def __getattr__(name: str):
    """load_mnist and train, imported on first use (`import mnist_scratch` stays light for the CLI)."""
    if name in ("load_mnist", "train"):
        from mnist_scratch import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'mnist_scratch' has no attribute {name!r}")
