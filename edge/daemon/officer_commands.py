"""Officers' and fleet admins' commands: what each one does to a running gate, and its reply.

Every command reached here through a signed envelope of the fleet-admin role, fresh and not replayed
(edge/messaging/authenticate.py, edge/messaging/floors.py). Each is answered with a
:class:`CommandReply` on the caller's response topic, and the retained status is republished.

``restart`` ends the process with :data:`EXIT_RESTART` once the traveller being decided (if any) has
been decided: the unit (deploy/gate-edge.service) restarts on exactly that status, and the new process
comes up with the config stored for the next start (a ``restart_required`` change). The gallery is
wiped and attested on the way out like at any stop; the retained assignment brings it back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edge.core.decide import Phase
from edge.messaging.link import CommandItem
from edge.messaging.schemas import CommandReply

if TYPE_CHECKING:
    from edge.daemon.gate import GateDaemon

log = logging.getLogger("edge.daemon")

# The exit status of a restart asked for by a command: the unit has RestartForceExitStatus= and
# SuccessExitStatus= for it (a restart on purpose is neither a failure nor a stop). 75 is EX_TEMPFAIL
# of sysexits.h ("try again"); `gate-edge run` uses 2 and 3 for failures.
EXIT_RESTART = 75


def handle(gate: GateDaemon, item: CommandItem) -> None:
    """Carry out one command and reply to it."""
    refusal: str | None = None
    note: str | None = None
    if item.name == "wipe":
        entries = gate.live.entries if gate.live else 0
        gate._carry_out(gate.session.wipe_command())
        note = f"{entries} entries wiped"
    elif item.name == "close_flight":
        actions, refusal = gate.session.close_command(getattr(item.request, "flight_id", None))
        gate._carry_out(actions)
    elif item.name in ("pause", "resume"):
        gate.set_paused(item.name == "pause")
    elif item.name == "opt_out":
        duration = getattr(item.request, "duration_s", None) or gate.cfg.opt_out.duration_s
        gate.opt_out_next(duration)
        note = f"the next traveller is not captured (at most {duration:.0f} s)"
    elif item.name == "restart":
        gate.restart()
        busy = gate.machine.phase is Phase.ACQUIRING
        note = f"restarting{' after the current transaction' if busy else ''} (exit status {EXIT_RESTART})"
    result = "rejected" if refusal else "accepted"
    log.info("command %s: %s%s", item.name, result, f" ({refusal or note})" if refusal or note else "")
    gate.link.reply(item, CommandReply(gate=gate.cfg.gate_id, command=item.name,
                                       request_id=item.request.request_id, result=result,
                                       reason=refusal or note))
    gate.publish_status()
