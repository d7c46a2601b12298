"""The supervision dashboard served beside the STAC API at ``/dashboard``: a map of the requested tiles coloured
by completeness, progress per request, recent failures. ``data`` computes, ``routes`` serves, ``static/`` is
the page (with Leaflet, shipped: it works without internet access)."""
