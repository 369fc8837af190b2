"""``python -m pymk.pipelines [HOME]``: serve the scheduled flows against ``PREFECT_API_URL``."""

import sys

from pymk.pipelines.deployments import serve

serve(sys.argv[1] if len(sys.argv) > 1 else None)
