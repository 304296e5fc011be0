"""The gateway: one HTTP API for bureaus, units, insurers and the public."""

from infra.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="gateway",
    target="gateway.service:GatewayService",
    order=90,
    cli="gateway.cli:token",
    process_only=True,
)
