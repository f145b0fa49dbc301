"""Loaded by every Python the e2e suites start with this directory on
PYTHONPATH (the `openstack` CLI): records the JSON answers it receives into
$TRICIRCLE_OPENAPI_LOG for tests/e2e/openapi_check.py to validate."""

import os
import sys

if os.environ.get("TRICIRCLE_OPENAPI_LOG"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        import openapi_check

        openapi_check.install_requests_hook()
    except Exception as e:  # noqa: BLE001 - never break the program it runs in
        print(f"tricircle openapi hook not installed: {e}", file=sys.stderr)
    finally:
        sys.path.pop(0)
