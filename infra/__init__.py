"""The shared kernel of SESP: event store, bus, settings and the `sesp` command."""
