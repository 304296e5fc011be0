"""Noticeboard: notices pinned on a board until they are unpinned or expire."""

from infra.registry import ServiceSpec

SERVICE = ServiceSpec(
    name="noticeboard",
    target="tests.kit_example.noticeboard.service:NoticeboardService",
    order=35,
)
