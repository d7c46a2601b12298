-- Lineage in the inventory: the inputs each product names in its `derived_from` links
-- (`collections/<collection>/items/<id>`, migration 0010), one row per (product, input), kept by the
-- inventory's trigger in the item's own transaction. Production reads it to find the products made from an
-- input that has since been superseded (a snow map made from a reprocessed L2A), only for the units whose
-- input was superseded; an item without a `derived_from` link (every input product) costs one containment test.

CREATE TABLE hesp.lineage (
    collection text NOT NULL,
    id text NOT NULL,
    input_collection text NOT NULL,
    input_id text NOT NULL,
    PRIMARY KEY (collection, id, input_collection, input_id)
);

-- The (collection, id) of every item an item's links name as an input, whatever the link's base
-- (relative to the API's root, or an absolute URL of it).
CREATE FUNCTION hesp.item_inputs(links jsonb) RETURNS TABLE (input_collection text, input_id text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DISTINCT m[1], m[2]
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(links) = 'array' THEN links ELSE '[]' END) AS l(link)
    CROSS JOIN LATERAL regexp_match(l.link ->> 'href', '(?:^|/)collections/([^/]+)/items/([^/?#]+)$') AS m
    WHERE l.link ->> 'rel' = 'derived_from' AND m IS NOT NULL
$$;

-- The inventory trigger of 0009, which also keeps the item's lineage.
CREATE OR REPLACE FUNCTION hesp.sync_inventory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
DECLARE
    properties jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM hesp.inventory WHERE collection = OLD.collection AND id = OLD.id;
        IF OLD.content -> 'links' @> '[{"rel": "derived_from"}]' THEN
            DELETE FROM hesp.lineage WHERE collection = OLD.collection AND id = OLD.id;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        properties := NEW.content -> 'properties';
        INSERT INTO hesp.inventory
        SELECT * FROM hesp.item_entries(NEW.collection, NEW.id, NEW.datetime, properties, NEW.geometry,
                                        hesp.fetchable(properties, NEW.content -> 'assets'))
        ON CONFLICT ON CONSTRAINT inventory_item DO UPDATE
        SET acquired = EXCLUDED.acquired, slot = EXCLUDED.slot, valid = EXCLUDED.valid, version = EXCLUDED.version,
            fetchable = EXCLUDED.fetchable, superseded = EXCLUDED.superseded;
        IF NEW.content -> 'links' @> '[{"rel": "derived_from"}]' THEN
            INSERT INTO hesp.lineage
            SELECT NEW.collection, NEW.id, i.input_collection, i.input_id FROM hesp.item_inputs(NEW.content -> 'links') AS i
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

INSERT INTO hesp.lineage
SELECT p.collection, p.id, i.input_collection, i.input_id
FROM pgstac.items AS p CROSS JOIN LATERAL hesp.item_inputs(p.content -> 'links') AS i
WHERE p.content -> 'links' @> '[{"rel": "derived_from"}]'
ON CONFLICT DO NOTHING;
