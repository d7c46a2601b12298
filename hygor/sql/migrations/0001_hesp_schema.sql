-- The project's own schema beside pgstac. Tables for the grid, requests, chains and jobs come in later
-- migrations; reads go through pgstac_read, production through pgstac_ingest.
CREATE SCHEMA IF NOT EXISTS hesp;
GRANT USAGE ON SCHEMA hesp TO pgstac_read, pgstac_ingest;
ALTER DEFAULT PRIVILEGES IN SCHEMA hesp GRANT SELECT ON TABLES TO pgstac_read;
ALTER DEFAULT PRIVILEGES IN SCHEMA hesp GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pgstac_ingest;
ALTER DEFAULT PRIVILEGES IN SCHEMA hesp GRANT USAGE, SELECT ON SEQUENCES TO pgstac_ingest;
