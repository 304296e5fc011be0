"""Licences issued on approval (许可证). See ``aggregate`` for the rules; ``renewal`` for
renewal, operator reviews and the sweep; ``rules`` (statuses, numbers, validity),
``commands``, ``events``."""
