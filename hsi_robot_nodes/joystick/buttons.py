"""Button presses -> bridge state-machine events and policy selection (rising edges only).

VideoMimic's operator mapping: start = stand up, A = run the policy, select = shut down (damping), B =
switch between the blind and the heightmap policy. Events fire on the press, never while a button is held, so
a long press cannot replay a transition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_EVENTS = {"start": "start", "A": "run", "select": "damp"}
"""Button -> bridge event (names of ``bridge.safety.EVENTS``)."""
POLICY_TOGGLE_BUTTON = "B"
POLICY_SLOTS = ("blind", "terrain")


@dataclass
class ButtonMapper:
    events: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_EVENTS))
    forward_events: bool = True
    toggle_button: str = POLICY_TOGGLE_BUTTON
    policy: str = "terrain"  # the slot the next toggle moves AWAY from
    _held: set[str] = field(default_factory=set)

    def update(self, pressed: set[str]) -> tuple[list[str], str | None]:
        """(bridge events to send, policy slot to select or None) for this sample of pressed buttons."""
        new = pressed - self._held
        self._held = set(pressed)
        events = [self.events[b] for b in sorted(new) if b in self.events] if self.forward_events else []
        select = None
        if self.toggle_button in new:
            self.policy = POLICY_SLOTS[1 - POLICY_SLOTS.index(self.policy)]
            select = self.policy
        return events, select
