"""The user scenarios (scenarios.py) over simulated pods: `tricircle demo`."""

import pytest
from scenarios import Bed, compute_scenario, member_scenario, network_scenario, volume_scenario
from test_demo import start_demo, stop_demo

pytestmark = pytest.mark.demo

# The demo seeds this public image in the image service all pods share.
DEMO_IMAGE = "cirros-0.6.2-x86_64-disk"


@pytest.fixture(scope="module")
def bed(tricircle_bin, tmp_path_factory):
    d = start_demo(tricircle_bin, tmp_path_factory.mktemp("scenario-demo"))
    yield Bed(d.env, DEMO_IMAGE, "podsim")
    stop_demo(d)


def test_compute_scenario(bed):
    compute_scenario(bed)


def test_volume_scenario(bed):
    volume_scenario(bed)


def test_network_scenario(bed):
    network_scenario(bed)


def test_member_scenario(bed):
    member_scenario(bed)


# What a user (or Tricircle) reads of a pod directly: podsim is held to the OpenAPI specs as the
# gateway is (the pods' ports are checked origins, see test_demo.start_demo), over whatever the
# scenarios above left in the pods.
POD_READS = [
    ["server", "list", "--long"],
    ["flavor", "list", "--long", "--all"],
    ["keypair", "list"],
    ["volume", "list", "--long"],
    ["volume", "snapshot", "list", "--long"],
    ["volume", "type", "list", "--long"],
    ["network", "list", "--long"],
    ["subnet", "list", "--long"],
    ["port", "list", "--long"],
    ["security", "group", "list"],
    ["availability", "zone", "list", "--long"],
    ["image", "list", "--long"],
]


def test_pods_answer_as_the_specs_say(bed):
    for region in ("Pod1", "Pod2"):
        for args in POD_READS:
            bed.json(*args, region=region)
        for server in bed.json("server", "list", region=region)[:2]:
            bed.json("server", "show", server["ID"], region=region)
        for volume in bed.json("volume", "list", region=region)[:2]:
            bed.json("volume", "show", volume["ID"], region=region)
        for port in bed.json("port", "list", region=region)[:2]:
            bed.json("port", "show", port["ID"], region=region)
