"""The pure rules of the upload sweeper: which versions events name, which are orphans."""

from datetime import datetime, timedelta, timezone

from shared.uploads import named_versions, orphans

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def test_versions_are_found_at_any_depth_and_only_as_strings():
    data = {"file": {"key": "a", "version_id": "v1"},
            "attachments": [{"version_id": "v2"}, {"sealed": {"version_id": "v3"}}],
            "other": {"version_id": None}, "note": "version_id v9"}
    assert named_versions(data) == {"v1", "v2", "v3"}


def test_unnamed_versions_before_the_cut_go_younger_ones_wait_named_ones_stay():
    listed = [("k", "named", T0 - timedelta(hours=1)),
              ("k", "old", T0 - timedelta(seconds=5)),
              ("k", "young", T0 + timedelta(seconds=1)),
              ("k", "edge", T0)]
    remove, young = orphans(listed, {"named"}, before=T0)
    assert remove == [("k", "old")]
    assert young == 2


def test_versions_are_found_in_stored_events_frozen_data():
    from shared.envelope import new_event

    event = new_event("DocumentRevised", {"files": [{"version_id": "v1"}]}, actor=None,
                      producer="docs", stream_id="document-x")
    assert named_versions(event.data) == {"v1"}
