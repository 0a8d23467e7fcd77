"""Root conftest: monkey-patch for eventlet before anything imports sockets.

nameko's pytest plugin no longer does this; integration tests run nameko
containers in this process, so the patch must come first.
"""

import warnings

with warnings.catch_warnings():
    # eventlet announces its bugfix-only status at import: known and accepted.
    warnings.simplefilter("ignore")
    import eventlet

eventlet.monkey_patch()

pytest_plugins = ["tests.support.fixtures", "tests.support.private"]
