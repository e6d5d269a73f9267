"""`mnist-scratch serve`: a local page to draw a digit on and watch the network answer."""

from typing import Annotated

import typer

from mnist_scratch.commands.predict import Run
from mnist_scratch.errors import UsageError

Host = Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on (0: a free one, printed).")]
Open = Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")]


def serve(run: Run, host: Host = "127.0.0.1", port: Port = 0, open_page: Open = False):
    """Serve a page where you draw a digit and see, live, the 28x28 input, the probabilities and the hidden layer.

    The drawing goes through the same preprocessing as `predict`. The page and its one endpoint (POST /predict)
    are all the server serves. Ctrl-C stops it (exit 130, as for `train`).

    Example: mnist-scratch serve runs/latest --open
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    from mnist_scratch.report.serve import listening
    from mnist_scratch.training import checkpoint
    from mnist_scratch.use.predict import Predictor
    from mnist_scratch.use.serve import make_server

    ckpt = checkpoint.load(run)
    try:
        server = make_server(Predictor(ckpt), host, port)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    with server:
        h, p = server.server_address[:2]
        url = f"http://{h if ':' not in h else f'[{h}]'}:{p}/"
        listening(url, ckpt.path)
        if open_page:
            import webbrowser

            webbrowser.open(url)
        server.serve_forever()
