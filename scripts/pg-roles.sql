-- Two PostgreSQL roles for mtkit: the owner (runs migrations, owns every table) and the application
-- (what gunicorn, `flask jobs run` and the other commands connect as). The application may add
-- audit rows and read them, but not change, delete or truncate them, and as it owns nothing it
-- cannot drop or disable the append-only triggers either.
--
-- Run as a superuser (or the database owner), after `flask db upgrade` and again after every upgrade:
--   psql -v owner_role=mtkit_owner -v app_role=mtkit_app -d mtkit -f scripts/pg-roles.sql
-- then give both roles passwords (ALTER ROLE ... PASSWORD ...) and use
--   DATABASE_URL=postgresql+psycopg://mtkit_owner:...@host/mtkit  only for `flask --app app db upgrade`,
--   DATABASE_URL=postgresql+psycopg://mtkit_app:...@host/mtkit    for everything else.
-- It is safe to run again: roles that exist are kept, grants are set to the same again.

\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

-- The application must not be (or act as) the owner.
SELECT pg_has_role(:'app_role', :'owner_role', 'MEMBER') AS app_acts_as_owner \gset
\if :app_acts_as_owner
  \echo 'The application role is a member of the owner role: revoke that membership first.'
  SELECT 1/0 AS app_role_must_not_own_the_tables;
\endif

-- The owner owns the schema's tables (their sequences follow) and the trigger functions.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner_role')
  FROM pg_tables WHERE schemaname = 'public' \gexec
SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :'owner_role')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' \gexec
GRANT USAGE, CREATE ON SCHEMA public TO :"owner_role";

-- The application: read and write the working tables, create nothing.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"DBNAME" TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
-- Tables a later migration creates get the same (this script re-asserts the exceptions below).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";

-- The audit trail and its anchors: append and read only.
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log, audit_anchors FROM :"app_role";
-- The schema version is the migrations' business.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM :"app_role";

SELECT tablename AS "table", string_agg(privilege_type, ', ' ORDER BY privilege_type) AS "application may"
  FROM pg_tables t JOIN information_schema.role_table_grants g
    ON g.table_schema = t.schemaname AND g.table_name = t.tablename AND g.grantee = :'app_role'
 WHERE t.schemaname = 'public' AND t.tablename IN ('audit_log', 'audit_anchors', 'alembic_version')
 GROUP BY tablename ORDER BY tablename;
