pytest_plugins = ["hedger.testing"]
