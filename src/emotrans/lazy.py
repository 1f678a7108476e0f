"""Names of a package that load their module on first use (PEP 562).

The public facades (``emotrans``, ``emotrans.models``, ``emotrans.training``) re-export classes
whose modules import torch; they list them here so that importing the package stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], targets: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a module whose ``targets`` load on first use.

    Parameters
    ----------
    namespace : the module's ``globals()``; a loaded name is stored there, so the next lookup
        skips ``__getattr__``
    targets : name -> ``"module:attribute"``, or ``"module"`` for a module itself
    """
    package = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        target = targets.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = importlib.import_module(module)
        if attribute:
            value = getattr(value, attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(targets))

    return __getattr__, __dir__
