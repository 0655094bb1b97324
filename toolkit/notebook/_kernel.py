"""The ``toolkit`` Jupyter kernel: ipykernel on private IPC sockets, whoever starts it.

ipykernel warns "Kernel is running over TCP without encryption" whenever its client (papermill,
nbclient, Voilà, JupyterLab) connects over TCP, which is jupyter_client's default; papermill's
command line cannot change the transport. The kernelspec that ``make`` installs (``python -m
toolkit.notebook._kernel``) therefore names a kernel provisioner of ours, :class:`IPCProvisioner`
(entry point ``toolkit-ipc-provisioner`` in the group ``jupyter_client.kernel_provisioners``):
jupyter_client's local provisioner with the kernel manager switched to IPC sockets in the
Jupyter runtime directory before the connection file is written. Nothing else on the machine can
read the traffic, and the kernel has no reason to warn -- with plain ``papermill -k toolkit``
too, not only with ``--engine toolkit``. Windows has no IPC transport and keeps TCP.

Example::

    python -m toolkit.notebook._kernel       # (re)install the kernelspec into sys.prefix
    papermill notebooks/rebalance.ipynb out.ipynb -k toolkit
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

__all__ = ["PROVISIONER", "IPCProvisioner", "install", "main"]

#: The provisioner's entry-point name, as the kernelspec names it.
PROVISIONER = "toolkit-ipc-provisioner"


class IPCProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel on IPC sockets (POSIX)."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Switch the kernel manager to IPC (unless configured otherwise), then launch as usual."""
        manager = self.parent
        if os.name == "posix" and manager is not None and manager.transport == "tcp":
            manager.transport = "ipc"
            manager.cache_ports = False  # ports mean nothing on IPC
            manager.ip = _ipc_base(str(self.kernel_id))
        result: dict[str, Any] = await super().pre_launch(**kwargs)
        return result


#: Unix socket paths are limited to 107 bytes on Linux (104 on macOS); ours end in "-<port>".
_MAX_SOCKET_BASE = 96


def _ipc_base(kernel_id: str) -> str:
    """Where the kernel's sockets go (files ``<base>-<n>``): the user's private Jupyter runtime
    directory, or, when that path is too long for a socket, a private directory of ours in the
    temporary directory."""
    from jupyter_core.paths import jupyter_runtime_dir

    name = f"tk-{kernel_id[:8]}-ipc"
    runtime = Path(jupyter_runtime_dir())
    if len(str(runtime / name)) > _MAX_SOCKET_BASE:
        runtime = Path(tempfile.gettempdir()) / f"toolkit-ipc-{os.getuid()}"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    return str(runtime / name)


def install(
    name: str = "toolkit",
    display_name: str = "toolkit (.venv)",
    prefix: str | None = None,
) -> Path:
    """Install the kernelspec ``name`` for this interpreter into ``prefix`` (default:
    ``sys.prefix``) with :class:`IPCProvisioner`; returns its directory."""
    from ipykernel.kernelspec import install as install_ipykernel

    # ipykernel writes its spec (argv, logos, debugger metadata); we add the provisioner
    path = Path(
        install_ipykernel(kernel_name=name, display_name=display_name, prefix=prefix or sys.prefix)
    )
    spec_file = path / "kernel.json"
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    metadata = spec.setdefault("metadata", {})
    metadata["kernel_provisioner"] = {"provisioner_name": PROVISIONER, "config": {}}
    spec_file.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m toolkit.notebook._kernel [--name toolkit] [--display-name ...]
    [--prefix ...]``."""
    parser = argparse.ArgumentParser(prog="python -m toolkit.notebook._kernel", description=__doc__)
    parser.add_argument("--name", default="toolkit")
    parser.add_argument("--display-name", default="toolkit (.venv)")
    parser.add_argument("--prefix", default=None, help="default: sys.prefix")
    args = parser.parse_args(argv)
    print(install(args.name, args.display_name, args.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
