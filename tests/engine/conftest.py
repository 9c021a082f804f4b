"""One local Ray instance for the engine tests (num_cpus=2, the size CI has), started once per pytest session."""

import pytest


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray", reason="engine=ray needs the ray extra (pip install '.[ray]')")
    from ray import cloudpickle

    from tests.engine import workers

    cloudpickle.register_pickle_by_value(workers)  # actors get the test workers without importing tests
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
