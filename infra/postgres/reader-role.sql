-- docker-compose only: the read-only role the gateway and Grafana log in as. The native stack
-- creates it in globalmart.stack.postgres (with the names and password from .env); the postgres
-- image runs this once, as the writer (its POSTGRES_USER), when it initialises an empty volume.
CREATE ROLE globalmart_reader LOGIN PASSWORD 'globalmart_reader_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
-- Even a stray write statement by the reader is refused.
ALTER ROLE globalmart_reader SET default_transaction_read_only = on;
DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO globalmart_reader', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO globalmart_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO globalmart_reader;
-- Tables the writer creates later (the DDL from the Avro catalog) are readable too.
ALTER DEFAULT PRIVILEGES FOR ROLE globalmart_user IN SCHEMA public
  GRANT SELECT ON TABLES TO globalmart_reader;
