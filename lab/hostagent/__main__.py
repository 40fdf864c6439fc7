"""Entry point of a host agent: ``python -m lab.hostagent --lab-dir D --host master-0 --ip ... --node ...``.

Started by the lab supervisor under ``unshare --pid --fork --mount --uts --mount-proc``, so it is PID 1
of the host: sets up the host's paths, keeps its sshd running, and runs its kubelet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from lab.hostagent.kubelet import Kubelet
from lab.hostagent.kubelet_api import build_kubelet_app
from lab.hostagent.namespace import enter_host_filesystem, host_passwd
from lab.hostagent.processes import ProcessTable
from lab.hostagent.sshd import sshd_binary, sshd_config
from lab.paths import LabPaths
from lab.topology import KUBELET_PORT

log = logging.getLogger("lab.hostagent")


async def keep_sshd_running(processes: ProcessTable, config: Path) -> None:
    binary = sshd_binary()
    if binary is None:
        log.error("sshd is not installed: apt-get install -y openssh-server")
        return
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    while True:
        proc = await processes.spawn(binary, "-D", "-e", "-f", str(config))
        code = await proc.wait()
        log.warning("sshd exited with %s; restarting", code)
        await asyncio.sleep(1)


async def serve(args: argparse.Namespace) -> None:
    paths = LabPaths(Path(args.lab_dir))
    host = paths.host(args.host)
    processes = ProcessTable()
    config = host.sshd_dir / "sshd_config"
    config.write_text(sshd_config(args.ip, host.sshd_dir / "ssh_host_ed25519_key", paths.authorized_keys))
    kubelet = Kubelet(args.node, args.ip, Path("/etc/kubernetes/manifests"), host.logs, processes)
    runner = web.AppRunner(build_kubelet_app(kubelet), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.ip, KUBELET_PORT).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(keep_sshd_running(processes, config)),
        asyncio.create_task(kubelet.run()),
        asyncio.create_task(processes.reap_forever()),
    ]
    log.info("host %s (%s, node %s) is up", args.host, args.ip, args.node)
    await stop.wait()
    log.info("stopping host %s", args.host)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    await kubelet.stop_all()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lab.hostagent")
    parser.add_argument("--lab-dir", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--ip", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--keep", action="append", default=[], help="a folder to keep visible")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    paths = LabPaths(Path(args.lab_dir))
    host = paths.host(args.host)
    host.passwd.write_text(host_passwd(Path("/etc/passwd").read_text()))
    enter_host_filesystem(host, [Path(k) for k in args.keep], args.node, host.passwd)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
