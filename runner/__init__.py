"""The runner: procedures as steps, the journal, claiming and resuming runs."""
