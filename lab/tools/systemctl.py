"""``systemctl`` for a lab host: only the kubelet is a unit; restarting it resyncs the static pods."""

from __future__ import annotations

import os
import sys
import urllib.request

KUBELET_UNITS = {"kubelet", "kubelet.service"}


def main(argv: list[str] | None = None) -> int:
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("-")]
    if len(args) < 2:
        print("usage: systemctl restart|status|is-active kubelet.service", file=sys.stderr)
        return 1
    verb, unit = args[0], args[1]
    if unit not in KUBELET_UNITS:
        print(f"Failed to {verb} {unit}: Unit {unit} not found.", file=sys.stderr)
        return 5
    url = os.environ.get("LAB_KUBELET_URL", "")
    if verb == "restart":
        request = urllib.request.Request(f"{url}/restart", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            return 0
    if verb in ("status", "is-active"):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5):
                print(
                    "active"
                    if verb == "is-active"
                    else "● kubelet.service - Kubernetes Kubelet\n   Active: active (running)"
                )
                return 0
        except OSError:
            print("inactive")
            return 3
    print(f"systemctl: {verb} is not supported on a lab host", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
