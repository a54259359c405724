"""Config flow: listen for the battery, or read the inverter over Modbus TCP.

The first step asks which. Listening, there is no device to discover or log in to:
the battery comes to us, and what can go wrong at setup is the port, so the flow binds
it once before creating the entry. Reading over Modbus, the flow reads the inverter's
serial before creating the entry: it proves the address, names the device, and keeps
a battery from having two entries (the serial is the unique ID of a Modbus entry, and
a cloud entry that knows the serial counts too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
import errno
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr, selector
import voluptuous as vol

from .allowlist import left_out, parse_allowlist, seen_batteries
from .const import (
    CONF_ALLOW_CONTROL,
    CONF_ALLOWLIST,
    CONF_ANSWER_TLS,
    CONF_DUMP,
    CONF_POLL_INTERVAL,
    CONF_RELAY,
    CONF_RELAY_PASS,
    CONF_RELAY_UPDATE,
    CONF_RELAY_UPSTREAM,
    CONF_SOURCE,
    CONF_UNAVAILABLE_AFTER,
    CONF_UNIT,
    DEFAULT_HOST,
    DEFAULT_MODBUS_PORT,
    DEFAULT_MODBUS_UNIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    RELAY_PROBE_TIMEOUT,
    RELAY_SUGGESTION,
    SOURCE_MODBUS,
    rows_per_day,
)
from .protocol import (
    CommandKind,
    ModbusError,
    ModbusNoSerial,
    ModbusSlotTaken,
    mask_serial,
    probe,
)
from .reload import OptionsFlowWithReload
from .runtime_data import AlphaEssConfigEntry, is_modbus

# How long the flow waits for the inverter's serial before saying it cannot connect.
PROBE_TIMEOUT: Final = 10.0

# What the owner may let through besides a firmware update (a box of its own).
RELAY_PASSABLE: Final = [
    CommandKind.SET_CONFIG,
    CommandKind.RESUME,
    CommandKind.SYNC_TIME,
]


def parse_upstream(text: str) -> tuple[str, int] | None:
    """``host:port`` as typed; ``None`` when it is not one."""
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


async def _upstream_error(host: str, port: int, own_port: int) -> str | None:
    """Connect once to the upstream; refuse our own listener. The form error, or None.

    The owner's DNS answers the cloud's name with Home Assistant, so a typed name can
    lead back to us: a connection whose far end is this host on our port is ours.
    """
    try:
        async with asyncio.timeout(RELAY_PROBE_TIMEOUT):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return "cannot_reach"
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    if peer and local and peer[0] == local[0] and peer[1] == own_port:
        return "own_listener"
    return None


async def _listen_error(host: str, port: int) -> str | None:
    """Bind the address once, as the server will; return the form error, or None."""
    loop = asyncio.get_running_loop()
    try:
        probe = await loop.create_server(
            asyncio.Protocol, host or None, port, reuse_address=True
        )
    except OSError as err:
        return "port_in_use" if err.errno == errno.EADDRINUSE else "cannot_listen"
    probe.close()
    await probe.wait_closed()
    return None


def _listen_schema(host: str, port: int) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=host): selector.TextSelector(),
            vol.Required(CONF_PORT, default=port): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=65535, mode=selector.NumberSelectorMode.BOX
                )
            ),
        }
    )


def _modbus_schema(host: str, port: int, unit: int) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=host): selector.TextSelector(),
            vol.Required(CONF_PORT, default=port): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=65535, mode=selector.NumberSelectorMode.BOX
                )
            ),
            vol.Required(CONF_UNIT, default=unit): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=1, max=247, mode=selector.NumberSelectorMode.BOX
                )
            ),
        }
    )


async def _serial_or_error(
    host: str, port: int, unit: int
) -> tuple[str | None, str | None]:
    """The inverter's serial, or ``None`` and the form error that says why not."""
    try:
        return await probe(host, port, unit, timeout=PROBE_TIMEOUT), None
    except ModbusSlotTaken as err:
        # A refused TCP connection is also what a port without Modbus TCP answers.
        return None, "refused" if err.refused else "slot_taken"
    except ModbusNoSerial:
        return None, "no_serial"
    except ModbusError:
        return None, "cannot_connect"


def _masked(serials: Iterable[str]) -> str:
    """Serials as a form may show them; ``-`` for none."""
    return ", ".join(mask_serial(s) for s in serials) or "-"


def _title(port: int) -> str:
    return f"AlphaESS Local (port {port})"


def _modbus_title(host: str) -> str:
    return f"AlphaESS Modbus ({host})"


class AlphaEssConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a listener for AlphaESS batteries."""

    VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask how the battery's data comes: pushed as to the cloud, or read over Modbus."""
        return self.async_show_menu(step_id="user", menu_options=["cloud", "modbus"])

    async def async_step_cloud(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where to listen; refuse a port that is taken.

        The port becomes the flow's unique ID only once it proved usable: a flow left
        open at a "port in use" error must not hold the port, or a second attempt at
        it would abort as already in progress while the first is not going anywhere.
        """
        errors: dict[str, str] = {}
        host, port = DEFAULT_HOST, DEFAULT_PORT
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), int(user_input[CONF_PORT])
            # Our own listener holds a configured port: say so, not "port in use".
            self._async_abort_entries_match({CONF_PORT: port})
            if not (error := await _listen_error(host, port)):
                # Aborts (translated) if another flow has claimed the port meanwhile.
                await self.async_set_unique_id(str(port))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=_title(port), data={CONF_HOST: host, CONF_PORT: port}
                )
            errors["base"] = error
        return self.async_show_form(
            step_id="cloud",
            data_schema=_listen_schema(host, port),
            errors=errors,
            description_placeholders={"default_port": str(DEFAULT_PORT)},
        )

    async def async_step_modbus(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the inverter answers Modbus TCP; read its serial before adding it.

        A serial another entry has aborts naming that entry: two entries would make
        one device with two sets of entities, and the inverter takes one client.
        """
        errors: dict[str, str] = {}
        host, port, unit = "", DEFAULT_MODBUS_PORT, DEFAULT_MODBUS_UNIT
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            port, unit = int(user_input[CONF_PORT]), int(user_input[CONF_UNIT])
            # An entry reading this address holds the inverter's one slot: reading
            # the serial would only find it taken (by us).
            for entry in self._async_current_entries(include_ignore=False):
                if is_modbus(entry) and (
                    entry.data[CONF_HOST],
                    entry.data[CONF_PORT],
                ) == (host, port):
                    return self.async_abort(
                        reason="address_configured",
                        description_placeholders={"title": entry.title},
                    )
            serial, error = await _serial_or_error(host, port, unit)
            if serial is not None:
                if (other := self._entry_with(serial)) is not None:
                    return self.async_abort(
                        reason="serial_configured",
                        description_placeholders={
                            "title": other,
                            "serial": mask_serial(serial),
                        },
                    )
                await self.async_set_unique_id(serial)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=_modbus_title(host),
                    data={
                        CONF_SOURCE: SOURCE_MODBUS,
                        CONF_HOST: host,
                        CONF_PORT: port,
                        CONF_UNIT: unit,
                    },
                )
            errors["base"] = error or "cannot_connect"
        return self.async_show_form(
            step_id="modbus",
            data_schema=_modbus_schema(host, port, unit),
            errors=errors,
            description_placeholders={
                "default_port": str(DEFAULT_MODBUS_PORT),
                "default_unit": str(DEFAULT_MODBUS_UNIT),
            },
        )

    def _entry_with(self, serial: str) -> str | None:
        """The title of another entry that has battery ``serial``, if one has.

        A Modbus entry by its unique ID; a listener by the batteries it knows (its
        devices, and while loaded its state, which holds one heard this minute).
        """
        devices = dr.async_get(self.hass)
        for entry in self._async_current_entries(include_ignore=False):
            if entry.unique_id == serial and is_modbus(entry):
                return entry.title
            known = {
                ident
                for device in dr.async_entries_for_config_entry(devices, entry.entry_id)
                for domain, ident in device.identifiers
                if domain == DOMAIN
            }
            if entry.state is ConfigEntryState.LOADED:
                known |= entry.runtime_data.data.keys()
            if serial in known:
                return entry.title
        return None

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the listener to another address or port."""
        entry = self._get_reconfigure_entry()
        if is_modbus(entry):
            return await self.async_step_reconfigure_modbus(user_input)
        errors: dict[str, str] = {}
        host, port = entry.data[CONF_HOST], entry.data[CONF_PORT]
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), int(user_input[CONF_PORT])
            if port != entry.data[CONF_PORT]:
                self._async_abort_entries_match({CONF_PORT: port})
            # Our own listener holds the current address; only a new one is probed.
            moved = (host, port) != (entry.data[CONF_HOST], entry.data[CONF_PORT])
            if not moved or not (error := await _listen_error(host, port)):
                # The one reload there is: the entry has no update listener.
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=str(port),
                    title=_title(port),
                    data_updates={CONF_HOST: host, CONF_PORT: port},
                    reload_even_if_entry_is_unchanged=False,
                )
            errors["base"] = error
        return self.async_show_form(
            step_id="reconfigure", data_schema=_listen_schema(host, port), errors=errors
        )

    async def async_step_reconfigure_modbus(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The inverter moved (a new address, port or unit): read its serial there.

        Only the same inverter may answer: another serial is another battery, and
        belongs in an entry of its own. The entry's own reader holds the current
        address's one Modbus slot, so only a new address is read; a new unit ID at
        the same address is taken as typed (the repairs tell if nothing answers).
        """
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        host, port = entry.data[CONF_HOST], entry.data[CONF_PORT]
        unit = entry.data.get(CONF_UNIT, DEFAULT_MODBUS_UNIT)
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            port, unit = int(user_input[CONF_PORT]), int(user_input[CONF_UNIT])
            moved = (host, port) != (entry.data[CONF_HOST], entry.data[CONF_PORT])
            serial, error = (
                await _serial_or_error(host, port, unit)
                if moved
                else (entry.unique_id, None)
            )
            if serial is not None:
                if serial != entry.unique_id:
                    return self.async_abort(
                        reason="another_inverter",
                        description_placeholders={"serial": mask_serial(serial)},
                    )
                return self.async_update_reload_and_abort(
                    entry,
                    title=_modbus_title(host),
                    data_updates={CONF_HOST: host, CONF_PORT: port, CONF_UNIT: unit},
                    reload_even_if_entry_is_unchanged=False,
                )
            errors["base"] = error or "cannot_connect"
        return self.async_show_form(
            step_id="reconfigure_modbus",
            data_schema=_modbus_schema(host, port, unit),
            errors=errors,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: AlphaEssConfigEntry) -> OptionsFlow:
        """Options: allowlist, traffic dump, silence timeout."""
        return AlphaEssOptionsFlow()


