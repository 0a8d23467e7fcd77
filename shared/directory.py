"""The agency directory (danh bạ cơ quan): an effective-dated tree of agencies.

Pure: the standard library and :mod:`shared.errors`, nothing else. Shared:
routing keeps it (its ``directory`` stream); docs rebuilds the same tree from
routing's ``DirectoryChanged`` events to check recipients and name agencies.

Vietnam's local government changes shape: on 1 July 2025 districts were
abolished and many provinces and communes merged. So the directory is not a
fixed province/district/commune table but a tree with any number of levels
whose every agency has versions, each valid from one date to another
(``valid_to`` exclusive). A document addressed in 2024 and one addressed in
2026 see different trees, and a retired code keeps resolving to its
successors.

The directory is built only from *changes* (plain JSON-serialisable dicts with
an ``op`` and an ``on`` date), applied in date order, so storage can keep them
as events and rebuild the directory with :meth:`Directory.from_changes`. Every
method that changes the directory validates first, changes nothing when it
refuses, and returns the change record it applied.

Rules, and the error each broken rule raises:

- a code is a mã định danh ``XXX.XX.XX.Ynn`` (:class:`ValidationFailed`);
  codes are never reused, not even after the agency retired (:class:`Conflict`);
  the code does not encode the tree: an agency keeps its code when moved;
- an unknown code or parent is :class:`NotFound`; a parent, successor or
  target must be effective on the change's date (:class:`ValidationFailed`);
- a change may not be dated before an agency it names exists, nor before the
  last change applied (changes are history, appended in date order);
- a move or merge that would put an agency under itself is refused (no cycles);
- an agency retires only once its children have somewhere to go: a merge moves
  them to the merged agency; a split and a dissolution need ``children_to``
  unless the children were moved first.

Several changes may share a date (the reform is one day). A second change to
the same agency on the same day replaces that day's version rather than
leaving a version valid for no time at all.

Resolution: :meth:`Directory.resolve` follows successors transitively. A split
agency resolves to *all* its parts: the directory cannot know which part a
document was meant for, so it returns every part and the sender records that
list as the recipients (addresses are resolved once, when sent, and never
recomputed). An agency dissolved with no successor does not resolve at all.
"""

import copy
import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from shared.errors import Conflict, LienThongError, NotFound, ValidationFailed

# The same rule as shared.envelope.AGENCY_CODE (kept here so this core imports
# no marshmallow): XXX.XX.XX.Ynn, read right to left, Ynn the top level.
AGENCY_CODE = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$")

CSV_COLUMNS = ("code", "name", "level", "parent", "valid_from", "valid_to", "successors")

# op -> (required fields, optional fields); "op" and "on" are always required.
_FIELDS = {
    "create": (("code", "name", "level", "parent"), ()),
    "rename": (("code", "new_name"), ()),
    "move": (("code", "new_parent"), ()),
    "merge": (("codes", "into_code", "into_name", "level", "parent"), ()),
    "split": (("code", "parts"), ("children_to",)),
    "dissolve": (("code",), ("successor", "children_to")),
}
_SNAPSHOTS_KEPT = 32


@dataclass(frozen=True)
class Agency:
    """One version of an agency, valid from ``valid_from`` until ``valid_to`` (exclusive).

    ``successors`` is empty unless this is the agency's last version and it
    retired by a merge, a split or a dissolution with a successor.
    """

    code: str
    name: str
    level: str
    parent: str | None
    valid_from: date
    valid_to: date | None = None
    successors: tuple = ()

    def effective_on(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)

    def to_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level,
                "parent": self.parent, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "successors": list(self.successors)}


