"""Which flight this gate boards and the life of its gallery, as a pure state machine.

The daemon feeds it events (an assignment, a gallery request sent or not, a gallery received,
built or failed, a clock tick, an officer's command, shutdown) and carries out the actions it
returns (request a gallery, build one, swap one in, wipe one with a reason, refuse a message). It
holds no biometric data, only :class:`GalleryInfo` handles; the daemon keeps the buffers behind
them. No I/O and no threads: time comes from the injected clocks, so every path is a plain test.

The rules that keep the gate safe and un-lockable:

- An assignment is applied only when it is strictly newer (``issued_at``) than the one in force;
  a retained repeat of the one in force is ignored silently; an older or conflicting one, one
  issued more than :data:`MAX_CLOCK_SKEW` ahead of the gate's clock, and one whose ``close_time``
  has already passed are refused with a reason and change nothing. So a message dated 2999 cannot
  freeze the gate, and a corrected assignment after a bad one is applied.
- One request at a time; a failed or unsent request is retried with back-off while the flight
  is assigned and has no gallery.
- A built gallery is swapped in only between transactions (``tick(idle=True)``): a transaction
  never sees its gallery replaced by another one.
- Every gallery that was ever received is wiped exactly once, with a reason: when replaced, when
  its flight closes (by close time, assignment change or command), when it expires, on an
  officer's wipe, at shutdown, and also when it finishes building after its flight has closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from edge.messaging.schemas import GalleryState, RejectionCode, WipeReason

MAX_CLOCK_SKEW = timedelta(minutes=5)  # an assignment may be issued at most this far ahead of our clock
MAX_ASSIGNMENT_AGE = timedelta(hours=24)  # a flight assignment older than a day is a replay, not boarding
RETRY_MIN_S = 5.0
RETRY_MAX_S = 120.0


@dataclass(frozen=True)
class GalleryInfo:
    """A received gallery, by handle: everything the machine and a wipe attestation need to know."""

    handle: int
    flight_id: str
    version: int
    entries: int
    sha256: str
    expires_at: datetime


# --------------------------------------------------------------------------- actions
@dataclass(frozen=True)
class RequestGallery:
    flight_id: str


@dataclass(frozen=True)
class CancelRequests:
    """Forget the outstanding request and wipe any partly received gallery."""


@dataclass(frozen=True)
class BuildGallery:
    """Embed the received gallery's photos and build its index, off the frame loop."""

    gallery: GalleryInfo


@dataclass(frozen=True)
class SwapIn:
    """Make this built gallery the live one (only ever returned between transactions)."""

    gallery: GalleryInfo


@dataclass(frozen=True)
class Wipe:
    """Zero this gallery's buffers and publish the attestation."""

    gallery: GalleryInfo
    reason: WipeReason


@dataclass(frozen=True)
class Refuse:
    """Refuse the message that caused this event; nothing changed."""

    code: RejectionCode
    reason: str


Action = RequestGallery | CancelRequests | BuildGallery | SwapIn | Wipe | Refuse


@dataclass(frozen=True)
class _Assignment:
    flight_id: str | None
    close_time: datetime | None
    issued_at: datetime


