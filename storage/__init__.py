"""etcdops storage: runs, the step journal, approvals, backups, incidents and timeline events."""
