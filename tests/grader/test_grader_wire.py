"""The grader reads the child's replies strictly: a hostile frame is a WireError, never a crash or a big allocation."""

import os

import pytest
import torch

from mnist_scratch.grader import wire


def _frame(body: bytes, n_data: int = 0) -> bytes:
    return len(body).to_bytes(4, "big") + n_data.to_bytes(4, "big") + body


def _read(raw: bytes, *, close: bool = True):
    """read_frame on a pipe holding raw (written from a thread: raw may exceed the pipe's buffer)."""
    import threading

    r, w = os.pipe()

    def feed():
        try:
            wire.write_frame(w, raw)
        except OSError:  # the reader stopped early (a frame refused by its length)
            pass
        if close:
            os.close(w)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        return wire.read_frame(r, deadline=None)
    finally:
        os.close(r)
        t.join(5)


def test_a_deeply_nested_reply_is_a_wire_error():
    with pytest.raises(wire.WireError, match="not JSON"):
        _read(_frame(b"[" * 100_000 + b"]" * 100_000))


@pytest.mark.parametrize("body", [b"\xff\xfe", b"{", b"[1, 2]", b"NaN-"])
def test_a_reply_that_is_not_a_json_object_is_a_wire_error(body):
    with pytest.raises(wire.WireError):
        _read(_frame(body))


def test_a_frame_over_the_bound_is_refused_by_its_length_before_reading_it():
    head = (wire.MAX_FRAME // 2 + 1).to_bytes(4, "big") * 2  # body + data just past the bound
    with pytest.raises(wire.WireError, match="too large"):
        _read(head)
    assert wire.MAX_FRAME <= 32 * 2**20  # a flood costs the grader at most this much


def test_the_largest_legitimate_reply_fits_with_room_to_spare():
    """The chain's tensors at the graded shapes with their .g, 64 kB of printed output and a long traceback."""
    ts = [torch.randn(64, 784, dtype=torch.float64), torch.randn(784, 50, dtype=torch.float64),
          torch.randn(64, 50, dtype=torch.float64), torch.randn(64, 1, dtype=torch.float64)]
    for t in ts:
        t.g = torch.randn_like(t)
    head = {"outcome": "ok", "message": "m" * 2000, "traceback": ["t" * 500] * 40, "output": "x" * 65536}
    frame = wire.encode(head, {"value": ts})
    assert len(frame) * 4 < wire.MAX_FRAME
    header, data = _read(frame)
    dec = wire.Decoder(header, data)
    assert [tuple(t.shape) for t in dec.value(header["values"]["value"])] == [tuple(t.shape) for t in ts]
