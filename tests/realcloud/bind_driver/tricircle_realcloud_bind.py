"""An ML2 mechanism driver for test clouds that run no L2 agent.

Without an agent, no stock mechanism driver binds a port, so Nova (even with the fake virt
driver) fails with PortBindingFailed. This driver binds every port, on any host, to the first
segment offered, with vif_type "ovs", and reports the port ACTIVE. It is used by
tests/realcloud/realcloud.sh as ``mechanism_drivers = tricircle_bind_all``.

It has no data plane: nothing is plugged anywhere. It is for API-level tests only.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api

VIF_DETAILS = {
    portbindings.CAP_PORT_FILTER: True,
    portbindings.OVS_HYBRID_PLUG: False,
}


class BindEverythingDriver(api.MechanismDriver):
    """Binds any port on any host; supports every network type."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        # Called for a port with a binding:host_id, on create and on every update that
        # (re)binds it (Nova sets the host when it boots a server, or when it moves one).
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                dict(VIF_DETAILS),
                status=constants.PORT_STATUS_ACTIVE,
            )
            return

    def check_vlan_transparency(self, context):
        return True

    def check_segment_for_agent(self, segment, agent=None):
        return True
