"""Statements -> a validated catalog of connections, tables, jobs and views."""

from headwater.catalog.errors import CatalogError
from headwater.catalog.model import Catalog, Entry, build_catalog

__all__ = ["Catalog", "CatalogError", "Entry", "build_catalog"]
