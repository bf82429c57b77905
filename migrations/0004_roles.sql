-- +up
-- One login role per service (least privilege, issue 12). Roles are cluster
-- wide, so an existing one is kept. They own nothing and may create nothing:
-- the migrations run as the owner; what each role may read and write comes
-- from deploy/permissions/calixio.tsv (tools/cx-perms pg, applied by
-- cx-migrate after every `up` through MIGRATIONS_GRANTS). Passwords are set
-- by the operator (ALTER ROLE ... PASSWORD), never here.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['calixio_auth', 'calixio_rooms', 'calixio_media', 'calixio_webhook'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', r);
        END IF;
    END LOOP;
END $$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
-- +down
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['calixio_auth', 'calixio_rooms', 'calixio_media', 'calixio_webhook'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', r);
            EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END $$;
