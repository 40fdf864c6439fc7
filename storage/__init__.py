"""etcdops storage: runs, the step journal, approvals, backups, incidents and timeline events.

Getting started::

    from storage.db import make_engine, make_session_factory
    from storage.migrate import migrate

    migrate(url)                      # Alembic upgrade to head; a no-op when current
    engine = make_engine(url)         # url defaults to $DATABASE_URL, else sqlite:///./etcdops.db
    new_session = make_session_factory(engine)
    with new_session() as session:
        run = runs.create_run(session=session, procedure="backup", cluster="prod", requested_by="U1")

Service modules (``runs``, ``journal``, ``locks``, ``approvals``, ``backups``, ``timeline``,
``incidents``, ``channels``) take ``session`` keyword-only and commit their own transaction, writing
the matching timeline event in it. Tables are described in :mod:`storage.models`.
"""
