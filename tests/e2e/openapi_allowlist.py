"""Where the OpenAPI specs of openstack_types are wrong about real OpenStack.

Each entry lets a mismatch pass: `service` (compute, block-storage, network,
image, identity), `operation` (the spec's operationId, or "*"), `field` (the
JSON path the checker reports; `*` stands for one key, `[*]` for any index),
optionally `message` (a part of the checker's message), and `reason`: why
the spec, not the answer, is wrong. Keep it small; a mismatch that is ours
is fixed in the gateway or podsim instead.
"""

ALLOWED = [
]
