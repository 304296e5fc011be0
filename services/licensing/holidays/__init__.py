"""Holiday override files, ``<year>.json``: see ``services.licensing.calendar`` and README.md.

A package (not a bare directory) so that the JSON files are installed with the code.
"""
