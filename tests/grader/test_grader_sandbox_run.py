"""sandbox.run and its traceback: what one call of learner code did, shown with the learner's frames only."""

import contextlib
import io
import sys

import torch

from mnist_scratch.grader import sandbox
from mnist_scratch.grader.sandbox import Ran, learner_frames, learner_traceback, run

THEIRS = "<theirs>"  # the learner's cell, as the loader names it


def learner(src: str, name: str):
    """A function the learner wrote in THEIRS (no source text on record, so frames show no code line)."""
    ns: dict = {"sys": sys}
    exec(compile(src, THEIRS, "exec"), ns)
    return ns[name]


def raised(fn) -> BaseException:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - whatever the learner's code raised is the subject here
        return e
    raise AssertionError("fn did not raise")


def is_theirs(filename: str) -> bool:
    return filename == THEIRS


# ------------------------------------------------------------------ whose frames


def test_without_known_files_everything_but_the_grader_torch_and_the_stdlib_is_the_learners():
    theirs = learner_frames(None)
    # a learner's file anywhere, a relative path, an exec'd cell: shown
    assert theirs("/home/learner/lesson.py") is True and theirs("lesson.py") is True and theirs("<cell>") is True
    # the grader's own code, torch's and the standard library's: hidden, the learner can't act on them
    assert theirs(sandbox.__file__) is False and theirs(torch.__file__) is False
    assert theirs(contextlib.__file__) is False


def test_with_known_files_only_those_are_the_learners():
    theirs = learner_frames(frozenset({"/home/learner/lesson.py"}))
    assert theirs("/home/learner/lesson.py") is True
    assert theirs("/home/learner/helpers.py") is False  # not a file being graded, though not ours either


# ------------------------------------------------------------------ the traceback's last lines


def test_a_long_message_keeps_its_last_six_lines():
    # a learner's assert or error with a long message must not flood the report: its last 6 lines stay
    fn = learner("def relu(x):\n    raise ValueError('\\n'.join(f'line {i}' for i in range(1, 10)))\n", "relu")
    tb = learner_traceback(raised(lambda: fn(1)), is_theirs)
    assert tb == ('File "<theirs>", line 2, in relu', "line 4", "line 5", "line 6", "line 7", "line 8", "line 9")


def test_a_syntax_error_in_text_the_learner_evaluates_shows_where_in_that_text():
    # format_exception_only gives a SyntaxError as several pieces (where, code, message): joined as they are
    fn = learner("def relu(x):\n    return eval('x +')\n", "relu")
    tb = learner_traceback(raised(lambda: fn(1)), is_theirs)
    assert tb == ('File "<theirs>", line 2, in relu', 'File "<string>", line 1', "    x +",
                  "SyntaxError: invalid syntax")


# ------------------------------------------------------------------ run(): every outcome


def ran(fn, *args) -> "tuple[Ran, str]":
    out = io.StringIO()
    return run(fn, *args, seconds=5, is_theirs=is_theirs, stdout=out), out.getvalue()


def test_a_return_is_ok_and_prints_go_to_the_captured_stream_not_the_terminal(capsys):
    # (sys.stderr.write, as logging and traceback.print_exc do: print(file=None) would fall back to stdout)
    fn = learner("def relu(x):\n    print('to out')\n    sys.stderr.write('to err\\n')\n    return x\n", "relu")
    assert ran(fn, 3) == (Ran(3), "to out\nto err\n")  # both streams kept aside, in the order written
    assert capsys.readouterr() == ("", "")


def test_not_implemented_keeps_the_learners_frame():
    # the loader notes a cell that raises NotImplementedError with this traceback, so it must be the learner's lines
    fn = learner("def relu(x):\n    raise NotImplementedError\n", "relu")
    assert ran(fn, 1) == (Ran(outcome="not implemented",
                              traceback=('File "<theirs>", line 2, in relu', "NotImplementedError")), "")


def test_an_exception_is_an_error_whose_message_is_the_exception_line():
    fn = learner("def relu(x):\n    raise ValueError('bad shape')\n", "relu")
    assert ran(fn, 1) == (Ran(outcome="error", traceback=('File "<theirs>", line 2, in relu', "ValueError: bad shape"),
                              message="ValueError: bad shape"), "")


def test_sys_exit_in_learner_code_is_an_error_not_the_end_of_the_grader():
    fn = learner("def relu(x):\n    sys.exit(3)\n", "relu")
    assert ran(fn, 1) == (Ran(outcome="error", traceback=('File "<theirs>", line 2, in relu', "SystemExit: 3"),
                              message="SystemExit(3)"), "")


def test_a_loop_past_the_limit_is_a_timeout():
    fn = learner("def relu(x):\n    while True:\n        pass\n", "relu")
    r = run(fn, 1, seconds=0.1, is_theirs=is_theirs, stdout=io.StringIO())
    assert r == Ran(outcome="timeout", message="timed out after 0.1s (an endless loop?)")
