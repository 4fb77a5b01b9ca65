from autoglm_core.testing import fresh_plugin_manager, use_offline_env

use_offline_env()  # before anything imports transformers

import pytest  # noqa: E402

_ray_fresh_plugin_manager = pytest.fixture(autouse=True)(fresh_plugin_manager)
