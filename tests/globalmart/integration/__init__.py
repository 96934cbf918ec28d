"""Cross-service integration tests against the real local stack."""
