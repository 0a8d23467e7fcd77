"""The routing service's settings, with their defaults (``shared.config``)."""

from dataclasses import dataclass

from services.routing.edxml import DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class RoutingSettings:
    max_upload_bytes: int = DEFAULT_MAX_BYTES   # one file of an imported package (the package: twice)
    retention_days: int = 3650                  # WORM retention of an imported package's files
    # sample (one province, three levels), sample+reform, national:N[+reform] or none
    directory_seed: str = "sample"
    overdue_check_seconds: float = 300.0        # how often newly overdue copies are recorded
