"""Who administers what: the platform operator and each agency's administrator.

- ``operator`` runs the platform: the agency directory, the edXML connector's
  imports, dead letters, and users of any role in any agency (operators and
  auditors are created by operators only).
- ``admin`` administers its OWN agency: its users (clerks, leaders, admins)
  and its certificates. Anything of another agency is refused by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import Forbidden

if TYPE_CHECKING:
    from shared.envelope import Actor

OPERATOR = "operator"
ADMIN = "admin"
# The roles an agency administrator may give; operators give any role.
ADMIN_GRANTS = ("clerk", "leader", "admin")


def own_agency(actor: Actor, agency: str, field: str = "agency") -> Actor:
    """:class:`Forbidden` naming ``field`` unless ``actor`` (an agency admin)
    acts on its own agency; operators and auditors are not scoped."""
    if actor.role == ADMIN and agency != actor.agency:
        raise Forbidden(f"{field}: an administrator of {actor.agency} may not act on"
                        f" {agency}", field=field)
    return actor


def may_grant(actor: Actor, role: str) -> Actor:
    """:class:`Forbidden` naming ``role`` unless ``actor`` may create a user with it."""
    if actor.role != OPERATOR and role not in ADMIN_GRANTS:
        raise Forbidden(f"role: only an operator creates {role} users", field="role")
    return actor
