"""Contract-test kit: checks users and plug-in authors can run against their own objects."""
