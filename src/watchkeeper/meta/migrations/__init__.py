"""Alembic migrations of the metadata store, run from code: no alembic.ini at run time.

``upgrade(connection)`` brings a database to the newest revision. Developers write a new revision
with Alembic's commands on a config built by :func:`config`, from a Python shell::

    from alembic import command
    command.revision(config("sqlite:///meta.sqlite3"), "add rules", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).parent


def config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for this folder, on ``connection`` (preferred) or ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Alembic 1.16+ warns without it; "os" splits path lists on os.pathsep.
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation would read a '%' in a password as a placeholder.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` inside the caller's transaction."""
    command.upgrade(config(connection=connection), revision)
