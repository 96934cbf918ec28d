"""One router per resource: tables, live, registry, ops, dashboard, health."""
