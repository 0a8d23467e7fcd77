"""The audit service's settings, with their defaults (``shared.config``).
The keys and connections (``POSTGRES_DSN``, ``POSTGRES_APP_DSN``,
``LOG_KEY_FILE``, ``LOG_KEY_PASSPHRASE``, ``EVENT_KEYS_DIR``, ``EVENT_TRUST_FILE``
and the ``S3_*`` settings) are read by ``dependencies.AuditLog``."""

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditSettings:
    log_origin: str = "lienthong.local/audit-log"  # the log's name in its signed checkpoints
    checkpoint_seconds: float = 10.0             # how often a checkpoint is signed and stored
    checkpoint_retention_days: float = 3650.0    # WORM retention of a stored checkpoint
    witness_keys: str = ""                       # the witnesses' verifier keys, space-separated
    tsa_url: str = ""                            # RFC 3161 TSA stamping checkpoints; empty: none
    tsa_timeout_seconds: float = 10.0            # one call to the TSA waits at most this long
    append_batch: int = 500                      # the most events one group commit appends
    db_pool_size: int = 10                       # connections to PostgreSQL

    @property
    def witnesses(self) -> list[str]:
        return self.witness_keys.split()
