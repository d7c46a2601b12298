-- The inventory and lineage kept by statement triggers: one set-based statement per write statement on the
-- items, reading its rows from transition tables, instead of a plpgsql call per row (0005, 0011), which added
-- half the time of a bulk load.
--
-- PostgreSQL fires a statement trigger only on the table a statement names, and pgSTAC names both: its functions
-- write through pgstac.items, `pypgstac load` copies into the partitions themselves. So every table of the
-- items' partition tree has the triggers, and the partitions pgSTAC makes as items arrive get them from an event
-- trigger in the transaction that makes them (event triggers are a superuser's: `hesp db init` runs as one).

DROP TRIGGER hesp_inventory ON pgstac.items;
DROP FUNCTION hesp.sync_inventory();

-- The rows of an item as 0011's row trigger made them, for every item the statement removed (`removed`: updated
-- or deleted) or added (`added`: inserted or updated).
CREATE FUNCTION hesp.sync_inventory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM hesp.inventory AS v USING removed AS o WHERE v.collection = o.collection AND v.id = o.id;
        DELETE FROM hesp.lineage AS l USING removed AS o
        WHERE l.collection = o.collection AND l.id = o.id AND o.content -> 'links' @> '[{"rel": "derived_from"}]';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO hesp.inventory
        SELECT e.*
        FROM added AS n
        CROSS JOIN LATERAL (SELECT n.content -> 'properties' AS properties) AS p
        CROSS JOIN LATERAL hesp.item_entries(n.collection, n.id, n.datetime, p.properties, n.geometry,
                                             hesp.fetchable(p.properties, n.content -> 'assets')) AS e
        ON CONFLICT ON CONSTRAINT inventory_item DO UPDATE
        SET acquired = EXCLUDED.acquired, slot = EXCLUDED.slot, valid = EXCLUDED.valid, version = EXCLUDED.version,
            fetchable = EXCLUDED.fetchable, superseded = EXCLUDED.superseded;
        INSERT INTO hesp.lineage
        SELECT n.collection, n.id, i.input_collection, i.input_id
        FROM added AS n CROSS JOIN LATERAL hesp.item_inputs(n.content -> 'links') AS i
        WHERE n.content -> 'links' @> '[{"rel": "derived_from"}]'
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- The inventory's triggers on every table of the items' partition tree that lacks them (transition tables
-- allow one event per trigger).
CREATE FUNCTION hesp.keep_inventory_triggers() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
DECLARE
    missing record;
BEGIN
    FOR missing IN
        SELECT p.relid, t.name, t.event
        FROM pg_partition_tree('pgstac.items') AS p
        CROSS JOIN (VALUES ('hesp_inventory_insert', 'INSERT ON %s REFERENCING NEW TABLE AS added'),
                           ('hesp_inventory_update', 'UPDATE ON %s REFERENCING OLD TABLE AS removed NEW TABLE AS added'),
                           ('hesp_inventory_delete', 'DELETE ON %s REFERENCING OLD TABLE AS removed')) AS t(name, event)
        WHERE NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = p.relid AND g.tgname = t.name)
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER ' || missing.event || ' FOR EACH STATEMENT '
                       'EXECUTE FUNCTION hesp.sync_inventory()', missing.name, missing.relid);
    END LOOP;
END
$$;

-- pgSTAC makes a collection's partitions (CREATE TABLE ... PARTITION OF) when its first items of a range arrive.
CREATE FUNCTION hesp.inventory_partitions() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() AS c WHERE c.schema_name = 'pgstac') THEN
        PERFORM hesp.keep_inventory_triggers();
    END IF;
END
$$;

CREATE EVENT TRIGGER hesp_inventory_partitions ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
EXECUTE FUNCTION hesp.inventory_partitions();

SELECT hesp.keep_inventory_triggers();

-- A deleted collection's lineage goes with its inventory rows (0008): pgSTAC drops its partitions, which fires
-- no trigger on the items.
CREATE OR REPLACE FUNCTION hesp.forget_collection() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
BEGIN
    DELETE FROM hesp.inventory WHERE collection = OLD.id;
    DELETE FROM hesp.lineage WHERE collection = OLD.id;
    RETURN NULL;
END
$$;

DELETE FROM hesp.lineage AS l WHERE NOT EXISTS (SELECT FROM pgstac.collections c WHERE c.id = l.collection);
