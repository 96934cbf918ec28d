"""GlobalMart's contracts beyond the Avro files themselves: compatibility policy, pacts, checks."""
