"""Blacklist: public listings of maintenance units, with an exit by credit repair."""

from infra.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="blacklist",
    target="services.blacklist.service:BlacklistService",
    order=30,
    demo="services.blacklist.demo:load_demo",
)
