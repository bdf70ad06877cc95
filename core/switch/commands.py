"""Reboot/resync with the Kamailio switch: serve's worker for the `device_command` rows (issue 16 point 2).

The same rows and rules as the built-in registrar's worker (core.sip.service): claimed `sending` by
core.sip.store, the NOTIFY event per vendor from the catalogue (device_commands.notify_event), the phone's
time to answer (sip.notify.notify_timeout), the device's bindings told apart by registrations.match_device,
the outcome written back ok | failed | timeout | not_registered.

The bindings are Kamailio's `location` as serve mirrors it into `registration` every second (the rows the
dashboard shows as registered, indexed per line, shared by every Kamailio on the database). Each binding
gets one NOTIFY by JSON-RPC `tm.t_uac_start`, sent to Kamailio itself and marked with the command token:
Kamailio relays it to the binding's source address in a transaction of its own, answers a 401/407 with the
line's HA1 and keeps the outcome in its `cmdres` htable (switch/kamailio/parts/commands.cfg.j2), which this
worker reads by `htable.get` until it is there or the time is up. `tm.t_uac_wait` would hand the reply
back directly, but jsonrpcs delays replies over HTTP only, and its blocking twin would hold an RPC worker.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from core.db import transaction
from core.device_commands import notify_event
from core.models import Registration
from core.registrations import match_device
from core.settings import Settings
from core.sip import store
from core.sip.notify import notify_timeout
from core.sip.service import SipConfig
from core.sip.transport import wall_clock
from core.switch import rpc
from core.switch.kamailio_config import KamailioContext
from core.switch.security import command_token

log = logging.getLogger(__name__)

POLL = SipConfig.command_poll  # seconds between two looks for pending commands, as the built-in registrar
MAX_AGE = SipConfig.command_max_age  # a command nobody picked up within this fails
RESULT_POLL = 0.2  # seconds between two reads of a NOTIFY's outcome in Kamailio
SLACK = 2.0  # beyond the phone's time: Kamailio's own timeout answer is on its way
RESULTS = "cmdres"


@dataclass(frozen=True)
class Target:
    """One binding of the device, as the registration mirror has it."""

    aor: str
    contact: str
    source_ip: str
    source_port: int
    transport: str

    @property
    def destination(self) -> str:
        host = f"[{self.source_ip}]" if ":" in self.source_ip else self.source_ip
        return f"sip:{host}:{self.source_port};transport={self.transport or 'udp'}"


def targets(engine: Engine, cmd: store.PendingCommand, now: datetime) -> list[Target]:
    """The device's live bindings (the line's only device: all the line's), one statement."""
    with transaction(engine) as s:
        rows = s.scalars(
            select(Registration)
            .where(Registration.line_id == cmd.line_id, Registration.expires_at > now)
            .order_by(Registration.id)
        ).all()
    mine = [r for r in rows if match_device(r.user_agent, r.source_ip, cmd.devices) == cmd.device_id]
    if not mine and len(cmd.devices) == 1:
        mine = list(rows)
    return [Target(r.aor, r.contact, r.source_ip, r.source_port, r.transport) for r in mine]


class CommandWorker:
    def __init__(self, settings: Settings, engine: Engine, ctx: KamailioContext) -> None:
        self.engine, self.ctx = engine, ctx
        self.timeout = notify_timeout(settings)
        self.token = command_token(settings)
        host = ctx.listen_host if ctx.listen_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        self.kamailio = f"{host}:{ctx.sip_port}"  # where the NOTIFY loops through
        self.contact_host = settings.sip_host or host
        self.tasks: set[asyncio.Task[None]] = set()

    def _rpc(self, method: str, *params: object) -> object:
        return rpc.call(self.ctx.rpc_socket, method, *params)

    def _headers(self, t: Target, event: str, key: str) -> str:
        lines = [
            f"From: <sip:{t.aor}>",  # tm adds the tag
            f"To: <sip:{t.aor}>",
            f"Contact: <sip:{self.contact_host}:{self.ctx.sip_port}>",
            f"Event: {event}",
            "Subscription-State: terminated",
            f"X-Voipadmin-Token: {self.token}",
            f"X-Voipadmin-Command: {key}",
            f"X-Voipadmin-Dst: {t.destination}",
            f"X-Voipadmin-Timeout: {int(self.timeout * 1000)}",
        ]
        return "".join(f"{h}\r\n" for h in lines)

    async def notify(self, t: Target, event: str, key: str) -> tuple[str, str]:
        """One NOTIFY through Kamailio and what came of it."""
        peer = f"{t.source_ip}:{t.source_port}/{t.transport}"
        try:
            await asyncio.to_thread(self._rpc, "tm.t_uac_start", "NOTIFY", t.contact, f"sip:{self.kamailio}", ".",
                                    self._headers(t, event, key))  # fmt: skip
        except rpc.RpcError as exc:
            return "failed", f"Kamailio did not send it to {peer}: {exc}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout + SLACK
        while True:
            try:
                found = await asyncio.to_thread(self._rpc, "htable.get", RESULTS, key)
            except rpc.RpcError:
                found = None  # not there yet ("Key name doesn't exist")
            if isinstance(found, dict):
                value = str((found.get("item") or {}).get("value", ""))
                await asyncio.to_thread(self._rpc, "htable.delete", RESULTS, key)
                state, _, text = value.partition("|")
                if state == "timeout":
                    return "timeout", f"no answer within {self.timeout:g} s from {peer}"
                return (state if state in ("ok", "failed") else "failed"), text or value
            if loop.time() >= deadline:
                return "timeout", f"no answer within {self.timeout:g} s from {peer}"
            await asyncio.sleep(RESULT_POLL)

    async def execute(self, cmd: store.PendingCommand) -> tuple[str, str]:
        event = notify_event(cmd.model_id, cmd.action)
        if not event:
            return "failed", f"model {cmd.model_id} has no {cmd.action} event"
        found = await asyncio.to_thread(targets, self.engine, cmd, datetime.now(UTC))
        if not found:
            return "not_registered", "no current registration for this device"
        outcomes = await asyncio.gather(*(self.notify(t, event, f"{cmd.id}.{i}") for i, t in enumerate(found)))
        ok = [o for o in outcomes if o[0] == "ok"]
        return ok[0] if ok else outcomes[0]

    async def run_one(self, cmd: store.PendingCommand) -> None:
        try:
            state, result = await self.execute(cmd)
        except Exception as exc:  # the row must not stay `sending`
            log.exception("device %s %s", cmd.device_id, cmd.action)
            state, result = "failed", f"error: {exc}"
        log.info("device %s %s through Kamailio: %s %s", cmd.device_id, cmd.action, state, result)
        await asyncio.to_thread(store.finish_command, self.engine, cmd.id, state, result, wall_clock())

    async def tick(self) -> None:
        for cmd in await asyncio.to_thread(store.claim_commands, self.engine, wall_clock(), MAX_AGE):
            task = asyncio.create_task(self.run_one(cmd))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


async def run_commands(settings: Settings, engine: Engine, ctx: KamailioContext, stop: asyncio.Event) -> None:
    """serve's device-command worker while Kamailio is the switch, until `stop`."""
    worker = CommandWorker(settings, engine, ctx)
    await asyncio.to_thread(store.reset_sending, engine)  # what a stopped serve left `sending` is sent again
    try:
        while not stop.is_set():
            try:
                await worker.tick()
            except Exception:
                log.exception("device commands pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=POLL)
            except TimeoutError:
                pass
    finally:
        for t in list(worker.tasks):
            t.cancel()
        await asyncio.gather(*worker.tasks, return_exceptions=True)
