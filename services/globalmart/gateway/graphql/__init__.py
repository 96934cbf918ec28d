"""Strawberry GraphQL over the served tables (types generated from the sink schemas)."""
