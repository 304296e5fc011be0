"""Licensing: delegations, applications under the statutory clock, licences, the equipment
register and post-approval audits."""

from infra.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="licensing",
    target="services.licensing.service:LicensingService",
    order=10,
    demo="services.licensing.demo:load_licensing_demo",
    demo_history="services.licensing.demo:load_licensing_history",
)
