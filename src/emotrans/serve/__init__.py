"""``emotrans serve``: an HTTP service over a trained run (docs/design.md, "Serving").

- :mod:`emotrans.serve.settings`: :class:`ServeSettings`, the service's limits and defaults
- :mod:`emotrans.serve.uploads`: multipart uploads streamed to a private folder, container
  sniffing
- :mod:`emotrans.serve.pool`: the bounded pool of scoring processes (why processes: there)
- :mod:`emotrans.serve.app`: the FastAPI application (``create_app``, ``run_server``) and its
  page (``static/``)

Only this package imports FastAPI and uvicorn (the ``serve`` extra), and only the command
imports this package, so ``import emotrans`` stays light.
"""

from emotrans.serve.problems import ClipTooLong, RequestError
from emotrans.serve.settings import ServeSettings, is_loopback

__all__ = ["ClipTooLong", "RequestError", "ServeSettings", "is_loopback"]
