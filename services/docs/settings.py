"""The docs service's settings, with their defaults (``shared.config``)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DocsSettings:
    max_upload_bytes: int = 50 * 1024 * 1024   # each file of a registration or revision
    retention_days: int = 3650                 # WORM retention of issued files
    separate_secret_series: bool = True        # secret documents numbered apart (Art. 15(2))
    # Decree 30 Art. 18(1): an urgent (Khẩn and above) document signed by its leader
    # is issued at once: within this many minutes of the signature.
    urgent_issue_minutes: int = 120
    overdue_check_seconds: float = 300.0       # how often newly overdue issues are recorded
