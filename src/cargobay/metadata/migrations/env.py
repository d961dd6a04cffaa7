"""Alembic environment: the engine comes from Cargobay, never from an alembic.ini."""

from alembic import context

from cargobay.metadata.db import WRITE
from cargobay.metadata.models import Base

engine = context.config.attributes["engine"]

# As a writer, so that on SQLite the whole upgrade is one transaction (readers open none).
with engine.execution_options(**WRITE).begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
