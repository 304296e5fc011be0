"""Maintenance credit: quality facts, versioned rule sets, scores, evaluations and appeals."""

from infra.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="maintenance_credit",
    target="services.maintenance_credit.service:MaintenanceCreditService",
    order=20,
    demo="services.maintenance_credit.demo:load_demo",
    demo_history="services.maintenance_credit.demo:load_history",
)
