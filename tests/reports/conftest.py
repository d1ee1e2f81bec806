from reports.browser import browser  # noqa: F401  (the fixture)
