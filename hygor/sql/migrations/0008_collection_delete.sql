-- pgSTAC deletes a collection's items by dropping its partitions, which fires no row trigger on pgstac.items:
-- the collection's inventory rows go with the collection itself, so that gaps stop counting deleted inputs.
CREATE FUNCTION hesp.forget_collection() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
BEGIN
    DELETE FROM hesp.inventory WHERE collection = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER hesp_inventory_collection AFTER DELETE ON pgstac.collections
FOR EACH ROW EXECUTE FUNCTION hesp.forget_collection();
