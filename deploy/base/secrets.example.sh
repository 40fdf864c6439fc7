#!/bin/sh
# The Secrets the manifests reference and never contain. Run these (adapted) once, before applying an
# overlay; keep the files they read out of git. Nothing here is a real secret.
set -eu
oc apply -f - <<'NS'
apiVersion: v1
kind: Namespace
metadata:
  name: etcdops
NS

# Slack (the bot pods): from an env file made from deploy/base/etcdops-slack.env.example.
oc -n etcdops create secret generic etcdops-slack --from-env-file=etcdops-slack.env
#   keys: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET (optional: HTTP mode only)

# SSH to the masters as `core` (whoever executes runs). known_hosts must list every master's host key:
#   ssh-keyscan -t ed25519 MASTER_IPS… > known_hosts   (then check the fingerprints out of band)
oc -n etcdops create secret generic etcdops-ssh \
  --from-file=key=./id_ed25519 \
  --from-file=known_hosts=./known_hosts

# PostgreSQL (the ha overlay only): a SQLAlchemy URL.
oc -n etcdops create secret generic etcdops-database \
  --from-literal=url='postgresql+psycopg://etcdops:PASSWORD@postgres.example.internal:5432/etcdops'
