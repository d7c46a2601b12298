"""The metrics of continuous production (``/metrics``): acquisition to registered product per collection, and
the age of the newest acquisition of each watched source (``hymotep.job_history.Latency``)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from hymotep.job_history import Latency


def latency_metrics(latency: Latency) -> list[Metric]:
    seconds = GaugeMetricFamily(
        "hesp_acquisition_to_product_seconds",
        "From acquisition to registered product, over the products registered in the last 24 hours",
        labels=["collection", "quantile"],
    )
    for row in latency.collections:
        seconds.add_metric([row.collection, "0.5"], row.median_s)
        seconds.add_metric([row.collection, "0.95"], row.p95_s)
    age = GaugeMetricFamily(
        "hesp_newest_acquisition_age_seconds",
        "Age of the newest acquisition of each watched source (hesp watch), as of its last harvest",
        labels=["source"],
    )
    for source in latency.sources:
        if source.age_s is not None:
            age.add_metric([source.source], source.age_s)
    return [seconds, age]
