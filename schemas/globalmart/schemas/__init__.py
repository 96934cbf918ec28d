"""GlobalMart's Avro contracts: the catalog of schemas, their compatibility checks, the PostgreSQL
DDL generated from them and their registration in Apicurio Registry.

The .avsc files under `avro/<kind>/<name>/v<N>.avsc` are the source of truth for every event, every
sink table and every reference entity; everything else is derived from or tested against them.
"""
