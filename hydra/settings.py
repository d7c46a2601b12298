"""Settings of the supervision workshop, read from the environment (prefix ``HESP_``) or a ``.env`` file."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

DashboardAccess = Literal["public", "token", "off"]
"""What ``/dashboard`` shows without a token: everything (``public``), everything but the jobs' log tails and
log paths, which need ``Authorization: Bearer <HESP_API_TOKEN>`` (``token``), or nothing at all (``off``)."""


class SupervisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HESP_", env_file=".env", extra="ignore")

    dashboard: DashboardAccess = "token"
