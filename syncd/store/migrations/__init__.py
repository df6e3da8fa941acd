"""Alembic migrations of the mapping store. HEAD names the newest revision (a test keeps it true),
so a start-up on an up-to-date store need not import Alembic at all."""

HEAD = "0005"
