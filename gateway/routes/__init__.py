"""Route modules: one mixin class per area (``ops``, ``admin``, and later one per service).

A route module subclasses ``RouteBase`` (which gives ``self.rpc`` and ``self.gateway``) and is
added to the bases of ``gateway.service.GatewayService``; its routes then appear in the
OpenAPI document, on /docs and in the authorization matrix test without further wiring.
"""
