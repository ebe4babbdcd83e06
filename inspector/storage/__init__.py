"""Storage: SQLAlchemy tables, InspectionStore, journal, image archive and migrations."""
