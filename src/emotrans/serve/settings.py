"""The settings of ``emotrans serve``: one dataclass whose defaults are the service's defaults
(the command's flags map onto it)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from emotrans.errors import ConfigError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServeSettings:
    """How the service listens and what it accepts.

    Attributes
    ----------
    host : the address to listen on; only loopback by default (anything else is reachable from
        other machines, which :func:`is_loopback` tells and the command warns about)
    port : TCP port (0: any free one)
    workers : scoring processes, each with its own copy of the recogniser and extractors
    queue : requests that may wait for a worker beyond the ``workers`` being scored; one more
        is answered 503 with Retry-After
    max_upload_mb : largest request body in MiB (an upload is refused with 413 past it, while
        it streams, never read whole)
    max_seconds : longest clip in seconds (longer ones are refused with 413)
    max_emotions : most emotion names in one request
    threads : CPU threads of each worker's torch (0: the machine's cores / workers)
    tmp_dir : where the private upload folder is made (None: the system's temporary folder)
    warm_up : load each worker's models (and score the example clip once) before answering,
        so the first request is not the slow one
    """

    host: str = LOOPBACK
    port: int = 8000
    workers: int = 1
    queue: int = 8
    max_upload_mb: float = 50.0
    max_seconds: float = 60.0
    max_emotions: int = 32
    threads: int = 0
    tmp_dir: str | None = None
    warm_up: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port}: must be in 0..65535")
        if self.workers < 1:
            raise ConfigError(f"workers = {self.workers}: must be at least 1")
        if self.queue < 0:
            raise ConfigError(f"queue = {self.queue}: must be at least 0")
        for name in ("max_upload_mb", "max_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} = {value}: must be a positive number")
        if self.max_emotions < 1:
            raise ConfigError(f"max_emotions = {self.max_emotions}: must be at least 1")
        if self.threads < 0:
            raise ConfigError(f"threads = {self.threads}: must be at least 0")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
