"""Insurance: insurers' elevator liability policies, coverage and premium factors."""

from infra.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="insurance",
    target="services.insurance.service:InsuranceService",
    order=40,
    cli="services.insurance.cli:insurer",
)
