"""Shared foundations: settings, logging and state paths used by every GlobalMart service."""
