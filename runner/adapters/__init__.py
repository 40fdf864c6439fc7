"""Adapters behind the runner's ports: paramiko for the masters, the kubernetes client for the API."""
