"""papermill's ``toolkit`` engine: nbclient with the kernel on private IPC sockets.

papermill's command line cannot configure the kernel's transport, and on TCP ipykernel warns
"Kernel is running over TCP without encryption" on every run. Installing toolkit registers this
engine under the name ``toolkit`` (entry point group ``papermill.engine``); choosing it with
``--engine toolkit`` runs the notebook exactly like papermill's default engine, with the kernel
connection of :func:`toolkit.notebook._job.kernel_options` (IPC on POSIX, so nothing else on the
machine can read the traffic and nothing warns). The ``toolkit`` kernelspec does the same for
plain papermill (see :mod:`toolkit.notebook._kernel`); the engine covers every other kernel.

Example::

    papermill notebooks/rebalance.ipynb out.ipynb -k toolkit --engine toolkit -p key 2026-11-25
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine

from ._job import kernel_options

__all__ = ["Engine"]


class Engine(NBClientEngine):  # type: ignore[misc]  # papermill is untyped
    """papermill's nbclient engine with toolkit's kernel options (see the module docstring)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        """Run the notebook like ``NBClientEngine``, on a kernel connected over IPC."""
        for name, value in kernel_options().items():
            kwargs.setdefault(name, value)
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
