-- name: stored_hrefs
-- The internal locations of the registered items' assets (of one collection, or of all): what the storage must
-- keep. As hymotep.storage.internal_href reads them: the alternate local or s3 href, else the href.
SELECT DISTINCT coalesce(a.asset #>> '{alternate,local,href}', a.asset #>> '{alternate,s3,href}',
                         a.asset ->> 'href') AS href
FROM pgstac.items AS i
CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(i.content -> 'assets') = 'object'
                                   THEN i.content -> 'assets' ELSE '{}' END) AS a(key, asset)
WHERE %(collection)s::text IS NULL OR i.collection = %(collection)s
