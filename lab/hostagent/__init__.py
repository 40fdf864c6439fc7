"""What runs inside one lab host: its mount namespace, its sshd, and its kubelet.

A host agent is PID 1 of the host's PID namespace, so stopping the machine (killing the agent) stops
every process the host ever started, sshd sessions included — as powering off a VM would.
"""