class AlphaEssOptionsFlow(OptionsFlowWithReload):
    """Change how the listener treats batteries; the entry reloads once on save."""

    _options: dict[str, Any]
    # Batteries the owner was warned the new list refuses: connected now or not.
    _refused: dict[str, bool]

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the options."""
        if is_modbus(self.config_entry):
            return await self.async_step_modbus(user_input)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            serials, invalid = parse_allowlist(user_input.get(CONF_ALLOWLIST, []))
            if invalid:
                errors[CONF_ALLOWLIST] = "invalid_serial"
                placeholders["invalid"] = ", ".join(invalid)
        if user_input is not None and not errors:
            self._options = {
                **self.config_entry.options,
                CONF_ALLOWLIST: serials,
                CONF_DUMP: user_input[CONF_DUMP],
                CONF_ANSWER_TLS: user_input.get(CONF_ANSWER_TLS, True),
                CONF_UNAVAILABLE_AFTER: int(user_input[CONF_UNAVAILABLE_AFTER]),
                CONF_ALLOW_CONTROL: user_input.get(CONF_ALLOW_CONTROL, False),
                CONF_RELAY: user_input.get(CONF_RELAY, False),
            }
            self._refused = left_out(
                serials, seen_batteries(self.hass, self.config_entry)
            )
            if self._refused:
                return await self.async_step_allowlist()
            if self._options[CONF_RELAY]:
                return await self.async_step_relay()
            return self.async_create_entry(data=self._options)
        options = self.config_entry.options
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_ALLOWLIST, default=options.get(CONF_ALLOWLIST, [])
                ): selector.TextSelector(selector.TextSelectorConfig(multiple=True)),
                vol.Required(
                    CONF_DUMP, default=options.get(CONF_DUMP, False)
                ): selector.BooleanSelector(),
                vol.Required(
                    CONF_UNAVAILABLE_AFTER,
                    default=options.get(
                        CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER
                    ),
                ): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=1,
                        max=1440,
                        unit_of_measurement="min",
                        mode=selector.NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_ALLOW_CONTROL, default=options.get(CONF_ALLOW_CONTROL, False)
                ): selector.BooleanSelector(),
                vol.Required(
                    CONF_ANSWER_TLS, default=options.get(CONF_ANSWER_TLS, True)
                ): selector.BooleanSelector(),
                vol.Required(
                    CONF_RELAY, default=options.get(CONF_RELAY, False)
                ): selector.BooleanSelector(),
            }
        )
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        # The first-battery rule accepts without listing: say which battery it is.
        accepted = options.get(CONF_ALLOWLIST) or seen_batteries(
            self.hass, self.config_entry
        )
        placeholders["accepted"] = _masked(sorted(accepted))
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_allowlist(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The list leaves out a battery the entry has: the owner confirms or corrects.

        Saving the list unchanged confirms; a corrected list is checked again, and
        warned about again only if it leaves out a battery not named here already.
        """
        errors: dict[str, str] = {}
        invalid = "-"
        if user_input is not None:
            serials, bad = parse_allowlist(user_input.get(CONF_ALLOWLIST, []))
            if bad:
                errors[CONF_ALLOWLIST] = "invalid_serial"
                invalid = ", ".join(bad)
            else:
                self._options[CONF_ALLOWLIST] = serials
                refused = left_out(
                    serials, seen_batteries(self.hass, self.config_entry)
                )
                if refused.keys() <= self._refused.keys():
                    if self._options[CONF_RELAY]:
                        return await self.async_step_relay()
                    return self.async_create_entry(data=self._options)
                self._refused = refused
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_ALLOWLIST, default=self._options[CONF_ALLOWLIST]
                ): selector.TextSelector(selector.TextSelectorConfig(multiple=True)),
            }
        )
        return self.async_show_form(
            step_id="allowlist",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "connected": _masked(s for s, now in self._refused.items() if now),
                "seen": _masked(s for s, now in self._refused.items() if not now),
                "invalid": invalid,
            },
        )

    async def async_step_relay(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the cloud really is, and what of its commands reaches the battery.

        A new address is saved only once it answers and is not our own listener; an
        unchanged one is not probed again, so other options can be changed while the
        cloud is out of reach.
        """
        errors: dict[str, str] = {}
        if user_input is not None:
            upstream = parse_upstream(user_input.get(CONF_RELAY_UPSTREAM, ""))
            unchanged = (
                self.config_entry.options.get(CONF_RELAY)
                and upstream is not None
                and f"{upstream[0]}:{upstream[1]}"
                == self.config_entry.options.get(CONF_RELAY_UPSTREAM)
            )
            if upstream is None:
                errors[CONF_RELAY_UPSTREAM] = "invalid_upstream"
            elif not unchanged and (
                error := await _upstream_error(
                    *upstream, self.config_entry.data[CONF_PORT]
                )
            ):
                errors[CONF_RELAY_UPSTREAM] = error
            else:
                return self.async_create_entry(
                    data={
                        **self._options,
                        CONF_RELAY_UPSTREAM: f"{upstream[0]}:{upstream[1]}",
                        CONF_RELAY_PASS: list(user_input.get(CONF_RELAY_PASS, [])),
                        CONF_RELAY_UPDATE: user_input.get(CONF_RELAY_UPDATE, False),
                    }
                )
        options = {**self.config_entry.options, **(user_input or {})}
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_RELAY_UPSTREAM, default=options.get(CONF_RELAY_UPSTREAM, "")
                ): selector.TextSelector(),
                vol.Optional(
                    CONF_RELAY_PASS, default=options.get(CONF_RELAY_PASS, [])
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[str(kind) for kind in RELAY_PASSABLE],
                        multiple=True,
                        translation_key=CONF_RELAY_PASS,
                    )
                ),
                vol.Required(
                    CONF_RELAY_UPDATE, default=options.get(CONF_RELAY_UPDATE, False)
                ): selector.BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="relay",
            data_schema=schema,
            errors=errors,
            description_placeholders={"suggestion": RELAY_SUGGESTION},
        )

    async def async_step_modbus(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """How often to read the inverter, with what it costs in the database.

        Nothing of the listener's options applies: there is no port, no stranger to
        admit, no relay.
        """
        options = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(
                data={
                    **options,
                    CONF_POLL_INTERVAL: int(user_input[CONF_POLL_INTERVAL]),
                }
            )
        interval = options.get(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL)
        schema = vol.Schema(
            {
                vol.Required(CONF_POLL_INTERVAL, default=interval): (
                    selector.NumberSelector(
                        selector.NumberSelectorConfig(
                            min=MIN_POLL_INTERVAL,
                            max=MAX_POLL_INTERVAL,
                            unit_of_measurement="s",
                            mode=selector.NumberSelectorMode.BOX,
                        )
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="modbus",
            data_schema=schema,
            description_placeholders={
                "default": str(DEFAULT_POLL_INTERVAL),
                "rows_default": f"{rows_per_day(DEFAULT_POLL_INTERVAL):,}",
                "fastest": str(MIN_POLL_INTERVAL),
                "rows_fastest": f"{rows_per_day(MIN_POLL_INTERVAL):,}",
                "slowest": str(MAX_POLL_INTERVAL),
                "rows_slowest": f"{rows_per_day(MAX_POLL_INTERVAL):,}",
            },
        )
