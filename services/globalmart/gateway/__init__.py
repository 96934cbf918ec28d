"""The GlobalMart gateway: REST + GraphQL over the real-time and warehouse databases."""
