"""The child process that runs a learner's file: `python -m mnist_scratch.grader.child FD_IN FD_OUT MEM_MB CPU_S`.

It loads the file, then answers the grader's requests (adapters.OPS on tensors the grader sends) over two pipes.
It decides nothing: every answer goes back as plain data, and the grader compares. `--reaper` first makes this
process a child subreaper that outlives the worker and kills whatever it left behind (used where PID namespaces are
not available).
"""

import functools
import os
import signal
import sys


def _set_limits(mem_mb: int, cpu_s: int) -> None:
    import resource

    if mem_mb > 0:  # on top of what torch already mapped
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + mem_mb * 2**20,) * 2)
    if cpu_s > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20,) * 2)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with an error instead of killing


def graded(loaded, names) -> tuple[dict, dict]:
    """The namespace to grade (each rule's last hand-written definition) and a note per name defined twice."""
    ns, notes = dict(loaded.namespace), {}
    pick = getattr(loaded, "handwritten", None)  # the loader records every definition where it can
    for n in names:
        if pick is None:
            continue
        obj, note = pick(n)
        if obj is not None:
            ns[n] = obj
        elif not note:  # (with a note: only a torch.nn.Module is there, left for kind() to name and skip)
            ns.pop(n, None)
        if note:
            notes[n] = note
    return ns, notes


def _fingerprint(modules: dict) -> dict:
    """Every function and class of the grader's modules the child runs (and OPS' entries), with their code objects."""
    seen = {}
    for mname, mod in modules.items():
        for name, obj in list(vars(mod).items()):
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            seen[f"{mname}.{name}"] = (obj, getattr(obj, "__code__", None))
            if isinstance(obj, type):
                for attr, f in list(vars(obj).items()):
                    seen[f"{mname}.{name}.{attr}"] = (f, getattr(f, "__code__", None))
        ops = getattr(mod, "OPS", None)
        if isinstance(ops, dict):
            seen[f"{mname}.OPS"] = (ops, None)
            seen |= {f"{mname}.OPS[{k!r}]": (f, getattr(f, "__code__", None)) for k, f in ops.items()}
    return seen


def _changed(modules: dict, before: dict) -> str:
    """The first grader function or class the learner's code replaced since `before`, or ""."""
    try:
        now = _fingerprint(modules)
    except Exception as e:  # noqa: BLE001 - a module emptied or a class made unreadable is a change too
        return f"the grader's modules ({type(e).__name__})"
    for key, (obj, code) in before.items():
        got = now.get(key)
        if got is None or got[0] is not obj or got[1] is not code:
            return key
    extra = now.keys() - before.keys()
    return min(extra) if extra else ""


def serve(fd_in: int, fd_out: int, mem_mb: int, cpu_s: int) -> None:
    """Load, then answer calls until the grader closes the pipe."""
    import torch

    torch.set_num_threads(1)
    from pathlib import Path

    from mnist_scratch.grader import adapters, sandbox, wire
    from mnist_scratch.grader.sandbox import Bounded, Ran, learner_frames, run_op

    _set_limits(mem_mb, cpu_s)
    ns, is_theirs = {}, learner_frames(None)
    # the learner's code runs in this process and can replace what judges it (OPS, watch_autograd...): each
    # answer after such a change is an error, never a verdict (best effort: see docs/teachers.md)
    guarded = {"adapters": adapters, "sandbox": sandbox, "wire": wire, "child": sys.modules[__name__]}
    intact, tampered = _fingerprint(guarded), ""
    while True:
        try:
            header, data = wire.read_frame(fd_in)
        except wire.WireError:
            os._exit(0)
        if header.get("op") == "load":
            from mnist_scratch.errors import UsageError
            from mnist_scratch.grader.load import load_file

            try:
                loaded = load_file(Path(header["path"]), seconds=header["seconds"])
            except UsageError as e:  # an unreadable file: the grader says it in one line, exit code 2
                reply = {"usage_error": str(e) or type(e).__name__}
            except BaseException as e:  # noqa: BLE001 - an expression too deep to compile raises MemoryError...
                reply = {"syntax_error": f"the file cannot be compiled or loaded: {type(e).__name__} {e}"[:300].strip(),
                         "notes": [], "kinds": {}}
            else:
                ns, defined = graded(loaded, header["names"])
                is_theirs = learner_frames(loaded.filenames)
                tampered = _changed(guarded, intact)
                reply = {"syntax_error": loaded.syntax_error, "notes": list(loaded.notes),
                         "kinds": adapters.kinds(ns, header["names"]), "defined": defined}
            wire.write_frame(fd_out, wire.encode(reply, {}))
            continue
        dec = wire.Decoder(header, data)
        for n in range(len(dec.tensors)):  # .g of what the grader sent, set as it had it
            for a, v in dec.attrs(n).items():
                if a == "g":
                    dec.tensors[n].g = v
        args = dec.value(header["values"]["args"])
        try:
            if not tampered:
                ran = run_op(functools.partial(intact[f"adapters.OPS[{header['op']!r}]"][0], ns), *args,
                             seconds=header["seconds"], is_theirs=is_theirs, stdout=Bounded())
        except BaseException as e:  # noqa: BLE001 - raise BaseException / KeyboardInterrupt in a rule is its answer
            ran = Ran(outcome="error", message=f"{type(e).__name__}: {e}"[:500])
        tampered = tampered or _changed(guarded, intact)
        if tampered:
            ran = Ran(outcome="error", message=f"the file changed the grader's own code ({tampered}): not graded")
        head = {"outcome": ran.outcome, "message": ran.message[:2000],
                "traceback": [s[:500] for s in ran.traceback[-40:]], "notes": list(ran.notes)}
        try:
            frame = wire.encode(head, {"value": ran.value}, _numbered(dec.tensors))
        except Exception as e:  # noqa: BLE001 - a returned value that cannot be read is the learner's answer
            head |= {"outcome": "error", "message": f"the result cannot be read: {e}"[:2000]}
            frame = wire.encode(head, {}, _numbered(dec.tensors))
        wire.write_frame(fd_out, frame)


def _numbered(sent: list):
    """An encoder whose first tensors are the request's, numbered as the grader numbered them."""
    from mnist_scratch.grader import wire

    enc = wire.Encoder()
    enc.number(sent)
    return enc


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(name))
    return out


def reap(worker: int) -> None:
    """As a child subreaper: wait for the worker, then kill every descendant left (orphans re-parent to us)."""
    import ctypes

    def kill_all(*_):
        for _ in range(1000):
            kids = _children(os.getpid())
            if not kids:
                break
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            while True:
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
        os._exit(0)

    signal.signal(signal.SIGTERM, kill_all)
    libc = ctypes.CDLL(None, use_errno=True)
    del libc  # PR_SET_CHILD_SUBREAPER was set before the fork
    try:
        os.waitpid(worker, 0)
    except ChildProcessError:
        pass
    kill_all()


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--reaper":
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        argv = argv[1:]
        pid = os.fork()
        if pid:
            reap(pid)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: the worker dies with its reaper
    fd_in, fd_out, mem_mb, cpu_s = map(int, argv)
    serve(fd_in, fd_out, mem_mb, cpu_s)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
