"""Entrypoints mixed into the services: operators' dead letters and
quarantine, and health with correlation and metrics."""

from __future__ import annotations

from typing import Any

from shared.auth import require_role
from shared.edge.rpc import rpc
from shared.observability import Correlation, Metrics


class DeadLetters:
    """Mixed into each service that consumes events: operators list the events its
    consumers gave up on (after ``MAX_ATTEMPTS`` tries with back-off) and send
    one back to its consumer's queue once the cause is fixed, and list the
    events its consumers refused into quarantine."""

    @rpc
    def dead_letters(self) -> list[dict[str, Any]]:
        require_role(self.auth.actor(), "operator")
        return self.events.dead_letters(f"{self.name}.")

    @rpc
    def replay_dead_letter(self, letter_id: int) -> dict[str, Any]:
        require_role(self.auth.actor(), "operator")
        return self.events.replay_dead_letter(letter_id)

    @rpc
    def quarantined(self) -> list[dict[str, Any]]:
        """Events its consumers refused (malformed, unsigned, forged, from the
        wrong producer), newest first, with the reason: for an operator to see."""
        require_role(self.auth.actor(), "operator")
        return self.events.quarantined(f"{self.name}.")


class Health:
    """Mixed into every service: an RPC that answers once the container runs,
    the correlation id its logs and calls carry, and its Prometheus metrics
    (served with ``/health`` on ``METRICS_ADDRESS`` when set)."""

    correlation = Correlation()
    metrics = Metrics()

    @rpc
    def health(self) -> dict[str, str]:
        return {"service": self.name, "status": "ok"}
