from datetime import timedelta

from core import heartbeat
from core.db import transaction
from core.device_commands import registrar_running
from core.models import utcnow


def test_heartbeat_in_the_database(engine):
    with transaction(engine) as s:
        assert not registrar_running(s)
    heartbeat.beat(engine, "sip", "udp+tcp 127.0.0.1:5060")
    heartbeat.beat(engine, "sip", "udp+tcp 127.0.0.1:5060")  # refreshes its own row
    with transaction(engine) as s:
        assert registrar_running(s)
        assert not heartbeat.running(s, "sip", now=utcnow() + timedelta(minutes=1))  # a stale beat is not life
    heartbeat.stop(engine, "sip")
    with transaction(engine) as s:
        assert not registrar_running(s)
