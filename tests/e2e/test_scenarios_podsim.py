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
