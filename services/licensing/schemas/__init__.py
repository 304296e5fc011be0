"""Licensing input schemas and the integration events the service publishes.

Command inputs are validated twice with the same schemas: at the gateway (the edge answers 422
with field paths before any RPC) and again in the service (RPC callers other than the gateway
exist: the CLI, the demo loader, tests). Loaded data stays JSON (dates as ISO text) so that it
travels over RPC unchanged.

Identifiers use the kernel's validators (``infra.identifiers``): credit codes (with the codes
of city_admin's exception list that the gateway passes with the request), resident ID numbers
and equipment codes, against *today* from the injectable clock.

``INTEGRATION_EVENTS`` (``events``) describes the data of every event published on
``licensing.events`` (routing key = event type); ``docs/licensing.md`` lists them for consumers.

The modules: ``base`` (shared fields), ``applications``, ``delegations``, ``licences`` (and the
equipment register), ``audits``, ``events``. Import a schema from its module.
"""
