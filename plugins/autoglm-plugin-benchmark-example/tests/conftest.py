import os
import tempfile

_CACHE = tempfile.mkdtemp(prefix="autoglm-bench-example-tests-")
os.environ["HF_DATASETS_CACHE"] = os.path.join(_CACHE, "hf-datasets")
os.environ["LM_HARNESS_CACHE_PATH"] = os.path.join(_CACHE, "lm-harness")
os.environ["AUTOGLM_CACHE_DIR"] = os.path.join(_CACHE, "autoglm")
