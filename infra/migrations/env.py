"""The one Alembic environment of the platform: every owner's chain (the kernel's store
tables, each service's read models, the gateway's tables) runs here, on the connection
handed in by ``infra.eventstore.db.migrate``, with the owner's own version table."""

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table=config.attributes.get("version_table", "alembic_version"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
