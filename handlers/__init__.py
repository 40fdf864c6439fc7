"""Slack listeners, one module per /etcd subcommand and per interactive action."""
