"""Core: types, errors, configuration and pure domain rules. No I/O beyond reading files given."""
