"""One router per resource: events, serials, root_cause, inspections, health."""
