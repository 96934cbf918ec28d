"""The local stack: every real service GlobalMart needs, provisioned and started natively."""
