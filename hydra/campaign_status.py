"""Reprocessing campaigns in the supervision: their progress (``hymotep.campaigns.progress``, read in the status
snapshot) as a Prometheus gauge and as the dashboard's table."""

from __future__ import annotations

from typing import Any

from prometheus_client.core import GaugeMetricFamily

from hymotep.campaigns import CampaignProgress

JOB_STATES = ("queued", "running", "succeeded", "failed")


def campaign_units(campaigns: list[CampaignProgress]) -> GaugeMetricFamily:
    """``hesp_campaign_units{campaign, state}``: each campaign's jobs by state (``succeeded``: replayed)."""
    gauge = GaugeMetricFamily(
        "hesp_campaign_units",
        "Units a reprocessing campaign replays, by job state (its own and those made from what it replaced)",
        labels=["campaign", "state"],
    )
    for campaign in campaigns:
        for state in JOB_STATES:
            gauge.add_metric([campaign.campaign, state], getattr(campaign, state))
    return gauge


def campaign_rows(campaigns: list[CampaignProgress]) -> list[dict[str, Any]]:
    """The dashboard's table: one row per campaign, its state, priority and units by job state."""
    return [{**c.model_dump(exclude={"waiting"}), "units": c.units} for c in campaigns]
