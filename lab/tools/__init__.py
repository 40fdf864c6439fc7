"""Host tools of a lab master (installed in its /usr/local/bin): crictl, systemctl, sudo, and
OpenShift's cluster-backup.sh and cluster-restore.sh."""
