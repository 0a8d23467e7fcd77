"""Values every service uses alike: Vietnam's time zone and document ids."""

import uuid
from datetime import timedelta, timezone

from shared.errors import ValidationFailed

# UTC+7 without daylight saving since 1975: registers' years, deadlines, edXML
# dates and the time shown on signatures all count in it.
VIETNAM = timezone(timedelta(hours=7), "ICT")


def checked_uuid(value: object, field: str = "document_id") -> str:
    """``value`` as a UUID's canonical text, or a refusal naming ``field``."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValidationFailed(f"{field}: not a UUID", field=field) from None
