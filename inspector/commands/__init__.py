"""Typer command functions, grouped by what they serve; inspector.cli registers them."""
