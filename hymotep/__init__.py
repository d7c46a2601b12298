"""Hymotep, the production workshop: requests, expected products and gaps, the job queue and executors.

It builds on ``hygor`` (the catalogue) and knows nothing of HTTP or dashboards.
"""
