"""The shared kernel of SESP: event store, bus, settings and the `sesp` command."""

import warnings

# eventlet 0.41 warns on import that it is in maintenance mode; nameko 2 needs it (ARCHITECTURE).
warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
