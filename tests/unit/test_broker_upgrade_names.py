"""The queues the broker upgrade declares keep to what each service's broker
user may configure (infra/privileges.py): it must work with least privilege."""

import re

import pytest

from infra.privileges import SERVICES, rabbit_permissions
from shared.broker_upgrade import HOLDING_SUFFIX, LOCK_SUFFIX
from shared.topology import RETIRED, SUBSCRIPTIONS


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_configure_the_queues_it_upgrades(service):
    permissions = rabbit_permissions(service)
    for sub in SUBSCRIPTIONS + RETIRED:
        if service not in (sub.source, sub.consumer):
            continue
        for name in (sub.queue, sub.queue + HOLDING_SUFFIX, sub.queue + LOCK_SUFFIX):
            for kind in ("configure", "write", "read"):
                assert re.fullmatch(getattr(permissions, kind), name), (service, kind, name)
