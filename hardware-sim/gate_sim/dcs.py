"""Simulated departure control system: publishes the retained, signed assignment of a gate.

    dcs = DepartureControl(MqttConfig(port=...), Signer("departure_control", key)); dcs.start()
    dcs.assign("G1", "LH123", departure=..., close_time=...)
    dcs.close("G1")   # retained assignment with flight_id null: the flight is closed at this gate

Gates believe an assignment only when a trusted departure-control key signed it, so every one goes
out in a signed envelope (edge/messaging/envelope.py).

CLI: ``python -m gate_sim.dcs --port P --signing-key KEY.pem assign GATE FLIGHT [--minutes 30]`` or
``... close GATE``. KEY.pem is the departure-control private key (PEM, PKCS8) whose public half the
gates have as a trust anchor (a simulated world keeps it in ``<workdir>/keys/departure_control.pem``).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

from edge.messaging.client import MqttClient, OutMessage
from edge.messaging.envelope import Signer
from edge.messaging.schemas import Assignment
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import Topics


class DepartureControl:
    def __init__(self, mqtt: MqttConfig, signer: Signer, client_id: str = "dcs") -> None:
        self.mqtt = mqtt
        # Not checked to be a departure_control signer: a test may run a departure control with the
        # wrong key on purpose, and the gate is what must refuse it.
        self.signer = signer
        self.client = MqttClient(mqtt, client_id)

    def start(self, timeout: float = 5.0) -> DepartureControl:
        self.client.start()
        if not self.client.wait_connected(timeout):
            raise RuntimeError(f"dcs: no broker at {self.mqtt.host}:{self.mqtt.port}")
        return self

    def stop(self) -> None:
        self.client.stop()

    def _publish(self, gate: str, a: Assignment) -> Assignment:
        topic = Topics.from_config(gate, self.mqtt).assignment
        self.client.publish(OutMessage(topic, self.signer(a.to_bytes()), retain=True)).wait(5.0)
        return a

    def assign(
        self,
        gate: str,
        flight_id: str,
        departure: datetime | None = None,
        close_time: datetime | None = None,
    ) -> Assignment:
        now = datetime.now(timezone.utc)
        departure = departure or now + timedelta(minutes=40)
        close_time = close_time or departure - timedelta(minutes=10)
        a = Assignment(gate=gate, flight_id=flight_id, departure=departure, close_time=close_time, issued_at=now)
        return self._publish(gate, a)

    def close(self, gate: str) -> Assignment:
        a = Assignment(gate=gate, flight_id=None, issued_at=datetime.now(timezone.utc))
        return self._publish(gate, a)


def main(argv: list[str] | None = None) -> int:
    from gate_sim.fleet_admin import add_mqtt_args, add_signing_key, mqtt_config_from

    ap = argparse.ArgumentParser(prog="gate_sim.dcs", description="simulated departure control")
    add_mqtt_args(ap)
    add_signing_key(ap, "departure_control")
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("assign")
    a.add_argument("gate")
    a.add_argument("flight")
    a.add_argument("--minutes", type=float, default=40.0, help="until departure")
    c = sub.add_parser("close")
    c.add_argument("gate")
    args = ap.parse_args(argv)
    dcs = DepartureControl(mqtt_config_from(args), args.signer).start()
    try:
        if args.what == "assign":
            dep = datetime.now(timezone.utc) + timedelta(minutes=args.minutes)
            print(dcs.assign(args.gate, args.flight, departure=dep).model_dump_json(by_alias=True))
        else:
            print(dcs.close(args.gate).model_dump_json(by_alias=True))
    finally:
        dcs.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