class Directory:
    """The agency tree over time, rebuilt from and extended by changes."""

    def __init__(self) -> None:
        self._versions = {}  # code -> [Agency], contiguous, oldest first
        self._children = {}  # code -> set of codes: the current (latest) tree
        self._changes = []
        self._last_on = None
        self._snapshots = {}  # date -> (agencies by code, child lists by parent)

    # ---- building -------------------------------------------------------------

    @classmethod
    def from_changes(cls, changes: Iterable[dict]) -> "Directory":
        """Rebuild a directory, validating every change as :meth:`apply` does."""
        directory = cls()
        for change in changes:
            directory.apply(change)
        return directory

    @property
    def changes(self) -> list:
        """Every change applied, oldest first: plain dicts, JSON-serialisable."""
        return copy.deepcopy(self._changes)

    def __contains__(self, code: object) -> bool:
        """Whether ``code`` was ever used (effective, retired or not yet effective)."""
        return code in self._versions

    def apply(self, change: dict) -> dict:
        """Validate ``change`` (a dict as :attr:`changes` holds) and apply it.

        Returns the normalised change record. Raises :class:`ValidationFailed`,
        :class:`NotFound` or :class:`Conflict` and changes nothing when refused.
        """
        if not isinstance(change, dict):
            raise ValidationFailed("change: expected a dict with 'op' and 'on'", field="change")
        op = change.get("op")
        if op not in _FIELDS:
            raise ValidationFailed(
                f"op: unknown change {op!r}, expected one of {', '.join(_FIELDS)}", field="op")
        required, optional = _FIELDS[op]
        unknown = sorted(set(change) - {"op", "on", *required, *optional})
        if unknown:
            raise ValidationFailed(f"{unknown[0]}: not a field of a {op} change", field=unknown[0])
        for name in required:
            if name not in change:
                raise ValidationFailed(f"{name}: required in a {op} change", field=name)
        on = _as_date(change.get("on"))
        fields = {name: change.get(name) for name in (*required, *optional)}
        record, mutate = getattr(self, f"_plan_{op}")(on, **fields)
        # Checked last so a change dated before its agency existed says so.
        if self._last_on is not None and on < self._last_on:
            raise ValidationFailed(
                f"on: changes are applied in date order; {on} is before the last change "
                f"({self._last_on})", field="on")
        mutate()
        record = {"op": op, "on": on.isoformat(), **record}
        self._changes.append(record)
        self._last_on = on
        self._snapshots.clear()
        return copy.deepcopy(record)

    def create(self, code: str, name: str, level: str, parent: str | None,
               on: Any) -> dict:
        """A new agency under ``parent`` (``None`` for a root), effective from ``on``."""
        return self.apply({"op": "create", "on": _iso(on), "code": code, "name": name,
                           "level": level, "parent": parent})

    def rename(self, code: str, new_name: str, on: Any) -> dict:
        return self.apply({"op": "rename", "on": _iso(on), "code": code, "new_name": new_name})

    def move(self, code: str, new_parent: str, on: Any) -> dict:
        """Re-parent ``code`` (with its subtree) under ``new_parent`` (``None``: a root)."""
        return self.apply({"op": "move", "on": _iso(on), "code": code,
                           "new_parent": new_parent})

    def merge(self, codes: list, into_code: str, into_name: str, level: str,
              parent: str | None, on: Any) -> dict:
        """Merge ``codes`` into ``into_code``, which has ``into_name``, ``level``, ``parent``.

        ``into_code`` is a new code, or an effective agency that continues
        (possibly one of ``codes``). The others retire with ``into_code`` as
        successor; their children move under ``into_code``. Merging a single
        agency into a new code is a renumbering.
        """
        return self.apply({"op": "merge", "on": _iso(on), "codes": list(codes),
                           "into_code": into_code, "into_name": into_name, "level": level,
                           "parent": parent})

    def split(self, code: str, parts: list, on: Any, children_to: Any = None) -> dict:
        """Retire ``code``; ``parts`` ``[(code, name), ...]`` (new codes) succeed it.

        The parts take the split agency's level and parent. Its children go to
        ``children_to``: one part's code, or ``{child: part}`` for every child.
        ``resolve`` of the split code returns every part.
        """
        parts = [{"code": p[0], "name": p[1]} if isinstance(p, (tuple, list)) else p
                 for p in parts]
        return self.apply({"op": "split", "on": _iso(on), "code": code, "parts": parts,
                           "children_to": children_to})

    def dissolve(self, code: str, on: Any, successor: str | None = None,
                 children_to: Any = None) -> dict:
        """Retire ``code``, optionally with one ``successor``.

        Its children must have been moved first, or ``children_to`` names the
        agency they move under in the same change.
        """
        return self.apply({"op": "dissolve", "on": _iso(on), "code": code,
                           "successor": successor, "children_to": children_to})

    # ---- plans: validate, then return (record, mutation) -----------------------

    def _plan_create(self, on, code, name, level, parent):
        code = self._new_code(code, "code")
        name, level = _text(name, "name"), _text(level, "level")
        if parent is not None:
            self._current(parent, on, "parent")

        def mutate():
            self._add(Agency(code, name, level, parent, on))

        return {"code": code, "name": name, "level": level, "parent": parent}, mutate

    def _plan_rename(self, on, code, new_name):
        current = self._current(code, on, "code")
        new_name = _text(new_name, "new_name")
        if new_name == current.name:
            raise ValidationFailed(f"new_name: agency {code} is already named {new_name!r}",
                                   field="new_name")
        return ({"code": code, "new_name": new_name},
                lambda: self._set(code, on, name=new_name))

    def _plan_move(self, on, code, new_parent):
        current = self._current(code, on, "code")
        if new_parent is not None:
            self._current(new_parent, on, "new_parent")
        if new_parent == current.parent:
            raise ValidationFailed(f"new_parent: agency {code} is already under {new_parent}",
                                   field="new_parent")
        if new_parent is not None and code in self._line(new_parent):
            raise ValidationFailed(
                f"new_parent: moving {code} under {new_parent} would create a cycle "
                f"({new_parent} is {code} or one of its descendants)", field="new_parent")
        return ({"code": code, "new_parent": new_parent},
                lambda: self._set(code, on, parent=new_parent))

    def _plan_merge(self, on, codes, into_code, into_name, level, parent):
        if not isinstance(codes, list) or not codes:
            raise ValidationFailed("codes: a non-empty list of agency codes", field="codes")
        for code in codes:
            self._current(code, on, "codes")
        if len(set(codes)) != len(codes):
            raise ValidationFailed("codes: an agency is listed twice", field="codes")
        _check_code(into_code, "into_code")
        continuing = into_code in self._versions
        if into_code in codes:
            if len(codes) < 2:
                raise ValidationFailed(f"codes: merging {into_code} into itself changes nothing",
                                       field="codes")
        elif continuing:
            target = self._versions[into_code][-1]
            if target.valid_to is not None:
                raise Conflict(f"into_code: {into_code} retired on {target.valid_to}; codes "
                               f"are never reused", field="into_code")
            self._current(into_code, on, "into_code")
        into_name, level = _text(into_name, "into_name"), _text(level, "level")
        if parent is not None:
            self._current(parent, on, "parent")
            involved = set(codes) | {into_code}
            if involved & set(self._line(parent)):
                raise ValidationFailed(
                    f"parent: {parent} is one of the merged agencies or under one of them; "
                    f"merging under it would create a cycle", field="parent")
        retiring = [code for code in codes if code != into_code]

        def mutate():
            if into_code in self._versions:
                self._set(into_code, on, name=into_name, level=level, parent=parent)
            else:
                self._add(Agency(into_code, into_name, level, parent, on))
            for code in retiring:
                for child in sorted(self._children.get(code, ())):
                    if child not in retiring and child != into_code:
                        self._set(child, on, parent=into_code)
                self._retire(code, on, (into_code,))

        return ({"codes": list(codes), "into_code": into_code, "into_name": into_name,
                 "level": level, "parent": parent}, mutate)

    def _plan_split(self, on, code, parts, children_to):
        current = self._current(code, on, "code")
        if not isinstance(parts, list) or len(parts) < 2:
            raise ValidationFailed("parts: a split needs at least two parts", field="parts")
        clean = []
        for part in parts:
            if not isinstance(part, dict) or set(part) != {"code", "name"}:
                raise ValidationFailed("parts: each part is {'code': ..., 'name': ...}",
                                       field="parts")
            clean.append({"code": self._new_code(part["code"], "parts"),
                          "name": _text(part["name"], "parts")})
        part_codes = [part["code"] for part in clean]
        if len(set(part_codes)) != len(part_codes):
            raise ValidationFailed("parts: a part code is listed twice", field="parts")
        moves = self._children_moves(code, children_to, allowed=set(part_codes),
                                     rule="one of the parts")

        def mutate():
            for part in clean:
                self._add(Agency(part["code"], part["name"], current.level, current.parent, on))
            for child, new_parent in moves.items():
                self._set(child, on, parent=new_parent)
            self._retire(code, on, tuple(part_codes))

        return {"code": code, "parts": clean, "children_to": children_to}, mutate

    def _plan_dissolve(self, on, code, successor, children_to):
        self._current(code, on, "code")
        if successor is not None:
            self._current(successor, on, "successor")
            if successor == code:
                raise ValidationFailed(f"successor: {code} cannot succeed itself",
                                       field="successor")
        if isinstance(children_to, dict):
            raise ValidationFailed("children_to: one agency code for a dissolution",
                                   field="children_to")
        if children_to is not None:
            self._current(children_to, on, "children_to")
            if code in self._line(children_to):
                raise ValidationFailed(
                    f"children_to: {children_to} is {code} or under it; its children would "
                    f"form a cycle", field="children_to")
        moves = self._children_moves(code, children_to, allowed=None, rule=None)

        def mutate():
            for child, new_parent in moves.items():
                self._set(child, on, parent=new_parent)
            self._retire(code, on, (successor,) if successor else ())

        return {"code": code, "successor": successor, "children_to": children_to}, mutate

    def _children_moves(self, code, children_to, allowed, rule):
        """{child: new parent} for the effective children of a retiring ``code``."""
        children = sorted(self._children.get(code, ()))
        if children_to is None:
            if children:
                raise ValidationFailed(
                    f"children_to: agency {code} still has {len(children)} effective "
                    f"children ({', '.join(children[:5])}{', ...' if len(children) > 5 else ''})"
                    f"; move them first or pass children_to", field="children_to")
            return {}
        if isinstance(children_to, str):
            moves = {child: children_to for child in children}
        elif isinstance(children_to, dict):
            extra = sorted(set(children_to) - set(children))
            missing = [child for child in children if child not in children_to]
            if extra:
                raise ValidationFailed(f"children_to: {extra[0]} is not a child of {code}",
                                       field="children_to")
            if missing:
                raise ValidationFailed(f"children_to: no new parent for child {missing[0]}",
                                       field="children_to")
            moves = {child: children_to[child] for child in children}
        else:
            raise ValidationFailed("children_to: an agency code or {child: new parent}",
                                   field="children_to")
        if allowed is not None:
            for target in moves.values():
                if target not in allowed:
                    raise ValidationFailed(f"children_to: {target!r} is not {rule}",
                                           field="children_to")
        return moves

    # ---- state primitives --------------------------------------------------------

    def _new_code(self, code, field):
        _check_code(code, field)
        if code in self._versions:
            first = self._versions[code][0]
            raise Conflict(f"{field}: code {code} is already used (since {first.valid_from}); "
                           f"codes are never reused", field=field)
        return code

    def _current(self, code, on, field):
        """The agency's latest version, refusing if it is unknown or not effective on ``on``."""
        _check_code(code, field)
        versions = self._versions.get(code)
        if versions is None:
            raise NotFound(f"{field}: unknown agency {code}", field=field)
        if on < versions[0].valid_from:
            raise ValidationFailed(
                f"on: change dated {on} is before agency {code} exists "
                f"(created {versions[0].valid_from})", field="on")
        last = versions[-1]
        if last.valid_to is not None:
            raise ValidationFailed(f"{field}: agency {code} is not effective on {on}: "
                                   f"{_retirement(last)}", field=field)
        return last

    def _line(self, code):
        """``code`` and its ancestors in the current tree, nearest first."""
        line = []
        while code is not None:
            line.append(code)
            code = self._versions[code][-1].parent
        return line

    def _add(self, agency):
        self._versions[agency.code] = [agency]
        if agency.parent is not None:
            self._children.setdefault(agency.parent, set()).add(agency.code)

    def _set(self, code, on, **values):
        versions = self._versions[code]
        current = versions[-1]
        updated = replace(current, **values)
        if updated == current:
            return
        if current.valid_from == on:
            versions[-1] = updated
        else:
            versions[-1] = replace(current, valid_to=on)
            versions.append(replace(updated, valid_from=on))
        if updated.parent != current.parent:
            if current.parent is not None:
                self._children[current.parent].discard(code)
            if updated.parent is not None:
                self._children.setdefault(updated.parent, set()).add(code)

    def _retire(self, code, on, successors):
        versions = self._versions[code]
        current = versions[-1]
        if current.valid_from == on and len(versions) > 1:
            versions.pop()  # a version changed and retired the same day was never effective
        versions[-1] = replace(versions[-1], valid_to=on, successors=tuple(successors))
        if current.parent is not None:
            self._children[current.parent].discard(code)

    # ---- queries ---------------------------------------------------------------

    def knows(self, code: str) -> bool:
        """Whether ``code`` was ever an agency of this directory, retired or not."""
        return code in self._versions

    def history(self, code: str) -> list:
        """Every version of ``code``, oldest first."""
        _check_code(code, "code")
        if code not in self._versions:
            raise NotFound(f"code: unknown agency {code}", field="code")
        return list(self._versions[code])

    def get(self, code: str, on: Any) -> Agency:
        """The version of ``code`` effective on ``on``; :class:`NotFound` if none is."""
        _check_code(code, "code")
        on = _as_date(on)
        versions = self._versions.get(code)
        if versions is None:
            raise NotFound(f"code: unknown agency {code}", field="code")
        for version in reversed(versions):
            if version.effective_on(on):
                return version
        if on < versions[0].valid_from:
            why = f"it was created on {versions[0].valid_from}"
        else:
            why = _retirement(versions[-1])
        raise NotFound(f"code: agency {code} is not effective on {on}: {why}", field="code")

    def resolve(self, code: str, on: Any) -> list:
        """The agencies effective on ``on`` that ``code`` stands for, sorted by code.

        An effective code resolves to itself; a retired one follows its
        successors transitively (a split gives every part). Raises
        :class:`NotFound` for an unknown code or one not yet created, and
        :class:`ValidationFailed` when the chain ends in a dissolution with no
        successor.
        """
        _check_code(code, "code")
        on = _as_date(on)
        found, pending, seen = {}, [code], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            versions = self._versions.get(current)
            if versions is None:
                raise NotFound(f"code: unknown agency {current}", field="code")
            if on < versions[0].valid_from:
                raise NotFound(f"code: agency {current} did not exist yet on {on} "
                               f"(created {versions[0].valid_from})", field="code")
            version = next((v for v in reversed(versions) if v.effective_on(on)), None)
            if version is not None:
                found[current] = version
                continue
            last = versions[-1]
            if not last.successors:
                via = f" (followed from {code})" if current != code else ""
                raise ValidationFailed(f"agency {current} was dissolved on {last.valid_to} "
                                       f"with no successor{via}", field="code")
            pending.extend(reversed(last.successors))
        return [found[c] for c in sorted(found)]

    def children(self, code: str, on: Any) -> list:
        """The agencies directly under ``code`` on ``on``, sorted by code."""
        self.get(code, on)
        return list(self._snapshot(_as_date(on))[1].get(code, ()))

    def subtree(self, code: str, on: Any, level: str | None = None) -> list:
        """Every descendant of ``code`` on ``on`` (not ``code`` itself), sorted by code.

        With ``level``, only descendants of that level (e.g. every commune of a
        district, however deep).
        """
        self.get(code, on)
        tree = self._snapshot(_as_date(on))[1]
        found, pending = [], list(tree.get(code, ()))
        while pending:
            agency = pending.pop()
            if level is None or agency.level == level:
                found.append(agency)
            pending.extend(tree.get(agency.code, ()))
        return sorted(found, key=lambda a: a.code)

    def ancestors(self, code: str, on: Any) -> list:
        """The parent chain of ``code`` on ``on``, nearest first, ending at a root."""
        agencies = self._snapshot(_as_date(on))[0]
        chain, agency = [], self.get(code, on)
        while agency.parent is not None:
            agency = agencies[agency.parent]
            chain.append(agency)
        return chain

    def agencies(self, on: Any) -> list:
        """Every agency effective on ``on``, sorted by code."""
        agencies = self._snapshot(_as_date(on))[0]
        return [agencies[code] for code in sorted(agencies)]

    def _snapshot(self, on):
        snapshot = self._snapshots.get(on)
        if snapshot is None:
            agencies = {}
            for code, versions in self._versions.items():
                for version in reversed(versions):
                    if version.effective_on(on):
                        agencies[code] = version
                        break
            tree = {}
            for code in sorted(agencies):
                parent = agencies[code].parent
                if parent is not None:
                    tree.setdefault(parent, []).append(agencies[code])
            if len(self._snapshots) >= _SNAPSHOTS_KEPT:
                self._snapshots.clear()
            snapshot = self._snapshots[on] = (agencies, tree)
        return snapshot

    # ---- addressing ------------------------------------------------------------

    def address(self, spec: Any, on: Any) -> list:
        """The recipient codes ``spec`` stands for on ``on``: sorted, deduplicated.

        ``spec`` is one of:

        - ``{"agencies": [code, ...]}``: each code resolved (a merged code gives
          its successor, a split one every part);
        - ``{"subtree": code, "level": None, "include_root": False}``: every
          descendant of the resolved root, optionally of one level;
          ``include_root`` adds the root whatever ``level`` says;
        - ``{"parents_of": code}``: the parent chain of the resolved code.

        The sender records the result; it is never recomputed, so a later
        reform does not change whom a sent document was addressed to. Raises
        :class:`ValidationFailed` when the spec is malformed, names a code that
        no longer resolves (dissolved without successor) or matches nobody, and
        :class:`NotFound` for an unknown code; ``field`` is then ``spec.<kind>``.
        """
        if not isinstance(spec, dict):
            raise ValidationFailed("spec: expected a dict", field="spec")
        kinds = [key for key in ("agencies", "subtree", "parents_of") if key in spec]
        if len(kinds) != 1:
            raise ValidationFailed("spec: exactly one of agencies, subtree, parents_of",
                                   field="spec")
        kind = kinds[0]
        allowed = {"subtree": {"subtree", "level", "include_root"}}.get(kind, {kind})
        extra = sorted(set(spec) - allowed)
        if extra:
            raise ValidationFailed(f"spec.{extra[0]}: not allowed with {kind}",
                                   field=f"spec.{extra[0]}")
        try:
            codes = self._addressed(kind, spec, on)
        except LienThongError as exc:
            if exc.field != "code":
                raise
            raise type(exc)(f"spec.{kind}: {exc.message}", field=f"spec.{kind}") from None
        if not codes:
            raise ValidationFailed(f"spec: no agency matches {spec} on {on}", field="spec")
        return sorted(codes)

    def _addressed(self, kind, spec, on):
        codes = set()
        if kind == "agencies":
            listed = spec["agencies"]
            if not isinstance(listed, list) or not listed:
                raise ValidationFailed("spec.agencies: a non-empty list of agency codes",
                                       field="spec.agencies")
            for code in listed:
                codes.update(a.code for a in self.resolve(code, on))
        elif kind == "subtree":
            level = spec.get("level")
            if level is not None and not isinstance(level, str):
                raise ValidationFailed("spec.level: a level name", field="spec.level")
            include_root = spec.get("include_root", False)
            if not isinstance(include_root, bool):
                raise ValidationFailed("spec.include_root: true or false",
                                       field="spec.include_root")
            for root in self.resolve(spec["subtree"], on):
                codes.update(a.code for a in self.subtree(root.code, on, level=level))
                if include_root:
                    codes.add(root.code)
        else:
            for agency in self.resolve(spec["parents_of"], on):
                codes.update(a.code for a in self.ancestors(agency.code, on))
        return codes

    # ---- import / export -----------------------------------------------------------

    def to_json(self) -> str:
        """The change list as JSON text (UTF-8 names kept readable)."""
        return json.dumps(self._changes, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Directory":
        try:
            changes = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed(f"json: not valid JSON ({exc})", field="json") from None
        if not isinstance(changes, list):
            raise ValidationFailed("json: expected a list of changes", field="json")
        return cls.from_changes(changes)

    def export_csv(self, on: Any) -> str:
        """The agencies effective on ``on`` as CSV, parents before children.

        Columns: code, name, level, parent, valid_from, valid_to, successors
        (space-separated; filled when that version ends in a merge or split).
        """
        on = _as_date(on)
        agencies, tree = self._snapshot(on)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        roots = [agencies[c] for c in sorted(agencies) if agencies[c].parent is None]
        pending = list(reversed(roots))
        while pending:
            agency = pending.pop()
            row = agency.to_dict()
            row["parent"] = row["parent"] or ""
            row["valid_to"] = row["valid_to"] or ""
            row["successors"] = " ".join(row["successors"])
            writer.writerow([row[column] for column in CSV_COLUMNS])
            pending.extend(reversed(tree.get(agency.code, ())))
        return out.getvalue()

    def import_csv(self, text: str, on: Any) -> list:
        """Create every agency in CSV ``text`` on ``on``; all or nothing.

        Needs the columns code, name, level, parent (others, as
        :meth:`export_csv` writes them, are ignored). A parent is either
        another row or an agency already effective. Rows are applied parents
        first; errors name the line. Returns the create changes applied.
        """
        on = _as_date(on)
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("code", "name", "level", "parent")
                   if c not in (reader.fieldnames or ())]
        if missing:
            raise ValidationFailed(f"csv: missing column {missing[0]}", field="csv")
        rows, lines = {}, {}
        for row in reader:
            line = reader.line_num
            code = (row["code"] or "").strip()
            if code in rows:
                raise Conflict(f"line {line}: code {code} appears twice in the file "
                               f"(first on line {lines[code]})", field="code")
            rows[code] = {"code": code, "name": row["name"], "level": row["level"],
                          "parent": (row["parent"] or "").strip() or None}
            lines[code] = line
        order, done = [], set()
        for code in rows:
            chain, walking = [], set()
            while code in rows and code not in done:
                if code in walking:
                    raise ValidationFailed(f"line {lines[code]}: the parents of {code} "
                                           f"form a cycle", field="parent")
                walking.add(code)
                chain.append(code)
                code = rows[code]["parent"]
            for code in reversed(chain):
                done.add(code)
                order.append(code)
        trial = self._clone()
        applied = []
        for code in order:
            try:
                applied.append(trial.apply({"op": "create", "on": on.isoformat(), **rows[code]}))
            except LienThongError as exc:
                raise type(exc)(f"line {lines[code]}: {exc.message}", field=exc.field) from None
        self.__dict__.update(trial.__dict__)
        return applied

    def _clone(self):
        other = Directory()
        other._versions = {code: list(versions) for code, versions in self._versions.items()}
        other._children = {code: set(kids) for code, kids in self._children.items()}
        other._changes = list(self._changes)
        other._last_on = self._last_on
        return other


def _check_code(code, field):
    if not isinstance(code, str) or not AGENCY_CODE.match(code):
        raise ValidationFailed(f"{field}: {code!r} is not an agency code (XXX.XX.XX.Ynn)",
                               field=field)


def _text(value, field):
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field}: a non-empty text", field=field)
    return value.strip()


def _as_date(value, field="on"):
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValidationFailed(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field)


def _iso(on):
    return _as_date(on).isoformat()


def _retirement(last):
    if last.successors:
        return f"it retired on {last.valid_to}, succeeded by {', '.join(last.successors)}"
    return f"it was dissolved on {last.valid_to}"
