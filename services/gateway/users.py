"""User administration, once for the JSON API and the web pages: create a
user, disable one, reset one's password. The rules are the gateway's domain
(``domain.check_new_user``, the password length) and ``shared.scope`` (an
agency admin acts on its own agency's clerks, leaders and admins only); a
refusal by scope is recorded as ``RequestDenied`` like every other.

``gateway`` is the nameko service instance (its ``events.users``, its
``routing`` proxy and ``_deny``); ``actor`` is the admitted caller.
"""

from services.gateway import domain
from shared import scope
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.green import run_cpu


def create(gateway, request, actor, command):
    """A new user (``command`` as ``NewUserSchema`` loads it); its public view."""
    command = domain.check_new_user(command)
    try:
        gateway.routing.agency(command["agency"])
    except NotFound:
        raise NotFound(f"agency: {command['agency']} is not in the agency directory",
                       field="agency") from None
    _in_scope(gateway, request, actor, command["agency"], command["role"])
    created = gateway.events.users.create(command, run_cpu(domain.hash_password,
                                                           command["password"]))
    if created is None:
        raise Conflict(f"user_id: user {command['user_id']} exists", field="user_id")
    return domain.user_view({**command, "created_at": created[0]})


def disable(gateway, request, actor, user_id):
    """No more logins for ``user_id``, and their tokens stop working at once."""
    _target(gateway, request, actor, user_id, "disable themself")
    return gateway.events.users.disable(user_id)


def reset_password(gateway, request, actor, user_id, password):
    """An administrator sets a user's password (they forgot it); every token
    the user was issued before stops working. Not for one's own password
    (that is ``change_password``, which asks for the old one)."""
    _target(gateway, request, actor, user_id, "reset their own password here")
    if len(password) < domain.MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: at least {domain.MIN_PASSWORD_LENGTH} characters",
                               field="password")
    gateway.events.users.change_password(user_id, run_cpu(domain.hash_password, password))
    return {"user_id": user_id, "password_reset": True}


def visible(actor, users):
    """Operators see every user; an agency admin its own agency's."""
    return [u for u in users if actor.role == scope.OPERATOR or u["agency"] == actor.agency]


def _target(gateway, request, actor, user_id, what):
    if user_id == actor.user_id:
        raise Conflict(f"user_id: an administrator cannot {what}", field="user_id")
    target = gateway.events.users.standing(user_id)
    if target is None:
        raise NotFound(f"user_id: no user {user_id!r}", field="user_id")
    _in_scope(gateway, request, actor, target["agency"], target["role"])


def _in_scope(gateway, request, actor, agency, role):
    try:
        scope.own_agency(actor, agency)
        scope.may_grant(actor, role)
    except Forbidden as err:
        gateway._deny(request, actor, f"{err.code}: {err.message}")
        raise