class FlightSession:
    """The flight assigned to this gate and its gallery. Methods return the actions to carry out."""

    def __init__(self, clock: Callable[[], datetime], monotonic: Callable[[], float],
                 floor: datetime | None = None) -> None:
        """``floor``: the issue time of the newest assignment applied before a restart (kept on disk):
        nothing older is applied again, the same one is (the retained assignment after a restart)."""
        self._clock = clock
        self._mono = monotonic
        self._floor = floor
        self.flight: str | None = None
        self.close_at: datetime | None = None
        self._in_force: _Assignment | None = None
        self.request_id: str | None = None
        self._retry_at: float | None = None
        self._retry_delay = RETRY_MIN_S
        self.loading: GalleryInfo | None = None  # handed to the builder
        self.ready: GalleryInfo | None = None  # built, waiting for a gap between transactions
        self.live: GalleryInfo | None = None
        self.orphans: dict[int, GalleryInfo] = {}  # still building when their flight closed

    # ------------------------------------------------------------------ what the status shows
    @property
    def state(self) -> GalleryState:
        if self.live is not None:
            return GalleryState.LIVE
        if self.loading is not None or self.ready is not None:
            return GalleryState.LOADING
        if self.flight is not None and (self.request_id is not None or self._retry_at is not None):
            return GalleryState.REQUESTED
        return GalleryState.NONE

    @property
    def floor(self) -> datetime | None:
        """The issue time of the newest assignment applied (what the daemon keeps on disk)."""
        return self._floor

    @property
    def retry_at(self) -> float | None:
        return self._retry_at

    # ------------------------------------------------------------------ assignments
    def assignment(self, flight_id: str | None, close_time: datetime | None, issued_at: datetime) -> list[Action]:
        """Departure control says which flight (or none) boards here now."""
        now = self._clock()
        new = _Assignment(flight_id, close_time, issued_at)
        if issued_at > now + MAX_CLOCK_SKEW:
            ahead = (issued_at - now).total_seconds()
            return [Refuse("clock_skew", f"assignment issued_at {issued_at.isoformat()} is {ahead:.0f} s ahead of "
                                         f"the gate's clock (at most {MAX_CLOCK_SKEW.total_seconds():.0f} s allowed)")]
        if self._floor is not None and issued_at < self._floor:
            return [Refuse("stale_version", f"assignment issued at {issued_at.isoformat()} is older than one "
                                            f"already applied (issued at {self._floor.isoformat()})")]
        if flight_id is not None and issued_at < now - MAX_ASSIGNMENT_AGE:
            return [Refuse("expired", f"assignment of flight {flight_id} issued at {issued_at.isoformat()} is more "
                                      f"than {MAX_ASSIGNMENT_AGE.total_seconds() / 3600:.0f} h old")]
        held = self._in_force
        if held is not None and issued_at <= held.issued_at:
            if new == held:
                return []  # the retained assignment again (reconnect): already in force
            what = "older than" if issued_at < held.issued_at else "issued at the same time as, but different from,"
            return [Refuse("stale_version", f"assignment issued at {issued_at.isoformat()} is {what} the one in "
                                            f"force (issued at {held.issued_at.isoformat()})")]
        if flight_id is not None and close_time is not None and close_time <= now:
            return [Refuse("expired", f"assignment of flight {flight_id}: close_time {close_time.isoformat()} has "
                                      "already passed")]
        self._in_force = new
        self._floor = issued_at
        if flight_id is not None and flight_id == self.flight:
            self.close_at = close_time  # the same flight, e.g. a new close time
            return []
        actions = self._close("flight_close")
        if flight_id is not None:
            self.flight, self.close_at = flight_id, close_time
            self._retry_delay = RETRY_MIN_S
            actions.append(RequestGallery(flight_id))
        return actions

    # ------------------------------------------------------------------ gallery requests
    def request_sent(self, request_id: str) -> list[Action]:
        self.request_id = request_id
        self._retry_at = None
        return []

    def request_unsent(self) -> list[Action]:
        """The request could not be sent (offline): try again after the back-off."""
        self._schedule_retry()
        return []

    def gallery_received(self, request_id: str, gallery: GalleryInfo) -> list[Action]:
        """A complete gallery answered a request. Anything that does not fit the session is wiped."""
        if request_id != self.request_id or gallery.flight_id != self.flight:
            return [Wipe(gallery, "flight_close")]  # its request was cancelled: the flight changed
        self.request_id = None
        actions: list[Action] = []
        if self.loading is not None:  # cannot happen with one request at a time; never leak it if it does
            self.orphans[self.loading.handle] = self.loading
        self.loading = gallery
        actions.append(BuildGallery(gallery))
        return actions

    def gallery_failed(self, request_id: str) -> list[Action]:
        """The request will not complete (refused chunk, wrong flight, time-out): retry later."""
        if request_id != self.request_id:
            return []
        self.request_id = None
        self._schedule_retry()
        return []

    def gallery_built(self, handle: int, entries: int) -> list[Action]:
        """The builder finished: ``entries`` travellers are searchable (failures to enrol excluded)."""
        if handle in self.orphans:
            return [Wipe(replace(self.orphans.pop(handle), entries=entries), "flight_close")]
        if self.loading is None or self.loading.handle != handle:
            return []  # unknown handle: nothing of ours
        built = replace(self.loading, entries=entries)
        self.loading = None
        self._retry_delay = RETRY_MIN_S
        if self.ready is not None:  # a newer build replaces one still waiting for its turn
            stale, self.ready = self.ready, built
            return [Wipe(stale, "replaced")]
        self.ready = built
        return []

    def gallery_build_failed(self, handle: int) -> list[Action]:
        """The builder could not use the gallery (its buffers are already zeroed): attest, retry later."""
        if handle in self.orphans:
            return [Wipe(self.orphans.pop(handle), "flight_close")]
        if self.loading is None or self.loading.handle != handle:
            return []
        failed, self.loading = self.loading, None
        self._schedule_retry()
        return [Wipe(failed, "refused")]

    # ------------------------------------------------------------------ time
    def tick(self, idle: bool) -> list[Action]:
        """Called every turn of the daemon loop; ``idle``: no traveller's transaction under way."""
        now, mono = self._clock(), self._mono()
        actions: list[Action] = []
        if self.close_at is not None and self.flight is not None and now >= self.close_at:
            actions += self._close("flight_close")
        if self.live is not None and self.live.expires_at <= now:
            actions.append(Wipe(self.live, "expiry"))
            self.live = None
        if self.ready is not None and self.ready.expires_at <= now:
            actions.append(Wipe(self.ready, "expiry"))
            self.ready = None
        if self.ready is not None and idle:
            if self.live is not None:
                actions.append(Wipe(self.live, "replaced"))
            self.live, self.ready = self.ready, None
            actions.append(SwapIn(self.live))
        if self._retry_at is not None and mono >= self._retry_at:
            self._retry_at = None
            if self.flight is not None and self.request_id is None and self.state is GalleryState.NONE:
                actions.append(RequestGallery(self.flight))
        return actions

    # ------------------------------------------------------------------ officers' commands and shutdown
    def wipe_command(self) -> list[Action]:
        """An officer wiped the gate: the flight ends here (its retained assignment is not fetched again)."""
        return self._close("command")

    def close_command(self, flight_id: str | None) -> tuple[list[Action], str | None]:
        """Close the live flight; ``flight_id``, if given, must name it. Returns (actions, refusal)."""
        if flight_id is not None and flight_id != self.flight:
            return [], f"flight {flight_id} is not the assigned flight ({self.flight})"
        return self._close("flight_close"), None

    def shutdown(self) -> list[Action]:
        actions = self._close("shutdown")
        actions += [Wipe(g, "shutdown") for g in self.orphans.values()]
        self.orphans.clear()
        return actions

    # ------------------------------------------------------------------ internals
    def _close(self, reason: WipeReason) -> list[Action]:
        actions: list[Action] = []
        if self.request_id is not None:
            actions.append(CancelRequests())
        for g in (self.live, self.ready):
            if g is not None:
                actions.append(Wipe(g, reason))
        if self.loading is not None:
            self.orphans[self.loading.handle] = self.loading  # wiped when the builder hands it back
        self.flight = self.close_at = self.request_id = self._retry_at = None
        self.live = self.ready = self.loading = None
        return actions

    def _schedule_retry(self) -> None:
        if self.flight is None:
            return
        self._retry_at = self._mono() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
