-- Lineage links were written relative to the item's own URL (`../../<collection>/items/<id>`), but
-- stac-fastapi-pgstac resolves the links stored with an item against the API's root, so the API served them as
-- `<root>/<collection>/items/<id>`, which answers 404. They are relative to the root now
-- (`collections/<collection>/items/<id>`, hygor.items.derived_from_link); the items written before are mended.
UPDATE pgstac.items
SET content = jsonb_set(content, '{links}', (
    SELECT jsonb_agg(CASE WHEN l.value ->> 'href' LIKE '../../%/items/%'
                          THEN jsonb_set(l.value, '{href}', to_jsonb('collections/' || substr(l.value ->> 'href', 7)))
                          ELSE l.value END ORDER BY l.n)
    FROM jsonb_array_elements(content -> 'links') WITH ORDINALITY AS l(value, n)))
WHERE content @? '$.links[*] ? (@.href starts with "../../")';
