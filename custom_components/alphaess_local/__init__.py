"""AlphaESS Local: answer an AlphaESS battery in the cloud's place, inside Home Assistant."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN

__all__ = ["DOMAIN"]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Nothing to set up from YAML; everything comes through the config flow."""
    return True
