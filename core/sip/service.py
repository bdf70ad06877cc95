"""`run_sip`: the registrar process side. Binds UDP+TCP, runs the registrar and its workers.

Workers: write-behind of bindings, security events, bans and the registration history (one
transaction per flush), credentials refresh (interval and on miss), ban reload (the DB's bans replace
the registrar's, so a ban lifted in the dashboard or CLI ends at the next reload), expiry purge, the
device-command worker (reboot/resync by NOTIFY) and a heartbeat row (core.heartbeat) so the dashboard
and CLI, on any host, can tell whether a registrar is running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import uvloop
from sqlalchemy import Engine

from core import heartbeat
from core.catalogue import default_catalogue
from core.device_commands import notify_event
from core.registrations import match_device
from core.settings import Settings, override
from core.sip import store
from core.sip.credentials import CredentialTable
from core.sip.digest import NonceFactory
from core.sip.message import SipRequest, SipResponse
from core.sip.notify import NOTIFY_TIMEOUT, NotifyTransaction, notify_timeout
from core.sip.policy import Policy, PolicyConfig
from core.sip.ratelog import RateLimitedLog
from core.sip.registrar import Deferred, Registrar, RegistrarConfig, Source
from core.sip.transport import Endpoint, TcpLimits, wall_clock

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 2.0


@dataclass(frozen=True)
class SipConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    registrar: RegistrarConfig = field(default_factory=RegistrarConfig)
    flush_every: float = 0.5
    credentials_every: float = 5.0
    credentials_miss_min: float = 1.0  # at most one miss-triggered reload per second
    bans_every: float = 10.0
    purge_every: float = 30.0
    command_poll: float = 0.5
    command_max_age: float = 120.0
    notify_timeout: float = NOTIFY_TIMEOUT
    tcp: TcpLimits = field(default_factory=TcpLimits)
    sweep_every: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SipConfig:
        """The defaults above and in PolicyConfig/TcpLimits, with the settings' sip_* overrides
        (VOIPADMIN_SIP_RATE, _FAIL_THRESHOLD, _BAN_SECONDS, _NOTIFY_TIMEOUT, _TCP_*: docs/SIP.md)."""
        s, p, t = settings, PolicyConfig(), TcpLimits()
        rate = override(s.sip_rate, p.rate)
        policy = PolicyConfig(
            rate=rate,
            burst=max(p.burst, rate * 4),
            fail_threshold=override(s.sip_fail_threshold, p.fail_threshold),
            ban_seconds=override(s.sip_ban_seconds, p.ban_seconds),
        )
        tcp = TcpLimits(
            max_connections=override(s.sip_tcp_max_connections, t.max_connections),
            max_per_source=override(s.sip_tcp_max_per_source, t.max_per_source),
            handshake_timeout=override(s.sip_tcp_handshake_seconds, t.handshake_timeout),
            idle_timeout=override(s.sip_tcp_idle_seconds, t.idle_timeout),
        )
        sweep = min(1.0, tcp.handshake_timeout / 4)
        return cls(
            policy=policy,
            notify_timeout=notify_timeout(s),
            tcp=tcp,
            sweep_every=sweep,
        )


class NotifyManager:
    """Routes responses to NOTIFY transactions by Call-ID and drives their timers."""

    def __init__(self, endpoint_send: Callable[[Source, bytes], bool]) -> None:
        self._send = endpoint_send
        self._active: dict[str, tuple[NotifyTransaction, asyncio.Event]] = {}

    def on_response(self, resp: SipResponse, source: Source) -> None:
        entry = self._active.get(resp.call_id)
        if entry is None:
            return
        txn, wake = entry
        data = txn.on_response(resp, wall_clock())
        if data:
            self._send(txn.binding.source, data)
        wake.set()

    async def run(self, txn: NotifyTransaction) -> tuple[str, str]:
        wake = asyncio.Event()
        self._active[txn.call_id] = (txn, wake)
        try:
            if not self._send(txn.binding.source, txn.start(wall_clock())):
                return "failed", f"connection to {txn.binding.source.ip}:{txn.binding.source.port} is closed"
            while txn.outcome is None:
                delay = max(0.0, txn.next_timer - wall_clock())
                try:
                    await asyncio.wait_for(wake.wait(), delay)  # a response or the next timer
                except TimeoutError:
                    pass
                wake.clear()
                data = txn.on_timer(wall_clock())
                if data:
                    self._send(txn.binding.source, data)
            return txn.outcome
        finally:
            self._active.pop(txn.call_id, None)


class SipService:
    def __init__(self, settings: Settings, engine: Engine, config: SipConfig, via_host: str, port: int) -> None:
        self.settings, self.engine, self.config = settings, engine, config
        self.via_host, self.port = via_host, port
        self.secret = settings.secret_key()
        self.catalogue = default_catalogue()
        self.registrar = Registrar(
            CredentialTable(), NonceFactory(self.secret), Policy(config.policy), config.registrar
        )
        self.endpoint = Endpoint(self._on_request, self._on_response, wall_clock, config.tcp)
        self.loop_errors = RateLimitedLog(log, window=1.0)
        self.notify = NotifyManager(self.endpoint.send)
        self._last_cred_load = 0.0
        self._started = 0.0  # when the bindings were read back (store.purge_expired: whose expiry is whose)
        # A ban reload must not read the DB while a flush is writing bans it has taken from the policy's
        # unwritten ones: it would miss them both ways (Policy.load_bans).
        self._bans_lock = asyncio.Lock()
        self.history_log = RateLimitedLog(log, window=60.0)
        self._command_tasks: set[asyncio.Task[None]] = set()  # device commands and held REGISTERs

    def _on_request(self, msg: SipRequest, source: Source, now: float) -> list[SipResponse]:
        replies = self.registrar.handle(msg, source, now)
        for held in self.registrar.drain_deferred():
            task = asyncio.create_task(self._look_up(held))
            self._command_tasks.add(task)
            task.add_done_callback(self._command_tasks.discard)
        return replies

    async def _look_up(self, held: Deferred) -> None:
        """A digest for a user not in the table: read that one line (added since the last reload) so its
        first REGISTER is not refused, then answer the REGISTER (registrar.Lookups bounds how often)."""
        try:
            cred = await asyncio.to_thread(store.load_credential, self.engine, held.user, self.catalogue)
        except Exception:
            log.exception("SIP credential lookup failed; the REGISTER is answered from the table")
            cred = None
        if cred is not None and self.registrar.credentials.lookup(held.user, cred.domain) is None:
            self.registrar.credentials.add(cred)
        self.endpoint.answer(held.msg, held.source, self.registrar.resume(held, wall_clock()))

    def _on_response(self, resp: SipResponse, source: Source) -> None:
        self.notify.on_response(resp, source)

    async def start(self) -> None:
        now = wall_clock()
        await self.reload_credentials()
        self.registrar.policy.load_bans(await asyncio.to_thread(store.load_bans, self.engine, now), now)
        self.registrar.load(await asyncio.to_thread(store.load_bindings, self.engine, now))
        self._started = now
        await asyncio.to_thread(store.reset_sending, self.engine)

    async def reload_credentials(self) -> None:
        table = await asyncio.to_thread(
            store.load_credentials,
            self.engine,
            self.secret,
            self.registrar.credentials,
            self.catalogue,
            (self.settings.sip_host, self.via_host),
        )
        self.registrar.credentials = table
        self.registrar.misses.clear()
        self._last_cred_load = wall_clock()

    async def flush(self) -> None:
        reg = self.registrar
        if reg.history_dropped and self.history_log.warning(
            "history-dropped", "registration history: %d oldest events dropped (over %d pending)",
            reg.history_dropped, reg.config.max_history,
        ):  # fmt: skip
            reg.history_dropped = 0
        async with self._bans_lock:
            changes = reg.drain_changes()
            events, bans = reg.policy.drain()
            history = reg.drain_history()
            if not (changes or events or bans or history):
                return
            try:
                await asyncio.to_thread(store.flush, self.engine, changes, events, bans, history)
            except Exception:
                log.exception("write-behind failed; %d bindings kept for the next round", len(changes))
                for key, b in changes.items():  # newer changes made meanwhile win
                    reg.changes.setdefault(key, b)
                reg.policy.events[:0] = events
                reg.policy.new_bans[:0] = bans
                reg.requeue_history(history)
                return
            reg.policy.written(bans)

    # -- periodic workers --

    async def _every(self, interval: float, work: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
            if stop.is_set():
                return
            try:
                await work()
            except Exception:
                log.exception("SIP worker %s failed", getattr(work, "__name__", work))

    async def _credentials_tick(self) -> None:
        now = wall_clock()
        due = now - self._last_cred_load >= self.config.credentials_every
        miss = self.registrar.misses and now - self._last_cred_load >= self.config.credentials_miss_min
        if due or miss:
            await self.reload_credentials()

    async def _bans_tick(self) -> None:
        async with self._bans_lock:
            now = wall_clock()
            self.registrar.policy.load_bans(await asyncio.to_thread(store.load_bans, self.engine, now), now)

    async def _purge_tick(self) -> None:
        now = wall_clock()
        self.registrar.purge(now)  # REG_EXPIRED for what memory held; the DB's for what expired before start
        await asyncio.to_thread(store.purge_expired, self.engine, now, self._started)

    async def _heartbeat_tick(self) -> None:
        """Beat with what really listens; a UDP socket that closed is opened again first."""
        if not self.endpoint.udp_open():
            try:
                await self.endpoint.open_udp()
                log.warning("SIP/UDP socket reopened on port %d", self.port)
            except OSError as exc:
                self.loop_errors.error("udp-reopen", "SIP/UDP socket could not be reopened: %s", exc)
        listening = self.endpoint.listening()
        if not listening:
            await asyncio.to_thread(heartbeat.stop, self.engine, "sip")  # nothing answers: not running
            return
        detail = f"{'+'.join(listening)} {self.via_host}:{self.port}"
        await asyncio.to_thread(heartbeat.beat, self.engine, "sip", detail)

    async def _sweep_tick(self) -> None:
        self.endpoint.sweep()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """asyncio's own errors (e.g. "socket.accept() out of system resource", thousands a second under
        uvloop) go out at most once a second per message."""
        message = str(context.get("message", "event loop error"))
        exc = context.get("exception")
        self.loop_errors.error(message[:80], "%s: %r", message, exc)

    async def _commands_tick(self) -> None:
        cmds = await asyncio.to_thread(store.claim_commands, self.engine, wall_clock(), self.config.command_max_age)
        for cmd in cmds:
            task = asyncio.create_task(self.execute(cmd))
            self._command_tasks.add(task)
            task.add_done_callback(self._command_tasks.discard)

    async def execute(self, cmd: store.PendingCommand) -> None:
        state, result = await self._execute(cmd)
        log.info("device %s %s: %s %s", cmd.device_id, cmd.action, state, result)
        await asyncio.to_thread(store.finish_command, self.engine, cmd.id, state, result, wall_clock())

    async def _execute(self, cmd: store.PendingCommand) -> tuple[str, str]:
        event = notify_event(cmd.model_id, cmd.action, self.catalogue)
        if not event:
            return "failed", f"model {cmd.model_id} has no {cmd.action} event"
        cred = self.registrar.credentials.by_line(cmd.line_id)
        bindings = self.registrar.bindings_for_line(cmd.line_id, wall_clock())
        mine = [b for b in bindings if match_device(b.user_agent, b.source.ip, cmd.devices) == cmd.device_id]
        if not mine and len(cmd.devices) == 1:
            mine = bindings  # the line's only device: its bindings are the device's
        if not mine or cred is None:
            return "not_registered", "no current registration for this device"
        outcomes = await asyncio.gather(
            *(
                self.notify.run(
                    NotifyTransaction(
                        b, event, cred.username, cred.password, self.via_host, self.port, self.config.notify_timeout
                    )
                )
                for b in mine
            )
        )
        ok = [o for o in outcomes if o[0] == "ok"]
        return ok[0] if ok else outcomes[0]

    async def serve(self, host: str, stop: asyncio.Event) -> None:
        await self.start()
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        await self.endpoint.open(host, self.port)
        log.info("SIP registrar on %s:%d (UDP+TCP), %d lines", host, self.port, len(self.registrar.credentials))
        await self._heartbeat_tick()
        c = self.config
        workers = [
            asyncio.create_task(self._every(c.flush_every, self.flush, stop)),
            asyncio.create_task(self._every(0.25, self._credentials_tick, stop)),
            asyncio.create_task(self._every(c.bans_every, self._bans_tick, stop)),
            asyncio.create_task(self._every(c.purge_every, self._purge_tick, stop)),
            asyncio.create_task(self._every(c.command_poll, self._commands_tick, stop)),
            asyncio.create_task(self._every(HEARTBEAT_EVERY, self._heartbeat_tick, stop)),
            asyncio.create_task(self._every(c.sweep_every, self._sweep_tick, stop)),
        ]
        try:
            await stop.wait()
        finally:
            self.endpoint.close()
            for t in workers:
                t.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for t in list(self._command_tasks):
                t.cancel()
            await asyncio.gather(*self._command_tasks, return_exceptions=True)
            await self.flush()
            await asyncio.to_thread(heartbeat.stop, self.engine, "sip")


async def run_sip(
    settings: Settings,
    engine: Engine,
    stop: asyncio.Event,
    host: str = "0.0.0.0",
    port: int | None = None,
    config: SipConfig | None = None,
) -> None:
    """Serve SIP on UDP+TCP until `stop` is set, then flush pending writes."""
    port = port or settings.sip_listen_port
    via_host = host if host not in ("0.0.0.0", "::", "") else settings.sip_host
    service = SipService(settings, engine, config or SipConfig.from_settings(settings), via_host, port)
    await service.serve(host, stop)


def install_uvloop() -> None:
    """uvloop (a requirement): about 2x the datagram rate of the default loop."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
