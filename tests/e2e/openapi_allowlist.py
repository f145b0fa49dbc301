"""Where the OpenAPI specs of openstack_types are wrong about real OpenStack.

Besides these entries, openapi_check accepts 32-hex-digit ids where a spec
says `format: uuid` (Keystone's ids are uuid4().hex; oslo's is_uuid_like
accepts both forms).

Each entry lets a mismatch pass: `service` (compute, block-storage, network,
image, identity), `operation` (the spec's operationId, or "*"), `field` (the
JSON path the checker reports; `*` stands for one key, `[*]` for any index),
optionally `message` (a part of the checker's message), and `reason`: why
the spec, not the answer, is wrong. Keep it small; a mismatch that is ours
is fixed in the gateway or podsim instead.
"""

NULL = "None is not of type"


def _nullable(service, field, reason):
    return {"service": service, "operation": "*", "field": field, "message": NULL, "reason": reason}


ALLOWED = [
    # Neutron (neutron/extensions/providernet.py, the ML2 segments): a network
    # without a physical network (vxlan, geneve, local) shows it as null.
    _nullable("network", "$**.provider:physical_network",
              "null for vxlan/local networks in Neutron; the spec says string"),
    # Neutron's security group rules (neutron/db/securitygroups_db.py,
    # _make_security_group_rule_dict): protocol null is "any protocol"; no
    # remote group or remote address group is null. Every default rule has them.
    _nullable("network", "$**.protocol", "null (any protocol) in Neutron's rules; the spec says string"),
    _nullable("network", "$**.remote_group_id", "null when the rule has no remote group; the spec says string"),
    _nullable("network", "$**.remote_address_group_id",
              "null when the rule has no remote address group; the spec says string"),
    # Cinder's volume view (cinder/api/v3/views/volumes.py) passes these through
    # as the volume row holds them: null until set.
    *[_nullable("block-storage", f"$**.{key}", f"null until set in Cinder's volume view; the spec says string")
      for key in ("snapshot_id", "source_volid", "migration_status", "group_id", "consistencygroup_id",
                  "cluster_name", "updated_at", "service_uuid")],
    # Cinder's volume type view (cinder/api/v2/views/types.py): a type without
    # QoS specs or description shows null (the __DEFAULT__ type has no description).
    _nullable("block-storage", "$**.qos_specs_id", "null without QoS specs in Cinder; the spec says string"),
    _nullable("block-storage", "$**.description", "null without a description in Cinder's type and volume views"),
]
