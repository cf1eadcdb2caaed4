pytest_plugins = ["hedger.testing", "tests.support.postgres"]
