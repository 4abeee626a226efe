"""`gate-edge fleet-bench`: N simulated gates on one broker or a cluster, measured; prints JSON.

Every gate runs the product's messaging stack (link, intake, signature checks, durable outbox,
gallery requests, flight session: :mod:`gate_sim.fleet_bench_gate`), in worker processes of many
gates each, with a scenario's decisions in place of the camera and models, so the load is the
messaging itself. Around them (:mod:`gate_sim.fleet_bench_infra`): the world's PKI, departure
control assigning a flight to every gate (``--gates-per-flight`` gates share one), a gallery
server answering each gate's request with its ``--gallery-size`` entries (photos or templates,
manifest signed for the request, QoS 0 with an expiry: nothing for the broker to keep), and a
consumer of every event and wipe attestation. Traffic stays on loopback; the run lasts
``--duration`` seconds from the assignments and stops by itself.

Faults (``--kill-node-at S``, ``--restart-broker-at S``, seconds after the assignments) are injected
while gates board; the report then says how many gates reconnected, whether every event arrived
exactly once and in order per gate, how many galleries completed or were asked for again, and how
many galleries were wiped without an attestation reaching the back office (must be 0).

    gate-edge fleet-bench --gates 50 --duration 60 --broker mosquitto
    gate-edge fleet-bench --gates 200 --duration 60 --broker ejabberd --kill-node-at 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from edge.messaging.errors import MessagingError
from edge.messaging.settings import MqttConfig
from gate_sim.dcs import DepartureControl
from gate_sim.fleet_bench_brokers import (
    BridgedTarget,
    EjabberdTarget,
    MosquittoTarget,
    Target,
    infra_options,
    mqtt_options_for,
)
from gate_sim.fleet_bench_infra import BenchGalleryServer, Consumer, GalleryKind, ProcWatch, cpu_seconds
from gate_sim.fleet_bench_report import Run, gallery_photos, recorded_decisions, report
from gate_sim.world import make_pki, wait_until

Say = Callable[[str], None]
# Gates reconnect quickly (a node lost should cost seconds, not the field's back-off).
GATE_MQTT = {"reconnect_min_s": 1.0, "reconnect_max_s": 2.0, "keepalive_s": 10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gates", type=int, default=50, help="simulated gates")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds from the assignments to the stop")
    parser.add_argument("--broker", choices=("mosquitto", "ejabberd", "bridged"), default="mosquitto",
                        help="one private Mosquitto, an ejabberd cluster, or a Mosquitto per site bridged to a centre")
    parser.add_argument("--nodes", type=int, default=2, help="ejabberd cluster nodes, or bridged sites")
    parser.add_argument("--gallery-size", type=int, default=420, help="entries per flight gallery")
    parser.add_argument("--gallery-kind", choices=("photo", "template"), default="photo")
    parser.add_argument("--gates-per-flight", type=int, default=2, help="gates boarding one flight")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between two decisions of a gate")
    parser.add_argument("--workers", type=int, default=0, help="gate processes (0: one per 50 gates)")
    parser.add_argument("--board-over", type=float, default=0.0,
                        help="spread the assignments over this many seconds (0: all at once)")
    parser.add_argument("--gallery-timeout", type=float, default=30.0, help="a gate's gallery request time-out")
    parser.add_argument("--kill-node-at", type=float, default=None, help="kill a broker node S s after the assignments")
    parser.add_argument("--restart-broker-at", type=float, default=None,
                        help="restart the broker (every node) S s after the assignments")
    parser.add_argument("--faces", type=Path, default=None, help="the scenario's faces (default $GATE_EDGE_FACES)")
    parser.add_argument("--lfw", type=Path, default=None, help="photos filling the gallery (default ../shared/lfw)")
    parser.add_argument("--state-dir", type=Path, default=None, help="gate state (outboxes); default a temp dir")
    parser.add_argument("--json", action="store_true", help="print only the report (one JSON object)")


def _target(args: argparse.Namespace, workdir: Path) -> Target:
    if args.broker == "ejabberd":
        return EjabberdTarget(workdir, nodes=args.nodes)
    if args.broker == "bridged":
        return BridgedTarget(workdir, sites=args.nodes)
    return MosquittoTarget(workdir)


class Worker:
    """One gate process (``python -m gate_sim.fleet_bench_gate``)."""

    def __init__(self, spec: dict[str, Any], path: Path) -> None:
        path.write_text(json.dumps(spec))
        self.result_path = Path(spec["result"])
        self.log_path = path.with_suffix(".log")  # the worker's stderr: its warnings, a traceback
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen([sys.executable, "-m", "gate_sim.fleet_bench_gate", str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == b"READY":
                self.ready.set()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"STOP\n")
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self, timeout: float) -> dict[str, Any]:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.proc.returncode != 0 or not self.result_path.exists():
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"gate worker exited with {self.proc.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(self.result_path.read_text())
        return result


def bench(args: argparse.Namespace, say: Say) -> dict[str, Any]:
    photos = gallery_photos(args.faces, args.lfw, args.gallery_size)
    decisions = recorded_decisions(args.faces, photos)
    kind: GalleryKind = args.gallery_kind
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-bench-")))
        state_dir = args.state_dir or workdir / "state"
        signers = make_pki(workdir)
        target = _target(args, workdir)
        say(f"starting {target.name}")
        target.start()
        stack.callback(target.close)
        service_mqtt = MqttConfig(**infra_options(target, **GATE_MQTT))
        server = BenchGalleryServer(service_mqtt, photos, signers["gallery_authority"], kind=kind).start()
        stack.callback(server.stop)
        consumer = Consumer(MqttConfig(**infra_options(target, **GATE_MQTT))).start()
        stack.callback(consumer.stop)
        dcs = DepartureControl(MqttConfig(**infra_options(target, **GATE_MQTT)), signers["departure_control"])
        dcs.start()
        stack.callback(dcs.stop)

        gates = [f"fb{i:04d}" for i in range(args.gates)]
        n_workers = args.workers or max(1, math.ceil(args.gates / 50))
        workers = []
        for k in range(n_workers):
            mine = gates[k::n_workers]
            spec = {
                "trust_dir": str(workdir / "trust"), "state_dir": str(state_dir), "decisions": decisions,
                "interval_s": args.interval, "gallery_timeout_s": args.gallery_timeout,
                "result": str(workdir / f"worker{k}.result.json"),
                "gates": [{"id": g, "mqtt": mqtt_options_for(target, gates.index(g), **GATE_MQTT),
                           "phase_s": (gates.index(g) * 0.6180339) % args.interval} for g in mine],
            }
            workers.append(Worker(spec, workdir / f"worker{k}.json"))
        stack.callback(_reap, workers)  # whatever happens, no gate process outlives the run
        say(f"{args.gates} gates in {n_workers} processes connecting")
        wait_until(lambda: all(w.ready.is_set() or w.proc.poll() is not None for w in workers), 180, "the gates")
        if any(not w.ready.is_set() for w in workers):
            for w in workers:
                w.stop()
            raise RuntimeError("a gate worker did not start: " + str(workers[0].wait(5)))

        broker, harness = ProcWatch(), ProcWatch()
        harness_pids = [os.getpid()] + [w.proc.pid for w in workers]
        broker.sample(target.pids())
        harness.sample(harness_pids)
        run = Run(target=target.name, gates=args.gates, workers=n_workers, kind=kind, started=time.monotonic(),
                  cpu0_broker=broker.cpu_total(), cpu0_harness=harness.cpu_total())
        flights = {g: f"FB{i // max(1, args.gates_per_flight):04d}" for i, g in enumerate(gates)}
        board = threading.Thread(target=_board, args=(dcs, flights, args.board_over), daemon=True)
        board.start()
        say(f"assigned {len(set(flights.values()))} flights; running {args.duration:.0f} s")
        faults = sorted((at, what) for at, what in ((args.kill_node_at, "kill"), (args.restart_broker_at, "restart"))
                        if at is not None)
        half_sampled = False
        while (elapsed := time.monotonic() - run.started) < args.duration:
            while faults and elapsed >= faults[0][0]:
                _, what = faults.pop(0)
                note = target.kill_node(len(target.addresses()) - 1) if what == "kill" else target.restart()
                run.faults.append({"at_s": round(elapsed, 1), "what": note})
                say(f"  {elapsed:5.1f} s: {note}")
            broker.sample(target.pids())
            harness.sample(harness_pids)
            if not half_sampled and elapsed >= args.duration / 2:
                half_sampled = True
                run.half = (time.monotonic(), broker.cpu_total())
            time.sleep(1.0)
        run.stopped = time.monotonic()
        broker.sample(target.pids())
        harness.sample(harness_pids)
        run.cpu1_broker, run.cpu1_harness = broker.cpu_total(), harness.cpu_total()
        run.broker_rss_peak, run.broker_rss_end = broker.peak_rss, broker.last_rss
        say("stopping the gates (outboxes flushed, galleries wiped with attestations)")
        for w in workers:
            w.stop()
        results = [w.wait(60) for w in workers]
        run.results = results
        sent_events = [e for r in results for g in r["gates"].values() for e in g["events"]]
        sent_wipes = [e for r in results for g in r["gates"].values() for e in g["wipes"]]
        with contextlib.suppress(TimeoutError):  # what did not arrive is counted as missing in the report
            wait_until(lambda: consumer.has(sent_events, sent_wipes), 30, "every event and attestation")
        run.coordinator_cpu_s = cpu_seconds(os.getpid()) or 0.0
        run.server_requests, run.server_bytes = server.requests, server.bytes_sent
        board.join(5)
        return report(run, consumer)


def _reap(workers: list[Worker]) -> None:
    for w in workers:
        if w.proc.poll() is None:
            w.stop()
            try:
                w.proc.wait(30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()


def _board(dcs: DepartureControl, flights: dict[str, str], over_s: float) -> None:
    """Departure control assigns each gate its flight, spread evenly over ``over_s`` seconds."""
    start = time.monotonic()
    for i, (gate, flight) in enumerate(flights.items()):
        delay = start + over_s * i / max(1, len(flights)) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for _ in range(30):  # the broker may be restarting: departure control tries again
            try:
                dcs.assign(gate, flight)
                break
            except MessagingError:
                time.sleep(1.0)


def run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.ERROR)
    say: Say = (lambda _line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        result = bench(args, say)
    except Exception as exc:  # explain instead of a traceback
        print(f"fleet-bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=None if args.json else 1))
    return 0 if result["ok"] else 1
