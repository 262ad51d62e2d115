"""The `modelyard` command line: parses, calls services, renders. No domain logic here."""
