"""The certificate the listener answers encrypted connections with, one per entry.

Made once (an RSA key takes a moment, and a battery that saw one certificate should
see the same one after a restart) and kept in the entry's own private ``Store``,
never in the entry's data, options, diagnostics or log. Made and loaded in the
executor: key generation and ``load_cert_chain`` block. Without a certificate the
listener names and closes TLS connections, as with the option off.
"""

from __future__ import annotations

import logging
import ssl
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .protocol import (
    TlsAnswer,
    TlsIdentity,
    TlsUnavailableError,
    create_identity,
    server_context,
)

_LOGGER = logging.getLogger(__name__)

TLS_STORAGE_VERSION: Final = 1


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, str]]:
    return Store(hass, TLS_STORAGE_VERSION, f"{DOMAIN}.{entry_id}.tls", private=True)


async def async_tls_answer(hass: HomeAssistant, entry_id: str) -> TlsAnswer | None:
    """The entry's TLS answer: its stored certificate, or a new one, stored."""
    store = _store(hass, entry_id)
    stored = await store.async_load() or {}
    try:
        if "certificate" in stored and "key" in stored:
            identity = TlsIdentity(stored["certificate"], stored["key"])
        else:
            identity = await hass.async_add_executor_job(create_identity)
            await store.async_save(
                {"certificate": identity.certificate, "key": identity.key}
            )
        context = await hass.async_add_executor_job(server_context, identity)
    except (TlsUnavailableError, ssl.SSLError, ValueError) as err:
        _LOGGER.warning(
            "Encrypted connections will be closed, not answered: no certificate (%s)",
            type(err).__name__,
        )
        return None
    return TlsAnswer(context)


async def async_remove_tls_identity(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is gone: its key goes with it."""
    await _store(hass, entry_id).async_remove()
