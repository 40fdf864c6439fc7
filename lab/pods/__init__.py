"""Programs that the lab's static pods run (the stand-ins for OpenShift's container images)."""
